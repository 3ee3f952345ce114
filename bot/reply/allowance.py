"""A person's daily allowance of model tokens (`DAILY_TOKENS_PER_PERSON`), counted across instances.

Each reply's tokens (in and out) are added to the person's count for the day (UTC) in the shared state; once the
count reaches the allowance, the person's next questions are refused politely, saying when it resets. A reply
under way finishes: the count is checked before an answer starts, not during it.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Callable

from bot.shared.base import SharedState

KEEP = 2 * 24 * 3600.0  # seconds a day's count is kept (past its day, for clocks a little apart)


class Allowance:
    def __init__(self, state: SharedState, per_day: int, *, now: Callable[[], float] = time.time) -> None:
        self._state = state
        self.per_day = per_day
        self._now = now

    def over(self, person: str) -> datetime | None:
        """When `person`'s allowance resets, if today's is used up; None if they may ask."""
        day = self._day()
        if self._state.add(_key(person, day), 0, KEEP) < self.per_day:
            return None
        return datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc)

    def spent(self, person: str, tokens: int) -> None:
        self._state.add(_key(person, self._day()), max(tokens, 0), KEEP)

    def _day(self):
        return datetime.fromtimestamp(self._now(), timezone.utc).date()


def _key(person: str, day) -> str:
    return f"tokens:{person}:{day.isoformat()}"
