"""The pacers compared: this bot's, and the pacing rules other Slack LLM bots use, run inside this bot.

Only the rule that decides when to edit changes; everything else is this bot's (the stream read apart from
Slack, one call in flight per reply, the newest text in every edit, Slack's Retry-After honoured for the
whole process, posts and final edits retried). The peers as shipped have none of that, so they would do
worse than they do here: the comparison is kind to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from bot.app import standard_pacing
from bot.slack.pacing import EverySeconds, Pacer, Pacing
from bot.settings import Settings


@dataclass(frozen=True)
class EveryDeltas:
    """An edit once `count` deltas have come since the last one (the first words too)."""

    count: int

    def due_at(self, *, last_edit_at: float, deltas: int, chars: int, first: bool) -> float | None:
        return -math.inf if deltas >= self.count else None


@dataclass(frozen=True)
class EveryChars:
    """An edit once `count` new characters have come since the last one (the first words too)."""

    count: int

    def due_at(self, *, last_edit_at: float, deltas: int, chars: int, first: bool) -> float | None:
        return -math.inf if chars >= self.count else None


# name → (where the rule comes from, how to build it for the bot's settings)
PACERS: dict[str, tuple[str, Callable[[Settings], Pacing]]] = {
    "this bot": (
        "shared workspace budget, 1 s per reply at most, priorities, AIMD",
        standard_pacing,
    ),
    "every 20 chunks": (
        "seratch/ChatGPT-in-Slack",
        lambda settings: Pacing(EveryDeltas(20), Pacer()),
    ),
    "every 20 chars": (
        "iwamot/collmbo",
        lambda settings: Pacing(EveryChars(20), Pacer()),
    ),
    "every 10 deltas inline": (
        "KyMidd/SlackAIBotServerless: the stream waits for each edit",
        lambda settings: Pacing(EveryDeltas(10), Pacer(), inline=True),
    ),
    "fixed 1 s": (
        "each reply on its own: first words at once, then one edit a second",
        lambda settings: Pacing(EverySeconds(1.0), Pacer()),
    ),
}
