"""The benchmark's random family of Slack profiles, Slack's floor, and the targets: pure functions, checked
without sockets; then a quick run of each new path (`--profiles random:…`, `--instances --questions`)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from bench import limits
from bench.limits import Limit

ROOT = Path(__file__).resolve().parent.parent
SEEDS = range(300)


def by_method(profile: tuple[Limit, ...]) -> dict[tuple[str, bool], Limit]:
    return {(limit.method, limit.per_channel): limit for limit in profile}


# -- drawing profiles ---------------------------------------------------------------------------------------


def test_a_seed_draws_the_same_profile_every_time_and_another_seed_another():
    assert limits.draw(7) == limits.draw(7)
    assert limits.resolve("random:7") == limits.draw(7)
    assert limits.draw(7) != limits.draw(8)
    assert [limit.method for limit in limits.draw(7)] == [limit.method for limit in limits.PROFILES["small"]]


def test_published_rates_stay_and_unpublished_ones_are_drawn_within_a_fifth_to_five_times():
    for seed in SEEDS:
        drawn = by_method(limits.draw(seed))
        for method, rate in limits.TIERS.items():
            assert drawn[method, False].per_minute == rate
        assert drawn["chat.postMessage", True].per_minute == 60  # one a second per channel: published
        for method in limits.SPECIAL:
            assert 120 <= drawn[method, False].per_minute <= 3000
        assert 12 <= drawn["assistant.threads.setStatus", True].per_minute <= 300


def test_bursts_are_whole_numbers_from_5_to_300_in_the_workspace_and_1_to_3_per_channel():
    workspace, channel = [], []
    for seed in SEEDS:
        for limit in limits.draw(seed):
            (channel if limit.per_channel else workspace).append(limit.burst)
    assert all(burst == int(burst) and 5 <= burst <= 300 for burst in workspace)
    assert set(channel) == {1, 2, 3}
    assert min(workspace) < 8 and max(workspace) > 250  # the whole range is reached


def test_the_draws_are_log_uniform_about_the_assumed_rate():
    ceilings = [by_method(limits.draw(seed))["chat.postMessage", False].per_minute for seed in SEEDS]
    assert 0.35 < sum(rate < 600 for rate in ceilings) / len(ceilings) < 0.65  # the assumption is the median
    assert 0.15 < sum(rate < 600 / 5 ** 0.5 for rate in ceilings) / len(ceilings) < 0.35  # a quarter below √5 less
    bursts = [by_method(limits.draw(seed))["chat.update", False].burst for seed in SEEDS]
    assert 25 < statistics.median(bursts) < 55  # √(5·300) ≈ 39, not the middle of 5..300


def test_profile_lists_expand_ranges_and_refuse_unknown_names():
    assert limits.expand("small,strict,random:1,random:2") == ["small", "strict", "random:1", "random:2"]
    assert limits.expand("random:1-5") == [f"random:{seed}" for seed in range(1, 6)]
    assert limits.expand("strict, random:3-4") == ["strict", "random:3", "random:4"]
    assert limits.expand("random:9-9") == ["random:9"]
    for wrong in ("tiny", "random:", "random:5-2", "random:x", "random:1-2-3", ""):
        with pytest.raises(ValueError):
            limits.expand(wrong)
    assert limits.is_random("random:12") and not limits.is_random("strict")


def test_a_drawn_profile_is_described_in_full_for_the_saved_results():
    text = limits.describe(limits.draw(3))
    assert text.count(";") == len(limits.draw(3)) - 1 and "chat.postMessage per channel: 60/min" in text
    assert limits.as_json(limits.draw(3))[0] == {"method": "chat.update", "per_minute": 50,
                                                 "burst": limits.draw(3)[0].burst, "per_channel": False}
