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

Files people share are downloaded over the same pools (`files_download`, called as the "files.download"
method of `SlackCalls`, so the one Slack call policy paces and retries it): only from Slack's own hosts (or
the host of the configured Web API, a local Slack in tests), with the bot token; a redirect is followed at
most twice and only within those hosts, so the token never goes anywhere else; the body is read in chunks and
abandoned past `max_bytes` or the deadline, never buffered whole beyond it; a short body, a 404 and Slack's HTML sign-in
page (what Slack sends when the app lacks `files:read`) are failures of their own kinds, not file bytes.
At most `DOWNLOADS_AT_ONCE` downloads run at a time.

The pool keeps at most `pool_size` connections; a burst beyond it does not wait, it opens connections that
are closed after their call (urllib3 logs a warning then). urllib3 sends nothing twice: `retries=False`,
and redirects are not followed (Slack's Web API does not redirect).
"""

from __future__ import annotations

import http.client
import io
import threading
import time
from typing import Any, cast
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import Request, proxy_bypass

import urllib3
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse
from urllib3.exceptions import ConnectTimeoutError, ProxyError, SSLError

from bot.slack.kinds import Gone, NotAllowed, Refused, TooLong, Unavailable
from bot.slack.pages import looks_like_html
from bot.slack.methods import DOWNLOAD

# Connections kept beyond one per reply in flight: Bolt's own calls, Socket Mode's `apps.connections.open`,
# and the sign of life of questions waiting for a slot
HEADROOM = 8
DOWNLOADS_AT_ONCE = 4  # file downloads in flight at once, for all replies
_CHUNK = 64 * 1024
_MAX_REDIRECTS = 2



class PooledWebClient(WebClient):
    def __init__(self, *args: Any, pool_size: int = 10, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool_size = pool_size
        self._managers: dict[str | None, urllib3.PoolManager] = {}  # by proxy
        self._lock = threading.Lock()
        self._downloads = threading.BoundedSemaphore(DOWNLOADS_AT_ONCE)

    def files_download(self, *, url: str, max_bytes: int, until: float | None = None,
                       expect_html: bool = False) -> SlackResponse:
        """The bytes of the Slack file at `url` (`data`), with the bot token. A `SlackError` of its kind when
        it is not the file: `TooLong` past `max_bytes`, `Gone` (404), `NotAllowed` (Slack's sign-in page:
        `files:read` is missing, unless the file itself is HTML: `expect_html`), `Refused` (not a Slack
        host), `Unavailable` (5xx, a short body, past `until` on `time.monotonic`, the network)."""
        with self._downloads:
            headers = {"Authorization": f"Bearer {self.token}"}
            for _ in range(_MAX_REDIRECTS + 1):
                if not self._slack_host(url):
                    raise Refused(DOWNLOAD, "not_a_slack_file_host")
                timeout = self.timeout if until is None else max(min(self.timeout, until - time.monotonic()), 0.1)
                try:
                    response = self._manager(urlsplit(url).hostname or "").request(
                        "GET", url, headers=headers, timeout=timeout, retries=False, redirect=False,
                        preload_content=False)
                except urllib3.exceptions.HTTPError as error:
                    raise _as_urllib(error) from error  # mapped by `errors.from_exception`
                if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    response.drain_conn()  # a redirect's body is small: the connection can carry the next request
                    response.release_conn()
                    url = urljoin(url, response.headers["Location"])  # refused above unless it is Slack's
                    continue
                try:
                    found = self._file_body(url, response, max_bytes, until, expect_html)
                except BaseException:
                    response.close()  # a body left unread must not reach the next request on this connection
                    raise
                finally:
                    response.release_conn()
                return found
            raise Refused(DOWNLOAD, "too_many_redirects")

    def _file_body(self, url: str, response, max_bytes: int, until: float | None,
                   expect_html: bool) -> SlackResponse:
        if response.status == 404:
            raise Gone(DOWNLOAD, "file_not_found", status=404)
        if response.status >= 500:
            raise Unavailable(DOWNLOAD, f"http_{response.status}", status=response.status)
        if response.status != 200:
            raise Refused(DOWNLOAD, f"http_{response.status}", status=response.status)
        kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise TooLong(DOWNLOAD, "file_too_large")
        body = bytearray()
        try:
            for chunk in response.stream(_CHUNK, decode_content=True):
                body += chunk
                if len(body) > max_bytes:
                    raise TooLong(DOWNLOAD, "file_too_large")
                if until is not None and time.monotonic() > until:
                    raise Unavailable(DOWNLOAD, "timed_out")
        except urllib3.exceptions.HTTPError as error:  # the connection broke, or the body came short
            raise Unavailable(DOWNLOAD, type(_unwrapped(error)).__name__) from error
        if declared is not None and declared.isdigit() and len(body) < int(declared):
            raise Unavailable(DOWNLOAD, "truncated")
        if kind == "text/html" and not expect_html and looks_like_html(bytes(body)):
            raise NotAllowed(DOWNLOAD, "missing_scope", status=200)  # Slack's sign-in page: no files:read (a PDF
            # sent as text/html is a file)
        return SlackResponse(client=self, http_verb="GET", api_url=url, req_args={}, data=bytes(body),
                             headers=dict(response.headers), status_code=200)

    def _slack_host(self, url: str) -> bool:
        """Slack's own hosts (or the configured Web API's: a local Slack), over HTTPS unless the API is not. The
        host is read as the transport will connect to it: a URL that Python's parser and urllib3's read as two
        hosts (`https://evil.example\\@files.slack.com/`), or that carries a user name, is refused."""
        if not url.isprintable() or any(character in url for character in "\\ "):
            return False
        try:
            connects_to = (urllib3.util.parse_url(url).host or "").lower().strip("[]")
            parts, api = urlsplit(url), urlsplit(self.base_url)
            host = (parts.hostname or "").lower()
            userinfo = parts.username is not None or parts.password is not None
            same_as_api = (parts.hostname, parts.port) == (api.hostname, api.port) and parts.scheme == api.scheme
        except ValueError:  # a port that is no number, a malformed IPv6 host
            return False
        if userinfo or connects_to != host:
            return False
        if same_as_api:
            return True
        return parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if not url.lower().startswith("http") or not isinstance(self.proxy, (str, type(None))):
            return super()._perform_urllib_http_request_internal(url, req)  # which refuses it
        try:
            response = self._manager(req.host).request(
                req.get_method(), url, body=cast(Any, req.data),
                headers={name: str(value) for name, value in req.header_items()},
                timeout=self.timeout, retries=False, redirect=False)
        except urllib3.exceptions.HTTPError as error:
            raise _as_urllib(error) from error
        headers = http.client.HTTPMessage()  # what urllib's response has
        for name, value in response.headers.items():
            headers[name] = value
        if not 200 <= response.status < 300:
            raise HTTPError(url, response.status, response.reason or "", headers, io.BytesIO(response.data))
        body: bytes | str = response.data
        if headers.get_content_type() != "application/gzip":  # admin.analytics.getFile's answer stays bytes
            body = response.data.decode(headers.get_content_charset() or "utf-8")
        return {"status": response.status, "headers": headers, "body": body}

    def _manager(self, host: str) -> urllib3.PoolManager:
        """The pools through `proxy`, or direct where there is none or no_proxy names `host` (as urllib)."""
        proxy = self.proxy if self.proxy and not proxy_bypass(host) else None
        with self._lock:
            if proxy not in self._managers:
                options: dict[str, Any] = dict(maxsize=self.pool_size, block=False, ssl_context=self.ssl)
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
