"""The stand-ins' files, through the real clients: Slack's file host and `files.info` (urllib, urllib3,
slack_sdk), and Bedrock's image and document blocks (boto3's `converse_stream`), refused as Bedrock does."""

from __future__ import annotations

import http.client
import struct
import urllib.error
import urllib.request
import zlib
from urllib.parse import urlsplit

import boto3
import pytest
import urllib3
from botocore.config import Config
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standins import bedrock as fake_bedrock
from standins.bedrock import Reply
from standins.events import direct_message, mention

TOKEN = "xoxb-local-standin"
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


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
    slack.wait_until(lambda: slack.file_requests[1].status, what="the file host to note its answer")  # after the body
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


# -- Bedrock: image and document blocks ----------------------------------------------------------------


@pytest.fixture
def runtime(aws_env):
    return boto3.client("bedrock-runtime", region_name=aws_env["AWS_REGION"],
                        config=Config(retries={"max_attempts": 1}))


def ask(runtime, *blocks: dict) -> str:
    """A converse_stream with these blocks and a question; the text that streams back."""
    messages = [{"role": "user", "content": [*blocks, {"text": "What is in these?"}]}]
    stream = runtime.converse_stream(modelId=MODEL, messages=messages)["stream"]
    return "".join(event["contentBlockDelta"]["delta"]["text"] for event in stream if "contentBlockDelta" in event)


def image(data: bytes, format: str = "png") -> dict:
    return {"image": {"format": format, "source": {"bytes": data}}}


def document(name: str, data: bytes = b"a,b\n1,2\n", format: str = "csv") -> dict:
    return {"document": {"format": format, "name": name, "source": {"bytes": data}}}


def refusal(runtime, *blocks: dict) -> str:
    with pytest.raises(runtime.exceptions.ValidationException) as refused:
        ask(runtime, *blocks)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return refused.value.response["Error"]["Message"]


def test_images_and_documents_reach_the_model_decoded(runtime, bedrock):
    picture, sheet, pdf = png(3, 2), b"name,count\nfoo,1\n", b"%PDF-1.4 tiny"
    bedrock.script(Reply.text("A chart and two files."))
    answer = ask(runtime, image(picture), image(jpeg_header(), "jpeg"), document("Q3 figures (final)", sheet),
                 document("report [v2]", pdf, "pdf"))
    assert answer == "A chart and two files."
    request = bedrock.requests[0]
    assert request.images == [("png", picture), ("jpeg", jpeg_header())]
    assert request.documents == [("csv", "Q3 figures (final)", sheet), ("pdf", "report [v2]", pdf)]


def test_too_many_images_and_documents_together(runtime, bedrock):
    bedrock.script(Reply.text("unused"))
    message = refusal(runtime, *[image(png()) for _ in range(21)])
    assert message == "The model returned the following errors: too many images and documents: 21 + 0 > 20"
    message = refusal(runtime, *[image(png()) for _ in range(16)], *[document(f"doc {n}") for n in range(5)])
    assert message.endswith("too many images and documents: 16 + 5 > 20")
    assert len(bedrock.requests[0].images) == 21  # recorded all the same
    assert len(bedrock.replies) == 1  # a refused request uses up no scripted reply
    assert ask(runtime, *[image(png()) for _ in range(20)]) == "unused"


def test_more_than_five_documents(runtime):
    message = refusal(runtime, *[document(f"part {n}") for n in range(6)])
    assert message == fake_bedrock.TOO_MANY_DOCUMENTS == "You can't include more than 5 documents in a request."


@pytest.mark.parametrize("name", ["report.pdf", "two  spaces", "under_score", "tab\there", "résumé", "it's"])
def test_a_document_name_outside_the_rule_is_refused(runtime, name):
    assert refusal(runtime, document(name)) == fake_bedrock.DOCUMENT_NAME_REFUSAL


