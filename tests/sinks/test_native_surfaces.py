"""Slack's AI surfaces, end to end through the real Bolt app over Socket Mode: the thinking status at once,
the answer in a native stream, feedback buttons under it and a click answered to that person alone, and
every fallback when Slack will not stream."""

from __future__ import annotations

import logging
import re

import pytest

from bot import notes
from standins.bedrock import Reply
from standins.events import direct_message, mention
from tests.helpers import ask

NATIVE = {"SLACK_STATUS": "on", "SLACK_REPLY_SURFACE": "auto"}


def reply_messages(slack, question) -> list:
    return sorted((m for m in slack.bot_messages(question.channel) if m.thread_ts == question.ts),
                  key=lambda m: float(m.ts))


def finished(slack, question, count: int = 1):
    def done():
        messages = reply_messages(slack, question)
        return len(messages) >= count and not any(m.streaming for m in messages) and messages[-1].blocks and messages
    return done


def test_the_thread_shows_the_thinking_status_at_once_then_the_answer_streams_into_it(slack, bedrock, start_bot):
    start_bot(**NATIVE)
    bedrock.script(Reply.text("The answer **grows** as it streams.", chunk=4, delay=0.05, first_delay=0.5))
    event_id, question, _ = ask(slack)

    status = slack.wait_until(lambda: slack.status_of("C1", question.ts), timeout=2, what="the status")
    assert status == "is thinking…"
    assert not slack.bot_messages()  # no placeholder message: the status is the sign of life
    [set_status] = slack.calls_of("assistant.threads.setStatus")
    assert set_status.params["loading_messages"] == list(notes.LOADING_MESSAGES)

    [message] = slack.wait_until(finished(slack, question), what="the streamed answer")
    assert message.format == "markdown" and message.text == "The answer **grows** as it streams."
    assert len(message.edits) >= 2  # it grew in Slack, append by append
    assert slack.status_of("C1", question.ts) == ""  # Slack cleared it when the answer began
    start = slack.calls_of("chat.startStream")[0]
    assert start.params["recipient_user_id"] == "U1" and start.params["recipient_team_id"] == "T1"
    assert not slack.calls_of("chat.update") and not slack.calls_of("chat.postMessage")


def test_the_first_words_start_the_stream_as_soon_as_the_model_sends_them(slack, bedrock, start_bot):
    start_bot(**NATIVE)
    bedrock.script(Reply.text("First words, then a long wait", chunk=11, delay=1.5))
    ask(slack)

    slack.wait_until(lambda: slack.calls_of("chat.startStream"), timeout=3, what="the stream to start")
    [request] = bedrock.requests
    start = slack.calls_of("chat.startStream")[0]
    assert start.params["markdown_text"] == "First words"
    assert start.at - request.sent_at[1] < 0.5  # no waiting for an interval, a budget or more text


