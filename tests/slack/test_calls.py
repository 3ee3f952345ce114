"""The one Slack call policy, with the bot's own WebClient (pooled: `bot.slack.http`) against the Slack
stand-in: a 429 is retried after exactly its Retry-After, no call goes out while a Retry-After runs (even one
extended meanwhile), a message is never posted twice because an answer was slow, and Slack's failures reach
the bot as kinds."""

from __future__ import annotations

import pytest

from bot.slack.calls import SlackCalls
from bot.slack.http import PooledWebClient
from bot.slack.kinds import (Gone, NotAllowed, NotStreaming, RateLimited, Refused, StillStreaming, TooLong,
                             Unavailable)
from bot.slack.methods import Limit, MethodLimits
from bot.slack.pacing import Pacer, Priority


def client(slack, timeout: float = 5.0) -> PooledWebClient:
    return PooledWebClient(token="xoxb-test", base_url=slack.api_url, timeout=timeout, retry_handlers=[])


def test_a_429_is_retried_after_exactly_its_retry_after(slack):
    slack.fail("chat.update", retry_after=1)
    message = slack.add_message("C1", "old", bot=True)
    SlackCalls(client(slack)).call("chat.update", channel="C1", ts=message.ts, text="new")

    first, second = slack.calls_of("chat.update")
    assert 1.0 <= second.at - first.at < 1.6  # Retry-After plus at most a little jitter
    assert slack.early_calls == [] and message.text == "new"


def test_a_call_waits_out_a_retry_after_that_was_extended_while_it_waited(slack):
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])

    def refused(seconds: float) -> None:  # a call of the method was answered 429
        pacer.budget("auth.test").rate_limited(None, seconds, now[0])

    refused(2.0)

    def sleep(seconds: float) -> None:
        if now[0] == 0.0:
            refused(10.0)  # another call got a 429 meanwhile: the gate now opens at 10
        now[0] += seconds

    SlackCalls(client(slack), pacer, sleep=sleep).call("auth.test")
    assert now[0] >= 10.0


def test_a_slow_post_is_not_posted_twice(slack):
    slack.delays["chat.postMessage"] = 1.5  # the answer comes after the client gave up waiting
    calls = SlackCalls(client(slack, timeout=0.5), sleep=lambda seconds: None)
    with pytest.raises(Exception):
        calls.call("chat.postMessage", channel="C1", text="hello")
    assert len(slack.calls_of("chat.postMessage")) == 1


def test_a_slow_read_is_retried(slack):
    slack.delays["conversations.history"] = 1.0
    calls = SlackCalls(client(slack, timeout=0.5), attempts=2, sleep=lambda seconds: None)
    with pytest.raises(Exception):
        calls.call("conversations.history", channel="C1")
    assert len(slack.calls_of("conversations.history")) == 2  # reading again is harmless


@pytest.mark.parametrize("status, body", [(500, {"ok": False, "error": "internal_error"}), (503, None)])
def test_a_5xx_on_an_edit_is_retried_as_unavailable(slack, status, body):
    message = slack.add_message("C1", "old", bot=True)
    slack.fail("chat.update", body["error"] if body else "<html>Service Unavailable</html>", status=status)
    SlackCalls(client(slack), sleep=lambda seconds: None).call("chat.update", channel="C1", ts=message.ts, text="new")
    assert len(slack.calls_of("chat.update")) == 2 and message.text == "new"


def test_a_5xx_on_a_post_is_not_repeated_since_slack_may_have_taken_it(slack):
    slack.fail("chat.postMessage", "internal_error", status=500)
    with pytest.raises(Unavailable) as failure:
        SlackCalls(client(slack), sleep=lambda seconds: None).call("chat.postMessage", channel="C1", text="hi")
    assert failure.value.sent and len(slack.calls_of("chat.postMessage")) == 1


