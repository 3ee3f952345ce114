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
  python -m bench --instances --profiles large --replies 60
  python -m bench --instances --smoke               a quick check that it works (6 mentions, 2 redelivered)

At scale (`--questions N --over S`): N questions spread evenly over S seconds (question i at i·S/N), each in
a channel of its own (as in every other workload: the per-channel limits then never bind, and what is
measured is how the instances share the workspace's budgets), over `--bots` instances (default 3) sharing a
real Redis, sent to the instances' connections in turn, a tenth of them delivered again a second after
their first delivery to the next instance. One run per profile. Reported: whether every question was
answered exactly once (whole, none twice, none missing), 429s (target ≤ 20), early calls (target 0), the
time from the first question until the last answer was whole, beside Slack's floor for it (every answer
needs a message of its own: `floor.last_answer_floor`), first words and staleness, and each instance's peak
memory (VmHWM) and CPU seconds over the run (from /proc). Saved as instances-N.md and instances-N.json.

  python -m bench --instances --questions 1000 --over 60               1,000 questions in a minute, small
  python -m bench --instances --questions 1000 --over 60 --profiles strict,random:1
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from bench import limits as slack_limits
from bench.__main__ import RESULTS, bot_env, cpu_seconds, peak_mb, wait_until_done
from bench.floor import last_answer_floor
from bench.measure import Asked, measure, replies_by_thread
from bench.workload import TAG, Answer, Workload, answer, asked as asked_for, question, reply_for
from standins.bedrock import FakeBedrock
from standins.events import mention
from standins.redis_server import RedisServer
from standins.slack import FakeSlack, Message

RUNS = (("1 instance", 1, False), ("3 instances, each on its own", 3, False), ("3 instances, Redis", 3, True))
WORDS = 80  # each answer's length, as in the 100-replies workload of `python -m bench`
SMOKE = {"replies": 6, "words": 30, "redeliver": 1 / 3}
MAX_429_AT_SCALE = 20  # the target for --questions


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench --instances", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", type=int, default=100, help="mentions at once (default 100)")
    parser.add_argument("--profiles", "--profile", dest="profiles", default="small",
                        help="Slack's limits (default small): comma-separated, from "
                             + ", ".join(slack_limits.PROFILES) + ", random:SEED, random:A-B (see bench/limits.py)")
    parser.add_argument("--questions", type=int, default=None,
                        help="at scale: this many questions spread evenly over --over seconds (see above)")
    parser.add_argument("--over", type=float, default=60.0, help="at scale: the seconds they come over (default 60)")
    parser.add_argument("--bots", type=int, default=3, help="at scale: instances sharing Redis (default 3)")
    parser.add_argument("--redeliver", type=float, default=0.1, help="share of events delivered again (default 0.1)")
    parser.add_argument("--redeliver-after", type=float, default=1.0,
                        help="seconds after the first delivery (default 1)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds a run may take (default 60 + 2 per reply; at scale, twice the longer of "
                             "--over and Slack's floor for the last answer, plus 120)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a bot setting for every instance of every run; repeatable")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick check that it works: 6 mentions of 30 words, a third redelivered, saved "
                             "in a temporary directory unless --out says where")
    parser.add_argument("--out", type=Path, default=None, help="where to save (default bench/results)")
    args = parser.parse_args(argv)
    try:
        profiles = slack_limits.expand(args.profiles)
    except ValueError as error:
        parser.error(str(error))
    if args.questions is not None:
        return at_scale(args, profiles, argv)
    if args.smoke:
        args.replies, args.redeliver = SMOKE["replies"], SMOKE["redeliver"]
    workload = Workload(args.replies, SMOKE["words"] if args.smoke else WORDS)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-instances-smoke-")) if args.smoke else RESULTS)
    try:
        RedisServer()  # before any run: say at once if the binary is missing
    except FileNotFoundError as missing:
        raise SystemExit(str(missing))
    rows = []
    for profile in profiles:
        for name, instances, shared in RUNS:
            label = name if len(profiles) == 1 else f"{profile}: {name}"
            print(f"… {label}", file=sys.stderr, flush=True)
            logs = out / "logs" / f"instances-{profile.replace(':', '-')}-{name.split(',')[-1].strip()}"
            rows.append({"run": label, "profile": profile,
                         **run(instances, shared, workload, slack_limits.resolve(profile),
                               arrivals=[0.0] * workload.replies, redeliver=args.redeliver,
                               after=args.redeliver_after, overrides=dict(item.split("=", 1) for item in args.set),
                               timeout=args.timeout or 60 + 2 * workload.replies, logs=logs,
                               concurrency=workload.replies)})
    table = render(rows)
    print(table)
    save(out, rows, table, " ".join(["python -m bench --instances", *argv]), profiles)
    print(f"\nsaved in {out}", file=sys.stderr)
    return 0 if all(row["complete"] == row["replies"] for row in rows if row["run"].endswith("Redis")) else 1


