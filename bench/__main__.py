"""`python -m bench`: put figures on the typing effect, for this bot's pacer and for the peers' pacing rules.

For each pacer and each number of concurrent replies it starts the local Slack and Bedrock stand-ins (the
Slack one enforcing a Tier-3-like limit on chat.update: a burst of 20, then 1 a second, 429 with
Retry-After beyond), starts the real bot in a process of its own with that pacer, mentions it that many
times at once, waits until every reply shows its whole answer (or the run's time is up), and measures from
what the stand-ins recorded. It prints one side-by-side table and saves it, with the raw figures, under
bench/results/.

  python -m bench                      1, 20 and 100 concurrent replies, every pacer (about half an hour)
  python -m bench --replies 1,20       fewer workloads
  python -m bench --pacers "this bot"  fewer pacers
  python -m bench --smoke              a few seconds: 1 and 3 replies, two pacers, short answers
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from bench.measure import Asked, Figures, measure, reply_messages, shows_whole_answer
from bench.pacers import PACERS
from bench.workload import answer, question, reply_for
from standins.events import mention
from standins.bedrock import FakeBedrock
from standins.slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SLACK_BURST, SLACK_PER_SECOND = 20, 1.0  # the stand-in's limit on chat.update
QUIET_SECONDS = 1.5  # after the last reply is complete: no more calls for this long ends the run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", default="1,20,100", help="concurrent replies per workload (default 1,20,100)")
    parser.add_argument("--pacers", default=",".join(PACERS), help="comma-separated, from: " + ", ".join(PACERS))
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds a workload may run (default 60 + 2 per reply)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a bot setting for every run (for example SLACK_EDIT_BURST=20); repeatable")
    parser.add_argument("--smoke", action="store_true", help="a quick check that the benchmark works")
    parser.add_argument("--out", type=Path, default=None, help="where to save (default bench/results)")
    args = parser.parse_args(argv)
    counts = [1, 3] if args.smoke else [int(n) for n in args.replies.split(",")]
    pacers = ["this bot", "fixed 1 s"] if args.smoke else [p.strip() for p in args.pacers.split(",")]
    unknown = [p for p in pacers if p not in PACERS]
    if unknown:
        parser.error(f"unknown pacer(s): {', '.join(unknown)}")
    overrides = dict(item.split("=", 1) for item in args.set)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-smoke-")) if args.smoke else RESULTS)

    rows = []
    for count in counts:
        for pacer in pacers:
            timeout = args.timeout or 60 + 2 * count
            print(f"… {pacer}, {count} concurrent", file=sys.stderr, flush=True)
            log = out / "logs" / f"{pacer.replace(' ', '-')}-{count}.log"
            figures = run(pacer, count, short=args.smoke, timeout=timeout, overrides=overrides, log_path=log)
            rows.append({"pacer": pacer, **figures.summary()})
    table = render(rows)
    print(table)
    save(out, rows, table, command=" ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]))
    print(f"\nsaved in {out}", file=sys.stderr)
    return 0 if all(row["complete"] == row["replies"] for row in rows if row["pacer"] == "this bot") else 1


def run(pacer: str, count: int, *, short: bool, timeout: float, overrides: dict[str, str],
        log_path: Path) -> Figures:
    """One workload: `count` mentions at once, answered by the bot paced by `pacer`; its log goes to `log_path`."""
    slack = FakeSlack().start()
    bedrock = FakeBedrock().start()
    slack.limit("chat.update", burst=SLACK_BURST, per_second=SLACK_PER_SECOND)
    bedrock.answer = partial(reply_for, short=short)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, open(log_path, "wb") as log:
        bot = subprocess.Popen([sys.executable, "-m", "bench.bot_process", pacer], cwd=ROOT,
                               env={**bot_env(slack, bedrock, scratch, count), **overrides}, stdout=log, stderr=subprocess.STDOUT)
        try:
            slack.wait_until(lambda: slack.connected or bot.poll() is not None, timeout=60, what="the bot")
            if bot.poll() is not None:
                raise SystemExit(f"the bot did not start; see {log_path}")
            time.sleep(0.5)  # let it settle: the figures are about answering, not starting
            cpu_before = cpu_seconds(bot.pid)
            started = time.monotonic()
            asked = []
            for index in range(count):
                event, said = mention(slack, f"<@UBOT> {question(index)}", user=f"U{index:04d}")
                at = time.monotonic()
                slack.send_event(event)
                asked.append(Asked(index, said.ts, at, answer(index, short=short)))
            wait_until_done(slack, asked, started + timeout)
            cpu = cpu_seconds(bot.pid) - cpu_before
            peak = peak_mb(bot.pid)
        finally:
            bot.terminate()
            bot.wait(10)
        ended = time.monotonic()
        figures = measure(asked, slack, bedrock, ended)
        figures.cpu_s, figures.peak_mb, figures.seconds = cpu, peak, ended - started
    slack.stop()
    bedrock.stop()
    return figures


def bot_env(slack: FakeSlack, bedrock: FakeBedrock, scratch: str, count: int) -> dict[str, str]:
    """The bot's environment: the stand-ins, and otherwise its defaults (nothing from this shell's settings)."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "SYSTEMROOT") if name in os.environ}
    return {
        **keep,
        "SLACK_BOT_TOKEN": "xoxb-benchmark",
        "SLACK_APP_TOKEN": "xapp-benchmark",
        "SLACK_API_URL": slack.api_url,
        "MAX_CONCURRENT_REPLIES": str(max(32, count + 8)),  # every reply of the workload streams at once
        "LOG_LEVEL": "WARNING",
        "AWS_ACCESS_KEY_ID": "AKIDBENCHMARK",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.endpoint_url,
        "AWS_CONFIG_FILE": str(Path(scratch) / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(Path(scratch) / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def wait_until_done(slack: FakeSlack, asked: list[Asked], deadline: float) -> None:
    """Until every reply shows its whole answer and Slack has heard nothing more for a moment, or the deadline."""
    waiting = list(asked)
    while waiting and time.monotonic() < deadline:
        waiting = [one for one in waiting if not shows_whole_answer(reply_messages(slack, one.thread_ts), one.answer)]
        time.sleep(0.1)
    while time.monotonic() < deadline:
        with slack.lock:
            last = slack.calls[-1].at if slack.calls else 0.0
        if time.monotonic() - last >= QUIET_SECONDS:
            return
        time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


def peak_mb(pid: int) -> float:
    """The most resident memory a process has had (Linux /proc VmHWM; NaN elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


COLUMNS = [
    ("pacer", "pacer", "{}"),
    ("replies", "replies", "{}"),
    ("complete", "complete", "{}"),
    ("placeholder_ms_p50", "event→placeholder p50/p95 ms", "{:.0f} / {:.0f}"),
    ("first_words_ms_p50", "first token→Slack p50/p95 ms", "{:.0f} / {:.0f}"),
    ("staleness_s_p50", "staleness p50/p95 s", "{:.1f} / {:.1f}"),
    ("calls_per_reply", "Slack calls/reply", "{:.1f}"),
    ("rate_limited", "429s", "{}"),
    ("early", "early calls", "{}"),
    ("cpu_ms_per_1000_deltas", "CPU ms/1k deltas", "{:.0f}"),
    ("peak_mb", "peak MB", "{:.0f}"),
]


def render(rows: list[dict]) -> str:
    header = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [header, "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows:
        cells = []
        for key, _, pattern in COLUMNS:
            if key.endswith("_p50"):
                cells.append(pattern.format(row[key], row[key.replace("_p50", "_p95")]))
            elif key == "complete":
                cells.append(f"{row['complete']}/{row['replies']}")
            else:
                cells.append(pattern.format(row[key]))
        lines.append("| " + " | ".join(cells).replace("nan", "–") + " |")
    return "\n".join(lines)


def save(out: Path, rows: list[dict], table: str, *, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    sources = "\n".join(f"- **{name}**: {source}" for name, (source, _) in PACERS.items())
    (out / "latest.json").write_text(json.dumps({"when": when, "machine": machine, "command": command,
                                                 "rows": rows}, indent=2, default=str))
    (out / "latest.md").write_text(
        f"# Benchmark: {when}\n\n{machine}. Command: `{command}`.\n\n"
        f"Slack stand-in: chat.update limited to a burst of {SLACK_BURST}, then {SLACK_PER_SECOND:g}/s. "
        "Bot: default settings (50 edits a minute shared, burst 20, 1 s per reply).\n\n"
        f"{table}\n\nPacers:\n{sources}\n"
    )


if __name__ == "__main__":
    sys.exit(main())
