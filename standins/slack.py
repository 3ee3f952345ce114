"""A local Slack: the Web API over HTTP and Socket Mode over a WebSocket, both on 127.0.0.1.

It speaks the real protocols, so the real Bolt app and slack_sdk clients talk to it unmodified: the bot's
`SLACK_API_URL` points at `api_url`, `apps.connections.open` hands out a `ws://` URL (slack_sdk's builtin
client connects without TLS when the port is not 443), the socket sends `hello`, then `events_api` and
`interactive` envelopes, and records the acks. Every Web API call is recorded with the time it arrived, and
every Web API connection is counted (`connections`): a connection stays open for the client's next call
(HTTP/1.1 keep-alive) unless the client asks to close it, as urllib does after each call.

It is as strict as Slack documents: `chat.update` takes at most 4,000 characters of `text`; native streams
(`chat.startStream`, `chat.appendStream`, `chat.stopStream`) need a thread and both recipient ids, take at most
12,000 characters a call, end after `stream_lifetime` seconds (`message_not_in_streaming_state`) and cannot be
edited while they stream (`streaming_state_conflict`), and take `chunks` (text, and `task_update` cards
checked as slack_sdk's chunk models describe them, else `invalid_chunks`; each message keeps its cards in
`tasks` and every update in `task_updates`); the thread's status is cleared when the app posts in it. Rate limits are token buckets per method (per channel as well, where Slack limits per channel) whose
bursts and rates a test sets (`limit`); a call over one is answered 429 with a Retry-After, and a call that
arrives while a Retry-After it gave still runs, after the 429 reached the client and it had a moment to read
it (`CLIENT_READS_ANSWER`), is recorded as early (a call sent beside the refused one, before the bot could
know, is not). `round_trip` makes every call take Slack's
time to come back.

Files, as Slack serves them: `add_file` keeps a file and gives its Slack file object, whose `url_private` and
`url_private_download` point at this same server (`/files-pri/T…-F…/name`); messages and events carry such
objects in `files`. A GET of a file URL gets the bytes only with `Authorization: Bearer xoxb-…` and the
`files:read` scope among `scopes`; without either, Slack's answer: 200 with an HTML sign-in page, not the
file. A deleted file (`delete_file`) is a 404. `redirect_files_to` answers every file GET with a 302 to that
address (this server follows nothing), `file_delay` holds a file's body back after its headers, and
`file_truncate_at` sends only that many bytes of it under the full Content-Length, then closes. Every file GET
is recorded with its headers in `file_requests`. `files.info` answers with the file object, `file_not_found`,
`file_deleted`, or `missing_scope` without `files:read`. The Web API takes GET (query parameters) as well as
POST, as Slack does.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from websockets.sync.server import ServerConnection, serve

from standins.server import LocalServer

TEXT_LIMIT = 4000
STREAM_CALL_LIMIT = 12_000  # markdown_text per chat.*Stream call


VERIFICATION_TOKEN = "vErIfIcAtIoN5ecretT0ken"  # the deprecated token Slack still puts in every payload


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
    html: bool = False  # the body is an HTML error page, not Slack's JSON (a proxy, an outage page)
    reset: str | None = None  # "before": the connection drops before Slack takes the call; "after": once it has


@dataclass
class FileRequest:
    """A GET of a file URL, as the stand-in's file host saw it."""

    path: str
    headers: dict[str, str]
    at: float  # time.monotonic() when it arrived
    status: int = 0  # what the stand-in answered (0: still answering, or the connection dropped)

    @property
    def authorization(self) -> str | None:
        return next((value for name, value in self.headers.items() if name.lower() == "authorization"), None)


@dataclass
class StoredFile:
    data: bytes
    info: dict  # the Slack file object
    deleted: bool = False
    served_as: str | None = None  # the Content-Type its download comes with (None: its mimetype)


SIGN_IN_PAGE = (b'<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8"><title>Slack</title></head>'
                b'<body><div id="page"><h1>Sign in to Example</h1><form id="signin_form" action="/" method="post">'
                b'<input type="email" name="email" placeholder="name@work-email.com"><button type="submit">'
                b'Sign In with Email</button></form></div></body></html>')
NOT_FOUND_PAGE = b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"

# Slack's `filetype` for common extensions (what a test gets when it names none).
FILETYPES = {"jpg": "jpg", "jpeg": "jpg", "png": "png", "gif": "gif", "webp": "webp", "pdf": "pdf", "txt": "text",
             "md": "markdown", "csv": "csv", "html": "html", "doc": "doc", "docx": "docx", "xls": "xls",
             "xlsx": "xlsx", "json": "json", "py": "python"}


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    user: str | None = None
    bot_id: str | None = None
    thread_ts: str | None = None
    edits: list[tuple[float, str]] = field(default_factory=list)  # (time, whole text) of every later change
    posted_at: float = field(default_factory=time.monotonic)
    posted_text: str = ""  # the text it had when it was posted
    format: str = "mrkdwn"  # "markdown" for a native stream
    blocks: list = field(default_factory=list)
    streaming: bool = False
    stream_ends_at: float = math.inf
    stopped_by_user: bool = False
    metadata: dict | None = None  # {"event_type", "event_payload"}, as chat.postMessage/stopStream set it
    files: list[dict] = field(default_factory=list)  # Slack file objects shared with the message
    tasks: dict[str, dict] = field(default_factory=dict)  # a stream's task cards by id, as last updated
    task_updates: list[tuple[float, dict]] = field(default_factory=list)  # (time, task_update chunk), in order
    task_display_mode: str | None = None

    def __post_init__(self) -> None:
        self.posted_text = self.posted_text or self.text

    def as_api(self, metadata: bool = False) -> dict:
        data = {"type": "message", "ts": self.ts, "text": self.text}
        if metadata and self.metadata:
            data["metadata"] = self.metadata
        if self.blocks:
            data["blocks"] = self.blocks
        if self.user:
            data["user"] = self.user
        if self.bot_id:
            data["bot_id"] = self.bot_id
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.files:
            data["files"] = [dict(file) for file in self.files]
        return data


