"""Fault injection through the local Slack and Bedrock stand-ins: what the person ends up seeing, and how
many calls each remote received (and when), when Bedrock throttles, refuses or drops a stream, when Slack
answers 429 or loses the reply, and when the bot is asked to stop too much at once."""

from __future__ import annotations

import logging

import pytest

from bot import notes
from bot.model.kinds import ModelErrorKind
from standins.events import direct_message, mention
from standins.bedrock import DROP, STALL, Reply, exception

FAST_RETRIES = {"BEDROCK_RETRY_BASE_SECONDS": "0.05", "BEDROCK_RETRY_ATTEMPTS": "3"}
ANSWER = "The whole answer, in several chunks."


def ask(slack, text: str = "<@UBOT> a question", **kwargs):
    event_, question = mention(slack, text, **kwargs)
    slack.send_event(event_)
    return question


def final_text(slack, channel: str = "C1", contains: str = "") -> str:
    """The text of the reply once it is no longer the placeholder (and holds `contains`)."""
    def done():
        texts = [m.text for m in slack.bot_messages(channel)]
        return texts and texts[-1] != notes.PLACEHOLDER and contains in texts[-1] and texts
    return "\n\n".join(slack.wait_until(done, what=f"the reply in {channel} to hold {contains!r}"))


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


def stalled(pieces: list[str], *, pause_before_last: float = 0.0) -> Reply:
    """A stream that sends `pieces`, then goes silent without closing (as a stuck connection does)."""
    steps = Reply.deltas(pieces, stop_reason=None).steps[: 1 + len(pieces)]
    if pause_before_last:
        steps[-1] = (pause_before_last, steps[-1][1])
    return Reply(steps + [(0.0, STALL)])


def test_the_deadline_ends_a_silent_stream_at_once_with_its_note(slack, bedrock, start_bot):
    start_bot(REPLY_DEADLINE_SECONDS="2")  # the read timeout stays at its 60 s
    bedrock.script(stalled(["The whole ", "answe"]))
    ask(slack)

    assert final_text(slack, contains="too long") == f"The whole answe\n\n{notes.TOOK_TOO_LONG}"
    [request] = bedrock.requests
    slack.wait_until(lambda: request.disconnected, what="the model stream to be closed")


# -- Slack -----------------------------------------------------------------------------------------------


