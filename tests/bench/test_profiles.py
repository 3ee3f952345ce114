"""The benchmark's random family of Slack profiles, Slack's floor, and the targets: pure functions, checked
without sockets; then a quick run of each new path (`--profiles random:…`, `--instances --questions`)."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench import limits, targets
from bench.floor import capacities, last_answer_floor, slack_floor
from bench.limits import Limit
from bench.workload import Workload

ROOT = Path(__file__).resolve().parents[2]
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


# -- Slack's floor ------------------------------------------------------------------------------------------


def profile(post=(60, 1), status=(60, 1), start=(60, 1), update=(60, 1), append=(60, 1), channel_post=None):
    """A profile of (per minute, burst) workspace limits, and optionally a per-channel post limit."""
    made = [Limit("chat.postMessage", *post), Limit("assistant.threads.setStatus", *status),
            Limit("chat.startStream", *start), Limit("chat.update", *update), Limit("chat.appendStream", *append)]
    if channel_post:
        made.append(Limit("chat.postMessage", *channel_post, per_channel=True))
    return tuple(made)


def test_the_sign_of_life_floor_adds_up_the_status_post_and_stream_budgets():
    floor = slack_floor(profile(), Workload(5, 80))
    # one call of each at once (bursts of 1), then one of each a second later
    assert floor.sign_of_life_s == pytest.approx((0, 0, 0, 1, 1), abs=1e-5)
    assert floor.sign_of_life_s_p95 == pytest.approx(1.0, abs=1e-5)  # interpolated as the measured p95 is


def test_the_first_words_floor_counts_messages_created_after_the_words_and_placeholders_changed_after():
    floor = slack_floor(profile(), Workload(5, 80))
    # by F (0.4 s) each bucket has made one message; a second post or start only at 1 s (0.6 s after F),
    # a third at 2 s: two replies at F, four at 1 s, the fifth at 2 s
    assert floor.first_words_s == pytest.approx((0, 0, 0.6, 0.6, 1.6), abs=1e-5)
    assert floor.first_words_s_p95 == pytest.approx(1.4, abs=1e-5)


def test_placeholders_posted_before_the_words_and_then_edited_can_beat_posting_the_words():
    # posts: a burst of one, ten a second; no streams. By F = 0.4 s five posts can be made, but only one of
    # them after the words exist: with chat.update to spare, all five show their words at F
    edits = profile(post=(600, 1), start=(0, 0), append=(0, 0), update=(50, 10))
    assert slack_floor(edits, Workload(5, 80)).first_words_s == pytest.approx((0,) * 5, abs=1e-5)
    no_edits = profile(post=(600, 1), start=(0, 0), append=(0, 0), update=(0, 0))
    assert slack_floor(no_edits, Workload(5, 80)).first_words_s == pytest.approx((0, .1, .2, .3, .4), abs=1e-5)
    # and a stream started empty, then appended to, likewise
    streams = profile(post=(0, 0), start=(600, 1), append=(100, 10), update=(0, 0))
    assert slack_floor(streams, Workload(5, 80)).first_words_s == pytest.approx((0,) * 5, abs=1e-5)


def test_a_per_channel_burst_of_one_or_more_lets_each_replys_first_call_go_at_once():
    assert capacities(profile(channel_post=(60, 1)))["chat.postMessage"].first_after == 0
    late = capacities(profile(channel_post=(60, 0.5)))["chat.postMessage"]
    assert late.first_after == pytest.approx(0.5) and late.by(0.4) == 0 and late.by(0.5) == 1


def test_the_sign_of_life_floor_matches_the_calls_each_bucket_allows_one_by_one():
    for seed in range(20):
        drawn = limits.draw(seed)
        caps = capacities(drawn)
        calls = sorted(max(0.0, (n - cap.burst) / cap.per_second) if n > cap.burst else 0.0
                       for cap in (caps[m] for m in ("chat.postMessage", "assistant.threads.setStatus",
                                                      "chat.startStream"))
                       for n in range(1, 101))
        assert slack_floor(drawn, Workload(100, 80)).sign_of_life_s == pytest.approx(calls[:100], abs=1e-5)


def test_the_fixed_profiles_floors():
    assert slack_floor(limits.PROFILES["small"], Workload(100, 80)).first_words_s_p95 == 0  # bursts of 100
    strict = slack_floor(limits.PROFILES["strict"], Workload(100, 80))
    # 20 posts + 20 statuses + 2 starts at once, then 10 + 10 + 1/3 a second
    assert strict.sign_of_life_s_p95 == pytest.approx(2.7, abs=0.05)
    # words: 20 + 10·(t − F) posts (+ 4 placeholders edited), 4 starts by then: 95 shown at about 7.1 s
    assert strict.first_words_s_p95 == pytest.approx(6.7, abs=0.05)
    assert slack_floor(limits.PROFILES["strict"], Workload(1, 200)).first_words_s == (0,)


def test_the_last_answer_floor_is_the_message_budget_or_the_model_whichever_is_later():
    posts_only = profile(post=(600, 1), start=(0, 0))
    at_once = last_answer_floor(posts_only, [0.0] * 100, 80)
    assert at_once.messages_s == pytest.approx(9.9, abs=1e-4)  # 99 more posts at ten a second
    assert at_once.seconds == at_once.messages_s
    slow = last_answer_floor(posts_only, [float(i) for i in range(10)], 80)
    assert slow.messages_s == pytest.approx(9.0, abs=1e-4)  # the budget keeps up: the last question's time
    assert slow.seconds == slow.model_s > 9.4  # then the model writes its answer
    small = last_answer_floor(limits.PROFILES["small"], [60 * i / 1000 for i in range(1000)], 80)
    # 100 + 2 at once, then 10 + 1/3 a second: the 1000th message at about 87 s
    assert small.seconds == pytest.approx(87.0, abs=0.1)


# -- targets ------------------------------------------------------------------------------------------------


def row(replies=100, **figures) -> dict:
    base = {"profile": "random:1", "workload": f"{replies} × 80 words", "strategy": "this bot", "replies": replies,
            "complete": replies, "early": 0, "rate_limited": 0, "sign_of_life_ms_p95": 500.0,
            "first_words_ms_p95": 1000.0, "staleness_s_p95": 2.0, "floor_sign_of_life_ms_p95": 0.0,
            "floor_first_words_ms_p95": 0.0}
    return {**base, **figures}


def test_the_targets_of_100_replies_and_the_floor_plus_a_second_where_the_floor_is_above_them():
    assert targets.failures(row()) == 0 and len(targets.check(row())) == 6
    assert targets.failures(row(rate_limited=11, early=1, complete=99)) == 3
    assert targets.failures(row(first_words_ms_p95=6500.0)) == 1  # 5 s
    held = {one.name: one for one in targets.check(row(first_words_ms_p95=6500.0, floor_first_words_ms_p95=6000.0))}
    assert held["first words p95"].holds and "floor 6.00 s + 1 s applies" in held["first words p95"].text
    assert not targets.check(row(first_words_ms_p95=7500.0, floor_first_words_ms_p95=6000.0))[4].holds
    assert targets.failures(row(sign_of_life_ms_p95=1500.0, floor_sign_of_life_ms_p95=800.0)) == 1
    assert targets.failures(row(sign_of_life_ms_p95=1500.0, floor_sign_of_life_ms_p95=1200.0)) == 0
    assert targets.failures(row(first_words_ms_p95=math.nan)) == 1  # no words shown: not held


def test_the_targets_of_20_and_1_reply():
    assert [one.name for one in targets.check(row(20))] == ["complete", "early calls", "first words p95",
                                                             "staleness p95"]
    assert targets.failures(row(20, first_words_ms_p95=2100.0, staleness_s_p95=8.5)) == 2
    assert targets.failures(row(1, first_words_ms_p95=90.0, staleness_s_p95=0.29)) == 0
    assert targets.failures(row(1, first_words_ms_p95=110.0, staleness_s_p95=0.31)) == 2


def test_the_worst_seed_fails_the_most_targets_then_has_the_slowest_first_words():
    rows = [row(profile="random:1", first_words_ms_p95=4000.0), row(profile="random:2", first_words_ms_p95=900.0,
                                                                     early=2),
            row(profile="random:3", first_words_ms_p95=4500.0), row(profile="strict", early=5, complete=0)]
    [worst] = targets.worst_seeds(rows)
    assert worst["seed"] == "random:2" and worst["profile"] == "worst seed: random:2" and worst["worst_of"] == 3
    [worst] = targets.worst_seeds([row(profile="random:1", first_words_ms_p95=4000.0),
                                   row(profile="random:3", first_words_ms_p95=4500.0)])
    assert worst["seed"] == "random:3"
    assert targets.worst_seeds([row(profile="random:1"), row(profile="small")]) == []  # one seed: no summary


# -- the new paths, run (about 10 s each) -------------------------------------------------------------------


def test_the_benchmark_runs_on_random_profiles_and_prints_the_floor_the_targets_and_the_worst_seed(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "--replies", "1", "--profiles", "random:1-2",
                           "--strategies", "this bot", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| floor sol/fw p95 ms |" in done.stdout and "| random:2 | 1 × 200 words | this bot | 1/1 |" in done.stdout
    assert "| worst seed: random:" in done.stdout and "Targets (this bot):" in done.stdout
    saved = json.loads((tmp_path / "latest.json").read_text())
    assert [row["profile"] for row in saved["rows"]] == ["random:1", "random:2"]
    assert saved["rows"][0]["floor_first_words_ms_p95"] == 0
    assert saved["profiles"]["random:2"] == limits.as_json(limits.draw(2))
    assert saved["worst_seeds"][0]["worst_of"] == 2 and len(saved["targets"]) == 3
    assert limits.describe(limits.draw(1)) in (tmp_path / "latest.md").read_text()


def test_the_instances_benchmark_runs_at_scale(tmp_path, redis_server):
    done = subprocess.run([sys.executable, "-m", "bench", "--instances", "--questions", "24", "--over", "2",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    [saved] = json.loads((tmp_path / "instances-24.json").read_text())["rows"]
    assert saved["replies"] == 24 and saved["instances"] == 3 and saved["redelivered"] == 3
    assert saved["complete"] == 24 and saved["without_reply"] == saved["duplicates"] == saved["duplicate_asks"] == 0
    assert saved["early"] == 0 and saved["last_whole_s"] >= saved["floor_last_whole_s"] > 2
    assert len(saved["instance_peak_mb"]) == len(saved["instance_cpu_s"]) == 3
    assert all(mb > 10 for mb in saved["instance_peak_mb"]) and all(cpu >= 0 for cpu in saved["instance_cpu_s"])
    assert "✓ answered exactly once: 24/24 whole" in done.stdout and "Slack's floor for the last answer" in done.stdout
    assert (tmp_path / "instances-24.md").read_text().startswith("# Several instances at scale")
