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


def test_a_person_past_their_allowance_gets_a_polite_refusal_and_the_log_counts_tokens_by_profile(
        slack, bedrock, bot_process, tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.default]\n\n[profiles.support]\nchannels = ["C0SUPPORT"]\n')
    bedrock.answer = lambda request: Reply.text("An answer of some length.")  # 11 tokens in, 6 out
    bot = bot_process(DAILY_TOKENS_PER_PERSON="10", PROFILES_FILE=str(path))
    ask(slack, channel="C0SUPPORT", user="U1")
    final_text(slack, "C0SUPPORT", contains="An answer")
    deadline = time.monotonic() + 10  # the reply counts its tokens once it has ended, a moment after its words
    while "allowance" not in final_text(slack, "C0SUPPORT"):
        assert time.monotonic() < deadline, "the person was never refused"
        asked = len(slack.bot_messages("C0SUPPORT"))
        ask(slack, "<@UBOT> another", channel="C0SUPPORT", user="U1")
        slack.wait_until(lambda: len(slack.bot_messages("C0SUPPORT")) > asked, what="an answer or a refusal")
        final_text(slack, "C0SUPPORT", contains="")
    text = final_text(slack, "C0SUPPORT", contains="allowance")
    assert "You've used today's allowance of 10 tokens" in text and "resets at 00:00 UTC" in text
    models_asked = len(bedrock.requests)
    ask(slack, "<@UBOT> and another", channel="C0SUPPORT", user="U1")
    slack.wait_until(lambda: final_text(slack, "C0SUPPORT").count("allowance") >= 2, what="a second refusal")
    assert len(bedrock.requests) == models_asked  # past the allowance, the model is not asked
    bot.terminate()
    log = bot.communicate(timeout=30)[0]
    assert "user=U1 profile=support model=" in log and "tokens_in=11 tokens_out=6" in log
