"""Follow-ups, end to end with the real `python -m bot`: in a thread the bot answered, the asker's next message is
answered without a new mention; never a message that mentions someone else, never another bot's, never an
edit; `FOLLOW_UPS` says who may (asker, anyone, off)."""

from __future__ import annotations

import time

from standins.bedrock import Reply
from standins.events import thread_message
from tests.helpers import ask


def answered_thread(slack, bedrock, bot_process, **settings) -> str:
    """Start the bot, have it answer a mention; the thread's ts."""
    bedrock.answer = lambda request: Reply.text(f"Answer {len(bedrock.requests)}.")
    bot_process(**settings)
    asked = ask(slack, "<@UBOT> first question", user="U1")
    slack.wait_until(lambda: any("Answer" in m.text for m in slack.bot_messages("C1")), what="the first answer")
    return asked.question.ts


def say(slack, text: str, thread_ts: str, **who) -> None:
    event, _ = thread_message(slack, text, thread_ts=thread_ts, **who)
    slack.send_event(event)


def answers(slack) -> int:
    return sum("Answer" in m.text for m in slack.bot_messages("C1"))


def test_the_askers_next_message_in_the_thread_is_answered_without_a_mention(slack, bedrock, bot_process):
    thread = answered_thread(slack, bedrock, bot_process)
    say(slack, "and what about next year?", thread, user="U1")
    slack.wait_until(lambda: answers(slack) == 2, what="the follow-up's answer")
    follow_up = bedrock.requests[-1].messages
    assert follow_up[-1]["content"][0]["text"].endswith("and what about next year?")
    assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]  # the thread so far came with it


def test_nothing_but_the_askers_plain_follow_ups_is_answered(slack, bedrock, bot_process):
    thread = answered_thread(slack, bedrock, bot_process)
    say(slack, "I think so too", thread, user="U2")  # someone else (FOLLOW_UPS=asker)
    say(slack, "<@U3> what do you think?", thread, user="U1")  # the asker, talking to someone else
    say(slack, "a note from a bot", thread, user="U9", bot_id="B9")  # another app
    say(slack, "edited", thread, user="U1", subtype="message_changed")  # an edit
    time.sleep(1.0)
    assert answers(slack) == 1 and len(bedrock.requests) == 1


def test_anyone_may_follow_up_where_the_setting_says_so_and_no_one_where_it_is_off(slack, bedrock, bot_process):
    thread = answered_thread(slack, bedrock, bot_process, FOLLOW_UPS="anyone")
    say(slack, "and for contractors?", thread, user="U2")
    slack.wait_until(lambda: answers(slack) == 2, what="another person's follow-up to be answered")


def test_follow_ups_off(slack, bedrock, bot_process):
    thread = answered_thread(slack, bedrock, bot_process, FOLLOW_UPS="off")
    say(slack, "and what about next year?", thread, user="U1")
    time.sleep(1.0)
    assert answers(slack) == 1
