"""A local Bedrock runtime: `POST /model/{id}/converse-stream` answered with real event-stream frames.

The frames are `application/vnd.amazon.eventstream` as AWS sends them (prelude with total and header
lengths and its CRC32, string headers, a JSON payload, the message CRC32), written with chunked transfer
encoding, so that unmodified boto3 parses them. The bot reaches it through boto3's standard
`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`. Each request takes the next scripted `Reply`, else what `answer`
makes of the request, else the default one. Faults: an AWS error before the stream (`Reply.error`), one
inside it (`exception`), a dropped connection (`DROP`), a stream that goes silent without closing (`STALL`),
and an error page from something in between, a proxy or an endpoint, that is not AWS's (`Reply.not_aws`).
"""

from __future__ import annotations

import binascii
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Callable
from urllib.parse import unquote

from standins.server import LocalServer


def _header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    return bytes([len(name_bytes)]) + name_bytes + b"\x07" + struct.pack(">H", len(value_bytes)) + value_bytes


def frame(headers: dict[str, str], payload: dict) -> bytes:
    """One event-stream message."""
    header_bytes = b"".join(_header(name, value) for name, value in headers.items())
    body = json.dumps(payload).encode()
    total = 12 + len(header_bytes) + len(body) + 4
    prelude = struct.pack(">II", total, len(header_bytes))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + header_bytes + body
    return message + struct.pack(">I", binascii.crc32(message))


def event(event_type: str, payload: dict) -> bytes:
    return frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload)


def exception(code: str, message: str = "injected by the stand-in") -> bytes:
    """An error inside the stream, as Bedrock sends it (boto3 raises it as EventStreamError)."""
    return frame({":exception-type": code, ":content-type": "application/json", ":message-type": "exception"},
                 {"message": message})


DROP = b""  # a step that drops the connection, with no end to the chunked body
STALL = b"stall"  # a step that sends nothing more and keeps the connection open until the bot closes it

NOT_AWS_PAGE = {
    500: (b"Internal Server Error", "text/plain"),
    502: (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
          b"</center>\r\n</body>\r\n</html>\r\n", "text/html"),
    503: (b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><p>The proxy could not "
          b"reach the service.</p></body></html>", "text/html; charset=utf-8"),
    504: (b"upstream request timeout", "text/plain"),
}


