"""Slack answering badly, through the real bot: a 5xx (JSON or an HTML page) or a dropped connection on the
calls that matter most (the post of a new message, the last edit, the start of a stream). What the person
sees: every word once, no "Thinking…" left behind, and a note where something could not be shown; what the
log says: the reply failed when it did."""

from __future__ import annotations

import logging
import re

import pytest

from bot import notes
from standins.bedrock import Reply
from standins.events import mention
from tests.helpers import ask

FAST = {"SLACK_RETRY_ATTEMPTS": "3", "SLACK_RETRY_MAX_SECONDS": "20"}
SHORT = "A short answer."
# Three messages' worth: the edit path rolls over at 3,600 characters
LONG = "".join(f"Paragraph {i}: " + "words " * 60 + "\n\n" for i in range(20)).rstrip()
BROADCASTS = re.compile(r"<!(channel|here|everyone)|<@U")


def wait_for_reply_line(slack, caplog) -> str:
    """The reply's log line, once the reply has ended."""
    def lines():
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("reply event=")]
    return slack.wait_until(lines, timeout=30, what="the reply to end")[-1]


def words(text: str) -> list[str]:
    return re.findall(r"Paragraph \d+", text)


def final_update(params: dict) -> bool:
    return "Paragraph 19" in (params.get("text") or "") or SHORT in (params.get("text") or "")


# -- 1. the last edit ---------------------------------------------------------------------------------


@pytest.mark.parametrize("html", [False, True], ids=["json internal_error", "html 500"])
def test_one_5xx_on_the_final_edit_is_retried_and_the_answer_shows(slack, bedrock, start_bot, caplog, html):
    caplog.set_level(logging.INFO)
    start_bot(**FAST)
    bedrock.script(Reply.text(SHORT))
    slack.fail("chat.update", "internal_error", status=500, html=html, when=final_update)
    ask(slack)

    line = wait_for_reply_line(slack, caplog)
    assert [m.text for m in slack.bot_messages("C1")] == [SHORT]
    assert "outcome=end_turn" in line
    assert len([c for c in slack.calls_of("chat.update") if final_update(c.params)]) == 2


def test_a_final_edit_that_keeps_failing_goes_on_in_a_new_message_and_the_log_says_failed(
        slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO)
    start_bot(**FAST)
    bedrock.script(Reply.text(SHORT))
    slack.fail("chat.update", "internal_error", status=500, times=99, when=final_update)
    ask(slack)

    line = wait_for_reply_line(slack, caplog)
    texts = [m.text for m in slack.bot_messages("C1")]
    assert len(texts) == 2 and (texts[0] == notes.PLACEHOLDER or SHORT.startswith(texts[0]))  # as Slack left it
    assert texts[1] == f"{SHORT}\n\n{notes.ANSWER_MOVED}"  # from the start of the line shown in part
    assert "outcome=failed" in line


# -- 2. the post that starts a new message ------------------------------------------------------------


def second_post(params: dict) -> bool:
    return params.get("text") != notes.PLACEHOLDER and "Paragraph 19" not in params.get("text", "")


@pytest.mark.parametrize("fault", [dict(status=502, html=True), dict(reset="before"), dict(reset="after")],
                         ids=["html 502", "reset before Slack took it", "reset after Slack took it"])
def test_a_failed_post_of_the_next_message_is_retried_and_nothing_is_lost_or_doubled(slack, bedrock, start_bot,
                                                                                     caplog, fault):
    caplog.set_level(logging.INFO)
    start_bot(**FAST)
    bedrock.script(Reply.text(LONG, chunk=400))
    slack.fail("chat.postMessage", "internal_error", when=second_post, **fault)
    ask(slack)

    line = wait_for_reply_line(slack, caplog)
    texts = [m.text for m in slack.bot_messages("C1")]
    assert len(texts) == 3 and words("\n".join(texts)) == [f"Paragraph {i}" for i in range(20)]
    assert "outcome=end_turn" in line


def test_a_next_message_that_cannot_be_posted_ends_the_one_before_with_a_note(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO)
    start_bot(**FAST)
    bedrock.script(Reply.text(LONG, chunk=400))
    slack.fail("chat.postMessage", "internal_error", status=500, times=99, when=second_post)
    ask(slack)

    line = wait_for_reply_line(slack, caplog)
    texts = [m.text for m in slack.bot_messages("C1")]
    assert len(texts) == 1 and texts[0].endswith(notes.PART_MISSING) and "Paragraph 0" in texts[0]
    assert "outcome=failed" in line