@dataclass
class Status:
    """The status of a thread, as `assistant.threads.setStatus` set it."""

    at: float
    channel: str
    thread_ts: str
    status: str  # "" clears it
    loading_messages: list = field(default_factory=list)
    cleared_by_post: bool = False


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


CLIENT_READS_ANSWER = 0.05  # seconds a client takes to read an answer that reached its socket


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
        self.blocked_until: dict[tuple[str, str | None], float] = {}  # (method, channel or None) → end of a Retry-After
        self.early_calls: list[Call] = []  # calls made while their method's Retry-After was still running
        self.told_at: dict[tuple[str, str | None], float] = {}  # when the 429 that began each Retry-After reached the client
        self.responses: list[tuple[Call, int, dict]] = []
        self.scopes = {"app_mentions:read", "chat:write", "channels:history", "groups:history", "im:history",
                       "mpim:history", "users:read", "files:read", "assistant:write",
                       "usergroups:read"}  # what the token was granted
        self.delays: dict[str, float] = {}  # method → seconds to wait before answering (a slow Slack)
        self.round_trip = 0.0  # seconds every Web API call takes to come back (Slack's round trip, not loopback's)
        self.budgets: dict[tuple[str, str | None], Budget] = {}  # (method, channel or None) → Slack's rate limit
        self.channel_limits: dict[str, tuple[float, float]] = {}  # method → (burst, per_second) in each channel
        self.statuses: list[Status] = []  # every status set, in order
        # agent sessions: (channel, thread_ts) → every status set, in order (agents.sessions.setStatus, or a stream's
        # stop with session_status); `refuse_sessions`: an error code for every setStatus (the app is no agent)
        self.sessions: dict[tuple[str, str], list[str]] = {}
        self.refuse_sessions: str | None = None
        self.titles: dict[tuple[str, str], str] = {}  # (channel, thread_ts) → the session's title
        self.suggested_prompts: dict[tuple[str, str], tuple] = {}  # (channel, thread_ts) → (title, prompts)
        self.user_groups: dict[str, list[str]] = {}
        self.not_member: set[str] = set()
        self.deleted: list[Message] = []  # messages the bot deleted (chat.delete)  # channels the bot is not in: reading them is `not_in_channel`  # user group id (S…) → its members (usergroups.users.list)
        self.ephemerals: list[dict] = []  # chat.postEphemeral calls that landed
        self.stream_lifetime = 300.0  # seconds after which Slack ends a stream
        self.stream_message_limit = STREAM_CALL_LIMIT  # Markdown a streamed message may hold (undocumented)
        self.refuse_streams: str | None = None  # an error code for every chat.startStream (the app cannot stream)
        self.refuse_status: str | None = None  # likewise for assistant.threads.setStatus
        self.files: dict[str, StoredFile] = {}  # file id → the file
        self.action_tokens: dict[str, str] = {}  # action token an event carried → the ts of its question
        self.searches: list[dict] = []  # assistant.search.context calls answered
        self.channel_names: dict[str, str] = {}  # channel id → name, for search results
        self.file_requests: list[FileRequest] = []  # every GET of a file URL, in order
        self.redirect_files_to: str | None = None  # answer every file GET with a 302 to this address
        self.file_delay = 0.0  # seconds between a file's headers and its body
        self.file_truncate_at: int | None = None  # send only this many bytes of a file's body, then close
        self.file_error: int | None = None  # every file download answers this HTTP status (a 5xx: the host fails)
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._sockets: list[ServerConnection] = []
        self.connections = 0  # Web API connections accepted so far (a client that keeps them alive reuses them)
        self._open: set[socket.socket] = set()  # Web API connections not yet closed
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
        with self.lock:
            kept = list(self._open)
        for connection in kept:  # connections a client keeps alive: their threads end now
            _shut(connection)

    @property
    def base_url(self) -> str:
        """The Web API's and the file host's address (one server, where Slack has slack.com and files.slack.com)."""
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def socket_url(self) -> str:
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}/link"

    # -- what a test does --------------------------------------------------------------------------

    def next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def add_message(self, channel: str, text: str, user: str | None = None, thread_ts: str | None = None,
                    bot: bool = False, ts: str | None = None, files: list[dict] | None = None) -> Message:
        """A message already in Slack (a person's, or the bot's own with `bot=True`), with the file objects
        `files` (from `add_file`) shared in it."""
        with self.lock:
            message = Message(
                channel=channel,
                ts=ts or self.next_ts(),
                text=text,
                user=self.bot_user_id if bot else user,
                bot_id=self.bot_id if bot else None,
                thread_ts=thread_ts,
                files=[dict(file) for file in files or []],
            )
            self.messages.append(message)
            return message

    def add_file(self, name: str, data: bytes, mimetype: str, filetype: str | None = None, mode: str = "hosted",
                 user: str = "U1", served_as: str | None = None, **extra) -> dict:
        """A file a person uploaded; returns its Slack file object (give it to `add_message`/`mention`).
        `served_as`: the Content-Type its download comes with, where it is not its mimetype. `extra` adds or
        overrides fields (`original_w`, `original_h`, `title`, …)."""
        with self.lock:
            file_id = f"F{next(self._file_ids):09d}"
            extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            base = f"{self.base_url}/files-pri/{self.team_id}-{file_id}"
            now = int(time.time())
            info = {
                "id": file_id, "created": now, "timestamp": now, "name": name, "title": name,
                "mimetype": mimetype, "filetype": filetype or FILETYPES.get(extension, extension or "binary"),
                "pretty_type": (filetype or extension or "binary").upper(), "user": user, "user_team": self.team_id,
                "editable": False, "size": len(data), "mode": mode, "is_external": False, "external_type": "",
                "is_public": False, "public_url_shared": False, "display_as_bot": False, "username": "",
                "url_private": f"{base}/{quote(name)}", "url_private_download": f"{base}/download/{quote(name)}",
                "permalink": f"https://example.slack.com/files/{user}/{file_id}/{quote(name)}",
                "is_starred": False, "has_rich_preview": False,
                **extra,
            }
            self.files[file_id] = StoredFile(bytes(data), info, served_as=served_as)
            return dict(info)

    def delete_file(self, file_id: str) -> None:
        """A person deletes a file: its URLs answer 404, files.info `file_deleted`, and the messages that shared
        it show a tombstone in its place, as Slack's do."""
        with self.lock:
            self.files[file_id].deleted = True
            for message in self.messages:
                message.files = [{"id": file_id, "mode": "tombstone"} if file.get("id") == file_id else file
                                 for file in message.files]

    def send_event(self, event: dict, event_id: str | None = None, retry_attempt: int = 0,
                   connection: int | None = None) -> str:
        """Deliver an Events API event over Socket Mode; returns the event id. With several connections open
        (several instances of the bot), Slack sends each envelope to one of them, and a redelivery
        (`retry_attempt` > 0, same `event_id`) may go to another: `connection` is which, as an index into the
        connections open now in the order they opened (0: the oldest still open; default: the newest)."""
        event_id = event_id or f"Ev{uuid.uuid4().hex[:10].upper()}"
        self._send_envelope("events_api", {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True}],
        }, retry_attempt=retry_attempt, connection=connection)
        return event_id

    def send_raw(self, text: str, connection: int | None = None) -> None:
        """Send `text` as it is over Socket Mode (an envelope Slack would send, built by hand)."""
        with self.lock:
            sockets = list(self._sockets)
        sockets[-1 if connection is None else connection].send(text)

    def _send_envelope(self, kind: str, payload: dict, retry_attempt: int = 0, connection: int | None = None) -> str:
        envelope = {"envelope_id": str(uuid.uuid4()), "type": kind, "accepts_response_payload": False,
                    "payload": payload}
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason="timeout" if retry_attempt else "")
        with self.lock:
            sockets = list(self._sockets)
        if not sockets:
            raise RuntimeError("no Socket Mode connection is open")
        if connection is not None and not -len(sockets) <= connection < len(sockets):
            raise IndexError(f"no Socket Mode connection {connection}: {len(sockets)} open")
        sockets[-1 if connection is None else connection].send(json.dumps(envelope))
        return envelope["envelope_id"]

    def fail(self, method: str, error: str = "ratelimited", *, status: int | None = None,
             retry_after: float | None = None, times: int = 1, when=None, html: bool = False,
             reset: str | None = None) -> None:
        """Make the next `times` calls of `method` (those `when(params)` accepts) fail with `error`.
        `ratelimited` answers HTTP 429 with a Retry-After of `retry_after` seconds (default 1). `html`: the
        body is an HTML page (give a 5xx `status`). `reset`: no answer at all, the connection drops, "before"
        Slack took the call or "after" it did (the call has its effect; `error` is then unused)."""
        if error == "ratelimited" and reset is None:
            status, retry_after = status or 429, 1.0 if retry_after is None else retry_after
        with self.lock:
            self.failures.setdefault(method, []).append(
                Failure(error, status or 200, retry_after, times, when, html, reset))

    def limit(self, method: str, *, burst: float, per_second: float, per_channel: bool = False) -> None:
        """Enforce a rate limit on `method`: beyond a burst of `burst` calls, `per_second`; calls over it
        are answered 429 with a Retry-After, as Slack does. `per_channel`: one such limit in each channel
        (chat.postMessage: about one a second), besides any for the workspace."""
        with self.lock:
            if per_channel:
                self.channel_limits[method] = (burst, per_second)
            else:
                self.budgets[(method, None)] = Budget(burst, per_second, tokens=burst, updated=time.monotonic())

    def status_of(self, channel: str, thread_ts: str) -> str:
        """The status the thread shows now ("" for none)."""
        with self.lock:
            for status in reversed(self.statuses):
                if status.channel == channel and status.thread_ts == thread_ts:
                    return "" if status.cleared_by_post else status.status
            return ""

    def click(self, message: Message, user: str, action: dict) -> str:
        """A person clicks an interactive element of `message`: a `block_actions` envelope over Socket Mode."""
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": "A1",
            "token": VERIFICATION_TOKEN,
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                          "is_ephemeral": False, "thread_ts": message.thread_ts},
            "trigger_id": "1.2.3",
            "team": {"id": self.team_id, "domain": "example"},
            "channel": {"id": message.channel, "name": "general"},
            "message": {**message.as_api(), "thread_ts": message.thread_ts},
            "response_url": f"{self.api_url}response",
            "actions": [{"type": "feedback_buttons", "block_id": "b1", "action_ts": str(time.time()), **action}],
        }
        return self._send_envelope("interactive", payload)

    def stop_stream_as_person(self, message: Message) -> None:
        """A person presses Stop on a streaming message (some clients let them)."""
        with self.lock:
            message.stopped_by_user = True

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
    def open_connections(self) -> int:
        """Web API connections open now."""
        with self.lock:
            return len(self._open)

    @property
    def connection_count(self) -> int:
        """Socket Mode connections open now."""
        with self.lock:
            return len(self._sockets)

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
            """One connection: its requests in turn until the client closes it (or asks with `Connection: close`,
            as urllib does). Every answer has a Content-Length, so the connection can carry the next one."""

            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once on a kept-alive connection, as Slack's do

            def setup(self) -> None:
                super().setup()
                with slack.changed:
                    slack.connections += 1
                    slack._open.add(self.connection)
                    slack.changed.notify_all()

            def finish(self) -> None:
                with slack.changed:
                    slack._open.discard(self.connection)
                    slack.changed.notify_all()
                super().finish()

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = dict(parse_qsl(raw))
                self._web_api(urlsplit(self.path).path.rsplit("/", 1)[-1], params)

            def do_GET(self) -> None:
                """A Web API method called with GET (files.info is, by slack_sdk), or a file from the file host."""
                url = urlsplit(self.path)
                if url.path.startswith("/api/"):
                    self._web_api(url.path.rsplit("/", 1)[-1], dict(parse_qsl(url.query)))
                else:
                    self._file(url.path)

            def _web_api(self, method: str, params: dict) -> None:
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                token = token or params.pop("token", "")
                status, body, headers = slack._api(method, params, token)
                time.sleep(slack.round_trip + slack.delays.get(method, 0.0))
                if isinstance(body, Failure):  # a fault: no answer, or not Slack's JSON
                    if body.reset is not None:
                        self.close_connection = True
                        _shut(self.connection)
                        return
                    payload, kind = b"<html><body><h1>Server Error</h1></body></html>", "text/html"
                else:
                    payload, kind = json.dumps(body).encode(), "application/json; charset=utf-8"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                if status == 429:
                    slack._told(method, params.get("channel") or params.get("channel_id"))

            def _file(self, path: str) -> None:
                request = FileRequest(path, dict(self.headers.items()), time.monotonic())
                with slack.changed:
                    slack.file_requests.append(request)
                    slack.changed.notify_all()
                    status, headers, body, is_file = slack._file_answer(path, request.authorization or "")
                    delay, truncate_at = slack.file_delay, slack.file_truncate_at
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if is_file:
                        self.wfile.flush()
                        if delay:
                            time.sleep(delay)
                        if truncate_at is not None and truncate_at < len(body):
                            self.wfile.write(body[:truncate_at])
                            self.wfile.flush()
                            self.close_connection = True
                            _shut(self.connection)
                            return
                    self.wfile.write(body)
                    self.wfile.flush()
                    request.status = status
                except OSError:  # the client gave up on it
                    self.close_connection = True

        return Handler

    def _file_answer(self, path: str, authorization: str) -> tuple[int, dict, bytes, bool]:
        """What Slack's file host answers to a GET of `path`: (status, headers, body, whether it is the file)."""
        match = re.fullmatch(r"/files-pri/([A-Z0-9]+)-(F[A-Z0-9]+)/(download/)?([^/]+)", path)
        stored = self.files.get(match.group(2)) if match and match.group(1) == self.team_id else None
        if stored is None or stored.deleted or unquote(match.group(4)) != stored.info["name"]:
            return 404, {"Content-Type": "text/html; charset=utf-8"}, NOT_FOUND_PAGE, False
        if self.redirect_files_to is not None:
            return 302, {"Location": self.redirect_files_to}, b"", False
        if self.file_error is not None:
            return self.file_error, {"Content-Type": "text/html; charset=utf-8"}, b"<html>Server error</html>", False
        token = authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else ""
        if not token.startswith("xoxb-") or "files:read" not in self.scopes:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, SIGN_IN_PAGE, False  # not the file
        headers = {"Content-Type": stored.served_as or stored.info["mimetype"]}
        if match.group(3):
            headers["Content-Disposition"] = f'attachment; filename="{stored.info["name"]}"'
        return 200, headers, stored.data, True

    def _api(self, method: str, params: dict, token: str) -> tuple[int, dict, dict]:
        with self.changed:
            call = Call(method, params, time.monotonic(), token)
            self.calls.append(call)
            try:
                channel = params.get("channel") or params.get("channel_id")
                if any(self.told_at.get((method, scope), math.inf) <= call.at < self.blocked_until.get((method, scope), 0.0)
                       for scope in (None, channel)):  # sent after the bot was told to wait (not merely beside the refused call)
                    self.early_calls.append(call)
                failure, scope = self._take_failure(method, params), None
                if failure is not None and failure.reset == "after":  # Slack takes it; the answer is lost
                    self.responses.append((call, *self._answer(method, params, token)))
                    return 0, failure, {}
                if failure is not None and (failure.reset or failure.html):
                    self.responses.append((call, failure.status, {"ok": False, "error": failure.error}))
                    return failure.status, failure, {}
                if failure is None:
                    failure, scope = self._over_budget(method, channel, call.at)
                if failure is not None:
                    headers = {}
                    if failure.retry_after is not None:
                        self.blocked_until[(method, scope)] = call.at + failure.retry_after
                        self.told_at[(method, scope)] = math.inf  # until the answer has left
                        headers["Retry-After"] = f"{failure.retry_after:g}"
                    status, body = failure.status, {"ok": False, "error": failure.error}
                else:
                    headers = {"x-oauth-scopes": ",".join(sorted(self.scopes))} if method == "auth.test" else {}
                    status, body = self._answer(method, params, token)
                self.responses.append((call, status, body))
                return status, body, headers
            finally:
                self.changed.notify_all()

    def _told(self, method: str, channel: str | None) -> None:
        """A 429 reached the client: from now on, a call of the method before the Retry-After ends is early."""
        with self.changed:
            for scope in (None, channel):
                if self.told_at.get((method, scope)) == math.inf:
                    self.told_at[(method, scope)] = time.monotonic() + CLIENT_READS_ANSWER

    def _over_budget(self, method: str, channel: str | None, now: float) -> tuple[Failure | None, str | None]:
        """A 429 if the call is over a rate limit (the channel's first), and which limit it was."""
        if channel and method in self.channel_limits and (method, channel) not in self.budgets:
            burst, per_second = self.channel_limits[method]
            self.budgets[(method, channel)] = Budget(burst, per_second, tokens=burst, updated=now)
        for scope in (channel, None):
            budget = self.budgets.get((method, scope))
            if budget is None:
                continue
            retry_after = budget.take(now)
            if retry_after is not None:
                return Failure("ratelimited", 429, retry_after), scope
        return None, None

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
        blocks, metadata, error = _blocks_and_metadata(params)
        if error:
            return 200, {"ok": False, "error": error}
        message = Message(channel=params["channel"], ts=self.next_ts(), text=_parsed(text, params, "none"),
                          user=self.bot_user_id, bot_id=self.bot_id, thread_ts=params.get("thread_ts") or None,
                          blocks=blocks, metadata=metadata)
        self.messages.append(message)
        self._app_posted(message)
        return 200, {"ok": True, "channel": message.channel, "ts": message.ts, "message": message.as_api()}

    def _chat_update(self, params: dict) -> tuple[int, dict]:
        markdown = params.get("markdown_text")  # Markdown, as a message that streamed is rewritten
        text = markdown if markdown is not None else params.get("text") or ""
        message = self._find(params.get("channel"), params.get("ts"))
        if message is None:
            return 200, {"ok": False, "error": "message_not_found"}
        if self._still_streaming(message):
            return 200, {"ok": False, "error": "streaming_state_conflict"}
        if not text.strip():
            return 200, {"ok": False, "error": "no_text"}
        if len(text) > (STREAM_CALL_LIMIT if markdown is not None else self.text_limit):
            return 200, {"ok": False, "error": "msg_too_long"}
        blocks, metadata, error = _blocks_and_metadata(params)
        if error:
            return 200, {"ok": False, "error": error}
        text = text if markdown is not None else _parsed(text, params, "client")
        message.metadata = metadata or message.metadata
        message.text, message.format = text, "markdown" if markdown is not None else "mrkdwn"
        message.blocks = blocks or (message.blocks if markdown is not None else [])
        message.edits.append((time.monotonic(), text))
        return 200, {"ok": True, "channel": message.channel, "ts": message.ts, "text": text}

    def _chat_delete(self, params: dict) -> tuple[int, dict]:
        """The bot deletes one of its messages (a streaming one too); another's: `cant_delete_message`."""
        message = self._find(params.get("channel"), params.get("ts"))
        if message is None:
            return 200, {"ok": False, "error": "message_not_found"}
        if message.bot_id != self.bot_id:
            return 200, {"ok": False, "error": "cant_delete_message"}
        self.deleted.append(message)
        self.messages = [m for m in self.messages if m is not message]
        return 200, {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_postEphemeral(self, params: dict) -> tuple[int, dict]:
        if not params.get("user") or not (params.get("text") or "").strip():
            return 200, {"ok": False, "error": "invalid_arguments"}
        self.ephemerals.append(dict(params))
        return 200, {"ok": True, "message_ts": self.next_ts()}

    def _assistant_threads_setStatus(self, params: dict) -> tuple[int, dict]:
        if self.refuse_status:
            return 200, {"ok": False, "error": self.refuse_status}
        channel, thread_ts = params.get("channel_id"), params.get("thread_ts")
        loading = params.get("loading_messages") or []
        if not channel or not thread_ts or "status" not in params or len(loading) > 10:
            return 200, {"ok": False, "error": "invalid_arguments"}
        thread_error = self._thread_error(channel, thread_ts)
        if thread_error:
            return 200, {"ok": False, "error": thread_error}
        self.statuses.append(Status(time.monotonic(), channel, thread_ts, params.get("status") or "", list(loading)))
        return 200, {"ok": True}

    def _chat_startStream(self, params: dict) -> tuple[int, dict]:
        if self.refuse_streams:
            return 200, {"ok": False, "error": self.refuse_streams}
        user, team = params.get("recipient_user_id") or "", params.get("recipient_team_id") or ""
        if not params.get("channel") or not params.get("thread_ts") or user[:1] not in ("U", "W") or not team:
            return 200, {"ok": False, "error": "invalid_arguments"}
        thread_error = self._thread_error(params["channel"], params["thread_ts"])
        if thread_error:
            return 200, {"ok": False, "error": thread_error}
        mode = params.get("task_display_mode")
        tasks, chunk_error = _task_chunks(params)
        if chunk_error or mode not in (None, "timeline", "plan"):
            return 200, {"ok": False, "error": chunk_error or "invalid_arguments"}
        text = _stream_text(params)
        if len(text) > STREAM_CALL_LIMIT or len(text) > self.stream_message_limit:
            return 200, {"ok": False, "error": "msg_too_long"}
        now = time.monotonic()
        message = Message(channel=params["channel"], ts=self.next_ts(), text=text, user=self.bot_user_id,
                          bot_id=self.bot_id, thread_ts=params["thread_ts"], format="markdown", streaming=True,
                          stream_ends_at=now + self.stream_lifetime, posted_at=now, task_display_mode=mode)
        _update_tasks(message, tasks, now)
        self.messages.append(message)
        self._app_posted(message)
        return 200, {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_appendStream(self, params: dict) -> tuple[int, dict]:
        message, error = self._streaming_message(params)
        if error:
            return 200, {"ok": False, "error": error}
        tasks, chunk_error = _task_chunks(params)
        if chunk_error:
            return 200, {"ok": False, "error": chunk_error}
        text = _stream_text(params)
        if not text and not tasks:
            return 200, {"ok": False, "error": "no_text"}
        _update_tasks(message, tasks, time.monotonic())
        return self._grow(message, text) if text else (200, {"ok": True, "channel": message.channel, "ts": message.ts})

    def _chat_stopStream(self, params: dict) -> tuple[int, dict]:
        message, error = self._streaming_message(params)
        if error:
            return 200, {"ok": False, "error": error}
        blocks, metadata, error = _blocks_and_metadata(params)
        if error or len(blocks) > 50:
            return 200, {"ok": False, "error": error or "invalid_blocks"}
        tasks, chunk_error = _task_chunks(params)
        if chunk_error:
            return 200, {"ok": False, "error": chunk_error}
        _update_tasks(message, tasks, time.monotonic())
        text = _stream_text(params)
        if text:
            status, body = self._grow(message, text)
            if not body["ok"]:
                return status, body
        session = params.get("session_status")
        if session is not None and session not in SESSION_STATUSES:
            return 200, {"ok": False, "error": "invalid_arguments"}
        message.streaming, message.blocks, message.metadata = False, blocks, metadata or message.metadata
        if blocks:
            message.edits.append((time.monotonic(), message.text))
        if session is not None and message.thread_ts:
            self.sessions.setdefault((message.channel, message.thread_ts), []).append(session)
        return 200, {"ok": True, "channel": message.channel, "ts": message.ts}

    def _agents_sessions_setStatus(self, params: dict) -> tuple[int, dict]:
        """An agent session's status, for a thread: one of Slack's four, else `invalid_arguments`."""
        if self.refuse_sessions:
            return 200, {"ok": False, "error": self.refuse_sessions}
        channel, thread_ts, status = params.get("channel_id"), params.get("thread_ts"), params.get("status")
        if not channel or not thread_ts or status not in SESSION_STATUSES:
            return 200, {"ok": False, "error": "invalid_arguments"}
        thread_error = self._thread_error(channel, thread_ts)
        if thread_error:
            return 200, {"ok": False, "error": thread_error}
        self.sessions.setdefault((channel, thread_ts), []).append(status)
        return 200, {"ok": True}

    def _agents_sessions_rename(self, params: dict) -> tuple[int, dict]:
        channel, thread_ts, title = params.get("channel_id"), params.get("thread_ts"), params.get("title")
        if not channel or not thread_ts or not isinstance(title, str) or not title.strip() or len(title) > 255:
            return 200, {"ok": False, "error": "invalid_arguments"}
        self.titles[(channel, thread_ts)] = title
        return 200, {"ok": True}

    def _usergroups_users_list(self, params: dict) -> tuple[int, dict]:
        """A user group's members: `missing_scope` without usergroups:read, `no_such_subteam` for an unknown id."""
        if "usergroups:read" not in self.scopes:
            return 200, {"ok": False, "error": "missing_scope", "needed": "usergroups:read",
                         "provided": ",".join(sorted(self.scopes))}
        if not params.get("usergroup"):
            return 200, {"ok": False, "error": "invalid_arguments"}
        members = self.user_groups.get(params["usergroup"])
        if members is None:
            return 200, {"ok": False, "error": "no_such_subteam"}
        return 200, {"ok": True, "users": list(members)}

    def _assistant_threads_setSuggestedPrompts(self, params: dict) -> tuple[int, dict]:
        """Up to four prompts, each a title and a message."""
        prompts = params.get("prompts")
        if (not params.get("channel_id") or not params.get("thread_ts") or not isinstance(prompts, list)
                or not 1 <= len(prompts) <= 4 or not all(isinstance(p, dict) and str(p.get("title", "")).strip()
                                                         and str(p.get("message", "")).strip() for p in prompts)):
            return 200, {"ok": False, "error": "invalid_arguments"}
        self.suggested_prompts[(params["channel_id"], params["thread_ts"])] = (params.get("title"), prompts)
        return 200, {"ok": True}

    def start_assistant_thread(self, user: str = "U1", channel: str = "D1", context_channel: str | None = None,
                               connection: int | None = None) -> Message:
        """A person opens a new thread in the bot's messages tab: Slack makes its root message and sends
        `assistant_thread_started`."""
        root = self.add_message(channel, "New chat", user=user)
        context = {"channel_id": context_channel, "team_id": self.team_id} if context_channel else {}
        self.send_event({"type": "assistant_thread_started", "event_ts": self.next_ts(), "assistant_thread": {
            "user_id": user, "channel_id": channel, "thread_ts": root.ts, "context": context}}, connection=connection)
        return root

    def press_stop(self, channel: str, thread_ts: str, user: str, connection: int | None = None) -> str:
        """A person presses the native Stop button of a thread's agent session: Slack stops the app's streaming
        messages in that thread and sends `agent_session_stopped` naming them; the session stays as it is."""
        with self.lock:
            stopped = [m.ts for m in self.messages
                       if m.channel == channel and m.thread_ts == thread_ts and self._still_streaming(m)]
            for message in self.messages:
                if message.ts in stopped:
                    message.streaming = False
        return self.send_event({"type": "agent_session_stopped", "channel": channel, "thread_ts": thread_ts,
                                "user": user, "event_ts": self.next_ts(), "streaming_message_ts": stopped},
                               connection=connection)

    def _thread_error(self, channel: str, thread_ts: str) -> str | None:
        """Why a thread cannot be written to (the conversation or the thread does not exist), or None."""
        if not any(m.channel == channel for m in self.messages):
            return "channel_not_found"
        if not any(m.channel == channel and m.ts == thread_ts for m in self.messages):
            return "invalid_thread_ts"
        return None

    def _streaming_message(self, params: dict) -> tuple[Message | None, str | None]:
        message = self._find(params.get("channel"), params.get("ts"))
        if message is None:
            return None, "message_not_found"
        if message.stopped_by_user:
            message.streaming = False
            return message, "stopped_by_user"
        if not self._still_streaming(message):
            return message, "message_not_in_streaming_state"
        return message, None

    def _still_streaming(self, message: Message) -> bool:
        if message.streaming and time.monotonic() >= message.stream_ends_at:
            message.streaming = False  # Slack ended it
        return message.streaming

    def _grow(self, message: Message, text: str) -> tuple[int, dict]:
        if len(text) > STREAM_CALL_LIMIT or len(message.text) + len(text) > self.stream_message_limit:
            return 200, {"ok": False, "error": "msg_too_long"}
        message.text += text
        message.edits.append((time.monotonic(), message.text))
        return 200, {"ok": True, "channel": message.channel, "ts": message.ts}

    def _app_posted(self, message: Message) -> None:
        """Slack clears the thread's status when the app posts in it."""
        for status in self.statuses:
            if status.channel == message.channel and status.thread_ts == message.thread_ts:
                status.cleared_by_post = True

    def _conversations_replies(self, params: dict) -> tuple[int, dict]:
        """A thread, oldest first, within `oldest`/`latest` (included only with `inclusive`), a page at a time."""
        if params.get("channel") in self.not_member:
            return 200, {"ok": False, "error": "not_in_channel"}
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")
        inclusive = str(params.get("inclusive")).lower() in ("1", "true")
        thread = [m for m in self.messages if m.channel == params.get("channel")
                  and (m.ts == params.get("ts") or m.thread_ts == params.get("ts"))
                  and (oldest <= float(m.ts) <= latest if inclusive else oldest < float(m.ts) < latest)]
        thread.sort(key=lambda m: float(m.ts))
        return self._page(thread, params)

    def _conversations_history(self, params: dict) -> tuple[int, dict]:
        if params.get("channel") in self.not_member:
            return 200, {"ok": False, "error": "not_in_channel"}
        latest = float(params.get("latest") or "inf")
        oldest = float(params.get("oldest") or 0)
        top = [m for m in self.messages if m.channel == params.get("channel")
               and (m.thread_ts is None or m.thread_ts == m.ts) and oldest < float(m.ts) < latest]
        top.sort(key=lambda m: float(m.ts), reverse=True)
        metadata = _flag(params.get("include_all_metadata"))
        return 200, {"ok": True, "messages": [m.as_api(metadata) for m in top[: int(params.get("limit") or 100)]],
                     "has_more": len(top) > int(params.get("limit") or 100)}

    def _files_info(self, params: dict) -> tuple[int, dict]:
        if "files:read" not in self.scopes:
            return 200, {"ok": False, "error": "missing_scope", "needed": "files:read",
                         "provided": ",".join(sorted(self.scopes))}
        stored = self.files.get(params.get("file") or "")
        if stored is None:
            return 200, {"ok": False, "error": "file_not_found"}
        if stored.deleted:
            return 200, {"ok": False, "error": "file_deleted"}
        return 200, {"ok": True, "file": dict(stored.info), "comments": [],
                     "response_metadata": {"next_cursor": ""}}

    def _assistant_search_context(self, params: dict) -> tuple[int, dict]:
        """Slack's Real-time Search: only with an action token an event gave (it searches as that person) and a
        `search:read.*` scope; the messages whose words the query shares, best first, each with its permalink."""
        granted = sorted(scope for scope in self.scopes if scope.startswith("search:read."))
        if not granted:
            return 200, {"ok": False, "error": "missing_scope", "needed": "search:read.public",
                         "provided": ",".join(sorted(self.scopes))}
        token = params.get("action_token") or ""
        if token not in self.action_tokens:
            return 200, {"ok": False, "error": "invalid_action_token"}
        query = str(params.get("query") or "").strip()
        limit = int(params.get("limit") or 20)
        if not query or not 1 <= limit <= 20:
            return 200, {"ok": False, "error": "invalid_arguments"}
        words = set(re.findall(r"\w+", query.lower()))
        found = []
        for message in self.messages:
            shared = len(words & set(re.findall(r"\w+", message.text.lower())))
            if shared and message.bot_id is None and message.ts not in self.action_tokens.values():
                found.append((shared, message))
        found.sort(key=lambda pair: (-pair[0], -float(pair[1].ts)))
        self.searches.append(dict(params))
        return 200, {"ok": True, "results": {"messages": [
            {"author_user_id": m.user, "author_name": self.names.get(m.user or "", m.user), "team_id": self.team_id,
             "channel_id": m.channel, "channel_name": self.channel_names.get(m.channel, m.channel.lower()),
             "message_ts": m.ts, "content": m.text, "is_author_bot": False,
             "permalink": f"https://standin.slack.com/archives/{m.channel}/p{m.ts.replace('.', '')}"}
            for _, m in found[:limit]]}, "response_metadata": {"next_cursor": ""}}

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
        metadata = _flag(params.get("include_all_metadata"))
        return 200, {"ok": True, "messages": [m.as_api(metadata) for m in page], "has_more": bool(cursor),
                     "response_metadata": {"next_cursor": cursor}}

    def _find(self, channel: str | None, ts: str | None) -> Message | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)


def _shut(connection: socket.socket) -> None:
    """Drop a connection from the server's side (the client reads its end at once)."""
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:  # the client closed it already
        pass


CHUNK_TYPES = ("markdown_text", "task_update", "plan_update", "blocks")
SESSION_STATUSES = ("active", "processing", "suspended", "closed")  # what agents.sessions.setStatus takes
TASK_STATUSES = ("pending", "in_progress", "complete", "error")


def _task_chunks(params: dict) -> tuple[list[dict], str | None]:
    """The task_update chunks of a chat.*Stream call, checked as slack_sdk's chunk models describe them (an id, a
    title, a status of four, sources of type url with an address and a text); `invalid_chunks` otherwise."""
    chunks = params.get("chunks") or []
    if isinstance(chunks, str):
        try:
            chunks = json.loads(chunks)
        except ValueError:
            return [], "invalid_chunks"
    if not isinstance(chunks, list) or not all(isinstance(chunk, dict) and chunk.get("type") in CHUNK_TYPES
                                               for chunk in chunks):
        return [], "invalid_chunks"
    tasks = [chunk for chunk in chunks if chunk["type"] == "task_update"]
    for task in tasks:
        if not (isinstance(task.get("id"), str) and task["id"] and isinstance(task.get("title"), str)
                and task["title"].strip() and task.get("status") in TASK_STATUSES):
            return [], "invalid_chunks"
        for source in task.get("sources") or []:
            if not (isinstance(source, dict) and source.get("type") == "url" and str(source.get("url", "")).startswith(
                    ("http://", "https://")) and str(source.get("text", "")).strip()):
                return [], "invalid_chunks"
    return tasks, None


def _update_tasks(message: "Message", tasks: list[dict], at: float) -> None:
    for task in tasks:
        message.tasks[task["id"]] = {**message.tasks.get(task["id"], {}), **task}
        message.task_updates.append((at, dict(task)))


def _stream_text(params: dict) -> str:
    """The Markdown a chat.*Stream call carries, in `markdown_text` or in markdown_text chunks."""
    text = params.get("markdown_text") or ""
    for chunk in params.get("chunks") or []:
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
            text += chunk.get("text") or ""
    return text


def _blocks(params: dict) -> list | None:
    """The call's blocks (a list, or JSON of one, as the Web API takes them); None if they are not valid."""
    blocks = params.get("blocks") or []
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return None
    if not isinstance(blocks, list) or not all(isinstance(block, dict) and block.get("type") for block in blocks):
        return None
    return blocks


_BROADCASTS = re.compile(r"(?<![\w<!])@(channel|here|everyone)\b")


def _parsed(text: str, params: dict, default: str) -> str:
    """The text as Slack stores it. With `parse` "full" or "client" (chat.update's default; chat.postMessage's
    is "none") or `link_names`, Slack turns a plain @channel, @here or @everyone into a live broadcast."""
    if params.get("parse", default) in ("full", "client") or _flag(params.get("link_names")):
        return _BROADCASTS.sub(r"<!\1>", text)
    return text


def _flag(value) -> bool:
    return value in (True, 1, "1", "true", "True")


def _blocks_and_metadata(params: dict) -> tuple[list, dict | None, str | None]:
    """A call's blocks and message metadata, or the error Slack gives for them."""
    blocks = _blocks(params)
    if blocks is None:
        return [], None, "invalid_blocks"
    metadata, error = _metadata(params)
    return blocks, metadata, error


def _metadata(params: dict) -> tuple[dict | None, str | None]:
    """A call's message metadata ({"event_type", "event_payload"}, or JSON of it), or the error Slack gives."""
    metadata = params.get("metadata")
    if metadata in (None, ""):
        return None, None
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return None, "invalid_metadata_format"
    if not isinstance(metadata, dict) or not metadata.get("event_type") or not isinstance(
            metadata.get("event_payload"), dict):
        return None, "invalid_metadata_schema"
    return metadata, None
