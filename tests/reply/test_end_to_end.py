"""The real bot (Bolt over Socket Mode, boto3 parsing real event-stream frames) against the local Slack
and Bedrock stand-ins. Each test asserts what a person in Slack would see: where the reply went, what it
says at the end, how it got there, and that it came once."""

from __future__ import annotations

import logging
import re

import pytest

from bot.notes import EMPTY_QUESTION, INTERRUPTED, PLACEHOLDER, STOP_NOTES
from standins.events import direct_message, mention
from standins.bedrock import Reply
from standins.slack import TEXT_LIMIT


def final_texts(slack, channel: str) -> list[str]:
    return [m.text for m in slack.bot_messages(channel)]


def wait_for_text(slack, channel: str, needle: str) -> list[str]:
    slack.wait_until(lambda: any(needle in t for t in final_texts(slack, channel)), what=f"{needle!r} in Slack")
    return final_texts(slack, channel)


def test_a_mention_is_answered_in_its_thread_placeholder_first(slack, bedrock, start_bot):
    start_bot()
    bedrock.script(Reply.text("Use **IAM** to rotate keys.", chunk=3, delay=0.02))
    event_, question = mention(slack, "<@UBOT> how do I rotate an IAM key?")
    slack.send_event(event_)

    wait_for_text(slack, "C1", "rotate keys.")  # the last words: an earlier edit may hold only some
    [reply] = slack.bot_messages("C1")
    assert reply.thread_ts == question.ts
    assert reply.text == "Use *IAM* to rotate keys."  # Markdown shown as Slack mrkdwn
    [placeholder] = slack.calls_of("chat.postMessage")
    assert placeholder.params["text"] == PLACEHOLDER
    assert reply.ts == slack.responses[[c for c, _, _ in slack.responses].index(placeholder)][2]["ts"]  # edited into the answer
    assert bedrock.requests[0].messages == [
        {"role": "user", "content": [{"text": "how do I rotate an IAM key?"}]}
    ]
    assert bedrock.requests[0].body["inferenceConfig"]["maxTokens"] == 2048  # always set explicitly


def test_a_direct_message_is_answered_in_the_dm(slack, bedrock, start_bot):
    start_bot()
    bedrock.script(Reply.text("Hi there!"))
    event_, _ = direct_message(slack, "hello bot")
    slack.send_event(event_)

    wait_for_text(slack, "D1", "Hi there!")
    [reply] = slack.bot_messages("D1")
    assert reply.thread_ts is None  # a top-level DM is answered top-level


def test_a_direct_message_in_a_thread_is_answered_in_that_thread(slack, bedrock, start_bot):
    start_bot()
    root = slack.add_message("D1", "first question", user="U1")
    slack.add_message("D1", "first answer", thread_ts=root.ts, bot=True)
    bedrock.script(Reply.text("Threaded answer."))
    event_, _ = direct_message(slack, "and a follow-up", thread_ts=root.ts)
    slack.send_event(event_)

    wait_for_text(slack, "D1", "Threaded answer.")
    reply = slack.bot_messages("D1")[-1]
    assert reply.thread_ts == root.ts
    assert [m["role"] for m in bedrock.requests[0].messages] == ["user", "assistant", "user"]


def test_a_follow_up_in_a_thread_remembers_the_whole_thread(slack, bedrock, start_bot):
    start_bot()
    slack.names.update({"U1": "Alice", "U2": "Bob"})
    root = slack.add_message("C1", "<@UBOT> what is S3?", user="U1")
    slack.add_message("C1", "S3 is object storage.", thread_ts=root.ts, bot=True)
    slack.add_message("C1", "and versioning?", thread_ts=root.ts, user="U2")
    slack.add_message("C1", "Versioning keeps every version.", thread_ts=root.ts, bot=True)
    slack.add_message("C1", "thanks", thread_ts=root.ts, user="U1")
    bedrock.script(Reply.text("Lifecycle rules expire old versions."))
    event_, _ = mention(slack, "<@UBOT> how do I delete old versions?", thread_ts=root.ts, user="U2")
    slack.send_event(event_)

    wait_for_text(slack, "C1", "Lifecycle rules")
    assert len(slack.calls_of("conversations.replies")) >= 2  # the stand-in pages every 3 messages
    messages = bedrock.requests[0].messages
    assert messages == [
        {"role": "user", "content": [{"text": "Alice: what is S3?"}]},
        {"role": "assistant", "content": [{"text": "S3 is object storage."}]},
        {"role": "user", "content": [{"text": "Bob: and versioning?"}]},
        {"role": "assistant", "content": [{"text": "Versioning keeps every version."}]},
        {"role": "user", "content": [{"text": "Alice: thanks\n\nBob: how do I delete old versions?"}]},
    ]
    assert "<@UBOT>" not in str(messages)


def test_a_dm_without_a_thread_uses_the_recent_dm_history(slack, bedrock, start_bot):
    start_bot(DM_HISTORY_MESSAGES="2")
    slack.add_message("D1", "too old to be included", user="U1")
    slack.add_message("D1", "my bucket is called logs", user="U1")
    slack.add_message("D1", "Noted: logs.", bot=True)
    bedrock.script(Reply.text("Your bucket is logs."))
    event_, _ = direct_message(slack, "what is my bucket called?")
    slack.send_event(event_)

    wait_for_text(slack, "D1", "Your bucket is logs.")
    assert bedrock.requests[0].messages == [
        {"role": "user", "content": [{"text": "my bucket is called logs"}]},
        {"role": "assistant", "content": [{"text": "Noted: logs."}]},
        {"role": "user", "content": [{"text": "what is my bucket called?"}]},
    ]


def test_a_dm_without_a_thread_leaves_out_messages_older_than_the_window(slack, bedrock, start_bot):
    start_bot(DM_HISTORY_HOURS="1")
    slack.add_message("D1", "said two hours before", user="U1", ts=f"{1_700_000_000 - 7200}.000100")
    slack.add_message("D1", "said just now", user="U1")
    bedrock.script(Reply.text("Fresh context only."))
    event_, _ = direct_message(slack, "what did I say?")
    slack.send_event(event_)

    wait_for_text(slack, "D1", "Fresh context only.")
    assert bedrock.requests[0].messages == [
        {"role": "user", "content": [{"text": "said just now\n\nwhat did I say?"}]},
    ]


def test_the_configured_model_prompt_and_sampling_reach_bedrock(slack, bedrock, start_bot):
    start_bot(BEDROCK_MODEL_ID="eu.anthropic.claude-sonnet-4-5-20250929-v1:0", BEDROCK_SYSTEM_PROMPT="Be terse.",
              BEDROCK_MAX_TOKENS="300", BEDROCK_TEMPERATURE="0.2")
    event_, _ = mention(slack, "<@UBOT> hi")
    slack.send_event(event_)

    wait_for_text(slack, "C1", "Hello from the model.")
    [request] = bedrock.requests
    assert request.model_id == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert request.system == [{"text": "Be terse."}]
    assert request.body["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.2}


def test_a_long_answer_continues_in_further_messages_with_nothing_lost(slack, bedrock, start_bot):
    start_bot(SLACK_UPDATE_INTERVAL_SECONDS="0.1")
    paragraphs = [f"Paragraph {i}. " + ("All work and no play makes a dull answer. " * 12).strip() for i in range(20)]
    answer = "\n\n".join(paragraphs)
    bedrock.script(Reply.text(answer, chunk=400))
    event_, _ = mention(slack, "<@UBOT> write a lot")
    slack.send_event(event_)

    wait_for_text(slack, "C1", "Paragraph 19.")
    slack.wait_until(lambda: slack.bot_messages("C1")[-1].text.endswith("dull answer."), what="the last words")
    texts = final_texts(slack, "C1")
    assert len(texts) >= 3
    assert all(len(t) <= TEXT_LIMIT for t in texts)
    assert "\n\n".join(texts) == answer.strip()  # each message ends at a paragraph; nothing lost or repeated
    assert all(m.thread_ts == slack.bot_messages("C1")[0].thread_ts for m in slack.bot_messages("C1"))


def test_the_model_cannot_ping_the_channel(slack, bedrock, start_bot):
    start_bot()
    bedrock.script(Reply.text("Hey <!channel> and <!here>, ask <!subteam^S1> or <@U9>: a < b & c.", chunk=4))
    event_, _ = mention(slack, "<@UBOT> ping everyone")
    slack.send_event(event_)

    [text] = wait_for_text(slack, "C1", "b &amp; c.")  # the last words: an earlier edit may hold only some
    assert text == (
        "Hey &lt;!channel&gt; and &lt;!here&gt;, ask &lt;!subteam^S1&gt; or &lt;@U9&gt;: a &lt; b &amp; c."
    )
    sent = [call.params.get("text", "") for call in slack.calls if call.method.startswith("chat.")]
    assert not any(re.search(r"<[!@#]", text) for text in sent)  # not even for a moment, mid-stream


def test_a_link_whose_text_names_another_site_shows_where_it_goes(slack, bedrock, start_bot):
    start_bot()
    bedrock.script(Reply.text("Pay at [https://bank.example](https://evil.example), see [the docs]"
                              "(https://docs.example/a).", chunk=4, delay=0.01))
    event_, _ = mention(slack, "<@UBOT> where do I pay?")
    slack.send_event(event_)

    [text] = wait_for_text(slack, "C1", "the docs>.")
    assert text == "Pay at https://bank.example (<https://evil.example>), see <https://docs.example/a|the docs>."
    sent = [call.params.get("text", "") for call in slack.calls if call.method.startswith("chat.")]
    assert not any("|https://bank.example>" in text for text in sent)  # not even for a moment, mid-stream


@pytest.mark.parametrize("stop_reason", ["max_tokens", "content_filtered", "guardrail_intervened"])
def test_an_answer_stopped_by_a_limit_or_a_filter_keeps_its_text_and_says_so(slack, bedrock, start_bot, stop_reason):
    start_bot()
    bedrock.script(Reply.text("The first half of", stop_reason=stop_reason))
    event_, _ = mention(slack, "<@UBOT> explain everything")
    slack.send_event(event_)

    [text] = wait_for_text(slack, "C1", ":warning:")
    assert text == f"The first half of\n\n{STOP_NOTES[stop_reason]}"


def test_a_stream_that_ends_without_message_stop_keeps_the_text_and_says_so(slack, bedrock, start_bot):
    start_bot()
    bedrock.script(Reply.text("Partial answer that", stop_reason=None))
    event_, _ = mention(slack, "<@UBOT> tell me")
    slack.send_event(event_)

    [text] = wait_for_text(slack, "C1", "interrupted")
    assert text == f"Partial answer that\n\n{INTERRUPTED}"


def test_a_redelivered_event_gets_exactly_one_reply(slack, bedrock, start_bot):
    start_bot()
    bedrock.default = Reply.text("Only once.", delay=0.05)  # whichever request comes first gets the same
    event_, _ = mention(slack, "<@UBOT> once please")
    event_id = slack.send_event(event_)
    slack.send_event(event_, event_id=event_id, retry_attempt=1)
    slack.send_event(event_, event_id=event_id, retry_attempt=2)
    later, _ = mention(slack, "<@UBOT> and a later question", channel="C2")
    slack.send_event(later)

    wait_for_text(slack, "C1", "Only once.")
    wait_for_text(slack, "C2", "Only once.")
    slack.wait_until(lambda: len(slack.acks) == 4, what="every envelope to be acknowledged")
    assert len(slack.bot_messages("C1")) == 1
    assert len(bedrock.requests) == 2


def test_edits_bots_and_own_messages_are_not_answered(slack, bedrock, start_bot):
    start_bot()
    base = {"type": "message", "channel_type": "im", "channel": "D1", "text": "hello", "ts": slack.next_ts()}
    slack.send_event({**base, "subtype": "message_changed", "message": {"text": "hello"}})
    slack.send_event({**base, "subtype": "bot_message", "bot_id": "BOTHER"})
    slack.send_event({**base, "user": "UBOT", "bot_id": "BBOT"})
    slack.send_event({**base, "user": "U7", "bot_id": "BOTHER"})
    slack.send_event({**base, "user": "U1", "subtype": "message_deleted"})
    event_, _ = direct_message(slack, "a real question", channel="D2")
    slack.send_event(event_)

    wait_for_text(slack, "D2", "Hello from the model.")
    slack.wait_until(lambda: len(slack.acks) == 6, what="every envelope to be acknowledged")
    assert slack.bot_messages("D1") == []
    assert len(bedrock.requests) == 1


def test_a_bare_mention_gets_a_friendly_prompt_and_no_model_call(slack, bedrock, start_bot):
    start_bot()
    event_, question = mention(slack, "<@UBOT>  ")
    slack.send_event(event_)

    [text] = wait_for_text(slack, "C1", "Ask me")
    assert text == EMPTY_QUESTION
    assert slack.bot_messages("C1")[0].thread_ts == question.ts
    assert bedrock.requests == []


@pytest.mark.parametrize("text", ["<@UBOT>", "   "])
def test_a_dm_that_asks_nothing_gets_a_prompt_that_speaks_of_no_mention(slack, bedrock, start_bot, text):
    start_bot()
    event_, _ = direct_message(slack, text)
    slack.send_event(event_)

    [reply] = wait_for_text(slack, "D1", "Ask me")
    assert "mention" not in reply and "@me" not in reply
    assert slack.bot_messages("D1")[0].thread_ts is None and bedrock.requests == []


def test_edits_are_paced_by_time_and_the_final_text_lands(slack, bedrock, start_bot):
    interval = 0.3
    start_bot(SLACK_UPDATE_INTERVAL_SECONDS=str(interval))
    words = " ".join(f"word{i}" for i in range(60))
    bedrock.script(Reply.text(words, chunk=3, delay=0.01))  # ~190 chunks over about 2 s
    event_, _ = mention(slack, "<@UBOT> stream slowly")
    slack.send_event(event_)

    [text] = wait_for_text(slack, "C1", "word59")
    assert text == words
    [reply] = slack.bot_messages("C1")
    streaming = bedrock.requests[0].at, reply.edits[-1][0]
    times = [at for at, _ in reply.edits]
    gaps = [b - a for a, b in zip(times, times[1:-1])]  # the final edit may follow the last one at once
    assert all(gap >= interval - 0.1 for gap in gaps), gaps  # as Slack sees them: a busy machine delays some
    assert len(reply.edits) <= (streaming[1] - streaming[0]) / interval + 3  # by time, not per chunk
    assert len(reply.edits) >= 3  # and it did type itself out



def test_each_reply_leaves_one_structured_log_line(slack, bedrock, start_bot, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot()
    bedrock.script(Reply.text("Logged.", first_delay=0.2))
    event_, _ = mention(slack, "<@UBOT> log this")
    event_id = slack.send_event(event_)

    slack.wait_until(lambda: "reply event=" in caplog.text, what="the reply's log line")
    [line] = [record.getMessage() for record in caplog.records if record.getMessage().startswith("reply event=")]
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    assert fields["event"] == event_id and fields["channel"] == "C1" and fields["outcome"] == "end_turn"
    assert fields["model"] == "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert float(fields["first_token_s"]) >= 0.2 and int(fields["slack_calls"]) >= 1 and fields["surface"] == "edit"
    assert fields["tokens_in"] == "11" and fields["tokens_out"] == "1" and float(fields["seconds"]) > 0
