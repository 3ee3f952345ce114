"""Reading what was said before a question, through the real bot against the Slack and Bedrock stand-ins:
optional look-ups (people's names) and the read of a thread have budgets of their own, so a Slack that will
not answer them delays the answer by seconds, not minutes; a thread that could not be read is said so at the
end of the answer; a long thread reaches the model with its first message and its newest ones."""

from __future__ import annotations

import logging

import pytest

from bot import notes
from standins.events import direct_message, mention

ANSWER = "Hello from the model."
EDIT = {}  # the fixture's default: a placeholder, then edited messages
NATIVE = {"SLACK_STATUS": "on", "SLACK_REPLY_SURFACE": "auto"}
MARGIN = 1.5  # seconds beyond a budget for everything else the bot does before it asks the model


def thread_with_three_people(slack):
    root = slack.add_message("C1", "<@UBOT> which database should we use?", user="U1")
    slack.add_message("C1", "Postgres, I think", thread_ts=root.ts, user="U2")
    slack.add_message("C1", "DynamoDB scales better", thread_ts=root.ts, user="U3")
    return root


def answer_in(slack, root, contains: str = ANSWER) -> str:
    """The reply's text in the thread of `root` once it holds `contains` and no longer streams."""
    def done():
        texts = [m.text for m in slack.bot_messages("C1") if m.thread_ts == root.ts and not m.streaming]
        return texts and contains in texts[-1] and texts[-1]
    return slack.wait_until(done, what=f"the reply to hold {contains!r}")


def sent_to_model(bedrock) -> list[str]:
    return [turn["content"][0]["text"] for turn in bedrock.requests[0].messages]


# -- item 8: optional look-ups hold the answer back --------------------------------------------------------


@pytest.mark.parametrize("retry_after", [30, 1], ids=["long-retry-after", "short-retry-after-again-and-again"])
def test_names_slack_will_not_give_delay_the_answer_by_their_budget_in_all_not_per_name(slack, bedrock, start_bot,
                                                                                       retry_after):
    start_bot(NAME_LOOKUP_SECONDS="2")
    slack.names.update({"U1": "Alice", "U2": "Bob", "U3": "Chiara"})
    slack.fail("users.info", retry_after=retry_after, times=1_000)  # always rate-limited
    root = thread_with_three_people(slack)
    event_, question = mention(slack, "<@UBOT> so which one?", thread_ts=root.ts, user="U1")
    slack.send_event(event_)

    assert answer_in(slack, root) == ANSWER  # no note: names are optional
    assert bedrock.requests[0].at - question.posted_at < 2 + MARGIN
    assert sent_to_model(bedrock) == ["U1: which database should we use?\n\nU2: Postgres, I think\n\n"
                                      "U3: DynamoDB scales better\n\nU1: so which one?"]  # ids stand in
    assert slack.early_calls == []  # and no call went inside a Retry-After


@pytest.mark.parametrize("surface", [EDIT, NATIVE], ids=["edit", "stream"])
def test_a_thread_slack_will_not_let_the_bot_read_is_answered_in_time_with_a_note_saying_so(slack, bedrock, start_bot,
                                                                                           caplog, surface):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot(CONTEXT_READ_SECONDS="2", **surface)
    slack.fail("conversations.replies", retry_after=30, times=1_000)  # always rate-limited
    root = thread_with_three_people(slack)
    event_, question = mention(slack, "<@UBOT> so which one?", thread_ts=root.ts, user="U1")
    slack.send_event(event_)

    assert answer_in(slack, root, notes.THREAD_UNREAD) == f"{ANSWER}\n\n{notes.THREAD_UNREAD}"
    assert bedrock.requests[0].at - question.posted_at < 2 + MARGIN
    assert sent_to_model(bedrock) == ["so which one?"]
    assert slack.early_calls == []
    [line] = [r for r in caplog.records if "could not read the thread" in r.getMessage()]
    assert "ratelimited" in line.getMessage() and line.exc_info is None


