"""Fault injection through the local Slack and Bedrock stand-ins: what the person ends up seeing, and how
many calls Slack received (and when), when Slack answers 429 or loses the reply, when the input is odd, and
when the bot is asked to stop too much at once. Bedrock failing: `tests/model/test_failures.py`."""

from __future__ import annotations

import logging

import pytest

from bot import notes
from standins.events import direct_message
from standins.bedrock import Reply
from tests.helpers import ask, final_text, stalled

ANSWER = "The whole answer, in several chunks."


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