@dataclass
class Reply:
    """What the stand-in answers to one request: (seconds to wait first, frame) steps streamed with status
    200, or an error status before any stream."""

    steps: list[tuple[float, bytes]] = field(default_factory=list)
    status: int = 200
    error_code: str = ""
    error_message: str = ""
    error_body: bytes | None = None  # an error page that is not AWS's: no x-amzn-ErrorType, no JSON
    content_type: str = "application/json"

    @classmethod
    def error(cls, status: int, code: str, message: str = "injected by the stand-in") -> "Reply":
        """An error before the stream, as Bedrock answers it (status, x-amzn-ErrorType, JSON message)."""
        return cls(status=status, error_code=code, error_message=message)

    @classmethod
    def not_aws(cls, status: int, body: bytes | None = None, content_type: str = "text/html") -> "Reply":
        """An error before the stream from something in between (a proxy, a VPC endpoint, a load balancer):
        `status` with an HTML or plain-text page and no AWS error type. Script it N times for N requests."""
        default_body, default_type = NOT_AWS_PAGE.get(status, (f"{status} error".encode(), "text/plain"))
        return cls(status=status, error_body=default_body if body is None else body,
                   content_type=default_type if body is None else content_type)

    def cut(self, after_chunks: int, then: bytes = DROP, delay: float = 0.0) -> "Reply":
        """The same reply up to `after_chunks` text chunks, then `then` (an exception frame, DROP or STALL)."""
        return Reply(self.steps[: 1 + after_chunks] + [(delay, then)])

    @classmethod
    def text(cls, text: str, *, chunk: int = 5, delay: float = 0.0, stop_reason: str | None = "end_turn",
             first_delay: float = 0.0) -> "Reply":
        """`text` in chunks of `chunk` characters, `delay` seconds apart, then messageStop (unless None)."""
        pieces = [text[start:start + chunk] for start in range(0, len(text), chunk)]
        return cls.deltas(pieces, delay=delay, stop_reason=stop_reason, first_delay=first_delay)

    @classmethod
    def deltas(cls, pieces: list[str], *, delay: float = 0.0, stop_reason: str | None = "end_turn",
               first_delay: float = 0.0) -> "Reply":
        """One contentBlockDelta per piece, `delay` seconds apart (the first after `first_delay`), then
        messageStop (unless None). Step k + 1 is piece k."""
        text = "".join(pieces)
        steps = [(first_delay, event("messageStart", {"role": "assistant"}))]
        for piece in pieces:
            steps.append((delay, event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})))
        steps.append((0.0, event("contentBlockStop", {"contentBlockIndex": 0})))
        if stop_reason is not None:
            steps.append((0.0, event("messageStop", {"stopReason": stop_reason})))
            steps.append((0.0, event("metadata", {
                "usage": {"inputTokens": 11, "outputTokens": len(text) // 4, "totalTokens": 11 + len(text) // 4},
                "metrics": {"latencyMs": 42}})))
        return cls(steps)


@dataclass
class Request:
    model_id: str
    body: dict
    at: float
    frames_sent: int = 0
    sent_at: list[float] = field(default_factory=list)  # when each frame was written
    disconnected: bool = False  # the bot closed the stream before it ended
    ended_at: float | None = None


class FakeBedrock:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replies: list[Reply] = []
        self.default = Reply.text("Hello from the model.")
        self.answer: Callable[[Request], Reply] | None = None  # the reply for a request, when none is scripted
        self.lock = threading.Lock()
        self._stopped = threading.Event()
        self._http = LocalServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> "FakeBedrock":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()  # ends stalled streams
        self._http.shutdown()
        self._http.server_close()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def _next_reply(self, request: Request) -> Reply:
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
        return self.answer(request) if self.answer else self.default

    def _handler_class(self):
        bedrock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                parts = self.path.split("/")
                if len(parts) != 4 or parts[1] != "model" or parts[3] != "converse-stream":
                    self.send_error(404)
                    return
                request = Request(unquote(parts[2]), body, time.monotonic())
                with bedrock.lock:
                    bedrock.requests.append(request)
                reply = bedrock._next_reply(request)
                if reply.status != 200:
                    self._error(reply)
                else:
                    self._stream(reply, request)
                request.ended_at = time.monotonic()

            def _error(self, reply: Reply) -> None:
                if reply.error_body is not None:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.error_body)))
                    self.end_headers()
                    self.wfile.write(reply.error_body)
                    return
                payload = json.dumps({"message": reply.error_message}).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-amzn-ErrorType", f"{reply.error_code}:http://internal.amazon.com/coral/")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, reply: Reply, request: Request) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("x-amzn-RequestId", "standin-request")
                self.end_headers()
                try:
                    for wait, data in reply.steps:
                        if wait:
                            time.sleep(wait)
                        if data == DROP:
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        if data == STALL:
                            self._stall(request)
                            return
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        request.frames_sent += 1
                        request.sent_at.append(time.monotonic())
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:  # the bot closed the stream
                    request.disconnected = True
                    self.close_connection = True

            def _stall(self, request: Request) -> None:
                """Send nothing more, and keep the connection open until the bot closes it."""
                self.close_connection = True
                self.connection.settimeout(0.05)
                while not bedrock._stopped.is_set():
                    try:
                        if self.connection.recv(1):
                            continue
                    except socket.timeout:
                        continue
                    except OSError:
                        pass
                    request.disconnected = True  # the bot closed its end
                    return

        return Handler