def test_a_deleted_reply_stops_the_answer_and_the_model_stream(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot()
    bedrock.script(Reply.text("word " * 200, chunk=5, delay=0.05))
    ask(slack)
    slack.wait_until(lambda: any(m.edits for m in slack.bot_messages("C1")), what="the first words")
    [reply] = slack.bot_messages("C1")
    slack.delete("C1", reply.ts)

    [request] = bedrock.requests
    slack.wait_until(lambda: request.ended_at is not None, timeout=10, what="the model stream to be closed")
    assert request.disconnected and request.ended_at - request.at < 5
    assert not [c for c in slack.calls_of("chat.postMessage") if c.params.get("text") != notes.PLACEHOLDER]
    assert [r for r in slack.responses if r[2].get("error") == "message_not_found"]  # one refused edit, then quiet
    slack.wait_until(lambda: "outcome=deleted" in caplog.text, what="the reply to end")  # and it does end


def test_a_reply_deleted_while_the_model_is_silent_ends_at_once(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot()
    bedrock.script(stalled(["First ", "words. ", "Then a last few "], pause_before_last=1.0))
    ask(slack)
    slack.wait_until(lambda: any("words." in m.text for m in slack.bot_messages("C1")), what="the first words")
    [reply] = slack.bot_messages("C1")
    slack.delete("C1", reply.ts)  # the edit of the last few words finds it gone, while the model is silent

    [request] = bedrock.requests
    slack.wait_until(lambda: "outcome=deleted" in caplog.text, what="the reply to end")  # not after 60 s
    slack.wait_until(lambda: request.disconnected, what="the model stream to be closed")


def test_a_rate_limited_placeholder_is_posted_after_retry_after(slack, bedrock, start_bot):
    start_bot()
    slack.fail("chat.postMessage", retry_after=1)
    bedrock.script(Reply.text(ANSWER))
    ask(slack)

    assert final_text(slack, contains="chunks.") == ANSWER
    first, second = slack.calls_of("chat.postMessage")[:2]
    assert second.at - first.at >= 1.0
    assert slack.early_calls == []


def test_a_rate_limited_intermediate_edit_is_superseded_and_the_final_text_lands(slack, bedrock, start_bot):
    start_bot(SLACK_UPDATE_INTERVAL_SECONDS="0.1")
    slack.fail("chat.update", retry_after=0.5, when=lambda params: "chunks" not in params.get("text", ""))
    bedrock.script(Reply.text(ANSWER, chunk=3, delay=0.05))
    ask(slack)

    assert final_text(slack, contains="chunks.") == ANSWER
    assert slack.early_calls == []
    updates = slack.calls_of("chat.update")
    limited = next(c for c in updates if any(r[0] is c and r[1] == 429 for r in slack.responses))
    assert all(c.at >= limited.at + 0.5 for c in updates if c is not limited and c.at > limited.at)


def test_a_rate_limited_final_edit_is_retried_until_it_lands(slack, bedrock, start_bot):
    start_bot()
    slack.fail("chat.update", retry_after=1, times=2, when=lambda params: params.get("text", "").endswith("chunks."))
    bedrock.script(Reply.text(ANSWER))
    ask(slack)

    assert final_text(slack, contains="chunks.") == ANSWER
    finals = [c for c in slack.calls_of("chat.update") if c.params["text"] == ANSWER]
    assert len(finals) == 3 and finals[2].at - finals[0].at >= 2.0
    assert slack.early_calls == []


def test_msg_too_long_falls_back_to_splitting(slack, bedrock, start_bot):
    start_bot(SLACK_UPDATE_INTERVAL_SECONDS="0.1")
    slack.text_limit = 1500  # this Slack is stricter than the 4,000 the bot expects
    answer = "\n\n".join(f"Paragraph {i}: " + ("lorem ipsum " * 30).strip() for i in range(12)) + "\n\nThe end."
    bedrock.script(Reply.text(answer, chunk=200))
    ask(slack)

    final_text(slack, contains="The end.")
    texts = [m.text for m in slack.bot_messages("C1")]
    assert "\n\n".join(texts) == answer
    assert all(len(t) <= 1500 for t in texts)
    assert any(body["error"] == "msg_too_long" for _, _, body in slack.responses if not body.get("ok", True))


def test_a_socket_mode_reconnect_does_not_disturb_a_reply_in_flight(slack, bedrock, start_bot):
    start_bot()
    bedrock.script(Reply.text(ANSWER, chunk=3, delay=0.1))
    ask(slack)
    slack.wait_until(lambda: any(m.edits for m in slack.bot_messages("C1")), what="the first words")
    slack.drop_connections()  # Slack rotates the connection

    assert final_text(slack, contains="chunks.") == ANSWER
    slack.wait_until(lambda: slack.connected, timeout=20, what="the bot to reconnect")
    ask(slack, channel="C2")
    assert final_text(slack, "C2", contains="model.") == "Hello from the model."


# -- odd and hostile input ------------------------------------------------------------------------------


def test_an_oversized_message_is_cut_with_a_note(slack, bedrock, start_bot):
    start_bot(MAX_MESSAGE_CHARS="1000")
    ask(slack, "<@UBOT> " + "x" * 5000)

    text = final_text(slack, contains="scissors")
    assert text == "Hello from the model.\n\n" + notes.QUESTION_CUT.format(limit=1000)
    [sent] = bedrock.requests[0].body["messages"]
    assert sent["content"][0]["text"].startswith("x" * 1000 + "\n[…cut here")


def test_a_message_that_is_only_files_where_files_are_not_read_gets_a_friendly_reply_and_no_model_call(
        slack, bedrock, start_bot):
    start_bot(FILES_READ="none")
    event_, _ = direct_message(slack, "")
    slack.send_event({**event_, "subtype": "file_share", "files": [{"id": "F1", "name": "diagram.png"}]})

    assert final_text(slack, "D1", contains="text") == notes.FILES_ONLY
    assert bedrock.requests == []


def test_other_languages_emoji_and_mentions_reach_the_model_readably(slack, bedrock, start_bot):
    start_bot()
    slack.names["U2"] = "Chiara"
    ask(slack, "<@UBOT> 鍵の更新は？ :key: ¿y <@U2> en <#C9|seguridad>? &lt;ok&gt;")

    final_text(slack, contains="model.")
    [sent] = bedrock.requests[0].body["messages"]
    assert sent["content"][0]["text"] == "鍵の更新は？ :key: ¿y @Chiara en #seguridad? <ok>"


def test_events_of_unknown_shape_are_skipped_without_harm(slack, bedrock, start_bot):
    start_bot()
    slack.send_event({"type": "app_mention"})
    slack.send_event({"type": "app_mention", "user": {"id": "U1"}, "channel": "C1", "ts": "1.1", "text": 5})
    slack.send_event({"type": "message", "channel_type": "im", "channel": "D1"})
    slack.send_event({"type": "reaction_added", "user": "U1"})
    ask(slack, channel="C2")

    assert final_text(slack, "C2", contains="model.") == "Hello from the model."
    assert slack.bot_messages("C1") == [] and slack.bot_messages("D1") == []


def test_a_person_gets_a_polite_refusal_past_their_concurrent_limit(slack, bedrock, start_bot):
    start_bot(MAX_REPLIES_PER_USER="1")
    bedrock.default = Reply.text("slow answer " * 10, chunk=4, delay=0.05)
    ask(slack, channel="C1")
    slack.wait_until(lambda: bedrock.requests, what="the first answer to start")
    ask(slack, channel="C2")
    ask(slack, channel="C3", user="U2")

    assert final_text(slack, "C2") == notes.TOO_MANY_AT_ONCE.format(count=1)
    for channel in ("C1", "C3"):  # the other person, and the first question, are answered in full
        assert final_text(slack, channel, contains=("slow answer " * 10).strip()) == ("slow answer " * 10).strip()
    assert len(bedrock.requests) == 2


def test_allow_lists_answer_others_with_a_polite_refusal(slack, bedrock, start_bot):
    start_bot(ALLOWED_CHANNEL_IDS="C1", ALLOWED_USER_IDS="U1")
    ask(slack, channel="C2")
    ask(slack, channel="C1", user="U2")
    ask(slack, channel="C1")

    assert final_text(slack, "C2") == notes.NOT_ALLOWED_HERE
    expected = sorted([notes.NOT_ALLOWED_FOR_YOU, "Hello from the model."])
    slack.wait_until(lambda: sorted(m.text for m in slack.bot_messages("C1")) == expected, what="both replies in C1")
    assert len(bedrock.requests) == 1


@pytest.mark.parametrize("error, fix", [
    ("not_in_channel", "/invite"),
    ("channel_not_found", "invite it"),
    ("missing_scope", "OAuth & Permissions"),
    ("invalid_auth", "SLACK_BOT_TOKEN"),
])
def test_slack_errors_that_need_an_admin_are_logged_with_what_to_fix(slack, bedrock, start_bot, caplog, error, fix):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot()
    slack.fail("chat.postMessage", error)
    ask(slack)

    slack.wait_until(lambda: f"cannot answer in C1: {error}" in caplog.text, what="the log line")
    assert fix in caplog.text
    # the model was asked at once, beside the sign of life, and stopped as soon as Slack refused that
    slack.wait_until(lambda: all(r.disconnected or r.ended_at for r in bedrock.requests), what="the model stopped")
    assert slack.bot_messages("C1") == []
