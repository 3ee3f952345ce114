"""Bedrock failing, through the local Slack and Bedrock stand-ins: what the person ends up seeing, and how
many requests Bedrock received (and when), when it throttles, refuses, sends an error page, fails or drops a
stream, stalls, or runs past the reply's deadline."""

from __future__ import annotations

import logging

import pytest

from bot import notes
from bot.model.kinds import ModelErrorKind
from standins.bedrock import DROP, Reply, exception
from tests.helpers import ask, final_text, stalled

FAST_RETRIES = {"BEDROCK_RETRY_BASE_SECONDS": "0.05", "BEDROCK_RETRY_ATTEMPTS": "3"}
ANSWER = "The whole answer, in several chunks."


# -- Bedrock: before the stream ------------------------------------------------------------------------


def test_throttling_that_clears_is_retried_and_the_person_sees_only_the_answer(slack, bedrock, start_bot):
    start_bot(**FAST_RETRIES)
    bedrock.script(Reply.error(429, "ThrottlingException"), Reply.error(503, "ServiceUnavailableException"),
                   Reply.text(ANSWER))
    ask(slack)

    assert final_text(slack, contains="chunks.") == ANSWER
    assert len(bedrock.requests) == 3
    gaps = [b.at - a.at for a, b in zip(bedrock.requests, bedrock.requests[1:])]
    assert all(gap > 0.0 for gap in gaps)


def test_throttling_that_never_clears_stops_at_the_bound_with_a_short_note(slack, bedrock, start_bot):
    start_bot(**FAST_RETRIES)
    bedrock.script(*[Reply.error(429, "ThrottlingException", "Too many requests")] * 5)
    ask(slack)

    text = final_text(slack, contains="busy")
    assert text == notes.model_failure_note(ModelErrorKind.BUSY)
    assert len(bedrock.requests) == 3  # BEDROCK_RETRY_ATTEMPTS, and botocore added none of its own


@pytest.mark.parametrize("status, code, message, says", [
    (403, "AccessDeniedException", "You don't have access to the model", "Model access"),
    (400, "ValidationException",
     "Invocation of model ID anthropic.claude-x with on-demand throughput isn't supported.", "inference profile"),
    (400, "ValidationException", "Input is too long for requested model.", "Start a new thread"),
    (404, "ResourceNotFoundException", "Model not found", "BEDROCK_MODEL_ID"),
])
def test_what_retrying_cannot_fix_is_not_retried_and_says_what_to_do(slack, bedrock, start_bot, status, code,
                                                                    message, says):
    start_bot(**FAST_RETRIES)
    bedrock.script(Reply.error(status, code, message))
    ask(slack)

    text = final_text(slack, contains=says)
    assert "Exception" not in text and "Traceback" not in text
    assert len(bedrock.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_error_page_from_something_in_between_is_retried_and_the_person_sees_only_the_answer(
        slack, bedrock, start_bot, status):
    start_bot(**FAST_RETRIES)
    bedrock.script(Reply.not_aws(status), Reply.not_aws(status), Reply.text(ANSWER))  # a proxy's page, no AWS error
    ask(slack)

    assert final_text(slack, contains="chunks.") == ANSWER
    assert len(bedrock.requests) == 3


def test_an_error_page_that_never_clears_says_bedrock_was_unreachable_with_no_traceback(slack, bedrock, start_bot,
                                                                                        caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot(**FAST_RETRIES)
    bedrock.script(*[Reply.not_aws(502)] * 5)
    ask(slack)

    assert final_text(slack, contains=":warning:") == notes.model_failure_note(ModelErrorKind.UNREACHABLE)
    assert len(bedrock.requests) == 3  # BEDROCK_RETRY_ATTEMPTS
    slack.wait_until(lambda: "outcome=failed" in caplog.text, what="the reply's log line")
    assert "HTTP 502" in caplog.text
    assert not [record for record in caplog.records if record.exc_info]  # a known failure: no traceback


# -- Bedrock: inside the stream ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["throttlingException", "serviceUnavailableException", "internalServerException",
                                  "modelStreamErrorException"])
def test_a_transient_error_before_any_text_is_retried_transparently(slack, bedrock, start_bot, code):
    start_bot(**FAST_RETRIES)
    bedrock.script(Reply.text(ANSWER).cut(0, exception(code)), Reply.text(ANSWER))
    ask(slack)

    assert final_text(slack, contains="chunks.") == ANSWER
    assert len(bedrock.requests) == 2