# -- 3. a post Slack took, whose answer never came ----------------------------------------------------


def test_a_placeholder_whose_answer_was_lost_is_found_not_posted_twice(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO)
    start_bot(**FAST)
    bedrock.script(Reply.text(SHORT))
    slack.fail("chat.postMessage", reset="after")
    ask(slack)

    wait_for_reply_line(slack, caplog)
    assert [m.text for m in slack.bot_messages("C1")] == [SHORT]
    assert len(slack.calls_of("chat.postMessage")) == 1


def test_a_stream_start_whose_answer_was_lost_is_found_and_carried_on(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO)
    start_bot(**FAST, SLACK_STATUS="on", SLACK_REPLY_SURFACE="auto")
    bedrock.script(Reply.text("First words, then the rest of a streamed answer.", chunk=10, delay=0.05))
    slack.fail("chat.startStream", reset="after")
    ask(slack)

    line = wait_for_reply_line(slack, caplog)
    messages = slack.bot_messages("C1")
    assert len(messages) == 1 and messages[0].text.startswith("First words, then the rest of a streamed answer.")
    assert not messages[0].streaming
    assert "outcome=end_turn" in line


def test_every_message_of_a_reply_is_tagged_with_its_event(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO)
    start_bot(**FAST)
    bedrock.script(Reply.text(LONG, chunk=400))
    ask(slack)

    wait_for_reply_line(slack, caplog)
    tags = [m.metadata["event_payload"] for m in slack.bot_messages("C1")]
    assert [tag["part"] for tag in tags] == [0, 1, 2] and len({tag["event"] for tag in tags}) == 1


# -- 11. no broadcast from a plain @channel -----------------------------------------------------------


def test_a_plain_at_channel_from_the_model_never_becomes_a_broadcast_on_any_call(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO)
    start_bot(**FAST)
    bedrock.script(Reply.text("Tell @channel and @here and @everyone: " + "done. " * 30, chunk=8, delay=0.01))
    ask(slack)

    wait_for_reply_line(slack, caplog)
    assert not BROADCASTS.search("\n".join(m.text for m in slack.bot_messages("C1")))
    texts = [c for c in slack.calls if c.method in ("chat.postMessage", "chat.update") and c.params.get("text")]
    assert len(texts) >= 3
    assert all(c.params.get("parse") == "none" and "link_names" not in c.params for c in texts)


# -- 4. a redelivery that reaches a process that has not seen the event -------------------------------


def test_a_redelivery_reaching_a_restarted_process_is_not_answered_again(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO)
    start_bot(**FAST)
    bedrock.script(Reply.text(SHORT), Reply.text("A second answer."))
    event, _ = mention(slack, "<@UBOT> a question")
    slack.send_event(event, event_id="EvFIRST")
    wait_for_reply_line(slack, caplog)

    start_bot(**FAST)  # a new process: it has not seen the event; Slack now delivers to it
    slack.send_event(event, event_id="EvFIRST", retry_attempt=1)
    slack.wait_until(lambda: any("ignoring a redelivery of event EvFIRST" in r.getMessage() for r in caplog.records),
                     what="the new process to find the answer in the thread")
    assert [m.text for m in slack.bot_messages("C1")] == [SHORT]
    assert len(bedrock.requests) == 1


def test_a_redelivery_of_an_event_nobody_answered_is_answered(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO)
    start_bot(**FAST)
    bedrock.script(Reply.text(SHORT))
    event, _ = mention(slack, "<@UBOT> a question")
    slack.send_event(event, event_id="EvLOST", retry_attempt=2)  # the first deliveries went to a process that died

    wait_for_reply_line(slack, caplog)
    assert [m.text for m in slack.bot_messages("C1")] == [SHORT]


# -- 5. more questions than MAX_CONCURRENT_REPLIES ----------------------------------------------------


def test_questions_past_the_concurrency_limit_show_their_sign_of_life_at_once_and_wait(slack, bedrock, start_bot,
                                                                                     caplog):
    caplog.set_level(logging.INFO)
    start_bot(**FAST, MAX_CONCURRENT_REPLIES="1")
    bedrock.script(*[Reply.text(f"Answer {i}, slowly written.", chunk=4, delay=0.1) for i in range(3)])
    for channel in ("C1", "C2", "C3"):
        ask(slack, channel=channel)

    slack.wait_until(lambda: len([r for r in caplog.records if r.getMessage().startswith("reply event=")]) == 3,
                     timeout=60, what="three replies")
    placeholders = [c.at for c in slack.calls_of("chat.postMessage") if c.params.get("text") == notes.PLACEHOLDER]
    first_answer_done = min(r.ended_at for r in bedrock.requests)
    assert len(placeholders) == 3 and max(placeholders) < first_answer_done  # all three showed life at once
    starts, ends = sorted(r.at for r in bedrock.requests), sorted(r.ended_at for r in bedrock.requests)
    assert all(start >= end for start, end in zip(starts[1:], ends))  # one model stream at a time
    assert all(not m.text.startswith("_Thinking") for channel in ("C1", "C2", "C3")
               for m in slack.bot_messages(channel))


