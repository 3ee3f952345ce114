"""`python -m bench --latency`: how soon the model is asked after a question, with Slack a round trip away.

Over loopback Slack answers in a millisecond, which hides what people feel: every Web API call the bot waits
for before it asks the model costs a round trip to Slack. Here the Slack stand-in answers every call after
`--round-trip` seconds (150 ms by default, a realistic figure), and the real bot (`python -m bot`, a process
of its own, default settings) is asked, one question at a time:

- a top-level mention (nothing to read),
- a DM with history (its recent messages are read),
- a first follow-up in a thread where three people spoke (the thread is read, and their names looked up),
- a repeat follow-up in that thread (the thread is read again; the names are known).

For each it prints the time from the event leaving Slack to the model request reaching Bedrock, in round
trips (p50, p95), and the connections the bot opened to the Web API per call it made. The same questions go
to the bot as it was before its reads were made concurrent (`--before`, a git revision of this repository,
whose `bot/` package is run instead), side by side.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.__main__ import ROOT, bot_env, started_bot
from bench.measure import percentile
from standins.bedrock import FakeBedrock, Reply
from standins.events import direct_message, mention
from standins.slack import FakeSlack

BEFORE = "efda903"  # the last revision whose reads ran one after another
SCENARIOS = ("top-level mention", "DM with history", "first thread follow-up (3 people)", "repeat thread follow-up")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench --latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round-trip", type=float, default=0.15, help="seconds each Slack call takes (default 0.15)")
    parser.add_argument("--repeats", type=int, default=10, help="questions of each kind (default 10)")
    parser.add_argument("--before", default=BEFORE, help=f"the revision to compare with (default {BEFORE}); "
                                                          "'' to skip")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        versions = {"this bot": ROOT}
        if args.before:
            versions[f"before ({args.before})"] = export(args.before, Path(scratch) / "before")
        for name, code in versions.items():
            print(f"… {name}", file=sys.stderr, flush=True)
            rows.extend(run(name, code, args.round_trip, args.repeats))
    print(render(rows, args.round_trip))
    return 0


def export(revision: str, into: Path) -> Path:
    """The `bot/` package as it was at `revision`, in a directory of its own."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "bot"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def run(name: str, code: Path, round_trip: float, repeats: int) -> list[dict]:
    slack = FakeSlack(page_size=200).start()  # as many messages a page as the bot asks for: a thread is one page
    bedrock = FakeBedrock().start()
    bedrock.default = Reply.text("An answer.")
    slack.names.update({f"U{n}{who}": f"Person {n}{who}" for n in range(repeats) for who in "abc"})
    waits: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as scratch, open(Path(scratch) / "bot.log", "wb") as log:
        env = {**bot_env(slack, bedrock, scratch, 1), "PYTHONPATH": f"{code}:{ROOT}"}
        failed = lambda: (Path(scratch) / "bot.log").read_text()[-2000:]  # noqa: E731
        with started_bot(slack, ["-m", "bot"], env, scratch, log, failed):
            slack.round_trip = round_trip
            calls_before, connections_before = len(slack.calls), connections(slack)
            for n in range(repeats):
                waits[SCENARIOS[0]].append(ask(slack, bedrock, *mention(slack, "<@UBOT> hello", channel=f"C{n}",
                                                                        user=f"U{n}a")))
                for said in ("what is a VPC?", "A virtual network.", "and a subnet?"):
                    slack.add_message(f"D{n}", said, user=None if said.startswith("A ") else f"U{n}a",
                                      bot=said.startswith("A "))
                waits[SCENARIOS[1]].append(ask(slack, bedrock, *direct_message(slack, "and a route table?",
                                                                               channel=f"D{n}", user=f"U{n}a")))
                root = slack.add_message(f"T{n}", "which database should we use?", user=f"U{n}a")
                slack.add_message(f"T{n}", "Postgres, I think", thread_ts=root.ts, user=f"U{n}b")
                slack.add_message(f"T{n}", "DynamoDB scales better", thread_ts=root.ts, user=f"U{n}c")
                waits[SCENARIOS[2]].append(ask(slack, bedrock, *mention(
                    slack, "<@UBOT> so which one?", channel=f"T{n}", user=f"U{n}a", thread_ts=root.ts)))
                waits[SCENARIOS[3]].append(ask(slack, bedrock, *mention(
                    slack, "<@UBOT> and for analytics?", channel=f"T{n}", user=f"U{n}b", thread_ts=root.ts)))
            calls = len(slack.calls) - calls_before
            opened = connections(slack) - connections_before if connections(slack) is not None else None
    slack.stop()
    bedrock.stop()
    per_call = None if opened is None or not calls else opened / calls
    return [{"version": name, "scenario": scenario, "p50_s": percentile(waits[scenario], 50),
             "p95_s": percentile(waits[scenario], 95), "connections_per_call": per_call, "calls": calls}
            for scenario in SCENARIOS]


def connections(slack: FakeSlack) -> int | None:
    """Connections the stand-in accepted so far, where it counts them."""
    return getattr(slack, "connections", None)


def ask(slack: FakeSlack, bedrock: FakeBedrock, event: dict, _) -> float:
    """Send `event`; the seconds from then to the model request, once the answer is done and Slack is quiet."""
    before = len(bedrock.requests)
    sent = time.monotonic()
    slack.send_event(event)
    slack.wait_until(lambda: len(bedrock.requests) > before and bedrock.requests[-1].ended_at, timeout=30,
                     what="the model request")
    asked = bedrock.requests[-1].at - sent
    quiet = 2 * slack.round_trip + 0.3
    while True:  # the reply's last calls, before the next question
        with slack.lock:
            last = slack.calls[-1].at if slack.calls else 0.0
        if time.monotonic() - last > quiet:
            return asked
        time.sleep(0.05)


def render(rows: list[dict], round_trip: float) -> str:
    lines = [f"Slack round trip {round_trip * 1000:.0f} ms; event → model request, in round trips (p50 / p95)",
             "", "| scenario | " + " | ".join(dict.fromkeys(row["version"] for row in rows)) + " |",
             "|---|" + "---|" * len({row["version"] for row in rows})]
    by_scenario: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_scenario[row["scenario"]].append(row)
    for scenario, cells in by_scenario.items():
        lines.append(f"| {scenario} | " + " | ".join(
            f"{row['p50_s'] / round_trip:.2f} / {row['p95_s'] / round_trip:.2f}" for row in cells) + " |")
    per_call = {row["version"]: row["connections_per_call"] for row in rows}
    lines.append("| connections opened per Slack call | " + " | ".join(
        "–" if value is None else f"{value:.2f}" for value in per_call.values()) + " |")
    return "\n".join(lines)
