"""`python -m bench --instances`: several instances of the bot on one workspace, with and without Redis.

One Slack stand-in (one workspace, its limits from a profile of `limits`) and one Bedrock stand-in; the real
bot runs as processes of its own (`python -m bot`, default settings), each with its own Socket Mode
connection. 100 mentions go out at once, each to one instance in turn (a third each with three), and a tenth
of them are delivered again a moment later to another instance (the next one; with one instance, the same),
as Slack does when it did not hear an ack in time (same event id, `retry_attempt` 1). Three runs, side by
side, each on stand-ins and a Redis of its own:

- one instance (the baseline: what the workspace's budgets give one bot);
- three instances, each on its own state (no `REDIS_URL`);
- three instances sharing their state through a real `redis-server` started for the run.

For each: replies complete, first words and staleness (as `python -m bench` measures them), Slack's 429s,
calls made inside a Retry-After ("early": by any instance, once a 429 of that method, and of that channel
where Slack limits by channel, reached one of them; the workspace's limits are the app's, not an
instance's), and duplicates:

- duplicate replies: threads where more than one reply shows. A reply's first message is the only one that
  shows the answer's first word (a reply that goes on in another message goes on with later words), so the
  replies in a thread are the bot's messages there that showed that word at any time (posted or edited);
- duplicate asks: questions the model was asked more than once (Bedrock's requests), shown or not.

A question with a duplicate reply is not complete (its thread shows the answer twice). Target: with Redis,
three instances get no more 429s than one, no early call and no duplicate.

  python -m bench --instances                       the three runs, small bursts
  python -m bench --instances --profile large --replies 60
  python -m bench --instances --smoke               a quick check that it works (6 mentions, 2 redelivered)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from bench import limits as slack_limits
from bench.__main__ import RESULTS, bot_env, wait_until_done
from bench.measure import Asked, measure, reply_messages
from bench.workload import TAG, Answer, Workload, answer, asked as asked_for, question, reply_for
from standins.bedrock import FakeBedrock
from standins.events import mention
from standins.redis_server import RedisServer
from standins.slack import FakeSlack, Message

RUNS = (("1 instance", 1, False), ("3 instances, each on its own", 3, False), ("3 instances, Redis", 3, True))
WORDS = 80  # each answer's length, as in the 100-replies workload of `python -m bench`
SMOKE = {"replies": 6, "words": 30, "redeliver": 1 / 3}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench --instances", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", type=int, default=100, help="mentions at once (default 100)")
    parser.add_argument("--profile", default="small", choices=list(slack_limits.PROFILES),
                        help="Slack's limits (default small)")
    parser.add_argument("--redeliver", type=float, default=0.1, help="share of events delivered again (default 0.1)")
    parser.add_argument("--redeliver-after", type=float, default=1.0,
                        help="seconds after the first delivery (default 1)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds a run may take (default 60 + 2 per reply)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a bot setting for every instance of every run; repeatable")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick check that it works: 6 mentions of 30 words, a third redelivered, saved "
                             "in a temporary directory unless --out says where")
    parser.add_argument("--out", type=Path, default=None, help="where to save (default bench/results)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.replies, args.redeliver = SMOKE["replies"], SMOKE["redeliver"]
    workload = Workload(args.replies, SMOKE["words"] if args.smoke else WORDS)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-instances-smoke-")) if args.smoke else RESULTS)
    try:
        RedisServer()  # before any run: say at once if the binary is missing
    except FileNotFoundError as missing:
        raise SystemExit(str(missing))
    rows = []
    for name, instances, shared in RUNS:
        print(f"… {name}", file=sys.stderr, flush=True)
        rows.append({"run": name, **run(instances, shared, workload, slack_limits.PROFILES[args.profile],
                                        redeliver=args.redeliver, after=args.redeliver_after,
                                        overrides=dict(item.split("=", 1) for item in args.set),
                                        timeout=args.timeout or 60 + 2 * workload.replies,
                                        logs=out / "logs" / f"instances-{name.split(',')[-1].strip()}")})
    table = render(rows)
    print(table)
    save(out, rows, table, " ".join(["python -m bench --instances", *argv]), args.profile)
    print(f"\nsaved in {out}", file=sys.stderr)
    return 0 if all(row["complete"] == row["replies"] for row in rows if row["run"].endswith("Redis")) else 1


def run(instances: int, shared: bool, workload: Workload, limits: tuple, *, redeliver: float, after: float,
        timeout: float, logs: Path, overrides: dict[str, str]) -> dict:
    slack = FakeSlack().start()
    bedrock = FakeBedrock().start()
    slack_limits.apply(slack, limits)
    bedrock.answer = reply_for
    redis = RedisServer().start() if shared else None
    logs.mkdir(parents=True, exist_ok=True)
    bots = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            env = {**bot_env(slack, bedrock, scratch, workload.replies),
                   **({"REDIS_URL": redis.url} if redis else {}), **overrides}
            for number in range(instances):
                log = open(logs / f"bot-{number}.log", "wb")
                bots.append(subprocess.Popen([sys.executable, "-m", "bot"], cwd=scratch, env=env, stdout=log,
                                             stderr=subprocess.STDOUT))
                log.close()
                slack.wait_until(lambda: slack.connection_count > number or bots[-1].poll() is not None,
                                 timeout=60, what="the bot")
                if bots[-1].poll() is not None:
                    raise SystemExit(f"the bot did not start; see {logs}")
            time.sleep(0.5)  # let them settle: the figures are about answering, not starting
            started = time.monotonic()
            asked, again = [], []
            every = round(1 / redeliver) if redeliver > 0 else 0
            for index in range(workload.replies):
                channel = f"C{index:04d}"
                event, said = mention(slack, f"<@UBOT> {question(index, workload.words)}", user=f"U{index:04d}",
                                      channel=channel)
                at = time.monotonic()
                event_id = slack.send_event(event, connection=index % instances)
                asked.append(Asked(index, channel, said.ts, at, answer(index, workload.words)))
                if every and index % every == 0:
                    again.append((event, event_id, (index + 1) % instances))
            time.sleep(max(started + after - time.monotonic(), 0.0))
            for event, event_id, connection in again:  # Slack did not hear the ack in time: to another instance
                slack.send_event(event, event_id=event_id, retry_attempt=1, connection=connection)
            wait_until_done(slack, asked, started + timeout,
                            ended=lambda waiting: answered_twice(slack, bedrock, waiting))
    finally:
        for bot in bots:
            bot.kill()
            bot.wait(10)
        if redis is not None:
            redis.stop()
    ended = time.monotonic()
    figures = measure(asked, slack, bedrock, ended)
    shown = {one.index: replies_shown(reply_messages(slack, one), one.answer) for one in asked}
    asks = asked_counts(bedrock)
    slack.stop()
    bedrock.stop()
    return {**figures.summary(), "instances": instances, "redelivered": len(again),
            "duplicates": sum(1 for count in shown.values() if count > 1),
            "duplicate_asks": sum(1 for count in asks.values() if count > 1),
            "without_reply": sum(1 for count in shown.values() if count == 0)}


def asked_counts(bedrock: FakeBedrock) -> Counter:
    """How many times the model was asked each question (by its number)."""
    return Counter(asked_for(request)[0] for request in list(bedrock.requests))


def replies_shown(messages: list[Message], answer: Answer) -> int:
    """How many replies a thread shows: its bot messages that showed the answer's first (numbered) word at any
    time (posted or edited). Only a reply's first message carries it; the messages a reply goes on in carry
    later words."""
    first_word = answer.tags[0]
    return sum(1 for m in messages
               if any(first_word in TAG.findall(text) for text in (m.posted_text, m.text, *(t for _, t in m.edits))))


def answered_twice(slack: FakeSlack, bedrock: FakeBedrock, waiting: list[Asked]) -> set[int]:
    """The questions among `waiting` that were answered twice (the model asked twice, or two replies in the
    thread): they will never show one whole answer, so nobody waits for them."""
    twice = {number for number, count in asked_counts(bedrock).items() if count > 1}
    return twice | {one.index for one in waiting if replies_shown(reply_messages(slack, one), one.answer) >= 2}


COLUMNS = ("run", "complete", "first words p50/p95 ms", "staleness p50/p95 s", "429s", "early calls",
           "duplicate replies / asks", "Slack calls per reply")


def render(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows:
        lines.append("| " + " | ".join([
            row["run"], f"{row['complete']}/{row['replies']}",
            f"{row['first_words_ms_p50']:.0f} / {row['first_words_ms_p95']:.0f}",
            f"{row['staleness_s_p50']:.1f} / {row['staleness_s_p95']:.1f}",
            f"{row['rate_limited']}" + (f" ({', '.join(f'{m} {n}' for m, n in row['rate_limited_by_method'].items())})"
                                        if row["rate_limited"] else ""),
            str(row["early"]), f"{row['duplicates']} / {row['duplicate_asks']} of {row['redelivered']} redelivered",
            f"{row['calls_per_reply']:.1f}",
        ]).replace("nan", "–") + " |")
    return "\n".join(lines)


def save(out: Path, rows: list[dict], table: str, command: str, profile: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (out / "instances.json").write_text(json.dumps({"when": when, "command": command, "profile": profile,
                                                    "rows": rows}, indent=2, default=str))
    limits = "; ".join(map(str, slack_limits.PROFILES[profile]))
    (out / "instances.md").write_text(f"# Several instances: {when}\n\nCommand: `{command}`.\n\n{table}\n\n"
                                      f"{LEGEND}\n\nSlack stand-in's limits ({profile}): {limits}\n")


LEGEND = ("Early calls: calls of a method (in a channel, where Slack limits by channel) made by any instance "
          "after a 429 of it reached one of them and before its Retry-After ended. Duplicate replies: threads "
          "where the bot's messages showed the answer's first word more than once (two replies); duplicate "
          "asks: questions the model was asked more than once. A thread with two replies is not complete.")
