"""The HTTP server the stand-ins use, and the handler the AWS ones share (JSON in, JSON out, AWS's errors)."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer(ThreadingHTTPServer):
    """A thread per request, and a listen backlog deep enough for a hundred replies connecting at once (the
    default of 5 drops connections, which Slack and AWS never do)."""

    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that goes away mid-request (a bot process killed, a connection reset) is no error of the
        stand-in's; anything else is printed as usual."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class AwsHandler(BaseHTTPRequestHandler):
    """An AWS service's HTTP side: keep-alive, no access log, a JSON body in, JSON or AWS's error shape out
    (the status, `x-amzn-ErrorType` with the code, a JSON message), as botocore parses them."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def read_json(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")

    def send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_aws_error(self, status: int, code: str, message: str) -> None:
        self.send_json(status, {"message": message}, {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/"})