def test_feedback_buttons_sit_under_the_answer_and_a_click_is_thanked_privately_and_logged(slack, bedrock, start_bot,
                                                                                      caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot(**NATIVE)
    bedrock.script(Reply.text("Helpful answer."))
    event_id, question, _ = ask(slack)
    [message] = slack.wait_until(finished(slack, question), what="the answer")

    [block] = message.blocks
    buttons = block["elements"][0]
    assert block["type"] == "context_actions" and buttons["type"] == "feedback_buttons"
    slack.click(message, "U7", {"action_id": buttons["action_id"], "value": buttons["negative_button"]["value"]})

    [thanks] = slack.wait_until(lambda: slack.ephemerals, what="the thanks")
    assert thanks["user"] == "U7" and thanks["channel"] == "C1" and thanks["text"] == notes.FEEDBACK_THANKS["bad"]
    line = slack.wait_until(lambda: [m for m in caplog.messages if m.startswith("feedback ")], what="the log line")[0]
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    assert fields == {"event": event_id, "channel": "C1", "model": "global.anthropic.claude-haiku-4-5-20251001-v1:0",
                      "value": "bad", "user": "U7"}

    # the same click again (a replayed request: the same action_ts) is not counted again; a new click is
    replayed = {"action_id": buttons["action_id"], "value": buttons["positive_button"]["value"], "action_ts": "1.5"}
    slack.click(message, "U7", replayed)
    slack.click(message, "U7", replayed)
    slack.click(message, "U7", {**replayed, "action_ts": "2.5"})
    slack.wait_until(lambda: len([m for m in caplog.messages if m.startswith("feedback ")]) == 3
                     and len([m for m in caplog.messages if m.startswith("ignoring a repeated feedback")]) == 1
                     and len(slack.ephemerals) == 3, what="two more clicks counted and thanked, the replay ignored")


def test_the_buttons_can_be_turned_off(slack, bedrock, start_bot):
    start_bot(**NATIVE, SLACK_FEEDBACK_BUTTONS="off")
    bedrock.script(Reply.text("No buttons."))
    question = ask(slack).question
    slack.wait_until(lambda: slack.calls_of("chat.stopStream"), what="the end of the stream")
    assert not reply_messages(slack, question)[0].blocks


@pytest.mark.parametrize("refusal", ["feature_not_enabled", "channel_type_not_supported", "invalid_arguments"])
def test_when_slack_refuses_to_stream_the_reply_is_posted_and_edited_and_a_lasting_refusal_is_learned(
        slack, bedrock, start_bot, caplog, refusal):
    caplog.set_level(logging.WARNING)
    slack.refuse_streams = refusal
    start_bot(**NATIVE)
    bedrock.default = Reply.text("Answered *without* a stream.", chunk=5, delay=0.02)
    for n in range(3):
        question = ask(slack, channel="C1", user=f"U{n}").question
        slack.wait_until(lambda: [m for m in reply_messages(slack, question)
                                  if m.text == "Answered _without_ a stream."], what=f"answer {n}")
    starts = len(slack.calls_of("chat.startStream"))
    assert starts == (3 if refusal == "invalid_arguments" else 1)  # a refusal that will repeat is paid for once
    assert len([m for m in caplog.messages if "Slack refused chat.startStream" in m]) == (
        0 if refusal == "invalid_arguments" else 1)  # said once, with how to enable streaming
    assert not slack.early_calls


def test_a_long_streamed_answer_rolls_over_into_a_new_stream_with_nothing_lost_or_repeated(slack, bedrock, start_bot):
    slack.stream_message_limit = 12_000
    start_bot(**NATIVE)
    code = "\n".join(f"value_{i} = compute({i})  # step {i}" for i in range(500))
    answer = f"Here is the script:\n\n```python\n{code}\n```\n\nThat is all."
    bedrock.script(Reply.text(answer, chunk=400, delay=0.0))
    question = ask(slack).question

    messages = slack.wait_until(finished(slack, question, count=2), timeout=20, what="the rolled-over answer")
    assert len(messages) >= 2 and all(m.format == "markdown" and len(m.text) <= 12_000 for m in messages)
    for message in messages[:-1]:
        assert message.text.count("```") % 2 == 0  # each message closes the code it is in
    for message in messages[1:]:
        assert message.text.startswith("```python\n")  # ... and the next reopens it
    joined = re.sub(r"\n```\Z", "", messages[0].text) + "".join(
        re.sub(r"\n```\Z", "", m.text).removeprefix("```python\n") for m in messages[1:])
    assert joined == answer


def test_a_stream_slack_ends_continues_in_a_new_message_without_loss(slack, bedrock, start_bot):
    slack.stream_lifetime = 0.6
    start_bot(**NATIVE)
    words = [f"word{i} " for i in range(30)]
    bedrock.script(Reply.deltas(words, delay=0.05))
    question = ask(slack).question

    messages = slack.wait_until(finished(slack, question, count=2), timeout=10, what="the answer to go on")
    assert "".join(m.text for m in messages) == "".join(words)
    assert not [call for call, status, body in slack.responses if body.get("error") == "streaming_state_conflict"]


def test_the_model_cannot_ping_anyone_through_a_stream(slack, bedrock, start_bot):
    start_bot(**NATIVE)
    bedrock.script(Reply.deltas(["Hey <", "!channel> and <!he", "re> and <@U", "999> see <https://evil.example|",
                                 "docs> and `a < b`"]))
    question = ask(slack).question
    [message] = slack.wait_until(finished(slack, question), what="the answer")
    assert "<" not in message.text
    for call in slack.calls:
        assert "<" not in str(call.params.get("markdown_text", ""))
    assert message.text == "Hey &lt;!channel> and &lt;!here> and &lt;@U999> see &lt;https://evil.example|docs> and `a &lt; b`"


def test_a_deleted_stream_stops_the_model(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot(**NATIVE, SLACK_UPDATE_INTERVAL_SECONDS="0.1")
    bedrock.script(Reply.text("word " * 200, chunk=5, delay=0.05))  # about 10 s
    question = ask(slack).question
    [message] = slack.wait_until(lambda: reply_messages(slack, question), what="the stream")
    slack.delete("C1", message.ts)

    slack.wait_until(lambda: "outcome=deleted" in caplog.text, what="the reply to stop")
    [request] = bedrock.requests
    slack.wait_until(lambda: request.ended_at is not None, what="the model stream to close")
    assert request.disconnected and request.ended_at - request.at < 6


def test_a_person_who_stops_the_stream_stops_the_answer(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot(**NATIVE, SLACK_UPDATE_INTERVAL_SECONDS="0.1")
    bedrock.script(Reply.text("word " * 200, chunk=5, delay=0.05))
    question = ask(slack).question
    [message] = slack.wait_until(lambda: reply_messages(slack, question), what="the stream")
    slack.stop_stream_as_person(message)

    slack.wait_until(lambda: "outcome=stopped" in caplog.text, what="the reply to stop, counted as stopped")
    assert "outcome=deleted" not in caplog.text
    [request] = bedrock.requests
    slack.wait_until(lambda: request.ended_at is not None, what="the model stream to close")
    assert request.disconnected


def test_the_deadline_ends_a_stream_with_its_note(slack, bedrock, start_bot):
    start_bot(**NATIVE, REPLY_DEADLINE_SECONDS="1")
    bedrock.script(Reply.text("word " * 200, chunk=5, delay=0.05))
    question = ask(slack).question
    [message] = slack.wait_until(finished(slack, question), timeout=10, what="the stopped answer")
    assert message.text.startswith("word word") and message.text.endswith(notes.TOOK_TOO_LONG)


def test_a_failure_before_any_text_posts_its_note_and_leaves_no_status(slack, bedrock, start_bot):
    start_bot(**NATIVE, BEDROCK_RETRY_ATTEMPTS="1")
    bedrock.script(Reply.error(403, "AccessDeniedException", "no access"))
    question = ask(slack).question
    [message] = slack.wait_until(lambda: reply_messages(slack, question), what="the note")
    assert "Model access" in message.text and not slack.calls_of("chat.startStream")
    assert slack.status_of("C1", question.ts) == ""


def test_a_redelivered_event_gets_one_streamed_answer(slack, bedrock, start_bot):
    start_bot(**NATIVE)
    bedrock.default = Reply.text("Once.", first_delay=0.3)
    event, question = mention(slack, "<@UBOT> hi")
    event_id = slack.send_event(event)
    slack.send_event(event, event_id=event_id, retry_attempt=1)
    slack.wait_until(finished(slack, question), what="the answer")
    assert len(slack.calls_of("chat.startStream")) == 1 and len(bedrock.requests) == 1


def test_a_direct_message_outside_a_thread_is_answered_in_line_by_posting_and_editing(slack, bedrock, start_bot):
    start_bot(**NATIVE)
    bedrock.script(Reply.text("In line."))
    event, question = direct_message(slack, "hello")
    slack.send_event(event)
    [message] = slack.wait_until(lambda: [m for m in slack.bot_messages("D1") if m.text == "In line."],
                                 what="the answer")
    assert message.thread_ts is None and not slack.calls_of("chat.startStream")  # streams live in threads
    assert not slack.calls_of("assistant.threads.setStatus")  # so does the status: a placeholder went first
    assert message.posted_text == notes.PLACEHOLDER


def test_a_direct_message_in_a_thread_streams(slack, bedrock, start_bot):
    start_bot(**NATIVE)
    bedrock.script(Reply.text("Threaded."))
    root = slack.add_message("D1", "earlier", user="U1")
    event, question = direct_message(slack, "follow-up", thread_ts=root.ts)
    slack.send_event(event)
    slack.wait_until(lambda: [m for m in slack.bot_messages("D1") if m.text == "Threaded." and not m.streaming],
                     what="the answer")
    assert slack.calls_of("chat.startStream")[0].params["thread_ts"] == root.ts


def test_an_edited_answer_ends_with_the_feedback_buttons_too(slack, bedrock, start_bot):
    start_bot(SLACK_FEEDBACK_BUTTONS="on")  # the edit path: a placeholder, then edits
    bedrock.script(Reply.text("An *edited* answer.", chunk=4, delay=0.02))
    question = ask(slack).question
    [message] = slack.wait_until(lambda: [m for m in reply_messages(slack, question) if m.blocks], what="the end")
    section, buttons = message.blocks
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": "An _edited_ answer."}}
    assert message.text == "An _edited_ answer." and buttons["type"] == "context_actions"


def test_a_long_edited_answer_carries_the_buttons_under_sections_that_close_their_code(slack, bedrock, start_bot):
    start_bot(SLACK_FEEDBACK_BUTTONS="on")
    code = "\n".join(f"row_{i} = {i}" for i in range(230))  # one message, more than one section
    bedrock.script(Reply.text(f"```\n{code}\n```", chunk=500))
    question = ask(slack).question
    messages = slack.wait_until(lambda: [m for m in reply_messages(slack, question) if m.blocks] and
                                reply_messages(slack, question), what="the end")
    *sections, buttons = messages[-1].blocks
    assert buttons["type"] == "context_actions" and len(sections) >= 2
    for block in sections:
        assert len(block["text"]["text"]) <= 3000 and block["text"]["text"].count("```") % 2 == 0


def spoken_for(start_bot) -> tuple[int, int]:
    pacer = start_bot.bot.pacer
    return pacer.budget("chat.stopStream").spoken_for, pacer.budget("chat.update").spoken_for


def test_when_the_start_budget_is_spent_the_first_words_are_posted_at_once(slack, bedrock, start_bot):
    slack.limit("chat.startStream", burst=1, per_second=1 / 60)
    start_bot(**NATIVE, SLACK_RATE_LIMITS="chat.startStream=1/1")  # this workspace allows one start a minute
    bedrock.default = Reply.text("Answered at once.", first_delay=0.2)
    first, second = (ask(slack, channel=f"C{n}", user=f"U{n}").question for n in range(2))
    for question in (first, second):
        slack.wait_until(lambda: [m for m in reply_messages(slack, question) if "Answered" in m.text],
                         what="both answers")
    streamed, posted = sorted((reply_messages(slack, q)[0] for q in (first, second)), key=lambda m: m.format)
    assert (streamed.format, posted.format) == ("markdown", "mrkdwn")  # one start token: one stream, one post
    first_words = max(request.sent_at[1] for request in bedrock.requests)
    assert posted.posted_at - first_words < 1.0  # no waiting for the next start
    assert not [s for _, s, _ in slack.responses if s == 429] and not slack.early_calls
    slack.wait_until(lambda: spoken_for(start_bot) == (0, 0), what="the stops and edits to be released")


def test_when_every_edit_is_spoken_for_an_answer_goes_up_as_posts_of_whole_lines_never_edited(slack, bedrock,
                                                                                            start_bot):
    start_bot(**{**NATIVE, "SLACK_REPLY_SURFACE": "edit"}, SLACK_RATE_LIMITS="chat.update=6/1",
              SLACK_POST_HOLD_SECONDS="0.5")  # a workspace that allows one edit now, then one every 10 s
    lines = [f"Line {n} of the answer." for n in range(8)]
    bedrock.script(Reply.text("The first reply streams for a while. " * 12, chunk=20, delay=0.2),
                   Reply.text("\n".join(lines), chunk=10, delay=0.1))
    first = ask(slack, channel="C1", user="U1").question
    slack.wait_until(lambda: reply_messages(slack, first), what="the first reply's post")  # it awaits its final edit
    second = ask(slack, channel="C2", user="U2").question

    def whole():
        messages = reply_messages(slack, second)
        return [m for m in messages if m.text.endswith(lines[-1])] and messages
    messages = slack.wait_until(whole, timeout=10, what="the second answer")
    assert len(messages) >= 2  # a few posts, one every half second
    assert "\n".join(m.text for m in messages) == "\n".join(lines)  # nothing lost or repeated, whole lines each
    assert not [c for c in slack.calls_of("chat.update") if c.params["channel"] == "C2"]  # never edited
    slack.wait_until(lambda: spoken_for(start_bot) == (0, 0), timeout=30, what="the first reply's final edit")
    assert [c for c in slack.calls_of("chat.update") if c.params["channel"] == "C1"]  # it was edited, as before


def test_a_stream_slack_will_not_continue_into_a_second_message_is_posted_from_there(slack, bedrock, start_bot):
    starts = []
    slack.fail("chat.startStream", "channel_type_not_supported",
               when=lambda params: starts.append(params) or len(starts) == 2)  # the second start only
    start_bot(**NATIVE)
    code = "\n".join(f"value_{i} = compute({i})" for i in range(600))
    answer = f"Here:\n\n```python\n{code}\n```\n\nDone."
    bedrock.script(Reply.text(answer, chunk=500))
    question = ask(slack).question
    messages = slack.wait_until(lambda: [m for m in reply_messages(slack, question)
                                         if m.format == "mrkdwn" and m.text.rstrip().endswith("Done.")]
                                and reply_messages(slack, question), timeout=20, what="the whole answer")
    assert messages[0].format == "markdown" and not messages[0].streaming
    assert all(m.format == "mrkdwn" for m in messages[1:])  # posted and edited from the second message on
    lines = [line for m in messages for line in m.text.splitlines() if line.startswith("value_")]
    assert lines == [f"value_{i} = compute({i})" for i in range(600)]  # nothing lost, nothing twice
    slack.wait_until(lambda: spoken_for(start_bot) == (0, 0), what="the counts to be released")


def test_a_reply_that_could_post_nothing_clears_its_status(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    slack.fail("chat.startStream", "channel_not_found", times=5)  # the conversation went away meanwhile
    start_bot(**NATIVE)
    bedrock.script(Reply.text("Nowhere to go.", chunk=3, delay=0.05))
    question = ask(slack).question
    slack.wait_until(lambda: "outcome=deleted" in caplog.text, what="the reply to stop")
    cleared = [s for s in slack.statuses if s.thread_ts == question.ts and s.status == ""]
    assert cleared and not reply_messages(slack, question)
    assert spoken_for(start_bot) == (0, 0)


def test_slacks_own_message_limit_rolls_a_stream_over_with_nothing_lost(slack, bedrock, start_bot):
    slack.stream_message_limit = 3000  # stricter than the bot expects: Slack's msg_too_long decides the split
    start_bot(**NATIVE)
    words = [f"word{i} " for i in range(900)]
    bedrock.script(Reply.deltas(words, delay=0.002))
    question = ask(slack).question
    messages = slack.wait_until(finished(slack, question, count=2), timeout=20, what="the rolled-over answer")
    assert all(len(m.text) <= 3000 for m in messages)
    assert "".join(m.text for m in messages) == "".join(words)


def test_a_streamed_link_whose_text_names_another_site_shows_where_it_goes(slack, bedrock, start_bot):
    start_bot(**NATIVE)
    bedrock.script(Reply.text("Pay at [https://bank.example](https://evil.example) or see [the docs]"
                              "(https://docs.example/a).", chunk=4, delay=0.01))
    question = ask(slack).question

    [message] = slack.wait_until(finished(slack, question), what="the streamed answer")
    assert message.format == "markdown" and message.text == (
        "Pay at https://bank.example (https://evil.example) or see [the docs](https://docs.example/a).")
    assert len(message.edits) >= 2  # it did stream, piece by piece: the link went out whole


def test_a_mention_without_a_team_streams_with_the_envelopes_team(slack, bedrock, start_bot):
    """Issue 22, item 14: Slack's documented app_mention carries no `team`; the stream still names its recipient's
    team, from the envelope, rather than falling back to edits."""
    start_bot(**NATIVE)
    bedrock.script(Reply.text("Streamed all the same."))
    event, question = mention(slack, "<@UBOT> a question")
    del event["team"]
    slack.send_event(event)
    slack.wait_until(lambda: any(m.text == "Streamed all the same." and not m.streaming
                                 for m in slack.bot_messages("C1")), what="the streamed answer")
    [start] = slack.calls_of("chat.startStream")
    assert start.params["recipient_team_id"] == slack.team_id
    assert not slack.calls_of("chat.postMessage")  # no fallback to posts and edits
