"""`python -m bot`: read the settings once, connect to Slack over Socket Mode, answer until stopped."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from botocore.exceptions import NoRegionError
from dotenv import load_dotenv

from bot import notes
from bot.settings import Settings, SettingsError
from bot.slack.kinds import RateLimited, SlackError, Unavailable

log = logging.getLogger("bot")


USAGE = """usage:
  {prog} [socket]         run the bot over Socket Mode (development, or no public URL)
  {prog} http             run the bot over the Events API on HOST:PORT (production, behind HTTPS)
  {prog} chat QUESTION    ask the configured model, answer streamed to the terminal (no Slack needed)
  {prog} doctor [http]    check the set-up for Socket Mode (or HTTP mode): settings, Slack tokens
{pad}and scopes, AWS credentials and region, model access
"""


def _usage() -> str:
    """The usage, under the name the bot was started by (`python -m bot`, or the `bedrock-slack-bot` script)."""
    started = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    prog = "python -m bot" if started in ("", "__main__.py", "-m") else started
    return USAGE.format(prog=prog, pad=" " * (len(prog) + 20))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] not in ("chat", "doctor", "http", "socket"):
        print(_usage(), file=sys.stderr)
        return 0 if args[0] in ("-h", "--help", "help") else 2
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)  # the real environment wins
    if args[:1] == ["doctor"]:
        from bot.doctor import run

        return run(os.environ, mode="http" if args[1:] == ["http"] else "socket")
    mode = {"chat": "chat", "http": "http"}.get(args[0] if args else "", "socket")
    try:
        settings = Settings.from_env(os.environ, mode=mode)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    if mode == "chat":
        return _chat(" ".join(args[1:]), settings)
    return serve(settings, mode)


def serve(settings: Settings, mode: str = "socket", **parts) -> int:
    """Run the bot until SIGTERM or SIGINT: over Socket Mode (`mode` "socket") or the Events API ("http").
    `parts`: any of `create_bot`'s own (the cadence of updates, a Bedrock client). Returns the exit status."""
    from bot.app import connect, create_bot, socket_mode_handler
    from bot.logs import setup_logging

    setup_logging(settings.log_level)
    # The settings hold the Slack secrets from here on. Bolt would read SLACK_BOT_TOKEN from the environment
    # again beside the client it is given (and warn at every start); no child process needs them either.
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        os.environ.pop(name, None)
    try:
        bot = create_bot(settings, **parts)
    except NoRegionError:
        print(notes.cannot_start(notes.NO_REGION), file=sys.stderr)
        return 2
    except SlackError as error:
        return _cannot_start(error, "SLACK_BOT_TOKEN", settings)
    if settings.http.metrics_port is not None:
        from bot import metrics

        try:
            port = metrics.serve(settings.http.metrics_port, settings.http.host)
        except OSError as error:
            print(notes.cannot_start(notes.PORT_TAKEN.format(setting="METRICS_PORT", port=settings.http.metrics_port,
                                                             why=error.strerror or error)), file=sys.stderr)
            return 2
        log.info("serving metrics at http://%s:%s/metrics", settings.http.host, port)
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    if mode == "http":
        from bot.http_mode import EVENTS_PATH, HEALTH_PATH, http_server

        server = http_server(bot, settings)
        threading.Thread(target=server.run, name="http", daemon=True).start()
        log.info("serving the Events API at http://%s:%s%s (health: %s); model %s", settings.http.host,
                 server.effective_port, EVENTS_PATH, HEALTH_PATH, settings.model.model_id)
        close = server.close
    else:
        handler = socket_mode_handler(bot.app, settings)
        log.info("connecting to Slack over Socket Mode; model %s", settings.model.model_id)
        try:
            connect(handler)
        except SlackError as error:
            return _cannot_start(error, "SLACK_APP_TOKEN", settings)
        close = handler.close
    while not stop.wait(1.0):
        pass
    grace = settings.replies.shutdown_grace_seconds
    log.info("shutting down: taking no new questions, finishing replies in flight (up to %gs)", grace)
    threading.Thread(target=close, daemon=True).start()  # Slack sends new events elsewhere
    stopped = bot.replier.shutdown(grace)
    log.info("stopped; %d unfinished replies were marked as interrupted", stopped)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # listener threads still waiting on a network call must not hold the exit


def _cannot_start(error: SlackError, setting: str, settings: Settings) -> int:
    """Say why Slack would not let the bot start; 1 if trying again later may do, 2 if the set-up needs a fix."""
    print(notes.cannot_start(notes.slack_unusable(error, setting=setting, api_url=settings.slack.api_url)),
          file=sys.stderr)
    return 1 if isinstance(error, (RateLimited, Unavailable)) else 2


def _chat(question: str, settings: Settings) -> int:
    from bot.chat import chat
    from bot.logs import setup_logging

    setup_logging("ERROR" if settings.log_level == "INFO" else settings.log_level)  # keep the answer clean
    try:
        return chat(question, settings)
    except NoRegionError:
        print(notes.NO_REGION, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
