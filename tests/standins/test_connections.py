"""The Slack stand-in serves several Socket Mode connections at once, as Slack does for several instances of
an app: each envelope goes to one of them, the newest unless the caller chooses, and a redelivery (same event
id, retry_attempt 1) can go to another. Plain WebSocket clients, no bot."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from standins.events import mention


def opened(slack, count: int, stack: ExitStack) -> list:
    clients = []
    for number in range(count):
        client = stack.enter_context(connect(slack.socket_url))
        assert json.loads(client.recv(timeout=5))["type"] == "hello"
        slack.wait_until(lambda: slack.connection_count == number + 1, what=f"connection {number} to be counted")
        clients.append(client)
    return clients


def received(client) -> list[dict]:
    """The envelopes that reached `client` (waiting a moment for the last)."""
    envelopes = []
    while True:
        try:
            envelopes.append(json.loads(client.recv(timeout=0.3)))
        except TimeoutError:
            return envelopes


def test_each_envelope_goes_to_the_chosen_connection_and_a_redelivery_to_another(slack):
    with ExitStack() as stack:
        first, second = opened(slack, 2, stack)
        assert slack.connection_count == 2
        event, _ = mention(slack, "<@UBOT> hello", channel="C1")
        event_id = slack.send_event(event, connection=0)
        slack.send_event(event, event_id=event_id, retry_attempt=1, connection=1)  # the ack came late
        other, _ = mention(slack, "<@UBOT> again", channel="C2")
        newest = slack.send_event(other)  # no choice: the newest connection, as before

        to_first, to_second = received(first), received(second)
        assert [(e["payload"]["event_id"], e["retry_attempt"]) for e in to_first] == [(event_id, 0)]
        assert [(e["payload"]["event_id"], e["retry_attempt"]) for e in to_second] == [(event_id, 1), (newest, 0)]
        assert to_second[0]["retry_reason"] == "timeout" and to_first[0]["retry_reason"] == ""
        assert to_first[0]["envelope_id"] != to_second[0]["envelope_id"]  # one envelope each

        with pytest.raises(IndexError, match="no Socket Mode connection 2: 2 open"):
            slack.send_event(event, connection=2)


def test_a_closed_connection_leaves_the_count_and_the_order(slack):
    with ExitStack() as stack:
        first, second = opened(slack, 2, stack)
        first.close()
        slack.wait_until(lambda: slack.connection_count == 1, what="the closed connection to be gone")
        event, _ = mention(slack, "<@UBOT> hello", channel="C1")
        event_id = slack.send_event(event, connection=0)  # the oldest still open is now the second client
        assert [e["payload"]["event_id"] for e in received(second)] == [event_id]
        with pytest.raises(ConnectionClosed):
            first.recv(timeout=0.3)
    slack.wait_until(lambda: slack.connection_count == 0, what="every connection to be gone")
    with pytest.raises(RuntimeError, match="no Socket Mode connection is open"):
        slack.send_event({"type": "app_mention"})
