"""When a message that shows part of the answer wants its next update: a small strategy object, passed in.

A sink asks its cadence after every update (an edit, an append) when the next is wanted, given when the last
one was made and what the model has sent since (`layout.Pending`); the sink still makes one call at a time, takes
its turn in Slack's budgets, and carries the newest text in each call. The bot's own cadence is `Every`:
by the clock, never by how the text came (a fast model does not make more calls, a slow one is not held
back). Other rules, such as a number of chunks or characters, are cadences too (`EveryChunks`,
`EveryChars`), so that a sink never needs to know which rule it follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from bot.layout.layout import Pending


class Cadence(Protocol):
    def next_update_at(self, last_update_at: float, pending: Pending) -> float | None:
        """When the next update is wanted (on the sink's clock; -inf: at once), or None: not until more text."""

    def wakes(self, pending: Pending) -> bool:
        """Whether text that just came (`pending` now) may make an update due sooner than the time
        `next_update_at` gave before it came."""


@dataclass(frozen=True)
class Every:
    """At most one update every `seconds`, by the clock."""

    seconds: float

    def next_update_at(self, last_update_at: float, pending: Pending) -> float | None:
        return last_update_at + self.seconds

    def wakes(self, pending: Pending) -> bool:
        return False  # the clock alone decides; the first text after a call wakes the writer anyway


@dataclass(frozen=True)
class EveryChunks:
    """An update once the model has sent `count` chunks since the last one."""

    count: int

    def next_update_at(self, last_update_at: float, pending: Pending) -> float | None:
        return -math.inf if pending.chunks >= self.count else None

    def wakes(self, pending: Pending) -> bool:
        return pending.chunks >= self.count


@dataclass(frozen=True)
class EveryChars:
    """An update once the model has sent `count` characters since the last one."""

    count: int

    def next_update_at(self, last_update_at: float, pending: Pending) -> float | None:
        return -math.inf if pending.chars >= self.count else None

    def wakes(self, pending: Pending) -> bool:
        return pending.chars >= self.count