def test_a_dm_whose_history_slack_will_not_give_is_answered_in_time_with_a_note_saying_so(slack, bedrock, start_bot):
    start_bot(CONTEXT_READ_SECONDS="2")
    slack.fail("conversations.history", retry_after=30, times=1_000)
    slack.add_message("D1", "my bucket is called logs", user="U1")
    event_, question = direct_message(slack, "what is my bucket called?")
    slack.send_event(event_)

    expected = f"{ANSWER}\n\n{notes.DM_HISTORY_UNREAD}"
    slack.wait_until(lambda: [m for m in slack.bot_messages("D1") if m.text == expected], what="the answer")
    assert bedrock.requests[0].at - question.posted_at < 2 + MARGIN
    assert sent_to_model(bedrock) == ["what is my bucket called?"]


def test_a_thread_that_is_read_in_time_gets_no_note(slack, bedrock, start_bot):
    start_bot(CONTEXT_READ_SECONDS="2")
    slack.fail("conversations.replies", retry_after=0.5)  # one 429, then Slack answers
    root = thread_with_three_people(slack)
    event_, _ = mention(slack, "<@UBOT> so which one?", thread_ts=root.ts, user="U1")
    slack.send_event(event_)

    assert answer_in(slack, root) == ANSWER
    assert "U3: DynamoDB scales better" in sent_to_model(bedrock)[0]


# -- item 9: long threads -----------------------------------------------------------------------------------


def long_thread(slack, replies: int, size: int):
    """A thread in which U1 reports and the bot acknowledges, `replies` messages after the first one, each
    about `size` characters. The stand-in pages every 3 messages, so the thread is many pages long."""
    root = slack.add_message("C1", "<@UBOT> topic: we are moving the billing database to Aurora", user="U1")
    for i in range(1, replies + 1):
        if i % 2:
            slack.add_message("C1", f"update {i}: " + "x" * size, thread_ts=root.ts, user="U1")
        else:
            slack.add_message("C1", f"noted {i}", thread_ts=root.ts, bot=True)
    return root


def test_a_long_thread_reaches_the_model_with_its_first_message_and_its_newest(slack, bedrock, start_bot):
    start_bot(CONTEXT_MAX_CHARS="1000")
    root = long_thread(slack, replies=99, size=100)  # 34 pages, about 5,000 characters
    event_, _ = mention(slack, "<@UBOT> where are we now?", thread_ts=root.ts, user="U1")
    slack.send_event(event_)

    assert answer_in(slack, root) == ANSWER  # no note: what was left out would not have fitted anyway
    sent = "\n\n".join(sent_to_model(bedrock))
    assert sent.startswith("topic: we are moving the billing database to Aurora")
    assert "update 99: " in sent and "noted 98" in sent and sent.endswith("where are we now?")
    assert "update 1: " not in sent  # the middle gave way
    assert len(sent) <= 1000 + 200
    assert len(slack.calls_of("conversations.replies")) < 25  # it stopped once the newest filled the budget


def test_a_thread_longer_than_the_bot_reads_keeps_its_newest_messages_and_says_part_was_not_read(slack, bedrock,
                                                                                              start_bot):
    start_bot()
    root = long_thread(slack, replies=119, size=10)  # 40 pages: more than the bot reads
    event_, _ = mention(slack, "<@UBOT> where are we now?", thread_ts=root.ts, user="U1")
    slack.send_event(event_)

    assert answer_in(slack, root, notes.THREAD_PART_READ) == f"{ANSWER}\n\n{notes.THREAD_PART_READ}"
    sent = "\n\n".join(sent_to_model(bedrock))
    assert sent.startswith("topic: we are moving the billing database to Aurora")
    assert "update 119: " in sent and "noted 118" in sent and "update 61: " in sent
    assert sent.endswith("where are we now?")
    assert len(slack.calls_of("conversations.replies")) <= 25
