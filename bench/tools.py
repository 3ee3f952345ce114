"""`python -m bench --tools`: questions the model answers after a Knowledge Base search that takes 300 ms.

For each Slack profile and workload (1 and 20 questions at once, each in a channel of its own), it starts the
Slack, Bedrock and Knowledge Bases stand-ins, runs the real bot (`python -m bot`, default settings and one
knowledge base), and has the model ask for one search per question, then answer from it with a citation. It
measures from what the stand-ins recorded:

- whole: every answer shows all its words (and its sources line); early calls; 429s;
- **tool round**: from the end of the model's first stream (it asked for the search) to the second request,
  less the search's own time: what the bot adds to a tool round. Target: at most one Slack round trip
  (`--round-trip`, default 0.1 s: the bot must not wait on Slack between the model and its tools);
- first words after the search (from the second stream's first token to Slack showing a word), and whether
  a task card showed the search while it ran.

  python -m bench --tools                                   small, strict and random:3; 1 and 20 at once
  python -m bench --tools --profiles small --replies 20 --round-trip 0.15
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from bench import limits as slack_limits
from bench.__main__ import RESULTS, ask_at_once, bot_env, started_bot, wait_until_done
from bench.measure import Asked, percentile, replies_by_thread, shows_whole_answer
from bench.workload import DELTA_SECONDS, FIRST_TOKEN_SECONDS, TAG, Workload, answer
from standins.bedrock import FakeBedrock, Reply, tool_use
from standins.knowledge import FakeKnowledgeBases, Passage, web
from standins.slack import FakeSlack

KNOWLEDGE_BASE = "KBBENCH001"
SEARCH = f"search_knowledge_base_{KNOWLEDGE_BASE}"
MAX_429S = 5
WORKLOADS = {1: Workload(1, 200), 20: Workload(20, 200)}


def question_of(request) -> tuple[int, int]:
    """The question number and answer length of a model request (its first user turn: see `question`)."""
    parts = request.body["messages"][0]["content"][0]["text"].split()
    return int(parts[-4]), int(parts[-2])


def model(request) -> Reply:
    """First a search for the question; then its answer, citing what the search found."""
    index, words = question_of(request)
    if not request.tool_results:
        return tool_use([(f"tooluse_{index}", SEARCH, {"query": f"benchmark policy {index}"})])
    deltas = list(answer(index, words).deltas)
    return Reply.deltas(deltas[:-1] + [deltas[-1] + " [1]"], delay=DELTA_SECONDS, first_delay=FIRST_TOKEN_SECONDS)


def run(workload: Workload, limits: tuple, *, round_trip: float, search_seconds: float, timeout: float,
        log_path: Path) -> dict:
    slack = FakeSlack().start()
    slack.round_trip = round_trip
    bedrock = FakeBedrock().start()
    bedrock.answer = model
    knowledge = FakeKnowledgeBases().start()
    knowledge.delay = search_seconds
    knowledge.add(KNOWLEDGE_BASE, Passage("The benchmark policy says what it says.", web("https://wiki.example/policy")))
    slack_limits.apply(slack, limits)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, open(log_path, "wb") as log:
        env = {**bot_env(slack, bedrock, scratch, workload.replies),
               "BEDROCK_KNOWLEDGE_BASE_IDS": f"{KNOWLEDGE_BASE}=the benchmark handbook",
               "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME": knowledge.endpoint_url}
        with started_bot(slack, ["-m", "bot"], env, scratch, log, f"see {log_path}"):
            started = time.monotonic()
            asked = ask_at_once(slack, workload)
            wait_until_done(slack, asked, started + timeout)
    row = measure(asked, slack, bedrock, knowledge)
    slack.stop()
    bedrock.stop()
    knowledge.stop()
    return row


def measure(asked: list[Asked], slack: FakeSlack, bedrock: FakeBedrock, knowledge: FakeKnowledgeBases) -> dict:
    by_question: dict[int, list] = {}
    for request in bedrock.requests:
        by_question.setdefault(question_of(request)[0], []).append(request)
    searches = {int(r.query.split()[-1]): r for r in knowledge.retrievals}
    threads = replies_by_thread(slack)
    overhead, first_words, carded, whole = [], [], 0, 0
    for one in asked:
        messages = threads.get((one.channel, one.thread_ts), [])
        whole += shows_whole_answer(messages, one.answer) and any("Sources" in m.text for m in messages)
        requests, search = by_question.get(one.index, []), searches.get(one.index)
        if len(requests) >= 2 and search is not None and search.ended_at and requests[0].ended_at:
            overhead.append((requests[1].at - requests[0].ended_at) - (search.ended_at - search.at))
            if len(requests[1].sent_at) > 1:
                shown = sorted(at for m in messages for at, text in [(m.posted_at, m.posted_text), *m.edits]
                               if TAG.search(text))
                if shown:
                    first_words.append(shown[0] - requests[1].sent_at[1])
        carded += any(update["status"] in ("pending", "in_progress") and at < (search.ended_at if search else 0)
                      for m in messages for at, update in m.task_updates)
    with slack.lock:
        refused = Counter(call.method for call, status, _ in slack.responses if status == 429)
        early = len(slack.early_calls)
        calls = Counter(call.method for call in slack.calls)
    limited = sum(refused.values())
    return {"replies": len(asked), "complete": whole, "early": early, "rate_limited": limited,
            "tool_round_ms_p50": 1000 * percentile(overhead, 50), "tool_round_ms_p95": 1000 * percentile(overhead, 95),
            "first_words_ms_p95": 1000 * percentile(first_words, 95), "cards_while_searching": carded,
            "rate_limited_by_method": dict(refused), "calls_by_method": dict(calls)}


def verdict(row: dict, round_trip: float) -> list[tuple[str, bool]]:
    allowed_ms = 1000 * max(round_trip, 0.05)  # one Slack round trip (over loopback, 50 ms of the bot's own work)
    return [("whole", row["complete"] == row["replies"]), ("0 early", row["early"] == 0),
            (f"429s ≤ {MAX_429S}", row["rate_limited"] <= MAX_429S),
            (f"tool round p95 ≤ {allowed_ms:.0f} ms", row["tool_round_ms_p95"] <= allowed_ms)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench --tools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", default="small,strict,random:3")
    parser.add_argument("--replies", default="1,20")
    parser.add_argument("--round-trip", type=float, default=0.1)
    parser.add_argument("--search-seconds", type=float, default=0.3)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    profiles = [name for spec in args.profiles.split(",") for name in slack_limits.expand(spec.strip())]
    rows, failed = [], False
    for profile in profiles:
        for replies in (int(n) for n in args.replies.split(",")):
            workload = WORKLOADS[replies]
            print(f"… {profile}, {workload.name}, one search of {args.search_seconds * 1000:.0f} ms each", flush=True)
            row = run(workload, slack_limits.resolve(profile), round_trip=args.round_trip,
                      search_seconds=args.search_seconds, timeout=args.timeout,
                      log_path=args.out / "logs" / f"tools-{profile.replace(':', '-')}-{replies}.log")
            checks = verdict(row, args.round_trip)
            failed = failed or not all(ok for _, ok in checks)
            rows.append({"profile": profile, "workload": workload.name, **row,
                         "targets": " · ".join(("✓ " if ok else "✗ ") + name for name, ok in checks)})
    table = ["| profile | replies at once | whole | tool round p50/p95 ms | first words after the search p95 ms | "
             "cards while searching | 429s | early | targets |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        table.append(f"| {row['profile']} | {row['workload']} | {row['complete']}/{row['replies']} | "
                     f"{row['tool_round_ms_p50']:.0f} / {row['tool_round_ms_p95']:.0f} | "
                     f"{row['first_words_ms_p95']:.0f} | "
                     f"{row['cards_while_searching']}/{row['replies']} | {row['rate_limited']} | {row['early']} | "
                     f"{row['targets']} |")
    text = "\n".join(table)
    print(text)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench --tools " + " ".join(argv)
    (args.out / "tools.md").write_text(f"# Tools benchmark: {when}\n\nCommand: `{command.strip()}`; Slack round trip "
                                       f"{args.round_trip * 1000:.0f} ms; each search {args.search_seconds * 1000:.0f} "
                                       f"ms.\n\n{text}\n")
    (args.out / "tools.json").write_text(json.dumps({"when": when, "command": command.strip(), "rows": rows}, indent=1))
    return 1 if failed else 0