def test_an_envelope_nested_past_the_json_parsers_depth_is_acknowledged_and_the_bot_goes_on(slack, bedrock,
                                                                                            bot_process):
    bot_process()
    slack.send_raw('{"envelope_id": "deep-1", "type": "events_api", "accepts_response_payload": false, '
                   '"payload": {"event": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    slack.wait_until(lambda: "deep-1" in slack.acks, what="the unreadable envelope to be acknowledged")
    event, _ = mention(slack, "<@UBOT> still there?")
    slack.send_event(event)
    slack.wait_until(lambda: any(m.text == "Hello from the model." for m in slack.bot_messages()), what="the answer")


def test_a_stream_start_whose_answer_was_lost_adopts_its_own_stream_never_another_replys(slack, bedrock, start_bot):
    """Two people ask in one thread at once; both answers start "Sure". The second start's answer is lost after
    Slack took it: its lookup finds two streams showing "Sure", the first reply's and its own, and must take its
    own ("Sure a0 b0 a1 b1…" in one message, the other left open, was the mix)."""
    start_bot(**FAST, SLACK_REPLY_SURFACE="stream", SLACK_STATUS="on")
    slack.names.update({"U1": "Ann", "U2": "Bo", "U9": "Cy"})
    root = slack.add_message("C1", "A thread about the launch", user="U9")

    def answer(request):  # "Sure" at once, the rest seconds apart: a stream shows only "Sure" for a while
        asked = " ".join(block.get("text", "") for block in request.body["messages"][-1]["content"])
        who = "b" if "second question" in asked else "a"
        reply = Reply.deltas(["Sure", *(f" {who}{n} {who}{n + 1} {who}{n + 2}" for n in range(0, 6, 3))], delay=2.5)
        reply.steps[1] = (0.0 if who == "a" else 0.8, reply.steps[1][1])  # the first reply's stream starts first
        return reply

    bedrock.answer = answer
    slack.fail("chat.startStream", reset="after", when=lambda params: params.get("recipient_user_id") == "U2")
    ask(slack, "<@UBOT> the first question", thread_ts=root.ts, user="U1")
    ask(slack, "<@UBOT> the second question", thread_ts=root.ts, user="U2")  # both streams start after both asked

    def both_done():
        messages = slack.bot_messages("C1")
        return len(messages) == 2 and not any(m.streaming for m in messages) and sorted(m.text for m in messages)

    texts = slack.wait_until(both_done, timeout=20, what="two whole answers")
    assert texts == ["Sure" + "".join(f" a{n}" for n in range(6)), "Sure" + "".join(f" b{n}" for n in range(6))]


def test_a_stream_start_whose_answer_was_lost_and_not_found_is_deleted_once_found_later(slack, bedrock, start_bot,
                                                                                       caplog):
    """Slack took the start, the answer was lost, and the look for it failed: the reply goes on by posting its
    answer, and the fragment (a lone first word, still streaming) is found a moment later and deleted, so the
    thread shows the answer once."""
    caplog.set_level(logging.INFO)
    start_bot(**FAST, SLACK_STATUS="on", SLACK_REPLY_SURFACE="auto")
    bedrock.script(Reply.text("First words, then the rest of the answer.", chunk=10, delay=0.05))
    slack.fail("chat.startStream", reset="after")
    slack.fail("conversations.replies", "internal_error", status=500,
               when=lambda params: params.get("include_all_metadata"))  # the look for it fails, once
    asked = ask(slack)

    wait_for_reply_line(slack, caplog)
    slack.wait_until(lambda: slack.deleted, timeout=15, what="the fragment to be deleted")
    [fragment] = slack.deleted
    assert fragment.text.startswith("First") and fragment.streaming  # a fragment of the answer, never ended
    messages = [m for m in slack.bot_messages("C1") if m.thread_ts == asked.question.ts]
    assert [m.text for m in messages] == ["First words, then the rest of the answer."]
    assert not any(m.streaming for m in messages)
