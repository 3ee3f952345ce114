"""Files people share, end to end through the real bot: the Slack stand-in serves them behind the bot token and
`files:read`, the Bedrock stand-in checks the image and document blocks it gets. Real small files, made here."""

from __future__ import annotations

import logging

from bot import notes
from standins.bedrock import Reply
from standins.events import direct_message
from tests.conversation.test_files import PNG
from tests.helpers import ask

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CSV = b"service,errors\napi,12\nworker,0\n"
ANSWER = "Here is what I see."


def answer(slack, channel: str = "C1", contains: str = ANSWER) -> str:
    def done():
        texts = [m.text for m in slack.bot_messages(channel) if not m.streaming and contains in m.text]
        return texts and texts[-1]
    return slack.wait_until(done, timeout=15, what=f"the answer in {channel}")


def test_an_image_a_pdf_and_a_csv_reach_the_model_as_blocks_with_the_question(slack, bedrock, start_bot):
    start_bot()
    bedrock.default = Reply.text(ANSWER)
    files = [slack.add_file("screenshot.png", PNG, "image/png"), slack.add_file("report.pdf", PDF, "application/pdf"),
             slack.add_file("errors.csv", CSV, "text/csv")]
    ask(slack, "<@UBOT> what's wrong here?", files=files)
    assert answer(slack) == ANSWER  # no note: everything was read
    [request] = bedrock.requests
    assert request.images == [("png", PNG)]
    assert sorted((fmt, data) for fmt, _, data in request.documents) == [("csv", CSV), ("pdf", PDF)]
    last = request.messages[-1]["content"]
    assert "what's wrong here?" in last[-1]["text"]  # the question after the files
    assert all(r.headers["Authorization"] == "Bearer xoxb-local-standin" for r in slack.file_requests)


def test_a_message_with_only_a_file_asks_what_it_is_and_a_snippet_is_read_as_text(slack, bedrock, start_bot):
    start_bot()
    bedrock.default = Reply.text(ANSWER)
    log = slack.add_file("app.log", b"ERROR db timeout\nERROR db timeout\n", "text/plain", filetype="text",
                         mode="snippet")
    event, _ = direct_message(slack, "", files=[log])
    slack.send_event(event)
    assert answer(slack, "D1") == ANSWER
    [request] = bedrock.requests
    text = " ".join(block.get("text", "") for block in request.messages[-1]["content"])
    assert "[file: app.log]" in text and "ERROR db timeout" in text and "Say what they are" in text


def test_what_cannot_be_read_is_named_in_the_note_and_the_rest_is_answered(slack, bedrock, start_bot):
    start_bot(FILE_MAX_MB="0.01")  # 10,000 bytes
    bedrock.default = Reply.text(ANSWER)
    files = [slack.add_file("archive.zip", b"PK\x03\x04" + b"x" * 10, "application/zip"),
             slack.add_file("big.pdf", PDF + b"x" * 20_000, "application/pdf"),
             slack.add_file("errors.csv", CSV, "text/csv")]
    ask(slack, "<@UBOT> look", files=files)
    text = answer(slack, contains="archive.zip")  # the note: the first edit may show the answer alone
    assert "archive.zip" in text and "big.pdf" in text and "errors.csv" not in text.split(ANSWER)[-1]
    [request] = bedrock.requests
    assert [name for _, name, _ in request.documents] and not request.images