def test_document_names_that_pass_are_the_documented_ones(runtime, bedrock):
    ask(runtime, document("Q3 - report (final) [v2]"), document(" padded "), document("x" * 200))
    assert [name for _, name, _ in bedrock.requests[0].documents] == ["Q3 - report (final) [v2]", " padded ",
                                                                       "x" * 200]


def test_a_document_name_over_200_characters_or_used_twice(runtime):
    message = refusal(runtime, document("x" * 201))
    assert message == ("1 validation error detected: Value at 'messages.1.member.content.1.member.document.name' "
                       "failed to satisfy constraint: Member must have length less than or equal to 200")
    assert refusal(runtime, document("notes"), document("notes", b"other")) == \
        "Messages can't contain duplicate document names."


def test_formats_outside_the_enums(runtime):
    message = refusal(runtime, image(jpeg_header(), "jpg"))
    assert message == ("1 validation error detected: Value at 'messages.1.member.content.1.member.image.format' "
                       "failed to satisfy constraint: Member must satisfy enum value set: [gif, jpeg, png, webp]")
    message = refusal(runtime, document("data", format="json"))
    assert "'messages.1.member.content.1.member.document.format'" in message
    assert message.endswith("[csv, doc, docx, html, md, pdf, txt, xls, xlsx]")


def test_an_image_over_3_75_mb_is_over_claudes_5_mb_of_base64(runtime, bedrock):
    fits = png() + b"\x00" * (3 * 1024 * 1024 * 5 // 4 - len(png()))  # 3.75 MB exactly: 5 MB of base64
    ask(runtime, image(fits))
    assert bedrock.requests[0].images[0][1] == fits
    message = refusal(runtime, image(fits + b"\x00"))
    assert message == ("The model returned the following errors: messages.0.content.0.image.source.bytes: image "
                       "exceeds 5 MB maximum: 5242884 bytes > 5242880 bytes")


def test_a_document_over_4_5_mb(runtime):
    big = b"a,b\n" * (9 * 1024 * 1024 // 8 // 4 * 4 + 1)
    assert len(big) > 4.5 * 1024 * 1024
    assert refusal(runtime, document("big", big)) == "The maximum document size is 4.5 MB."


def test_an_image_wider_than_8000_px_or_not_what_its_label_says(runtime):
    message = refusal(runtime, image(png(8001, 1)))
    assert message == ("The model returned the following errors: messages.0.content.0.image.source.bytes: At least "
                       "one of the image dimensions exceed max allowed size: 8000 pixels")
    message = refusal(runtime, image(png(), "jpeg"))
    assert message.endswith("messages.0.content.0.image.source.bytes: The image was specified using the image/jpeg "
                            "media type, but the image appears to be a image/png image")
    assert refusal(runtime, image(b"not an image at all")) == \
        "The model returned the following errors: Could not process image"


@pytest.mark.parametrize("refuse, blocks, expected", [
    (True, [image(png())], fake_bedrock.IMAGE_REFUSAL),
    (True, [document("notes")], fake_bedrock.DOCUMENT_REFUSAL),
    ("images", [image(png())], fake_bedrock.IMAGE_REFUSAL),
    ("documents", [document("notes")], fake_bedrock.DOCUMENT_REFUSAL),
])
def test_a_model_without_vision_or_documents_refuses_them(runtime, bedrock, refuse, blocks, expected):
    bedrock.refuse_files = refuse
    assert refusal(runtime, *blocks) == expected
    assert expected.startswith(("This model doesn't support the image field for user messages.",
                                "This model doesn't support the document field for user messages."))


def test_a_model_without_vision_still_takes_what_it_supports(runtime, bedrock):
    bedrock.refuse_files = "images"
    bedrock.script(Reply.text("Read it."))
    assert ask(runtime, document("notes")) == "Read it."
    bedrock.refuse_files = True
    assert ask(runtime) == "Hello from the model."  # text alone is never refused
