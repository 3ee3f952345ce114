"""HTTP mode, for production behind a load balancer: the Events API over HTTPS instead of Socket Mode.

Slack POSTs events to `/slack/events`; Bolt answers on its listener threads after acknowledging at once.
`GET /healthz` answers 200 for the load balancer, and says how the state several instances share is kept
(`"shared_state": "redis"`, `"local"`, or `"local: Redis is not answering (see the log)"`: never where
Redis is, nor its error, which anyone could read there). `GET /metrics` answers the
metrics in Prometheus's text format (see `bot.metrics`). Served by waitress (pure Python, multi-threaded).

Before Bolt sees a request, it is screened, so that nobody who lacks the signing secret can make the bot
spend memory or raise an error: a body announced longer than `MAX_BODY_BYTES` is refused (413) by its
length before it is read (waitress refuses it before buffering it, and the app by its Content-Length on
any server); a request whose signature (`SLACK_SIGNING_SECRET`) or timestamp does not check out gets 401;
a signed body Bolt could not read (not a JSON object, or a form whose payload is not one) gets 400.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import resource
import time
from typing import Callable, Iterable, Mapping
from urllib.parse import parse_qsl

from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import create_server

from bot import metrics
from bot.app import Bot
from bot.jsontext import json_object
from bot.settings import Settings

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
# Slack's events and interaction payloads are kilobytes: the largest part of one is a message, whose text
# Slack caps at 40,000 characters (a few hundred KB even if every character came JSON-escaped), beside at
# most 50 blocks. 1 MiB takes any of them with room to spare, and caps what the eight request threads can
# hold at once at 8 MiB, where waitress's default (1 GiB each) let one request take gigabytes.
MAX_BODY_BYTES = 1 << 20
CONNECTIONS = 2_000  # open at once (waitress's default, 100, let 110 idle connections stop the bot)
# a connection that sends nothing this long is closed (waitress's default: 120); above a load balancer's own idle
# timeout (an AWS ALB's: 60 s), so the bot never closes a kept-alive connection the balancer is about to reuse
IDLE_SECONDS = 75.0
CLEANUP_SECONDS = 5.0  # how often idle connections are looked for (default: 30)
_STALE_SECONDS = 60 * 5  # Slack's advice, as Bolt checks it


def screen(body: bytes, headers: Mapping[str, str], secret: str, now: float) -> int | None:
    """The HTTP status that refuses a request to the events path, or None to hand it to Bolt. `headers` are
    the request's, with lower-case names. Pure."""
    timestamp, signature = headers.get("x-slack-request-timestamp", ""), headers.get("x-slack-signature", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > _STALE_SECONDS:
        return 401
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return 401
    return None if _readable(body, headers.get("content-type", "")) else 400


def _readable(body: bytes, content_type: str) -> bool:
    """True if Bolt can read `body`: a JSON object, or a form (whose `payload`, if any, is a JSON object)."""
    try:
        text = body.decode("utf-8")
        if not text:
            return True
        if content_type.split(";")[0].strip().lower() == "application/json" or text.startswith("{"):
            return json_object(text) is not None
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        return payload is None or json_object(payload) is not None
    except ValueError:  # not UTF-8
        return False


def public_status(status: str) -> str:
    """How the shared state is kept, as anyone may read it at /healthz: "redis", "local", or "local: Redis is
    not answering" (never where Redis is, nor its error: the log has those)."""
    kind, why = status.partition(":")[::2]
    return f"{kind}: Redis is not answering (see the log)" if why else kind


def wsgi_app(bot: Bot, secret: str) -> Callable:
    slack = SlackRequestHandler(bot.app, path=EVENTS_PATH)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            health = {"ok": True, "shared_state": public_status(bot.state.status)}  # even while Redis is down
            return _answer(start_response, "200 OK", json.dumps(health).encode(), "application/json")
        if path == METRICS_PATH and method in ("GET", "HEAD"):
            return _answer(start_response, "200 OK", metrics.exposition(), metrics.CONTENT_TYPE_LATEST)
        if path != EVENTS_PATH or method != "POST":
            return slack(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _answer(start_response, "400 Bad Request")
        if length > MAX_BODY_BYTES:
            log.warning("refused a request of %d bytes (more than %d)", length, MAX_BODY_BYTES)
            return _answer(start_response, "413 Payload Too Large")
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        status = screen(body, headers, secret, time.time())
        if status is not None:
            log.info("refused a request to %s: %d", EVENTS_PATH, status)
            return _answer(start_response, "401 Unauthorized" if status == 401 else "400 Bad Request")
        return slack({**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}, start_response)

    return app


def _answer(start_response: Callable, status: str, body: bytes | None = None,
            content_type: str = "text/plain; charset=utf-8") -> list[bytes]:
    body = status.encode() if body is None else body
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def http_server(bot: Bot, settings: Settings, port: int | None = None):
    """A waitress server; `run()` serves until `close()`. `effective_port` is the port it listens on.

    Connections cost a file descriptor and a little memory until their request is whole (waitress reads them in
    its event loop: a slow one holds no thread). Its defaults let 100 idle or half-sent connections stop it from
    accepting more for two minutes; here many more are taken (`poll`, not `select`, past 1,024 descriptors), and
    a connection that sends nothing for `IDLE_SECONDS` is closed within `CLEANUP_SECONDS` more."""
    _allow_descriptors(CONNECTIONS + 100)
    return create_server(wsgi_app(bot, settings.slack.signing_secret), host=settings.http.host,
                         port=settings.http.port if port is None else port,
                         threads=8, ident="bedrock-slack-bot",
                         connection_limit=CONNECTIONS, channel_timeout=IDLE_SECONDS, cleanup_interval=CLEANUP_SECONDS,
                         asyncore_use_poll=True,
                         max_request_body_size=MAX_BODY_BYTES + 1)  # waitress refuses at this size and beyond


def _allow_descriptors(wanted: int) -> None:
    """Raise this process's soft limit of open files towards `wanted` (as far as the hard limit allows)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as error:  # not allowed here: the connection limit may be reached sooner
        log.warning("could not raise the open-files limit to %d (%s)", wanted, error)
