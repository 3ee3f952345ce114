"""Many replies at once, in as many channels, against a Slack stand-in that enforces a rate limit on
chat.update the way Slack does (a burst, then a steady rate, 429 with Retry-After beyond it): the replies
share the workspace's edit budget instead of each pacing itself, so they all finish with their whole answer
and Slack never has to say no (or, when Slack is stricter than the bot was told, says it rarely and is never
called early)."""

from __future__ import annotations

from standins.events import mention
from standins.bedrock import Reply

REPLIES = 10


def answer_for(request) -> Reply:
    question = request.body["messages"][-1]["content"][0]["text"]
    words = " ".join(f"{question}-word{i}" for i in range(60))
    return Reply.text(f"Answer to {question}: {words}.", chunk=6, delay=0.01)


def ask_many(slack, bedrock) -> dict[str, str]:
    """Mention the bot from `REPLIES` people at once; returns each thread's expected final text."""
    bedrock.answer = answer_for
    expected = {}
    for n in range(REPLIES):
        event, question = mention(slack, f"<@UBOT> q{n}", user=f"U{n}", channel=f"C{n}")
        expected[question.ts] = f"Answer to q{n}: " + " ".join(f"q{n}-word{i}" for i in range(60)) + "."
        slack.send_event(event)
    return expected


def finals(slack) -> dict[str, str]:
    return {m.thread_ts: m.text for m in slack.bot_messages()}


def wait_for_all(slack, expected: dict[str, str]) -> None:
    slack.wait_until(lambda: finals(slack) == expected, timeout=60, what="every reply's whole answer")


def rate_limited(slack) -> list:
    return [call for call, status, _ in slack.responses if status == 429]


def test_replies_streaming_at_once_share_the_budget_and_slack_never_says_no(slack, bedrock, start_bot):
    slack.limit("chat.update", burst=6, per_second=3.0)
    start_bot(SLACK_RATE_LIMITS="chat.update=150/5")  # 2.5 a second: inside Slack's limit

    expected = ask_many(slack, bedrock)
    wait_for_all(slack, expected)

    assert rate_limited(slack) == [] and slack.early_calls == []
    updates = slack.calls_of("chat.update")
    assert len(updates) >= REPLIES  # every reply's text reached Slack through edits
    per_reply = {}
    for call in updates:
        per_reply[call.params["ts"]] = per_reply.get(call.params["ts"], 0) + 1
    assert len(per_reply) == REPLIES  # every reply got its turn, none was starved


def test_when_slack_is_stricter_than_the_budget_the_bot_backs_off_and_never_calls_early(slack, bedrock, start_bot):
    slack.limit("chat.update", burst=3, per_second=2.0)
    start_bot(SLACK_RATE_LIMITS="chat.update=600/10")  # told 10 a second: five times too many

    expected = ask_many(slack, bedrock)
    wait_for_all(slack, expected)

    assert slack.early_calls == []  # after a 429, no chat.update before its Retry-After has passed
    limited = rate_limited(slack)
    assert limited, "the stand-in was expected to push back"
    assert len(limited) <= REPLIES // 2  # the pace adapts after the first 429s instead of hammering Slack


def test_placeholders_do_not_wait_for_the_edit_budget(slack, bedrock, start_bot):
    slack.limit("chat.update", burst=3, per_second=3.0)
    start_bot(SLACK_RATE_LIMITS="chat.update=120/3")

    expected = ask_many(slack, bedrock)
    slack.wait_until(lambda: len(slack.calls_of("chat.postMessage")) == REPLIES, timeout=5,
                     what="a placeholder in every thread")
    assert len(slack.calls_of("chat.update")) <= 3  # the placeholders went up while edits were still queued
    wait_for_all(slack, expected)
    assert slack.early_calls == []
