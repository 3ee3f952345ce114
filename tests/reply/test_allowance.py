"""A person's daily allowance of tokens: counted across instances, refused politely past it, back the next day
(UTC)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from bot.reply.allowance import Allowance
from bot.shared.local import LocalState
from standins.bedrock import Reply
from tests.helpers import ask, final_text

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc).timestamp()


def test_past_the_allowance_a_person_is_refused_until_midnight_utc_and_others_are_not():
    now = [NOON]
    allowance = Allowance(LocalState(), 100, now=lambda: now[0])
    assert allowance.over("U1") is None
    allowance.spent("U1", 60)
    assert allowance.over("U1") is None
    allowance.spent("U1", 60)
    assert allowance.over("U1") == datetime(2026, 12, 8, tzinfo=timezone.utc) and allowance.over("U2") is None
    now[0] += 12 * 3600  # the next day
    assert allowance.over("U1") is None


def test_the_allowance_is_shared_by_the_instances(redis_server):
    from bot.shared.redis_state import RedisState

    first, second = (RedisState(redis_server.url, timeout=0.2) for _ in range(2))
    try:
        Allowance(first, 100).spent("U1", 150)
        assert Allowance(second, 100).over("U1") is not None
    finally:
        first.close()
        second.close()


def test_a_person_past_their_allowance_gets_a_polite_refusal(slack, bedrock, start_bot):
    bedrock.answer = lambda request: Reply.text("An answer of some length.")  # 11 tokens in, 6 out
    start_bot(DAILY_TOKENS_PER_PERSON="10")
    ask(slack, user="U1")
    final_text(slack, contains="An answer")
    time.sleep(1.0)  # the reply counts its tokens once it has ended, a moment after its words show
    ask(slack, "<@UBOT> another", user="U1")
    text = final_text(slack, contains="allowance")
    assert "You've used today's allowance of 10 tokens" in text and "resets at 00:00 UTC" in text
    assert len(bedrock.requests) == 1  # the model was not asked
