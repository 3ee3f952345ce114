"""The stand-ins' files, through the real clients: Slack's file host and `files.info` (urllib, urllib3,
slack_sdk)."""

from __future__ import annotations

import http.client
import struct
import urllib.error
import urllib.request
import zlib
from urllib.parse import urlsplit

import pytest
import urllib3
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standins.events import direct_message, mention

TOKEN = "xoxb-local-standin"


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG (RGB, every pixel black)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x00" * 3 * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg_header(width: int = 4, height: int = 3) -> bytes:
    """The start of a baseline JPEG: SOI, a JFIF APP0, and the SOF0 that gives its size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


# -- Slack: the file host ------------------------------------------------------------------------------


def get(url: str, token: str | None = TOKEN) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def test_a_file_comes_back_to_the_bot_token_with_files_read(slack):
    data = png()
    file = slack.add_file("chart.png", data, "image/png", original_w=2, original_h=2)
    assert file["id"].startswith("F") and file["filetype"] == "png" and file["size"] == len(data)
    assert file["url_private"].startswith(slack.base_url + "/files-pri/T1-" + file["id"] + "/")
    assert file["url_private_download"] == f"{slack.base_url}/files-pri/T1-{file['id']}/download/chart.png"
    for url in (file["url_private"], file["url_private_download"]):
        status, headers, body = get(url)
        assert (status, body) == (200, data)
        assert headers["content-type"] == "image/png" and headers["content-length"] == str(len(data))
    assert [r.authorization for r in slack.file_requests] == [f"Bearer {TOKEN}"] * 2
    assert slack.file_requests[1].path == urlsplit(file["url_private_download"]).path
    assert slack.file_requests[1].status == 200


@pytest.mark.parametrize("token", [None, "xapp-not-a-bot-token"])
def test_without_the_bot_token_slack_answers_a_sign_in_page_not_the_file(slack, token):
    file = slack.add_file("notes.txt", b"the secret plan", "text/plain")
    status, headers, body = get(file["url_private_download"], token=token)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"Sign in" in body and b"secret" not in body
    assert slack.file_requests[0].authorization == (f"Bearer {token}" if token else None)


def test_without_the_files_read_scope_slack_answers_a_sign_in_page(slack):
    assert "files:read" in slack.scopes  # what the manifest grants
    file = slack.add_file("notes.txt", b"the secret plan", "text/plain")
    slack.scopes.discard("files:read")
    status, headers, body = get(file["url_private_download"])
    assert status == 200 and headers["content-type"].startswith("text/html") and b"secret" not in body


def test_a_deleted_file_is_not_found(slack):
    file = slack.add_file("notes.txt", b"gone soon", "text/plain")
    mention(slack, "<@UBOT> read this", files=[file])
    slack.delete_file(file["id"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(file["url_private_download"])
    assert refused.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as unknown:
        get(f"{slack.base_url}/files-pri/T1-F999999999/download/nothing.txt")
    assert unknown.value.code == 404
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as info:
        client.files_info(file=file["id"])
    assert info.value.response["error"] == "file_deleted"
    history = client.conversations_history(channel="C1")["messages"]
    assert history[0]["files"] == [{"id": file["id"], "mode": "tombstone"}]


def test_a_redirect_is_answered_with_its_location_and_not_followed(slack):
    file = slack.add_file("notes.txt", b"abc", "text/plain")
    slack.redirect_files_to = "http://127.0.0.1:9/elsewhere/notes.txt"
    pool = urllib3.PoolManager()
    response = pool.request("GET", file["url_private_download"], headers={"Authorization": f"Bearer {TOKEN}"},
                            redirect=False)
    assert response.status == 302 and response.headers["Location"] == slack.redirect_files_to
    assert len(slack.file_requests) == 1


def test_a_slow_file_sends_its_headers_then_holds_the_body(slack):
    file = slack.add_file("big.pdf", b"%PDF-1.4 " + b"x" * 100, "application/pdf")
    slack.file_delay = 1.0
    host = urlsplit(slack.base_url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=0.3)
    connection.request("GET", urlsplit(file["url_private_download"]).path, headers={"Authorization": f"Bearer {TOKEN}"})
    response = connection.getresponse()  # the headers come at once
    assert response.status == 200 and response.getheader("Content-Length") == "109"
    with pytest.raises(TimeoutError):
        response.read()
    connection.close()


def test_a_truncated_file_is_cut_short_of_its_content_length(slack):
    data = b"0123456789" * 10
    file = slack.add_file("digits.txt", data, "text/plain")
    slack.file_truncate_at = 30
    host = urlsplit(slack.base_url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=5)
    connection.request("GET", urlsplit(file["url_private"]).path, headers={"Authorization": f"Bearer {TOKEN}"})
    response = connection.getresponse()
    assert response.getheader("Content-Length") == "100"
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    assert cut.value.partial == data[:30]
    connection.close()


# -- Slack: files.info and files in messages -----------------------------------------------------------


def test_files_info_gives_the_file_object(slack):
    file = slack.add_file("report.pdf", b"%PDF-1.4", "application/pdf", title="Q3 report")
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    answer = client.files_info(file=file["id"])
    assert answer["ok"] and answer["file"] == file and answer["file"]["title"] == "Q3 report"
    assert slack.calls_of("files.info")[0].params["file"] == file["id"]  # sent with GET, as slack_sdk does
    with pytest.raises(SlackApiError) as missing:
        client.files_info(file="F000000404")
    assert missing.value.response["error"] == "file_not_found"


def test_files_info_needs_files_read(slack):
    file = slack.add_file("report.pdf", b"%PDF-1.4", "application/pdf")
    slack.scopes.discard("files:read")
    with pytest.raises(SlackApiError) as refused:
        WebClient(token=TOKEN, base_url=slack.api_url).files_info(file=file["id"])
    assert refused.value.response["error"] == "missing_scope" and refused.value.response["needed"] == "files:read"


def test_events_and_threads_carry_the_files_shared_in_them(slack):
    file = slack.add_file("chart.png", png(), "image/png")
    event, message = mention(slack, "<@UBOT> what is this?", files=[file])
    assert event["files"] == [file] and "subtype" not in event
    dm, _ = direct_message(slack, "and this?", files=[file])
    assert dm["subtype"] == "file_share" and dm["files"] == [file]
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    replies = client.conversations_replies(channel="C1", ts=message.ts)["messages"]
    assert replies[0]["files"] == [file]
