"""A local Slack: the Web API over HTTP and Socket Mode over a WebSocket, both on 127.0.0.1.

It speaks the real protocols, so the real Bolt app and slack_sdk clients talk to it unmodified: the bot's
`SLACK_API_URL` points at `api_url`, `apps.connections.open` hands out a `ws://` URL (slack_sdk's builtin
client connects without TLS when the port is not 443), the socket sends `hello`, then `events_api`
envelopes, and records the acks. Every Web API call is recorded with the time it arrived.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl

from websockets.sync.server import ServerConnection, serve

from standins.server import LocalServer

TEXT_LIMIT = 4000


@dataclass
class Call:
    method: str
    params: dict
    at: float  # time.monotonic() when it arrived
    token: str


@dataclass
class Failure:
    """An answer the stand-in gives instead of the normal one, to the next matching calls of a method."""

    error: str
    status: int = 200
    retry_after: float | None = None
    times: int = 1
    when: object = None  # a predicate on the call's params, or None for any call


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    user: str | None = None
    bot_id: str | None = None
    thread_ts: str | None = None
    edits: list[tuple[float, str]] = field(default_factory=list)  # (time, text) of every chat.update
    posted_at: float = field(default_factory=time.monotonic)

    def as_api(self) -> dict:
        data = {"type": "message", "ts": self.ts, "text": self.text}
        if self.user:
            data["user"] = self.user
        if self.bot_id:
            data["bot_id"] = self.bot_id
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        return data


@dataclass
class Budget:
    """Slack's rate limit for one method, as a token bucket: `burst` calls at once, then `per_second`."""

    burst: float
    per_second: float
    tokens: float = 0.0
    updated: float = 0.0

    def take(self, now: float) -> float | None:
        """None: the call may go; otherwise the Retry-After (whole seconds, as Slack sends it)."""
        self.tokens = min(self.tokens + (now - self.updated) * self.per_second, self.burst)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return float(max(1, math.ceil((1 - self.tokens) / self.per_second)))