def run(instances: int, shared: bool, workload: Workload, limits: tuple, *, arrivals: list[float],
        redeliver: float, after: float, timeout: float, logs: Path, overrides: dict[str, str],
        concurrency: int) -> dict:
    """One run: question i of `workload` sent `arrivals[i]` seconds after the start, to instance i mod
    `instances`; every 1/`redeliver`-th delivered again `after` seconds after its first delivery, to the next
    instance. Each instance may answer `concurrency` questions at once."""
    slack = FakeSlack().start()
    bedrock = FakeBedrock().start()
    slack_limits.apply(slack, limits)
    bedrock.answer = reply_for
    redis = RedisServer().start() if shared else None
    logs.mkdir(parents=True, exist_ok=True)
    bots = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            env = {**bot_env(slack, bedrock, scratch, concurrency),
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
            cpu_before = [cpu_seconds(bot.pid) for bot in bots]
            started = time.monotonic()
            asked, sent, again = [], {}, 0
            every = round(1 / redeliver) if redeliver > 0 else 0
            schedule = sorted([(at, False, index) for index, at in enumerate(arrivals)]
                              + [(at + after, True, index) for index, at in enumerate(arrivals)
                                 if every and index % every == 0])
            for at, redelivery, index in schedule:
                time.sleep(max(started + at - time.monotonic(), 0.0))
                if redelivery:  # Slack did not hear the ack in time: to another instance
                    event, event_id = sent[index]
                    slack.send_event(event, event_id=event_id, retry_attempt=1, connection=(index + 1) % instances)
                    again += 1
                    continue
                channel = f"C{index:04d}"
                event, said = mention(slack, f"<@UBOT> {question(index, workload.words)}", user=f"U{index:04d}",
                                      channel=channel)
                sent_at = time.monotonic()
                sent[index] = (event, slack.send_event(event, connection=index % instances))
                asked.append(Asked(index, channel, said.ts, sent_at, answer(index, workload.words)))
            wait_until_done(slack, asked, started + timeout,
                            ended=lambda waiting: answered_twice(slack, bedrock, waiting))
            cpu = [cpu_seconds(bot.pid) - before for bot, before in zip(bots, cpu_before)]
            peaks = [peak_mb(bot.pid) for bot in bots]
    finally:
        for bot in bots:
            bot.kill()
            bot.wait(10)
        if redis is not None:
            redis.stop()
    ended = time.monotonic()
    figures = measure(asked, slack, bedrock, ended)
    figures.cpu_s, figures.peak_mb, figures.seconds = sum(cpu), max(peaks), ended - started  # all instances'
    threads = replies_by_thread(slack)
    shown = {one.index: replies_shown(threads.get((one.channel, one.thread_ts), []), one.answer) for one in asked}
    asks = asked_counts(bedrock)
    slack.stop()
    bedrock.stop()
    return {**figures.summary(), "instances": instances, "redelivered": again,
            "duplicates": sum(1 for count in shown.values() if count > 1),
            "duplicate_asks": sum(1 for count in asks.values() if count > 1),
            "without_reply": sum(1 for count in shown.values() if count == 0),
            "last_whole_s": (max(figures.whole_at.values()) - started if len(figures.whole_at) == len(asked)
                             else math.nan),
            "instance_cpu_s": cpu, "instance_peak_mb": peaks}


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
    threads = replies_by_thread(slack)
    return twice | {one.index for one in waiting
                    if replies_shown(threads.get((one.channel, one.thread_ts), []), one.answer) >= 2}


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


def save(out: Path, rows: list[dict], table: str, command: str, profiles: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (out / "instances.json").write_text(json.dumps({
        "when": when, "command": command, "profile": ",".join(profiles), "rows": rows,
        "profiles": {name: slack_limits.as_json(slack_limits.resolve(name)) for name in profiles},
    }, indent=2, default=str))
    limits = "\n".join(f"Slack stand-in's limits ({name}): {slack_limits.describe(slack_limits.resolve(name))}"
                       for name in profiles)
    (out / "instances.md").write_text(f"# Several instances: {when}\n\nCommand: `{command}`.\n\n{table}\n\n"
                                      f"{LEGEND}\n\n{limits}\n")


LEGEND = ("Early calls: calls of a method (in a channel, where Slack limits by channel) made by any instance "
          "after a 429 of it reached one of them and before its Retry-After ended. Duplicate replies: threads "
          "where the bot's messages showed the answer's first word more than once (two replies); duplicate "
          "asks: questions the model was asked more than once. A thread with two replies is not complete.")


# -- at scale: --questions N --over S -----------------------------------------------------------------------


def at_scale(args: argparse.Namespace, profiles: list[str], argv: list[str]) -> int:
    """`--questions N --over S`: N questions spread over S seconds, answered by `--bots` instances sharing a
    Redis, once per profile; the table is printed and saved as instances-N.md/json."""
    count, instances = args.questions, args.bots
    if count < 1 or instances < 1 or args.over < 0:
        raise SystemExit("--questions and --bots must be 1 or more, --over 0 or more")
    workload = Workload(count, WORDS)
    arrivals = [args.over * index / count for index in range(count)]
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-scale-smoke-")) if args.smoke else RESULTS)
    try:
        RedisServer()  # before any run: say at once if the binary is missing
    except FileNotFoundError as missing:
        raise SystemExit(str(missing))
    rows = []
    for profile in profiles:
        limits = slack_limits.resolve(profile)
        floor = last_answer_floor(limits, arrivals, WORDS)
        timeout = args.timeout or 2 * max(args.over, floor.seconds) + 120
        print(f"… {profile}: {count} questions over {args.over:g} s, {instances} instances sharing Redis; Slack's "
              f"floor for the last answer {floor.seconds:.1f} s; the run may take {timeout:.0f} s",
              file=sys.stderr, flush=True)
        figures = run(instances, True, workload, limits, arrivals=arrivals, redeliver=args.redeliver,
                      after=args.redeliver_after, overrides=dict(item.split("=", 1) for item in args.set),
                      timeout=timeout, logs=out / "logs" / f"instances-{count}-{profile.replace(':', '-')}",
                      concurrency=math.ceil(count / instances))
        rows.append({"profile": profile, "questions": count, "over_s": args.over, "timeout_s": timeout,
                     "floor_messages_s": floor.messages_s, "floor_model_s": floor.model_s,
                     "floor_last_whole_s": floor.seconds, **figures})
    table = render_scale(rows)
    verdicts = "\n".join(f"- {row['profile']}: " + "; ".join(text for _, text in scale_checks(row)) for row in rows)
    floors = "\n".join(f"- {row['profile']}: {floor_text(row)}" for row in rows)
    print(f"{table}\n\nTargets:\n{verdicts}\n\nSlack's floor for the last answer:\n{floors}")
    save_scale(out, rows, table, f"Targets:\n{verdicts}\n\nSlack's floor for the last answer:\n{floors}",
               " ".join(["python -m bench --instances", *argv]), profiles)
    print(f"\nsaved in {out}", file=sys.stderr)
    return 0 if all(exactly_once(row) for row in rows) else 1


def floor_text(row: dict) -> str:
    """Slack's floor for the last answer, and where it comes from."""
    limits = {limit.method: limit for limit in slack_limits.resolve(row["profile"]) if not limit.per_channel}
    makers = " and ".join(f"{method} {limits[method].per_minute:g}/min, burst {limits[method].burst:g}"
                          for method in ("chat.postMessage", "chat.startStream") if method in limits)
    return (f"{row['floor_last_whole_s']:.1f} s after the first question: {row['questions']} messages, one per answer, "
            f"through {makers}, the questions coming over {row['over_s']:g} s, take {row['floor_messages_s']:.1f} s; "
            f"the model has written the last answer by {row['floor_model_s']:.1f} s")


def exactly_once(row: dict) -> bool:
    """Every question answered, whole, once: none missing, none shown twice, the model asked once each."""
    return (row["complete"] == row["replies"] and row["without_reply"] == 0 and row["duplicates"] == 0
            and row["duplicate_asks"] == 0)


def scale_checks(row: dict) -> list[tuple[bool, str]]:
    """The targets at scale, each (holds, what to print): every question answered exactly once (first), no
    early call, at most 20 429s."""
    once, early, limited = exactly_once(row), row["early"] == 0, row["rate_limited"] <= MAX_429_AT_SCALE
    return [(once, f"{'✓' if once else '✗'} answered exactly once: {row['complete']}/{row['replies']} whole, "
                   f"{row['without_reply']} missing, {row['duplicates']} threads twice, {row['duplicate_asks']} "
                   f"asked twice"),
            (early, f"{'✓' if early else '✗'} early calls {row['early']} (= 0)"),
            (limited, f"{'✓' if limited else '✗'} 429s {row['rate_limited']} (≤ {MAX_429_AT_SCALE})")]


SCALE_COLUMNS = ("bursts", "questions", "complete", "missing / twice (threads, asks)", "429s", "early calls",
                 "last answer whole s (floor)", "first words p50/p95 ms", "staleness p50/p95 s",
                 "Slack calls per reply", "peak MB per instance", "CPU s per instance")


def render_scale(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(SCALE_COLUMNS) + " |", "|" + "|".join("---" for _ in SCALE_COLUMNS) + "|"]
    for row in rows:
        limited = ", ".join(f"{m} {n}" for m, n in row["rate_limited_by_method"].items())
        lines.append("| " + " | ".join([
            row["profile"], f"{row['questions']} over {row['over_s']:g} s, {row['instances']} instances, "
                            f"{row['redelivered']} redelivered",
            f"{row['complete']}/{row['replies']}",
            f"{row['without_reply']} / {row['duplicates']}, {row['duplicate_asks']}",
            f"{row['rate_limited']}" + (f" ({limited})" if limited else ""), str(row["early"]),
            (f"{row['last_whole_s']:.1f} ({row['floor_last_whole_s']:.1f})" if not math.isnan(row["last_whole_s"])
             else f"not all by {row['seconds']:.0f} ({row['floor_last_whole_s']:.1f})"),
            f"{row['first_words_ms_p50']:.0f} / {row['first_words_ms_p95']:.0f}",
            f"{row['staleness_s_p50']:.1f} / {row['staleness_s_p95']:.1f}",
            " · ".join(f"{name} {count:.2f}" for name, count in row["calls_by_method"].items()),
            " / ".join(f"{mb:.0f}" for mb in row["instance_peak_mb"]),
            " / ".join(f"{cpu:.1f}" for cpu in row["instance_cpu_s"]),
        ]).replace("nan", "–") + " |")
    return "\n".join(lines)


def save_scale(out: Path, rows: list[dict], table: str, verdicts: str, command: str, profiles: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    name = f"instances-{rows[0]['questions']}"
    (out / f"{name}.json").write_text(json.dumps({
        "when": when, "command": command, "rows": rows,
        "targets": [{"profile": row["profile"], "checks": [{"holds": holds, "text": text}
                                                             for holds, text in scale_checks(row)]} for row in rows],
        "profiles": {profile: slack_limits.as_json(slack_limits.resolve(profile)) for profile in profiles},
    }, indent=2, default=str))
    limits = "\n".join(f"- **{profile}**: {slack_limits.describe(slack_limits.resolve(profile))}"
                       for profile in profiles)
    (out / f"{name}.md").write_text(f"# Several instances at scale: {when}\n\nCommand: `{command}`.\n\n{table}\n\n"
                                    f"{verdicts}\n\n{SCALE_LEGEND}\n\n{LEGEND}\n\nSlack stand-in's limits:\n"
                                    f"{limits}\n")


SCALE_LEGEND = ("Each question in a channel of its own, question i sent at i·S/N seconds to instance i mod n, a "
                "tenth of them delivered again a second later to the next instance; the instances share a real "
                "redis-server. Last answer whole: seconds from the first question until every word of every "
                "answer had shown (\"not all by\" the run's end if some never did); in brackets Slack's floor for "
                "it (bench/floor.py, last_answer_floor): every answer needs a message of its own, and "
                "chat.postMessage and chat.startStream allow only so many. Missing: questions whose thread never "
                "showed a reply; "
                "twice: threads that showed two replies, and questions the model was asked twice. Peak MB: "
                "each instance's VmHWM; CPU s: each instance's user + system time from the first question to "
                "the end of the run.")
