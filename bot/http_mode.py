"""HTTP mode, for production behind a load balancer: the Events API over HTTPS instead of Socket Mode.

Slack POSTs events to `/slack/events`; Bolt rejects any request whose signature (`SLACK_SIGNING_SECRET`)
or timestamp does not check out with 401, and acknowledges the rest at once, answering on its listener
threads. `GET /healthz` answers 200 for the load balancer. Served by waitress (pure Python, multi-threaded).
"""

from __future__ import annotations

from typing import Callable, Iterable

from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import create_server

from bot.app import Bot
from bot.settings import Settings

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


def wsgi_app(bot: Bot) -> Callable:
    slack = SlackRequestHandler(bot.app, path=EVENTS_PATH)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"ok": true}']
        return slack(environ, start_response)

    return app


def http_server(bot: Bot, settings: Settings, port: int | None = None):
    """A waitress server; `run()` serves until `close()`. `effective_port` is the port it listens on."""
    return create_server(wsgi_app(bot), host=settings.http_host,
                         port=settings.http_port if port is None else port,
                         threads=8, ident="bedrock-slack-bot")
