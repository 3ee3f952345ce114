"""The one Slack call policy, with the real WebClient against the Slack stand-in: a 429 is retried after
exactly its Retry-After, no call goes out while a Retry-After runs (even one extended meanwhile), and a
message is never posted twice because an answer was slow."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.slack.pacing import Pacer
from bot.slack.calls import SlackCalls


def client(slack, timeout: float = 5.0) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.api_url, timeout=timeout, retry_handlers=[])


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
    pacer.rate_limited("auth.test", 2.0)

    def sleep(seconds: float) -> None:
        if now[0] == 0.0:
            pacer.rate_limited("auth.test", 10.0)  # another call got a 429 meanwhile: the gate now opens at 10
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
