"""The benchmark still runs: `python -m bench --smoke` (about twenty seconds) starts the real bot as a
process against the stand-ins under Slack's rate limits, and reports figures for every reply."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_the_benchmark_runs_and_every_reply_of_this_bot_completes(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| small | 3 × 30 words | this bot | 3/3 |" in done.stdout  # the side-by-side table
    rows = json.loads((tmp_path / "latest.json").read_text())["rows"]
    assert {(row["strategy"], row["replies"]) for row in rows} == {
        ("this bot", 1), ("this bot", 3), ("edit only", 1), ("edit only", 3)}
    for row in rows:
        assert row["complete"] == row["replies"] and row["early"] == 0
        assert 0 <= row["sign_of_life_ms_p50"] and 0 <= row["first_words_ms_p50"] and row["staleness_s_p95"] >= 0
    by_strategy = {row["strategy"]: row["calls_by_method"] for row in rows if row["replies"] == 1}
    assert by_strategy["this bot"]["status"] == 1 and by_strategy["this bot"]["start"] == 1  # the native path
    assert by_strategy["edit only"]["post"] == 1 and "start" not in by_strategy["edit only"]
    assert (tmp_path / "latest.md").read_text().startswith("# Benchmark")


@pytest.mark.e2e
def test_the_latency_benchmark_runs_for_this_bot():
    # no revision to compare with: the suite does not depend on the repository's history
    done = subprocess.run([sys.executable, "-m", "bench", "--latency", "--repeats", "1", "--round-trip", "0.05",
                           "--before", ""], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| scenario | this bot |" in done.stdout
    for scenario in ("top-level mention", "DM with history", "first thread follow-up (3 people)",
                     "repeat thread follow-up", "connections opened per Slack call"):
        assert f"| {scenario} |" in done.stdout


def test_the_instances_benchmark_runs_one_and_three_instances_with_and_without_redis(tmp_path, redis_server):
    # `redis_server` only checks that redis-server is installed: the benchmark starts its own
    done = subprocess.run([sys.executable, "-m", "bench", "--instances", "--smoke", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| run | complete | first words p50/p95 ms | staleness p50/p95 s | 429s | early calls |" in done.stdout
    rows = {row["run"]: row for row in json.loads((tmp_path / "instances.json").read_text())["rows"]}
    assert list(rows) == ["1 instance", "3 instances, each on its own", "3 instances, Redis"]
    assert [row["instances"] for row in rows.values()] == [1, 3, 3]
    for row in rows.values():
        assert row["replies"] == 6 and row["redelivered"] == 2 and row["without_reply"] == 0
        assert row["first_words_ms_p95"] >= 0 and row["staleness_s_p95"] >= 0
    shared = rows["3 instances, Redis"]
    assert shared["complete"] == 6 and shared["early"] == 0 and shared["duplicates"] == shared["duplicate_asks"] == 0
    assert "| 3 instances, Redis | 6/6 |" in done.stdout
    assert (tmp_path / "instances.md").read_text().startswith("# Several instances")


def test_a_thread_shows_as_many_replies_as_messages_that_showed_the_answers_first_word():
    from bench.instances import replies_shown
    from bench.workload import Answer
    from standins.slack import Message

    def message(posted: str, *edits: str) -> Message:
        m = Message("C1", "2.0", edits[-1] if edits else posted, bot_id="BBOT", thread_ts="1.0", posted_text=posted)
        m.edits = [(0.0, text) for text in edits]
        return m

    answer = Answer("w0 w1 w2 w3 w4", ())
    assert replies_shown([message("…", "w0 w1 w2"), message("w3 w4")], answer) == 1  # one reply in two messages
    assert replies_shown([message("w0 w1"), message("…", "**w0** w1")], answer) == 2  # a second reply
    assert replies_shown([message("w0 w1 w2"), message("…")], answer) == 1  # a placeholder that never showed a word
    assert replies_shown([message("w10 w0x")], answer) == 0  # whole numbered words only


@pytest.mark.e2e
def test_the_tools_benchmark_runs_a_search_per_question(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "--tools", "--profiles", "small", "--replies", "1",
                           "--search-seconds", "0.2", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    [row] = json.loads((tmp_path / "tools.json").read_text())["rows"]
    assert row["complete"] == 1 and row["early"] == 0 and row["cards_while_searching"] == 1
    assert 0 <= row["tool_round_ms_p95"] <= 100  # the bot adds no Slack round trip to a tool round
    assert "✓ tool round p95 ≤ 100 ms" in done.stdout
