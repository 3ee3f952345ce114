"""Signs of life where Slack's budgets are tight, end to end: the status waits for its turn without holding the
words back, a placeholder goes up only where the edit that replaces it has room, and otherwise the first
words are the first sign. The bot's own budgets are set small (SLACK_RATE_LIMITS), as a workspace that
taught it so would have them."""

from __future__ import annotations

import threading

from bot import notes
from standins.bedrock import Reply
from tests.helpers import ask

NATIVE = {"SLACK_STATUS": "on", "SLACK_REPLY_SURFACE": "auto"}


def thread(slack, asked) -> list:
    question = asked.question
    return sorted((m for m in slack.bot_messages(question.channel) if m.thread_ts == question.ts),
                  key=lambda m: float(m.ts))


def test_a_status_that_must_wait_for_its_turn_does_not_hold_the_first_words_back(slack, bedrock, start_bot):
    # one status a minute: the second question's would wait a minute
    start_bot(**NATIVE, SLACK_RATE_LIMITS="assistant.threads.setStatus=1/1")
    bedrock.default = Reply.text("An answer.", first_delay=0.3)
    first = ask(slack, channel="C1")
    slack.wait_until(lambda: slack.status_of("C1", first.question.ts), what="the first question's status")
    second = ask(slack, channel="C2")

    messages = slack.wait_until(lambda: [m for m in thread(slack, second) if "An answer." in m.text],
                                timeout=5, what="the second answer")
    assert messages[0].posted_at - second.sent < 3  # its words came at once: they are its sign of life
    assert not [s for s in slack.statuses if s.channel == "C2" and s.status]  # its status was never shown late


def test_a_placeholder_goes_up_only_where_the_edit_that_replaces_it_has_room(slack, bedrock, start_bot):
    # no status (a placeholder is the only sign that could go first), and one edit a minute
    start_bot(SLACK_STATUS="off", SLACK_REPLY_SURFACE="edit", SLACK_RATE_LIMITS="chat.update=1/1")
    bedrock.default = Reply.text("An answer.", first_delay=1.0)
    first = ask(slack, channel="C1")
    slack.wait_until(lambda: [m for m in thread(slack, first) if m.text == notes.PLACEHOLDER],
                     what="the first question's placeholder")
    second = ask(slack, channel="C2")  # the one edit there is, is spoken for by the first placeholder

    messages = slack.wait_until(lambda: thread(slack, second), timeout=5, what="the second reply")
    assert "An answer.".startswith(messages[0].posted_text)  # posted with its first words: no placeholder
    # it could not afford to edit
    assert all(m.text != notes.PLACEHOLDER for m in thread(slack, second))
    slack.wait_until(lambda: [m for m in thread(slack, first) if m.text.startswith("An")], timeout=5,
                     what="the first placeholder edited into its first words, by the one edit spoken for")


def test_with_nothing_up_yet_the_first_words_are_not_held_back(slack, bedrock, start_bot):
    """Posts hold to carry more while every edit is spoken for; but not the first words of a reply that shows
    nothing else yet."""
    start_bot(SLACK_STATUS="off", SLACK_REPLY_SURFACE="edit", SLACK_RATE_LIMITS="chat.update=1/1",
              SLACK_POST_HOLD_SECONDS="30")  # a hold far past any delay a loaded machine adds
    bedrock.default = Reply.text("An answer that keeps coming for a while.", chunk=6, delay=0.4, first_delay=1.0)
    first = ask(slack, channel="C1")
    slack.wait_until(lambda: thread(slack, first), what="the first question's placeholder")
    second = ask(slack, channel="C2")
    slack.wait_until(lambda: len(bedrock.requests) == 2, what="the second model request")
    request = bedrock.requests[1]

    messages = slack.wait_until(lambda: thread(slack, second), timeout=15, what="the second reply's first words")
    assert messages[0].posted_text and "An answer that keeps coming".startswith(messages[0].posted_text)
    assert messages[0].posted_at - request.sent_at[1] < 10  # not held for the thirty seconds it may hold


def test_a_post_after_a_handover_holds_from_when_the_first_words_came_not_from_the_handover(slack, bedrock,
                                                                                         start_bot):
    """A reply whose stream start Slack refuses late goes on as posts; while every edit is spoken for its first
    post may hold to carry more, but only for the hold counted from the model's first words (the time the
    start took is not added to it)."""
    start_bot(**NATIVE, SLACK_RATE_LIMITS="chat.update=1/1", SLACK_POST_HOLD_SECONDS="3")
    slack.fail("chat.startStream", "channel_type_not_supported", when=lambda params: params["channel"] == "C1")
    bedrock.default = Reply.text(" ".join(f"word{n}" for n in range(60)), chunk=6, delay=0.3, first_delay=0.2)
    first = ask(slack, channel="C1")  # answered by posts and edits: its message holds the one edit there is
    slack.wait_until(lambda: thread(slack, first), what="the first answer's message")

    slack.delays["chat.startStream"] = 2.5  # the second's start takes a while, then Slack refuses it
    slack.fail("chat.startStream", retry_after=60, when=lambda params: params["channel"] == "C2")
    second = ask(slack, channel="C2")
    slack.wait_until(lambda: len(bedrock.requests) == 2, what="the second model request")
    messages = slack.wait_until(lambda: thread(slack, second), timeout=10, what="the second reply's first post")
    first_words = bedrock.requests[1].sent_at[1]
    assert messages[0].format == "mrkdwn" and messages[0].posted_text.startswith("word0")
    assert messages[0].posted_at - first_words < 4.5  # 3 s of hold, not 2.5 s of start and then 3 s


def test_a_reply_whose_status_is_up_lets_a_reply_that_shows_nothing_open_its_answer_first(slack, bedrock,
                                                                                           start_bot):
    """A hundred questions at once, in small: the first to ask has the one status there is, and its words also
    come first; it lets the second, which shows nothing, open its answer before it (for a moment at most)."""
    start_bot(**NATIVE, SLACK_RATE_LIMITS="assistant.threads.setStatus=1/1")  # one status a minute

    second_asked = threading.Event()

    def answer(request):  # the first answer's words come 0.4 s before the second's, however late the second is asked
        if "first" in request.body["messages"][-1]["content"][0]["text"]:
            second_asked.wait(timeout=10)
            return Reply.text("First answer.", first_delay=0.2)
        second_asked.set()
        return Reply.text("Second answer.", first_delay=0.6)

    bedrock.answer = answer
    first = ask(slack, "<@UBOT> the first question", channel="C1")
    slack.wait_until(lambda: slack.status_of("C1", first.question.ts), what="the first question's status")
    second = ask(slack, "<@UBOT> the second question", channel="C2")

    opened = {}
    for asked, words in ((first, "First answer."), (second, "Second answer.")):
        opened[words] = slack.wait_until(lambda: [m for m in thread(slack, asked) if words in m.text],
                                         timeout=5, what=words)[0].posted_at
    assert opened["Second answer."] <= opened["First answer."]  # the reply that showed nothing went first
    words_came = bedrock.requests[0].sent_at[1]  # the first answer's words, ready 0.4 s before the second's
    # it yielded for a moment (a second at most, more on a loaded machine), not until the status budget refills
    assert opened["First answer."] - words_came < 3.0
