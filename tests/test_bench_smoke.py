"""The benchmark still runs: `python -m bench --smoke` (a few seconds) starts the real bot as a process
against the stand-ins under a rate limit, and reports figures for every reply."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_runs_and_every_reply_of_this_bot_completes(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| this bot | 3 | 3/3 |" in done.stdout  # the side-by-side table
    rows = json.loads((tmp_path / "latest.json").read_text())["rows"]
    assert {(row["pacer"], row["replies"]) for row in rows} == {
        ("this bot", 1), ("this bot", 3), ("fixed 1 s", 1), ("fixed 1 s", 3)}
    for row in rows:
        assert row["complete"] == row["replies"] and row["early"] == 0
        assert row["first_words_ms_p50"] >= 0 and row["staleness_s_p95"] >= 0
        assert row["calls_per_reply"] >= 2  # the placeholder, then at least its final text
    assert (tmp_path / "latest.md").read_text().startswith("# Benchmark")
