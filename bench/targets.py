"""The issue's targets for this bot, checked against the benchmark's rows, and the worst of several seeds.

Targets by workload (replies at once, each in a channel of its own):

- every workload: every reply complete, and no call inside a Retry-After (0 early calls);
- 100 × 80 words: at most 10 429s; sign of life p95 ≤ 1 s; first words p95 ≤ 5 s; staleness p95 ≤ 30 s;
- 20 × 200 words: first words p95 ≤ 2 s; staleness p95 ≤ 8 s;
- 1 reply: first words ≤ 0.1 s; staleness p95 ≤ 0.3 s.

Where Slack's floor (`floor.slack_floor`: what no bot could beat on that workspace) is above a sign-of-life
or first-words target, the target that applies is the floor + 1 s instead: a workspace too tight for the
target is not the bot's fault, but the bot must still come within a second of what it allows. Both are
printed. Workloads are told apart by their replies at once (the smoke's 1 × 30 words is checked as 1 reply).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bench.limits import is_random

FLOOR_SLACK_SECONDS = 1.0  # how far above Slack's floor a figure may be, where the floor is above the target
MAX_429 = {100: 10}  # replies at once → 429s allowed
# replies at once → (row key, name, target in seconds, the row key of Slack's floor for it or None)
TIMES = {
    100: (("sign_of_life_ms_p95", "sign of life p95", 1.0, "floor_sign_of_life_ms_p95"),
          ("first_words_ms_p95", "first words p95", 5.0, "floor_first_words_ms_p95"),
          ("staleness_s_p95", "staleness p95", 30.0, None)),
    20: (("first_words_ms_p95", "first words p95", 2.0, "floor_first_words_ms_p95"),
         ("staleness_s_p95", "staleness p95", 8.0, None)),
    1: (("first_words_ms_p95", "first words p95", 0.1, "floor_first_words_ms_p95"),
        ("staleness_s_p95", "staleness p95", 0.3, None)),
}
NAMES = ("complete", "early calls", "429s", "sign of life p95", "first words p95", "staleness p95")


@dataclass(frozen=True)
class Check:
    """One target, for one row: whether it holds, and what to print (the figure and what it is held to)."""

    name: str
    holds: bool
    text: str


def seconds(row: dict, key: str) -> float:
    """A row's figure in seconds (the rows keep sign of life and first words in milliseconds)."""
    value = row.get(key, math.nan)
    return value / 1000 if key.endswith("_ms_p95") else value


def check(row: dict) -> list[Check]:
    """The targets that apply to a row of `python -m bench` (see the module's docstring)."""
    replies = row["replies"]
    checks = [Check("complete", row["complete"] == replies, f"{mark(row['complete'] == replies)} "
                                                            f"{row['complete']}/{replies}"),
              Check("early calls", row["early"] == 0, f"{mark(row['early'] == 0)} {row['early']} (= 0)")]
    if replies in MAX_429:
        holds = row["rate_limited"] <= MAX_429[replies]
        checks.append(Check("429s", holds, f"{mark(holds)} {row['rate_limited']} (≤ {MAX_429[replies]})"))
    for key, name, target, floor_key in TIMES.get(replies, ()):
        figure = seconds(row, key)
        floor = seconds(row, floor_key) if floor_key else math.nan
        limit = floor + FLOOR_SLACK_SECONDS if floor > target else target
        holds = figure <= limit  # False for NaN: nothing was shown
        held_to = f"target {target:g} s"
        if floor_key:
            held_to += f"; floor {floor:.2f} s" + (f" + {FLOOR_SLACK_SECONDS:g} s applies" if floor > target else "")
        checks.append(Check(name, holds, f"{mark(holds)} {figure:.2f} s ({held_to})"))
    return checks


def mark(holds: bool) -> str:
    return "✓" if holds else "✗"


def failures(row: dict) -> int:
    return sum(not one.holds for one in check(row))


def worst_seeds(rows: list[dict]) -> list[dict]:
    """For each workload and strategy run on two random seeds or more, the row of the worst seed: the one
    that fails the most targets, and of those the one with the slowest first words (p95); marked with
    `worst_of` (how many seeds ran) and profile "worst seed: random:N"."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if is_random(row["profile"]):
            groups.setdefault((row["workload"], row["strategy"]), []).append(row)
    worst = []
    for group in groups.values():
        if len(group) < 2:
            continue
        chosen = max(group, key=lambda row: (failures(row), _slowness(row["first_words_ms_p95"])))
        worst.append({**chosen, "profile": f"worst seed: {chosen['profile']}", "seed": chosen["profile"],
                      "worst_of": len(group)})
    return worst


def _slowness(value: float) -> float:
    return math.inf if math.isnan(value) else value


def render(rows: list[dict]) -> str:
    """A table of which targets hold, one line a row, '–' where a target does not apply."""
    header = "| bursts | replies at once | strategy | targets held | " + " | ".join(NAMES) + " |"
    lines = [header, "|" + "|".join("---" for _ in range(4 + len(NAMES))) + "|"]
    for row in rows:
        checks = {one.name: one for one in check(row)}
        held = sum(one.holds for one in checks.values())
        lines.append("| " + " | ".join([row["profile"], row["workload"], row["strategy"], f"{held}/{len(checks)}",
                                        *(checks[name].text if name in checks else "–" for name in NAMES)])
                     .replace("nan", "–") + " |")
    return "\n".join(lines)


def as_json(row: dict) -> dict:
    return {"profile": row["profile"], "workload": row["workload"], "strategy": row["strategy"],
            "checks": [asdict(one) for one in check(row)]}
