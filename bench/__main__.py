"""`python -m bench`: put figures on the typing effect, for this bot's routing and for other ways to reply.

For each Slack profile (see `limits`), each workload (1, 20 and 100 mentions at once, each in a channel of
its own) and each strategy, it starts the local Slack and Bedrock stand-ins, starts the real bot in a
process of its own, mentions it that many times at once, waits until every reply shows its whole answer
(or the run's time is up), and measures from what the stand-ins recorded. It prints one side-by-side table
and saves it, with the raw figures, under bench/results/.

  python -m bench                                   every profile, workload and strategy (an hour or so)
  python -m bench --replies 1,20 --profiles small   fewer runs
  python -m bench --profiles strict,random:1-5      Slack profiles: fixed ones, and workspaces drawn from seeds
  python -m bench --replies 100 --check             exit 1 unless every target holds (they are always printed)
  python -m bench --strategies "this bot,edit only"
  python -m bench --set SLACK_UPDATE_INTERVAL_SECONDS=0.5   another setting of the bot, for every run
  python -m bench --round-trip 0.1                  Slack answers each call 100 ms after it arrives
  python -m bench --smoke                           a quick check that the benchmark works
  python -m bench --latency                         time from a question to the model request (see bench/latency.py)
  python -m bench --instances                       three instances on one workspace, with and without Redis
                                                    (see bench/instances.py)
  python -m bench --tools                           answers after a Knowledge Base search of 300 ms (see
                                                    bench/tools.py)
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
from pathlib import Path
from contextlib import contextmanager
from typing import BinaryIO, Callable, Iterator

from bench import limits as slack_limits
from bench import targets
from bench.floor import slack_floor
from bench.measure import Asked, Figures, measure, replies_by_thread, shows_whole_answer
from bench.peers import ENV as PEER_ENV
from bench.peers import RULES
from bench.workload import SMOKE, WORKLOADS, Workload, answer, question, reply_for
from standins.bedrock import FakeBedrock
from standins.events import mention
from standins.slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QUIET_SECONDS = 1.5  # after the last reply is complete: no more calls for this long ends the run
MAX_CONCURRENT = 1000  # the most MAX_CONCURRENT_REPLIES the bot takes

# name → (what it is, the command that runs the bot, its settings)
STRATEGIES: dict[str, tuple[str, list[str], dict[str, str]]] = {
    "this bot": ("default settings: status, then native streams or posts by budget", ["-m", "bot"], {}),
    "stream only": ("SLACK_REPLY_SURFACE=stream: always a native stream, waiting for the start budget",
                    ["-m", "bot"], {"SLACK_REPLY_SURFACE": "stream"}),
    "edit only": ("the path before native streams, run by this code with the old defaults: a placeholder, then "
                  "edits at most once a second per message, chat.update 50 a minute in bursts of 20",
                  ["-m", "bot"], {"SLACK_REPLY_SURFACE": "edit", "SLACK_STATUS": "off", "SLACK_FEEDBACK_BUTTONS": "off",
                                  "SLACK_UPDATE_INTERVAL_SECONDS": "1.0", "SLACK_RATE_LIMITS": "chat.update=50/20"}),
    **{rule: (f"{source} (edits, no shared budget)", ["-m", "bench.peers", rule], PEER_ENV)
       for rule, (source, *_) in RULES.items()},
}
DEFAULT_STRATEGIES = {1: list(STRATEGIES), 20: list(STRATEGIES), 100: ["this bot", "stream only", "edit only"]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--latency" in argv:
        from bench import latency
        return latency.main([arg for arg in argv if arg != "--latency"])
    if "--instances" in argv:
        from bench import instances
        return instances.main([arg for arg in argv if arg != "--instances"])
    if "--tools" in argv:
        from bench import tools
        return tools.main([arg for arg in argv if arg != "--tools"])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", default="1,20,100", help="workloads by replies at once (default 1,20,100)")
    parser.add_argument("--profiles", default=None,
                        help="Slack profiles (default small,large; --smoke: small), comma-separated, from: "
                             + ", ".join(slack_limits.PROFILES) + ", random:SEED (a workspace drawn from SEED, see "
                             "bench/limits.py) and random:A-B (seeds A to B)")
    parser.add_argument("--strategies", default=None, help="comma-separated, from: " + ", ".join(STRATEGIES)
                        + " (default: all for 1 and 20 replies; the first three for 100)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds a run may take (default 60 + 2 per reply)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a bot setting for every run (for example SLACK_UPDATE_INTERVAL_SECONDS=0.5); repeatable")
    parser.add_argument("--smoke", action="store_true", help="a quick check that the benchmark works")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every target of this bot's rows holds (see bench/targets.py)")
    parser.add_argument("--round-trip", type=float, default=0.0, metavar="SECONDS",
                        help="how long Slack takes to answer each call (default 0: at once; Slack's is 0.05 to 0.15)")
    parser.add_argument("--out", type=Path, default=None, help="where to save (default bench/results)")
    parser.add_argument("--plot", type=Path, default=None, metavar="SVG",
                        help="instead: one question on the first profile, every strategy, drawn as words on screen "
                             "over time (the README's picture: docs/typing.svg)")
    args = parser.parse_args(argv)
    workloads = SMOKE if args.smoke else {n: WORKLOADS[n] for n in map(int, args.replies.split(","))}
    try:
        profiles = slack_limits.expand(args.profiles or ("small" if args.smoke else "small,large"))
    except ValueError as error:
        parser.error(str(error))
    chosen = ["this bot", "edit only"] if args.smoke else (
        None if args.strategies is None else [s.strip() for s in args.strategies.split(",")])
    unknown = [s for s in chosen or [] if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    overrides = dict(item.split("=", 1) for item in args.set)
    if args.plot is not None:
        return plot(args.plot, profiles[0], chosen or list(STRATEGIES), overrides, args.round_trip)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-smoke-")) if args.smoke else RESULTS)

    rows = []
    for profile in profiles:
        limits = slack_limits.resolve(profile)
        for count, workload in workloads.items():
            floor = slack_floor(limits, workload)
            for strategy in chosen or DEFAULT_STRATEGIES.get(count, list(STRATEGIES)):
                timeout = args.timeout or 60 + 2 * workload.replies
                print(f"… {profile} bursts, {workload.name}, {strategy}", file=sys.stderr, flush=True)
                log = out / "logs" / f"{profile.replace(':', '-')}-{count}-{strategy.replace(' ', '-')}.log"
                figures = run(strategy, workload, limits, timeout=timeout, overrides=overrides, log_path=log,
                              round_trip=args.round_trip)
                rows.append({"profile": profile, "workload": workload.name, "strategy": strategy,
                             **figures.summary(), **floor.summary()})
    worst = targets.worst_seeds(rows)
    table = render(rows + worst)
    ours = [row for row in rows + worst if row["strategy"] == "this bot"]
    verdicts = targets.render(ours) if ours else ""
    print(table)
    if verdicts:
        print(f"\nTargets (this bot):\n\n{verdicts}")
    save(out, rows, worst, table, verdicts, profiles, round_trip=args.round_trip,
         command=" ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]))
    print(f"\nsaved in {out}", file=sys.stderr)
    if args.check and any(targets.failures(row) for row in ours):
        return 1
    return 0 if all(row["complete"] == row["replies"] for row in rows if row["strategy"] == "this bot") else 1


def plot(path: Path, profile: str, strategies: list[str], overrides: dict[str, str], round_trip: float) -> int:
    """One question answered by each strategy on `profile`: when each word was shown, drawn beside when the model
    wrote it, as an SVG at `path`."""
    from bench.plot import svg

    curves: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as logs:
        for strategy in strategies:
            print(f"… {profile}, one question, {strategy}", file=sys.stderr, flush=True)
            figures = run(strategy, WORKLOADS[1], slack_limits.resolve(profile), timeout=60, overrides=overrides,
                          log_path=Path(logs) / f"{strategy.replace(' ', '-')}.log", round_trip=round_trip)
            if not curves:
                curves["the model writes"] = figures.written_curve
            curves[strategy] = figures.shown_curve
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    path.write_text(svg(curves, title=f"One answer, words on screen over time ({profile} workspace; "
                                      f"python -m bench --plot, {when})"))
    print(f"saved {path}", file=sys.stderr)
    return 0


def run(strategy: str, workload: Workload, limits: tuple, *, timeout: float, overrides: dict[str, str],
        log_path: Path, round_trip: float = 0.0) -> Figures:
    """One run: `workload`'s mentions at once, answered by the bot run as `strategy`, Slack answering each call
    `round_trip` seconds after it arrived; its log goes to `log_path`."""
    slack = FakeSlack().start()
    slack.round_trip = round_trip
    bedrock = FakeBedrock().start()
    slack_limits.apply(slack, limits)
    bedrock.answer = reply_for
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _, command, settings = STRATEGIES[strategy]
    with tempfile.TemporaryDirectory() as scratch, open(log_path, "wb") as log:
        env = {**bot_env(slack, bedrock, scratch, workload.replies), **settings, **overrides}
        with started_bot(slack, command, env, scratch, log, f"see {log_path}") as bot:
            cpu_before = cpu_seconds(bot.pid)
            started = time.monotonic()
            asked = ask_at_once(slack, workload)
            wait_until_done(slack, asked, started + timeout)
            cpu = cpu_seconds(bot.pid) - cpu_before
            peak = peak_mb(bot.pid)
        ended = time.monotonic()
        figures = measure(asked, slack, bedrock, ended)
        figures.cpu_s, figures.peak_mb, figures.seconds = cpu, peak, ended - started
    slack.stop()
    bedrock.stop()
    return figures


@contextmanager
def started_bot(slack: FakeSlack, command: list[str], env: dict[str, str], cwd: str, log: BinaryIO,
                failed: str | Callable[[], str]) -> Iterator[subprocess.Popen]:
    """The bot run as `command` (`-m bot`, …) once it is connected to `slack` over Socket Mode and has settled
    (the figures are about answering, not starting); killed afterwards (the figures are taken by then: nothing in
    flight needs finishing). `failed`: what to say if it does not start."""
    bot = subprocess.Popen([sys.executable, *command], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        slack.wait_until(lambda: slack.connected or bot.poll() is not None, timeout=60, what="the bot")
        if bot.poll() is not None:
            raise SystemExit(f"the bot did not start; {failed() if callable(failed) else failed}")
        time.sleep(0.5)
        yield bot
    finally:
        bot.kill()
        bot.wait(10)


def ask_at_once(slack: FakeSlack, workload: Workload) -> list[Asked]:
    """`workload`'s mentions, sent at once, each in a channel of its own and by a person of its own."""
    asked = []
    for index in range(workload.replies):
        channel = f"C{index:04d}"
        event, said = mention(slack, f"<@UBOT> {question(index, workload.words)}", user=f"U{index:04d}",
                              channel=channel)
        at = time.monotonic()
        slack.send_event(event)
        asked.append(Asked(index, channel, said.ts, at, answer(index, workload.words)))
    return asked