@pytest.mark.parametrize("failure", [
    exception("throttlingException"), exception("modelStreamErrorException"), exception("validationException"),
    DROP,
], ids=["throttling", "model-stream-error", "validation", "dropped-connection"])
def test_a_failure_after_text_keeps_the_partial_answer_and_says_so(slack, bedrock, start_bot, failure):
    start_bot(**FAST_RETRIES)
    bedrock.script(Reply.text(ANSWER, chunk=5).cut(3, failure))
    ask(slack)

    assert final_text(slack, contains=":warning:") == f"The whole answe\n\n{notes.INTERRUPTED}"
    assert len(bedrock.requests) == 1  # what the person saw is never generated twice


def test_a_stream_cut_before_any_text_is_retried(slack, bedrock, start_bot):
    start_bot(**FAST_RETRIES)
    bedrock.script(Reply.text(ANSWER).cut(0, DROP), Reply.text(ANSWER, stop_reason=None).cut(0, DROP),
                   Reply.text(ANSWER))
    ask(slack)

    assert final_text(slack, contains="chunks.") == ANSWER
    assert len(bedrock.requests) == 3


def test_a_validation_error_in_the_stream_before_text_is_not_retried(slack, bedrock, start_bot):
    # without cache points: a request that carried them is tried once without them (tests/model/test_prompt_cache.py)
    start_bot(BEDROCK_PROMPT_CACHE="off", **FAST_RETRIES)
    bedrock.script(Reply.text(ANSWER).cut(0, exception("validationException", "bad input")))
    ask(slack)

    assert final_text(slack, contains=":warning:") == notes.FAILED
    assert len(bedrock.requests) == 1


def test_a_stalled_stream_hits_the_read_timeout_and_keeps_what_was_said(slack, bedrock, start_bot):
    start_bot(BEDROCK_READ_TIMEOUT_SECONDS="1", **FAST_RETRIES)
    reply = Reply.text(ANSWER, chunk=5)
    bedrock.script(Reply(reply.steps[:4] + [(3.0, reply.steps[4][1])] + reply.steps[5:]))
    ask(slack)

    assert final_text(slack, contains=":warning:") == f"The whole answe\n\n{notes.INTERRUPTED}"
    assert len(bedrock.requests) == 1


def test_a_runaway_generation_is_ended_at_the_deadline_and_the_stream_closed(slack, bedrock, start_bot):
    start_bot(REPLY_DEADLINE_SECONDS="1")
    bedrock.script(Reply.text("blah " * 200, chunk=5, delay=0.05))  # about 10 s of tokens
    ask(slack)

    text = final_text(slack, contains="too long")
    assert text.startswith("blah blah") and text.endswith(notes.TOOK_TOO_LONG)
    [request] = bedrock.requests
    slack.wait_until(lambda: request.ended_at is not None, what="the stand-in to see the stream end")
    assert request.disconnected and request.ended_at - request.at < 4


def test_the_deadline_ends_a_silent_stream_at_once_with_its_note(slack, bedrock, start_bot):
    start_bot(REPLY_DEADLINE_SECONDS="2")  # the read timeout stays at its 60 s
    bedrock.script(stalled(["The whole ", "answe"]))
    ask(slack)

    assert final_text(slack, contains="too long") == f"The whole answe\n\n{notes.TOOK_TOO_LONG}"
    [request] = bedrock.requests
    slack.wait_until(lambda: request.disconnected, what="the model stream to be closed")


def test_a_refusal_for_one_unreadable_file_is_told_from_a_model_that_takes_none():
    from botocore.exceptions import ClientError

    from bot.model.errors import may_refuse_files, refused_file

    def refusal(message: str) -> ClientError:
        return ClientError({"Error": {"Code": "ValidationException", "Message": message},
                            "ResponseMetadata": {"HTTPStatusCode": 400}}, "ConverseStream")

    wrong_type = refusal("The model returned the following errors: messages.0.content.1.image.source.bytes: The image "
                         "was specified using the image/png media type, but the image appears to be a image/jpeg image")
    assert refused_file(wrong_type) == ("image", (0, 1)) and not may_refuse_files(wrong_type)
    assert refused_file(refusal("Could not process image")) == ("image", None)
    assert refused_file(refusal("messages.2.content.0.document.source.bytes: The PDF specified was not valid.")) == (
        "document", (2, 0))
    no_vision = refusal("This model doesn't support the image field for user messages. Remove image and try again.")
    assert may_refuse_files(no_vision) and refused_file(no_vision) is None
    assert refused_file(refusal("Input is too long for requested model.")) is None