class FakeSlack:
    def __init__(self, bot_user_id: str = "UBOT", bot_id: str = "BBOT", team_id: str = "T1", page_size: int = 3):
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.page_size = page_size  # small, so that reading a thread takes several pages
        self.calls: list[Call] = []
        self.messages: list[Message] = []
        self.acks: list[str] = []
        self.names: dict[str, str] = {}
        self.text_limit = TEXT_LIMIT
        self.failures: dict[str, list[Failure]] = {}
        self.blocked_until: dict[str, float] = {}  # method → end of the Retry-After it was given
        self.early_calls: list[Call] = []  # calls made while their method's Retry-After was still running
        self.responses: list[tuple[Call, int, dict]] = []
        self.scopes = {"app_mentions:read", "chat:write", "channels:history", "groups:history", "im:history",
                       "mpim:history", "users:read"}  # what the bot token was granted (x-oauth-scopes)
        self.delays: dict[str, float] = {}  # method → seconds to wait before answering (a slow Slack)
        self.budgets: dict[str, Budget] = {}  # method → the rate limit Slack enforces on it
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._ts = itertools.count(1)
        self._sockets: list[ServerConnection] = []
        self._http = LocalServer(("127.0.0.1", 0), self._handler_class())
        self._ws = serve(self._socket_mode, "127.0.0.1", 0)
        self._threads = [
            threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True),
            threading.Thread(target=self._ws.serve_forever, daemon=True),
        ]

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "FakeSlack":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._ws.shutdown()
        self._http.shutdown()
        self._http.server_close()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/api/"

    @property
    def socket_url(self) -> str:
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}/link"

    # -- what a test does --------------------------------------------------------------------------

    def next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def add_message(self, channel: str, text: str, user: str | None = None, thread_ts: str | None = None,
                    bot: bool = False, ts: str | None = None) -> Message:
        """A message already in Slack (a person's, or the bot's own with `bot=True`)."""
        with self.lock:
            message = Message(
                channel=channel,
                ts=ts or self.next_ts(),
                text=text,
                user=self.bot_user_id if bot else user,
                bot_id=self.bot_id if bot else None,
                thread_ts=thread_ts,
            )
            self.messages.append(message)
            return message

    def send_event(self, event: dict, event_id: str | None = None, retry_attempt: int = 0) -> str:
        """Deliver an Events API event over Socket Mode; returns the event id."""
        event_id = event_id or f"Ev{uuid.uuid4().hex[:10].upper()}"
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
            "payload": {
                "token": "legacy",
                "team_id": self.team_id,
                "api_app_id": "A1",
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [{"team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True}],
            },
        }
        with self.lock:
            sockets = list(self._sockets)
        if not sockets:
            raise RuntimeError("no Socket Mode connection is open")
        sockets[-1].send(json.dumps(envelope))
        return event_id

    def fail(self, method: str, error: str = "ratelimited", *, status: int | None = None,
             retry_after: float | None = None, times: int = 1, when=None) -> None:
        """Make the next `times` calls of `method` (those `when(params)` accepts) fail with `error`.
        `ratelimited` answers HTTP 429 with a Retry-After of `retry_after` seconds (default 1)."""
        if error == "ratelimited":
            status, retry_after = status or 429, 1.0 if retry_after is None else retry_after
        with self.lock:
            self.failures.setdefault(method, []).append(
                Failure(error, status or 200, retry_after, times, when))

    def limit(self, method: str, *, burst: float, per_second: float) -> None:
        """Enforce a rate limit on `method`: beyond a burst of `burst` calls, `per_second`; calls over it
        are answered 429 with a Retry-After, as Slack does (Tier 3 is about a burst of 20, then 1/s)."""
        with self.lock:
            self.budgets[method] = Budget(burst, per_second, tokens=burst, updated=time.monotonic())

    def delete(self, channel: str, ts: str) -> None:
        """A person deletes a message."""
        with self.lock:
            self.messages = [m for m in self.messages if not (m.channel == channel and m.ts == ts)]

    def wait_until(self, predicate, timeout: float = 10.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self.changed.wait(min(remaining, 0.05))

    def calls_of(self, method: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.method == method]

    def bot_messages(self, channel: str | None = None) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.bot_id == self.bot_id and (channel is None or m.channel == channel)]

    def drop_connections(self) -> None:
        """Close every Socket Mode connection from Slack's side, as Slack does before a reconnect."""
        with self.lock:
            sockets = list(self._sockets)
        for connection in sockets:
            connection.close()

    @property
    def connected(self) -> bool:
        with self.lock:
            return bool(self._sockets)

    # -- Socket Mode -------------------------------------------------------------------------------

    def _socket_mode(self, connection: ServerConnection) -> None:
        connection.send(json.dumps({
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "local-standin", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A1"},
        }))
        with self.changed:
            self._sockets.append(connection)
            self.changed.notify_all()
        try:
            for raw in connection:
                data = json.loads(raw)
                if "envelope_id" in data:
                    with self.changed:
                        self.acks.append(data["envelope_id"])
                        self.changed.notify_all()
        except Exception:
            pass
        finally:
            with self.changed:
                self._sockets.remove(connection)
                self.changed.notify_all()

    # -- Web API -----------------------------------------------------------------------------------

    def _handler_class(self):
        slack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = dict(parse_qsl(raw))
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                token = token or params.pop("token", "")
                method = self.path.rsplit("/", 1)[-1]
                status, body, headers = slack._api(method, params, token)
                time.sleep(slack.delays.get(method, 0.0))
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def _api(self, method: str, params: dict, token: str) -> tuple[int, dict, dict]:
        with self.changed:
            call = Call(method, params, time.monotonic(), token)
            self.calls.append(call)
            try:
                if call.at < self.blocked_until.get(method, 0.0):
                    self.early_calls.append(call)
                failure = self._take_failure(method, params) or self._over_budget(method, call.at)
                if failure is not None:
                    headers = {}
                    if failure.retry_after is not None:
                        self.blocked_until[method] = call.at + failure.retry_after
                        headers["Retry-After"] = f"{failure.retry_after:g}"
                    status, body = failure.status, {"ok": False, "error": failure.error}
                else:
                    headers = {"x-oauth-scopes": ",".join(sorted(self.scopes))} if method == "auth.test" else {}
                    status, body = self._answer(method, params, token)
                self.responses.append((call, status, body))
                return status, body, headers
            finally:
                self.changed.notify_all()

    def _over_budget(self, method: str, now: float) -> Failure | None:
        budget = self.budgets.get(method)
        retry_after = budget.take(now) if budget is not None else None
        return None if retry_after is None else Failure("ratelimited", 429, retry_after)

    def _take_failure(self, method: str, params: dict) -> Failure | None:
        for failure in self.failures.get(method, []):
            if failure.times > 0 and (failure.when is None or failure.when(params)):
                failure.times -= 1
                return failure
        return None

    def _answer(self, method: str, params: dict, token: str) -> tuple[int, dict]:
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                return 200, {"ok": False, "error": "not_allowed_token_type"}
            return 200, {"ok": True, "url": self.socket_url}
        if not token.startswith("xoxb-"):
            return 200, {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}
        return handler(params)

    def _auth_test(self, params: dict) -> tuple[int, dict]:
        return 200, {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "bot",
                     "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id}

    def _chat_postMessage(self, params: dict) -> tuple[int, dict]:
        text = params.get("text") or ""
        if not text.strip():
            return 200, {"ok": False, "error": "no_text"}
        if len(text) > self.text_limit and self.text_limit < TEXT_LIMIT:  # only a test's stricter Slack
            return 200, {"ok": False, "error": "msg_too_long"}
        message = Message(channel=params["channel"], ts=self.next_ts(), text=text, user=self.bot_user_id,
                          bot_id=self.bot_id, thread_ts=params.get("thread_ts") or None)
        self.messages.append(message)
        return 200, {"ok": True, "channel": message.channel, "ts": message.ts, "message": message.as_api()}

    def _chat_update(self, params: dict) -> tuple[int, dict]:
        text = params.get("text") or ""
        message = self._find(params.get("channel"), params.get("ts"))
        if message is None:
            return 200, {"ok": False, "error": "message_not_found"}
        if not text.strip():
            return 200, {"ok": False, "error": "no_text"}
        if len(text) > self.text_limit:
            return 200, {"ok": False, "error": "msg_too_long"}
        message.text = text
        message.edits.append((time.monotonic(), text))
        return 200, {"ok": True, "channel": message.channel, "ts": message.ts, "text": text}

    def _conversations_replies(self, params: dict) -> tuple[int, dict]:
        thread = [m for m in self.messages if m.channel == params.get("channel")
                  and (m.ts == params.get("ts") or m.thread_ts == params.get("ts"))]
        thread.sort(key=lambda m: float(m.ts))
        return self._page(thread, params)

    def _conversations_history(self, params: dict) -> tuple[int, dict]:
        latest = float(params.get("latest") or "inf")
        oldest = float(params.get("oldest") or 0)
        top = [m for m in self.messages if m.channel == params.get("channel")
               and (m.thread_ts is None or m.thread_ts == m.ts) and oldest < float(m.ts) < latest]
        top.sort(key=lambda m: float(m.ts), reverse=True)
        return 200, {"ok": True, "messages": [m.as_api() for m in top[: int(params.get("limit") or 100)]],
                     "has_more": len(top) > int(params.get("limit") or 100)}

    def _users_info(self, params: dict) -> tuple[int, dict]:
        user = params.get("user")
        name = self.names.get(user)
        if name is None:
            return 200, {"ok": False, "error": "user_not_found"}
        return 200, {"ok": True, "user": {"id": user, "name": name.lower(),
                                          "profile": {"display_name": name, "real_name": name}}}

    def _page(self, items: list[Message], params: dict) -> tuple[int, dict]:
        start = int(params.get("cursor") or 0)
        size = min(int(params.get("limit") or 100), self.page_size)
        page = items[start:start + size]
        cursor = str(start + size) if start + size < len(items) else ""
        return 200, {"ok": True, "messages": [m.as_api() for m in page], "has_more": bool(cursor),
                     "response_metadata": {"next_cursor": cursor}}

    def _find(self, channel: str | None, ts: str | None) -> Message | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)
