"""The Slack the benchmark runs against: each method's rate limit, as the stand-in enforces it.

Rates are Slack's documented tiers (per app and workspace): chat.update Tier 3 (50 a minute),
chat.startStream and chat.stopStream Tier 2 (20), chat.appendStream Tier 4 (100). chat.postMessage is in the
special tier: about one a second in each channel, plus a workspace ceiling Slack does not publish;
assistant.threads.setStatus is special too, and its numbers are not published at all. Slack publishes no
burst sizes, so each profile picks them: `small` (a tenth of a minute's calls, at least 2) and `large` (a
whole minute's). For the numbers Slack does not publish, every profile assumes one a second per channel and
a workspace ceiling of 600 a minute (bursts of 100, or 300 with `large`); `strict` shrinks those bursts to 20
as well, to show what a workspace with a low ceiling looks like.

Those are guesses. `random:SEED` draws a workspace from a family around them instead (see `draw`), so that a
bot can be measured on many workspaces it was not tuned for; `expand` reads a list of profile names such as
`small,strict,random:1-5`, and `resolve` gives any name's limits.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import asdict, dataclass

from standins.slack import FakeSlack

TIERS = {"chat.update": 50, "chat.startStream": 20, "chat.stopStream": 20, "chat.appendStream": 100,
         "chat.postEphemeral": 100}  # calls a minute
SPECIAL = ("chat.postMessage", "assistant.threads.setStatus")
SPECIAL_PER_MINUTE = 600  # the assumed workspace ceiling of the special-tier methods
CHANNEL_PER_MINUTE = 60  # one a second in each channel: published for chat.postMessage, assumed for the status


@dataclass(frozen=True)
class Limit:
    method: str
    per_minute: float
    burst: float
    per_channel: bool = False

    def __str__(self) -> str:
        where = " per channel" if self.per_channel else ""
        return f"{self.method}{where}: {self.per_minute:g}/min, burst {self.burst:g}"


def _profile(tier_burst, channel_burst: float, special_burst: float) -> tuple[Limit, ...]:
    return (
        *(Limit(method, rate, tier_burst(rate)) for method, rate in TIERS.items()),
        *(Limit(method, CHANNEL_PER_MINUTE, channel_burst, per_channel=True) for method in SPECIAL),
        *(Limit(method, SPECIAL_PER_MINUTE, special_burst) for method in SPECIAL),
    )


PROFILES: dict[str, tuple[Limit, ...]] = {
    "small": _profile(lambda rate: max(2, rate // 10), channel_burst=1, special_burst=100),
    "large": _profile(lambda rate: rate, channel_burst=3, special_burst=300),
    "strict": _profile(lambda rate: max(2, rate // 10), channel_burst=1, special_burst=20),
}

# The random family (`draw`): how far each guess may be off.
RATE_SPREAD = 5  # an unpublished rate: from a fifth to five times the assumed one
WORKSPACE_BURSTS = (5, 300)  # every workspace burst (Slack publishes none), whole numbers
CHANNEL_BURSTS = (1, 3)  # the per-channel bursts of chat.postMessage and assistant.threads.setStatus
RANDOM = re.compile(r"random:(\d+)(?:-(\d+))?")


def draw(seed: int) -> tuple[Limit, ...]:
    """A workspace Slack might be, drawn from `seed` (the same seed gives the same limits, on any machine).

    What Slack publishes stays as published: the tiered methods' rates (`TIERS`) and chat.postMessage's one a
    second in each channel. What it does not publish is drawn, each independently:

    - the workspace ceilings of chat.postMessage and assistant.threads.setStatus (assumed 600 a minute) and
      the status's rate in each channel (assumed 60): log-uniform from a fifth to five times the assumption
      (rounded to a tenth of a call a minute);
    - every workspace burst, of every method (Slack publishes none): log-uniform whole numbers from 5 to 300
      (the integer part of a log-uniform draw on [5, 301));
    - the per-channel bursts of chat.postMessage and of the status: 1, 2 or 3, equally likely.

    The limits come in the same order as the fixed profiles' (tiers, then per channel, then workspace
    ceilings), so that they print alike.
    """
    rng = random.Random(seed)

    def log_uniform(low: float, high: float) -> float:
        return math.exp(rng.uniform(math.log(low), math.log(high)))

    def rate(assumed: float) -> float:
        return round(log_uniform(assumed / RATE_SPREAD, assumed * RATE_SPREAD), 1)

    def workspace_burst() -> int:
        low, high = WORKSPACE_BURSTS
        return min(high, int(log_uniform(low, high + 1)))

    tiered = tuple(Limit(method, per_minute, workspace_burst()) for method, per_minute in TIERS.items())
    post_channel = Limit("chat.postMessage", CHANNEL_PER_MINUTE, rng.randint(*CHANNEL_BURSTS), per_channel=True)
    status_channel = Limit("assistant.threads.setStatus", rate(CHANNEL_PER_MINUTE), rng.randint(*CHANNEL_BURSTS),
                           per_channel=True)
    ceilings = tuple(Limit(method, rate(SPECIAL_PER_MINUTE), workspace_burst()) for method in SPECIAL)
    return (*tiered, post_channel, status_channel, *ceilings)


def expand(spec: str) -> list[str]:
    """Profile names from a comma-separated list, where `random:A-B` stands for random:A … random:B.
    ValueError for a name that is neither a fixed profile nor `random:SEED` (or an empty or reversed range)."""
    names = []
    for part in (piece.strip() for piece in spec.split(",")):
        match = RANDOM.fullmatch(part)
        if match and match.group(2) is not None:
            first, last = int(match.group(1)), int(match.group(2))
            if last < first:
                raise ValueError(f"{part}: the range runs backwards")
            names.extend(f"random:{seed}" for seed in range(first, last + 1))
        elif match or part in PROFILES:
            names.append(part)
        else:
            raise ValueError(f"unknown profile {part!r}: one of {', '.join(PROFILES)}, random:SEED or random:A-B")
    return names


def resolve(name: str) -> tuple[Limit, ...]:
    """A profile's limits: a fixed one by name, or `random:SEED` drawn (see `draw`)."""
    match = RANDOM.fullmatch(name)
    if match and match.group(2) is None:
        return draw(int(match.group(1)))
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}") from None


def is_random(name: str) -> bool:
    return RANDOM.fullmatch(name) is not None


def describe(limits: tuple[Limit, ...]) -> str:
    """One line a reader can check: every method's rate and burst."""
    return "; ".join(map(str, limits))


def as_json(limits: tuple[Limit, ...]) -> list[dict]:
    return [asdict(limit) for limit in limits]


def apply(slack: FakeSlack, limits: tuple[Limit, ...]) -> None:
    for limit in limits:
        slack.limit(limit.method, burst=limit.burst, per_second=limit.per_minute / 60, per_channel=limit.per_channel)