def test_without_files_read_slack_sends_its_sign_in_page_and_the_note_tells_the_admin(slack, bedrock, start_bot,
                                                                                   caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot()
    slack.scopes.discard("files:read")
    bedrock.default = Reply.text(ANSWER)
    ask(slack, "<@UBOT> see this", files=[slack.add_file("report.pdf", PDF, "application/pdf")])
    text = answer(slack, contains="files:read")  # the note: the first edit may show the answer alone
    assert "files:read" in text
    [request] = bedrock.requests
    assert not request.documents  # the sign-in page never reached the model


def test_a_model_without_vision_answers_the_text_says_so_and_is_not_sent_files_again(slack, bedrock, start_bot):
    start_bot()
    bedrock.refuse_files = True
    bedrock.default = Reply.text(ANSWER)
    ask(slack, "<@UBOT> what is this?", files=[slack.add_file("screenshot.png", PNG, "image/png")])
    assert ANSWER in answer(slack, contains=notes.MODEL_TAKES_NO_FILES)  # not the first edit
    assert len(bedrock.requests) == 2 and not bedrock.requests[1].images  # refused, then the text alone
    ask(slack, "<@UBOT> and this?", files=[slack.add_file("other.png", PNG, "image/png")], channel="C2")
    assert ANSWER in answer(slack, "C2", contains=notes.MODEL_TAKES_NO_FILES)
    assert len(bedrock.requests) == 3 and not bedrock.requests[2].images


def test_files_shared_earlier_in_the_thread_stay_in_the_conversation(slack, bedrock, start_bot):
    start_bot()
    bedrock.default = Reply.text(ANSWER)
    root = slack.add_message("C1", "here is the report", user="U2",
                             files=[slack.add_file("report.pdf", PDF, "application/pdf")])
    ask(slack, "<@UBOT> what does the report say?", files=[], thread_ts=root.ts)
    answer(slack)
    [request] = bedrock.requests
    assert [(fmt, data) for fmt, _, data in request.documents] == [("pdf", PDF)]


def test_the_status_says_which_file_is_being_read(slack, bedrock, start_bot):
    start_bot(SLACK_STATUS="on", SLACK_REPLY_SURFACE="auto")
    bedrock.default = Reply.text(ANSWER)
    ask(slack, "<@UBOT> read this", files=[slack.add_file("report.pdf", PDF, "application/pdf")])
    slack.wait_until(lambda: [m for m in slack.bot_messages("C1") if ANSWER in m.text and not m.streaming],
                     what="the answer")
    assert "is reading report.pdf…" in [status.status for status in slack.statuses]


def test_a_deleted_file_a_mislabelled_one_and_one_too_many_are_named_and_the_rest_read(slack, bedrock, start_bot):
    start_bot()
    bedrock.default = Reply.text(ANSWER)
    sheets = [slack.add_file(f"sheet{n}.csv", CSV, "text/csv") for n in range(6)]  # one more than Bedrock takes
    fake = slack.add_file("photo.png", b"just some text, not an image", "image/png")
    gone = slack.add_file("old.png", PNG, "image/png")
    slack.delete_file(gone["id"])  # deleted after it was shared, before the bot read it
    ask(slack, "<@UBOT> compare these", files=[*sheets, fake, gone])
    text = answer(slack, contains="old.png")  # the note: the first edit may show the answer alone
    note = text.split(ANSWER)[-1]
    assert "old.png (deleted" in note and "photo.png (its content" in note
    assert "sheet0.csv (over the 5 documents" in note  # the oldest sheet is left out, by name
    [request] = bedrock.requests
    assert sorted(name for _, name, _ in request.documents) == [f"sheet{n} csv" for n in range(1, 6)]
    assert not request.images


def test_an_html_page_named_png_is_said_not_to_be_what_its_name_says_not_a_missing_scope(slack, bedrock, start_bot):
    start_bot()
    bedrock.default = Reply.text(ANSWER)
    page = slack.add_file("chart.png", b"<!doctype html><html><body>not a chart</body></html>", "image/png")
    ask(slack, "<@UBOT> see this chart", files=[page])
    text = answer(slack, contains="chart.png")
    assert "isn't what its name says" in text and "files:read" not in text  # the app has files:read
    assert not bedrock.requests[0].images


def test_a_pdf_that_slack_serves_as_text_html_is_read_as_the_pdf_it_is(slack, bedrock, start_bot):
    start_bot()
    bedrock.default = Reply.text(ANSWER)
    ask(slack, "<@UBOT> read this", files=[slack.add_file("report.pdf", PDF, "application/pdf",
                                                            served_as="text/html; charset=utf-8")])
    text = answer(slack)
    assert "files:read" not in text and "report.pdf" not in text  # read: no note about it
    [request] = bedrock.requests
    assert [(fmt, data) for fmt, _, data in request.documents] == [("pdf", PDF)]


def test_a_file_host_that_fails_is_not_said_to_have_taken_too_long(slack, bedrock, start_bot):
    start_bot(SLACK_RETRY_ATTEMPTS="2")
    slack.file_error = 503
    bedrock.default = Reply.text(ANSWER)
    ask(slack, "<@UBOT> read this", files=[slack.add_file("report.pdf", PDF, "application/pdf")])
    text = answer(slack, contains="report.pdf")
    assert "Slack could not send it just now" in text and "too long" not in text


def test_an_image_bedrock_refuses_is_left_out_named_and_not_sent_again_in_the_thread(slack, bedrock, start_bot):
    """Slack says 100 px wide; the PNG's header says 9,000: Bedrock refuses the request for that image. The answer
    goes on without it (named in the note), and the thread's later replies leave it out instead of failing."""
    from tests.conversation.test_files import _png_1x1

    start_bot()
    bedrock.default = Reply.text(ANSWER)
    wide = slack.add_file("wide.png", _png_1x1(width=9_000), "image/png", original_w=100, original_h=100)
    good = slack.add_file("good.png", PNG, "image/png")
    event_id, question, _ = ask(slack, "<@UBOT> compare these", files=[wide, good])
    text = answer(slack, contains="wide.png")
    assert "wide.png" in text and "the model could not read it" in text and ANSWER in text
    refused, answered = bedrock.requests
    assert len(refused.images) == 2 and [data for _, data in answered.images] == [PNG]  # only the bad one left out

    ask(slack, "<@UBOT> and now?", thread_ts=question.ts)
    slack.wait_until(lambda: len([m for m in slack.bot_messages("C1") if not m.streaming and "wide.png" in m.text
                                  and ANSWER in m.text]) == 2, timeout=15, what="the second answer, naming it too")
    assert len(bedrock.requests) == 3  # no request refused for it again
    assert [data for _, data in bedrock.requests[2].images] == [PNG]
