"""The HTTP server both stand-ins use."""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class LocalServer(ThreadingHTTPServer):
    """A thread per request, and a listen backlog deep enough for a hundred replies connecting at once (the
    default of 5 drops connections, which Slack and AWS never do)."""

    request_queue_size = 256
    daemon_threads = True