@pytest.mark.parametrize("code, kind", [
    ("message_not_found", Gone), ("is_archived", Gone), ("not_in_channel", Gone),
    ("missing_scope", NotAllowed), ("invalid_auth", NotAllowed), ("feature_not_enabled", NotAllowed),
    ("msg_too_long", TooLong), ("message_limit_exceeded", TooLong),
    ("message_not_in_streaming_state", NotStreaming), ("streaming_state_conflict", StillStreaming),
    ("channel_type_not_supported", Refused), ("invalid_arguments", Refused),
])
def test_slacks_error_codes_become_kinds(slack, code, kind):
    slack.fail("chat.update", code)
    with pytest.raises(kind) as failure:
        SlackCalls(client(slack)).call("chat.update", channel="C1", ts="1.0", text="x")
    assert failure.value.code == code and failure.value.method == "chat.update"


def test_a_first_word_refused_by_a_429_is_retried_before_the_first_words_that_asked_after_it(slack):
    """A reply's first words were refused; the other replies' first words that queued meanwhile go after its
    retry, not before it (random:3, 100 at once: a refused reply waited for the whole queue, 9 s)."""
    now = [0.0]
    pacer = Pacer({"chat.postMessage": MethodLimits(Limit(60, 1, largest_burst=1))}, clock=lambda: now[0])
    slack.fail("chat.postMessage", retry_after=1)
    behind = []

    def sleep(seconds: float) -> None:
        if not behind:  # while the refused call sleeps, another reply's first words start waiting
            now[0] += 0.5
            behind.append(pacer.turn("chat.postMessage", Priority.FIRST))
            assert behind[0].ask() > 0
            seconds -= 0.5
        now[0] += seconds

    first_words = pacer.turn("chat.postMessage", Priority.FIRST)
    SlackCalls(client(slack), pacer, sleep=sleep).call("chat.postMessage", turn=first_words, channel="C1", text="w0")
    assert len(slack.calls_of("chat.postMessage")) == 2 and now[0] < 2.0  # retried as soon as Slack allowed
    assert behind[0].ask() > 0  # the later reply still waits its turn
    behind[0].close()


def test_a_429_that_outlasts_the_bound_is_raised_as_rate_limited(slack):
    slack.fail("chat.update", retry_after=0, times=10)
    with pytest.raises(RateLimited):
        SlackCalls(client(slack), attempts=2, sleep=lambda seconds: None).call("chat.update", channel="C1",
                                                                               ts="1.0", text="x")


# -- a deadline: for calls the bot can do without after a while (optional look-ups, reading the conversation)


def test_a_call_with_a_deadline_does_not_wait_for_a_turn_that_comes_after_it(slack):
    now, slept = [100.0], []
    pacer = Pacer(clock=lambda: now[0])
    pacer.budget("users.info").rate_limited(None, 30.0, now[0])  # an earlier call was told to wait 30 s
    calls = SlackCalls(client(slack), pacer, sleep=slept.append)
    with pytest.raises(RateLimited):
        calls.call("users.info", deadline=now[0] + 2, user="U1")
    assert slept == [] and slack.calls_of("users.info") == []  # it neither waited nor reached Slack


def test_a_call_with_a_deadline_is_not_retried_after_a_retry_after_that_passes_it(slack):
    slack.fail("users.info", retry_after=30, times=10)
    slept = []
    calls = SlackCalls(client(slack), sleep=slept.append)
    with pytest.raises(RateLimited):
        calls.call("users.info", deadline=calls.clock() + 2, user="U1")
    assert len(slack.calls_of("users.info")) == 1 and slept == []


def test_a_call_with_a_deadline_is_retried_while_the_retry_fits_in_it(slack):
    slack.names["U1"] = "Alice"
    slack.fail("users.info", retry_after=0.2)
    calls = SlackCalls(client(slack))
    response = calls.call("users.info", deadline=calls.clock() + 2, user="U1")
    assert response["user"]["name"] == "alice" and len(slack.calls_of("users.info")) == 2
    assert slack.early_calls == []
