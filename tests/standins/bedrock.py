"""A local Bedrock runtime: `POST /model/{id}/converse-stream` answered with real event-stream frames.

The frames are `application/vnd.amazon.eventstream` as AWS sends them (prelude with total and header
lengths and its CRC32, string headers, a JSON payload, the message CRC32), written with chunked transfer
encoding, so that unmodified boto3 parses them. The bot reaches it through boto3's standard
`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`. Each request takes the next scripted `Reply` (or the default one).
"""

from __future__ import annotations

import binascii
import json
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


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


@dataclass
class Reply:
    """What the stand-in streams for one request: (seconds to wait first, frame) steps."""

    steps: list[tuple[float, bytes]] = field(default_factory=list)

    @classmethod
    def text(cls, text: str, *, chunk: int = 5, delay: float = 0.0, stop_reason: str | None = "end_turn",
             first_delay: float = 0.0) -> "Reply":
        """`text` in chunks of `chunk` characters, `delay` seconds apart, then messageStop (unless None)."""
        steps = [(first_delay, event("messageStart", {"role": "assistant"}))]
        for start in range(0, len(text), chunk):
            steps.append((delay, event("contentBlockDelta", {
                "contentBlockIndex": 0, "delta": {"text": text[start:start + chunk]}})))
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


class FakeBedrock:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replies: list[Reply] = []
        self.default = Reply.text("Hello from the model.")
        self.lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> "FakeBedrock":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def _next_reply(self) -> Reply:
        with self.lock:
            return self.replies.pop(0) if self.replies else self.default

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
                with bedrock.lock:
                    bedrock.requests.append(Request(unquote(parts[2]), body, time.monotonic()))
                reply = bedrock._next_reply()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("x-amzn-RequestId", "standin-request")
                self.end_headers()
                for wait, data in reply.steps:
                    if wait:
                        time.sleep(wait)
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler
