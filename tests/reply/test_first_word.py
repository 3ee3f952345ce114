"""Time to the first word, through the real bot against a Slack stand-in that takes a round trip to answer
every Web API call: nothing stands between the event and the model but what the prompt needs. The sign of
life goes up beside the model request, not before it; the history and the names in it are read at once,
names concurrently and kept; a name the question mentions is looked up while the thread is read."""

from __future__ import annotations

from bot import notes
from standins.bedrock import Reply
from standins.events import direct_message
from tests.helpers import ask

ROUND_TRIP = 0.4  # seconds: long, so that what overlaps and what waits is plain whatever the machine's load


def answered(slack, bedrock, count: int) -> None:
    """Until `count` answers are whole in Slack."""
    def done():
        texts = [m.text for m in slack.bot_messages() if not m.streaming]
        return (len(bedrock.requests) >= count and all(r.ended_at for r in bedrock.requests)
                and sum(1 for text in texts if notes.PLACEHOLDER not in text) >= count)
    slack.wait_until(done, timeout=20, what="the answers")


def came_back(call) -> float:
    return call.at + ROUND_TRIP


def test_a_top_level_mention_asks_the_model_before_any_slack_call_comes_back(slack, bedrock, start_bot):
    start_bot(SLACK_STATUS="on", SLACK_REPLY_SURFACE="auto")
    slack.round_trip = ROUND_TRIP
    bedrock.default = Reply.text("Hello.")
    sent = ask(slack, "<@UBOT> hello").sent
    answered(slack, bedrock, 1)
    [request] = bedrock.requests
    first_call = min((call for call in slack.calls if call.at >= sent), key=lambda call: call.at)  # the sign of life
    assert first_call.method == "assistant.threads.setStatus"
    assert request.at < came_back(first_call)  # the model was asked while the status was on its way
    assert not slack.calls_of("conversations.replies") and not slack.calls_of("users.info")


def test_a_placeholder_goes_up_beside_the_model_request_too(slack, bedrock, start_bot):
    start_bot()  # placeholders, then edits
    slack.round_trip = ROUND_TRIP
    bedrock.default = Reply.text("Hello.")
    ask(slack, "<@UBOT> hello")
    answered(slack, bedrock, 1)
    [placeholder] = slack.calls_of("chat.postMessage")
    assert bedrock.requests[0].at < came_back(placeholder)
    [reply] = slack.bot_messages("C1")
    assert reply.text == "Hello."  # and the answer still replaced the placeholder


def test_a_follow_up_reads_the_thread_and_looks_up_its_people_at_once_then_keeps_their_names(slack, bedrock,
                                                                                           start_bot):
    start_bot()
    slack.names.update({"U1": "Alice", "U2": "Bob", "U3": "Chiara", "U4": "Dmitri"})
    root = slack.add_message("C1", "which database should we use?", user="U1")
    slack.add_message("C1", "Postgres, I think", thread_ts=root.ts, user="U2")
    slack.add_message("C1", "DynamoDB scales better", thread_ts=root.ts, user="U3")
    slack.round_trip = ROUND_TRIP
    bedrock.default = Reply.text("Postgres.")

    ask(slack, "<@UBOT> what would <@U4> say?", thread_ts=root.ts, user="U1")
    answered(slack, bedrock, 1)
    reads = slack.calls_of("conversations.replies")
    lookups = slack.calls_of("users.info")
    assert sorted(call.params["user"] for call in lookups) == ["U1", "U2", "U3", "U4"]  # each once
    [mentioned] = [call for call in lookups if call.params["user"] == "U4"]
    assert mentioned.at < came_back(reads[0])  # the question's mention, while the thread was read
    people = [call for call in lookups if call is not mentioned]
    assert max(call.at for call in people) < min(came_back(call) for call in people)  # all at once
    assert "Alice: which database" in bedrock.requests[0].body["messages"][0]["content"][0]["text"]
    assert "Dmitri" in bedrock.requests[0].body["messages"][-1]["content"][0]["text"]

    ask(slack, "<@UBOT> and for analytics?", thread_ts=root.ts, user="U2")
    answered(slack, bedrock, 2)
    assert len(slack.calls_of("users.info")) == 4  # the names were kept: no lookup the second time
    second = bedrock.requests[1]
    last_read = slack.calls_of("conversations.replies")[-1]
    assert second.at < came_back(last_read) + 2 * ROUND_TRIP  # the read, then the model (no lookups between)


def test_a_dm_reads_its_history_beside_the_sign_of_life(slack, bedrock, start_bot):
    start_bot()
    slack.add_message("D1", "earlier question", user="U1")
    slack.round_trip = ROUND_TRIP
    bedrock.default = Reply.text("Sure.")
    event, _ = direct_message(slack, "and now?")
    slack.send_event(event)
    answered(slack, bedrock, 1)
    [history] = slack.calls_of("conversations.history")
    [placeholder] = slack.calls_of("chat.postMessage")
    assert abs(history.at - placeholder.at) < ROUND_TRIP  # neither waited for the other
    assert "earlier question" in str(bedrock.requests[0].body["messages"])
