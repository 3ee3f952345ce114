"""The HTTP server both stand-ins use."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer


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
