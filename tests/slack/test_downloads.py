"""Downloading the files people share, through the Slack call policy and the pooled client, from the Slack
stand-in's file host: only with the bot token, only from Slack's hosts, never past the size limit, and each
way a download is not the file told apart (Slack's sign-in page, a deleted file, a short body)."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.calls import SlackCalls
from bot.slack.http import DOWNLOAD, PooledWebClient
from bot.slack.kinds import Gone, NotAllowed, Refused, TooLong, Unavailable
from bot.slack.pacing import Pacer

PDF = b"%PDF-1.4\n" + b"x" * 5_000 + b"\n%%EOF\n"


@pytest.fixture
def calls(slack):
    client = PooledWebClient(token="xoxb-local-standin", base_url=slack.api_url, retry_handlers=[], timeout=5)
    return SlackCalls(client, Pacer(), attempts=3, max_seconds=5, sleep=lambda seconds: time.sleep(min(seconds, 0.05)))


def download(calls, file: dict, max_bytes: int = 1_000_000, **options):
    return calls.call(DOWNLOAD, url=file["url_private_download"], max_bytes=max_bytes, **options).data


def test_a_file_comes_down_with_the_bot_token(slack, calls):
    file = slack.add_file("report.pdf", PDF, "application/pdf")
    assert download(calls, file) == PDF
    [request] = slack.file_requests
    assert request.headers["Authorization"] == "Bearer xoxb-local-standin"


def test_slacks_sign_in_page_is_no_access_not_file_bytes(slack, calls):
    slack.scopes.discard("files:read")
    file = slack.add_file("report.pdf", PDF, "application/pdf")
    with pytest.raises(NotAllowed) as refused:
        download(calls, file)
    assert refused.value.code == "missing_scope"  # the log's fix names the scope
    assert len(slack.file_requests) == 1  # not retried: it would be refused again


def test_a_deleted_file_is_gone(slack, calls):
    file = slack.add_file("report.pdf", PDF, "application/pdf")
    slack.delete_file(file["id"])
    with pytest.raises(Gone):
        download(calls, file)


def test_reading_stops_past_the_limit(slack, calls):
    file = slack.add_file("big.pdf", PDF, "application/pdf")
    with pytest.raises(TooLong):
        download(calls, file, max_bytes=1_000)


def test_a_short_body_is_retried_then_given_up_never_taken_for_the_file(slack, calls):
    slack.file_truncate_at = 100
    file = slack.add_file("report.pdf", PDF, "application/pdf")
    with pytest.raises(Unavailable):
        download(calls, file)
    assert len(slack.file_requests) == 3  # the policy's three attempts: a download may be repeated


def test_a_slow_body_is_given_up_at_the_deadline(slack, calls):
    slack.file_delay = 2.0
    file = slack.add_file("report.pdf", PDF, "application/pdf")
    started = time.monotonic()
    with pytest.raises(Unavailable):
        download(calls, file, until=time.monotonic() + 0.3, deadline=calls.clock() + 0.3)
    assert time.monotonic() - started < 2.0


def test_only_slacks_hosts_and_the_token_never_follows_a_redirect_elsewhere(slack, calls):
    seen: list[dict] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(len(PDF)))
            self.end_headers()
            self.wfile.write(PDF)

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        elsewhere = f"http://localhost:{other.server_address[1]}/file.pdf"  # not the configured Slack's host
        with pytest.raises(Refused):
            calls.call(DOWNLOAD, url=elsewhere, max_bytes=1_000_000)
        assert seen == []  # never asked
        slack.redirect_files_to = elsewhere
        file = slack.add_file("report.pdf", PDF, "application/pdf")
        with pytest.raises(Refused):
            download(calls, file)
        assert seen == []  # a redirect off Slack's hosts is not followed (a plain-HTTP host is not Slack's)
    finally:
        other.shutdown()


def test_at_most_a_few_downloads_run_at_once(slack, calls):
    from concurrent.futures import ThreadPoolExecutor

    from bot.slack.http import DOWNLOADS_AT_ONCE

    slack.file_delay = 0.5  # each body comes half a second after its headers
    files = [slack.add_file(f"r{n}.pdf", PDF, "application/pdf") for n in range(DOWNLOADS_AT_ONCE + 3)]
    started = time.monotonic()
    with ThreadPoolExecutor(len(files)) as pool:
        assert list(pool.map(lambda file: download(calls, file), files)) == [PDF] * len(files)
    first_round = [r for r in slack.file_requests if r.at - started < 0.4]
    assert len(first_round) == DOWNLOADS_AT_ONCE  # the others waited for one to finish


# -- the bot token goes to Slack's file hosts only, read as the transport connects ---------------------------

SLACK_API = "https://slack.com/api/"


@pytest.mark.parametrize("url", [
    "https://evil.example\\@files.slack.com/x.png",  # Python reads files.slack.com; urllib3 connects to evil.example
    "https://files.slack.com@evil.example/x.png",
    "https://user:pass@files.slack.com/x.png",
    "https://files.slack.com\\.evil.example/x.png",
    "https://files.slack.com.evil.example/x.png",
    "https://files.slack.com:notaport/x.png",
    "https://[::1/x.png",
    "http://files.slack.com/x.png",  # not over HTTPS
    "https://files.slack.com/x.png\nHost: evil.example",
])
def test_a_url_that_could_take_the_token_elsewhere_is_refused(url):
    assert not PooledWebClient(token="xoxb-x", base_url=SLACK_API)._slack_host(url)


def test_slacks_own_file_hosts_are_accepted():
    client = PooledWebClient(token="xoxb-x", base_url=SLACK_API)
    assert client._slack_host("https://files.slack.com/files-pri/T1-F1/x.png")
    assert client._slack_host("https://files.slack.com:443/files-pri/T1-F1/x.png")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz.:@/\\[]%#?0123456789-_ ", max_size=40))
def test_whatever_odd_url_is_accepted_the_transport_connects_to_a_slack_host(tail):
    import urllib3

    url = "https://" + tail
    if PooledWebClient(token="xoxb-x", base_url=SLACK_API)._slack_host(url):
        host = (urllib3.util.parse_url(url).host or "").lower()
        assert host == "slack.com" or host.endswith(".slack.com"), url
