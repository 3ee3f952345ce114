"""Slack Web API calls over kept-alive, pooled connections.

slack_sdk's `WebClient` sends each call with `urllib.request.urlopen`, which opens a connection (TCP, and TLS
to slack.com) for the call and closes it after: every post, edit and status pays one to three more round
trips before Slack reads it. `PooledWebClient` is that client with the one method that sends a request
replaced, so that calls go through a urllib3 pool that keeps connections alive and reuses them. The method
keeps urllib's contract, so everything above it stays slack_sdk's own (the request it builds, its retry
handlers, how it reads an error answer, `SlackResponse`, `SlackApiError`): a 2xx answer is returned as
{status, headers, body}; any other status is raised as urllib's `HTTPError`; a network failure is raised
as urllib raises it (a `URLError` around the socket's or ssl's error when no connection was made, else
http.client's or the socket's own error), so `errors.from_exception` maps every failure as before.

The pool keeps at most `pool_size` connections; a burst beyond it does not wait, it opens connections that
are closed after their call (urllib3 logs a warning then). urllib3 sends nothing twice: `retries=False`,
and redirects are not followed (Slack's Web API does not redirect).
"""

from __future__ import annotations

import http.client
import io
import threading
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import unquote
from urllib.request import Request, proxy_bypass

import urllib3
from slack_sdk import WebClient
from urllib3.exceptions import ConnectTimeoutError, ProxyError, SSLError

# Connections kept beyond one per reply in flight: Bolt's own calls, Socket Mode's `apps.connections.open`,
# and the sign of life of questions waiting for a slot
HEADROOM = 8


class PooledWebClient(WebClient):
    def __init__(self, *args: Any, pool_size: int = 10, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool_size = pool_size
        self._managers: dict[str | None, urllib3.PoolManager] = {}  # by proxy
        self._lock = threading.Lock()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if not url.lower().startswith("http") or not isinstance(self.proxy, (str, type(None))):
            return super()._perform_urllib_http_request_internal(url, req)  # which refuses it
        try:
            response = self._manager(req.host).request(
                req.get_method(), url, body=req.data, headers={name: str(value) for name, value in req.header_items()},
                timeout=self.timeout, retries=False, redirect=False)
        except urllib3.exceptions.HTTPError as error:
            raise _as_urllib(error) from error
        headers = http.client.HTTPMessage()  # what urllib's response has
        for name, value in response.headers.items():
            headers[name] = value
        if not 200 <= response.status < 300:
            raise HTTPError(url, response.status, response.reason or "", headers, io.BytesIO(response.data))
        body = response.data
        if headers.get_content_type() != "application/gzip":  # admin.analytics.getFile's answer stays bytes
            body = body.decode(headers.get_content_charset() or "utf-8")
        return {"status": response.status, "headers": headers, "body": body}

    def _manager(self, host: str) -> urllib3.PoolManager:
        """The pools through `proxy`, or direct where there is none or no_proxy names `host` (as urllib)."""
        proxy = self.proxy if self.proxy and not proxy_bypass(host) else None
        with self._lock:
            if proxy not in self._managers:
                options = dict(maxsize=self.pool_size, block=False, ssl_context=self.ssl)
                if proxy is None:
                    self._managers[proxy] = urllib3.PoolManager(**options)
                else:
                    auth = urllib3.util.parse_url(proxy).auth
                    self._managers[proxy] = urllib3.ProxyManager(
                        proxy, proxy_headers=urllib3.make_headers(proxy_basic_auth=unquote(auth)) if auth else None,
                        **options)
            return self._managers[proxy]


def _as_urllib(error: urllib3.exceptions.HTTPError) -> BaseException:
    """What urllib would have raised instead of urllib3's `error`."""
    cause = _unwrapped(error)
    if isinstance(error, (ConnectTimeoutError, SSLError, ProxyError)):  # the connection was not made
        return URLError(cause)  # (ConnectTimeoutError includes NewConnectionError and NameResolutionError)
    return cause


def _unwrapped(error: BaseException) -> BaseException:
    """The socket's, ssl's or http.client's error inside urllib3's."""
    for inner in (*error.args, error.__cause__, error.__context__):
        if isinstance(inner, urllib3.exceptions.HTTPError) and inner is not error:
            return _unwrapped(inner)
        if isinstance(inner, (OSError, http.client.HTTPException)):
            return inner
    return error
