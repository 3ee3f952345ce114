"""Slack calls reuse their connections: the bot's replies cost a few connections, not one per call; the
pool keeps no more than its size; and the pooled client answers every case exactly as slack_sdk's own
`WebClient` does (the response, `SlackApiError`, a 429's Retry-After, an HTML error page, a dropped or
refused connection, a timeout), so that `errors.from_exception` maps each the same."""

from __future__ import annotations

import socket
import threading

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import errors
from bot.slack.http import HEADROOM, PooledWebClient
from bot.slack.kinds import Gone, RateLimited, Unavailable
from standins.bedrock import Reply
from standins.events import mention

REPLIES = 4


def test_replies_reuse_a_few_connections_for_all_their_calls(slack, bedrock, start_bot):
    settings = start_bot(SLACK_RATE_LIMITS="chat.update=1200/20")  # edits as often as each reply makes them
    assert start_bot.bot.app.client.pool_size == settings.replies.max_concurrent_replies + HEADROOM
    bedrock.answer = lambda request: Reply.text(" ".join(f"word{i}" for i in range(60)), chunk=4, delay=0.04)
    for n in range(REPLIES):  # at once, in as many channels
        event, _ = mention(slack, f"<@UBOT> q{n}", channel=f"C{n}", user=f"U{n}")
        slack.send_event(event)
    slack.wait_until(lambda: sum(bool(m.blocks) for m in slack.bot_messages()) == REPLIES,  # the buttons: done
                     timeout=30, what="every reply's whole answer")

    calls = len(slack.calls)  # auth.test, apps.connections.open, then each reply's reads, posts and edits
    assert calls >= 10 * REPLIES
    # without keep-alive every call is a connection; with it, about one per call in flight at once
    assert slack.connections <= REPLIES + 2, (slack.connections, calls)


def test_the_pool_keeps_at_most_its_size_and_reuses_them(slack):
    client = PooledWebClient(token="xoxb-test", base_url=slack.api_url, retry_handlers=[], pool_size=2)

    def burst(size: int) -> None:
        slack.delays["auth.test"] = 0.5  # so that the burst's calls are in flight together
        threads = [threading.Thread(target=client.auth_test) for _ in range(size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        slack.delays.clear()

    burst(6)  # beyond the pool: no call waits for a connection; the extra ones are closed after their call
    assert slack.connections == 6
    slack.wait_until(lambda: slack.open_connections == 2, what="the pool to keep two connections")
    for _ in range(5):
        client.auth_test()
    burst(2)
    assert slack.connections == 6  # every call since, on a kept connection
    assert len(slack.calls) == 13


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CASES = [  # (the call, some of what it gives: the rest must be alike too)
    pytest.param(dict(), dict(status=200, kind=None), id="ok"),
    pytest.param(dict(method="chat_update", params=dict(channel="C1", ts="1.2", text="x")),
                 dict(status=200, kind=Gone, code="message_not_found"), id="ok false"),
    pytest.param(dict(fault=dict(error="ratelimited", retry_after=7)),
                 dict(status=429, kind=RateLimited, retry_after=7.0), id="429 Retry-After 7"),
    pytest.param(dict(fault=dict(error="internal_error", status=503, html=True)),
                 dict(status=503, kind=Unavailable, code="http_503", sent=True), id="html 503"),
    pytest.param(dict(fault=dict(reset="before")),
                 dict(kind=Unavailable, code="RemoteDisconnected", sent=True), id="connection dropped"),
    pytest.param(dict(delay=0.6), dict(kind=Unavailable, code="TimeoutError", sent=True), id="timeout"),
    pytest.param(dict(refused=True), dict(kind=Unavailable, code="URLError", sent=False), id="connection refused"),
    # the stand-in answers a proxy's request (for an absolute URL) as well
    pytest.param(dict(proxy=True), dict(status=200, kind=None), id="through a proxy"),
]


def outcome(client: WebClient, method: str, params: dict) -> dict:
    """What the call gave: all that anything above the client reads (the Date header aside), and its kind."""
    def shown(response) -> dict:
        headers = {name: value for name, value in response.headers.items() if name != "Date"}
        return dict(status=response.status_code, data=response.data, headers=headers)

    try:
        return dict(kind=None, **shown(getattr(client, method)(**params)))
    except Exception as raw:  # the stock client's and the pooled one's must be alike
        kind = errors.from_exception(method, raw)
        seen = dict(raised=type(raw), reason=repr(getattr(raw, "reason", None)), kind=type(kind), code=kind.code,
                    sent=getattr(kind, "sent", None), retry_after=getattr(kind, "retry_after", None))
        if isinstance(raw, SlackApiError):
            seen.update(message=str(raw), **shown(raw.response))
        return seen


@pytest.mark.parametrize("case, expected", CASES)
def test_the_pooled_client_answers_as_the_stock_one(slack, case, expected):
    base_url = f"http://127.0.0.1:{unused_port()}/api/" if case.get("refused") else slack.api_url
    proxy = None
    if case.get("proxy"):
        base_url, proxy = "http://slack.invalid/api/", slack.api_url.removesuffix("api/")
    method, params = case.get("method", "auth_test"), case.get("params", {})
    seen = []
    for client_class in (WebClient, PooledWebClient):
        if "fault" in case:
            slack.fail(method.replace("_", "."), **case["fault"])
        slack.delays["auth.test"] = case.get("delay", 0.0)
        client = client_class(token="xoxb-test", base_url=base_url, proxy=proxy,
                              timeout=0.3 if "delay" in case else 5, retry_handlers=[])
        seen.append(outcome(client, method, params))
    stock, pooled = seen
    assert pooled == stock
    assert {name: stock.get(name) for name in expected} == expected