def bot_env(slack: FakeSlack, bedrock: FakeBedrock, scratch: str, replies: int) -> dict[str, str]:
    """The bot's environment: the stand-ins, and otherwise its defaults (nothing from this shell's settings)."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "SYSTEMROOT") if name in os.environ}
    return {
        **keep,
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": "xoxb-benchmark",
        "SLACK_APP_TOKEN": "xapp-benchmark",
        "SLACK_API_URL": slack.api_url,
        "MAX_CONCURRENT_REPLIES": str(min(MAX_CONCURRENT, max(32, replies + 8))),  # every reply streams at once
        "LOG_LEVEL": "WARNING",
        "AWS_ACCESS_KEY_ID": "AKIDBENCHMARK",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.endpoint_url,
        "AWS_CONFIG_FILE": str(Path(scratch) / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(Path(scratch) / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def wait_until_done(slack: FakeSlack, asked: list[Asked], deadline: float,
                    ended: Callable[[list[Asked]], set[int]] = lambda waiting: set()) -> None:
    """Until every reply shows its whole answer (or `ended` names it, by number, among those still waiting)
    and Slack has heard nothing more for a moment, or the deadline."""
    waiting = list(asked)
    while waiting and time.monotonic() < deadline:
        over = ended(waiting)
        threads = replies_by_thread(slack)
        waiting = [one for one in waiting if one.index not in over
                   and not shows_whole_answer(threads.get((one.channel, one.thread_ts), []), one.answer)]
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
    ("profile", "bursts", "{}"),
    ("workload", "replies at once", "{}"),
    ("strategy", "strategy", "{}"),
    ("complete", "complete", "{}"),
    ("sign_of_life_ms_p50", "sign of life p50/p95 ms", "{:.0f} / {:.0f}"),
    ("first_words_ms_p50", "first words p50/p95 ms", "{:.0f} / {:.0f}"),
    ("floor_sign_of_life_ms_p95", "floor sol/fw p95 ms", "{:.0f} / {:.0f}"),
    ("staleness_s_p50", "staleness p50/p95 s", "{:.1f} / {:.1f}"),
    ("calls_by_method", "Slack calls per reply", "{}"),
    ("rate_limited", "429s", "{}"),
    ("early", "early calls", "{}"),
    ("cpu_ms_per_1000_deltas", "CPU ms/1k deltas", "{:.0f}"),
]


def render(rows: list[dict]) -> str:
    header = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [header, "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows:
        cells = []
        for key, _, pattern in COLUMNS:
            if key.endswith("_p50"):
                cells.append(pattern.format(row[key], row[key.replace("_p50", "_p95")]))
            elif key == "floor_sign_of_life_ms_p95":
                cells.append(pattern.format(row[key], row["floor_first_words_ms_p95"]))
            elif key == "complete":
                cells.append(f"{row['complete']}/{row['replies']}")
            elif key == "calls_by_method":
                cells.append(" · ".join(f"{name} {count:.1f}" for name, count in row[key].items()))
            else:
                cells.append(pattern.format(row[key]))
        lines.append("| " + " | ".join(cells).replace("nan", "–") + " |")
    return "\n".join(lines)


def save(out: Path, rows: list[dict], worst: list[dict], table: str, verdicts: str, profiles: list[str], *,
         command: str, round_trip: float = 0.0) -> None:
    """latest.json (every figure, each profile's limits, the targets' verdicts) and latest.md (the tables, and
    each profile's limits, drawn ones included, so that a reader sees what each run was up against)."""
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    slack = (f"Slack answers each call {round_trip * 1000:.0f} ms after it arrives" if round_trip
             else "Slack answers at once")
    strategies = "\n".join(f"- **{name}**: {what}" for name, (what, _, _) in STRATEGIES.items())
    limits = "\n".join(f"- **{name}**: " + slack_limits.describe(slack_limits.resolve(name)) for name in profiles)
    ours = [row for row in rows + worst if row["strategy"] == "this bot"]
    (out / "latest.json").write_text(json.dumps({
        "when": when, "machine": machine, "command": command, "round_trip_s": round_trip, "rows": rows,
        "worst_seeds": worst,
        "targets": [targets.as_json(row) for row in ours],
        "profiles": {name: slack_limits.as_json(slack_limits.resolve(name)) for name in profiles},
    }, indent=2, default=str))
    (out / "latest.md").write_text(
        f"# Benchmark: {when}\n\n{machine}; {slack}. Command: `{command}`.\n\n{table}\n\n{LEGEND}\n\n"
        + (f"Targets (this bot; see bench/targets.py):\n\n{verdicts}\n\n" if verdicts else "")
        + f"Strategies:\n{strategies}\n\nSlack stand-in's limits:\n{limits}\n"
    )


LEGEND = ("Floor sol/fw p95: Slack's floor (bench/floor.py), the sign of life p95 and the first words p95 that no "
          "bot could beat on that profile's limits. A \"worst seed\" row repeats the row of the random seed that "
          "failed the most targets (then: the slowest first words p95).")


if __name__ == "__main__":
    sys.exit(main())
