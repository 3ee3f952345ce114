"""The calls waiting for one budget, in order: by priority, then by when they began to wait (the oldest first,
or the newest first for a call that stands in for another that comes in order of arrival: a status shown
while the first words wait for their turn goes first to the newest question, whose words come last). Pure.

A waiter keeps its place between asks; one told to ask again that has not done so for a while has gone
(its reply ended), and is dropped so that it holds no one back.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import IntEnum
from typing import Hashable

GONE_AFTER = 5.0  # a waiter that has not asked again this long after it was told to is dropped


class Priority(IntEnum):
    FIRST = 0  # a reply's sign of life or first words: someone waits on it and sees nothing yet
    WORDS = 1  # a reply's first words under its sign of life: someone waits on them and sees only the sign
    URGENT = 2  # a new message, the end of an answer, a retry: someone waits on it
    ROUTINE = 3  # an intermediate edit or append: a later one carries the same text and more

    @property
    def urgent(self) -> bool:
        """Someone waits on the call: it may use a budget's last tokens, and probe beyond them."""
        return self < Priority.ROUTINE


@dataclass
class _Waiter:
    priority: Priority
    since: float  # when it started waiting: earlier goes first, within a priority ...
    order: int  # ties
    ask_again_at: float  # when it was told to ask again
    newest_first: bool = False  # ... unless it stands in for a call that comes in order of arrival

    @property
    def rank(self) -> tuple[int, float, int]:
        return (self.priority, -self.since, -self.order) if self.newest_first else (self.priority, self.since,
                                                                                   self.order)


class Queue:
    def __init__(self) -> None:
        self._waiting: dict[Hashable, _Waiter] = {}
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._waiting)

    def join(self, key: Hashable, priority: Priority, now: float, ask_again_at: float,
             newest_first: bool = False, since: float | None = None) -> None:
        """`key` waits (or, waiting, asks again): it keeps its place; a higher priority moves it up. `since`:
        when its call first asked, if before `now` (a retry keeps the place its first attempt had)."""
        waiter = self._waiting.get(key)
        if waiter is None:
            self._waiting[key] = _Waiter(priority, now if since is None else min(since, now), next(self._order),
                                         ask_again_at, newest_first)
        else:
            waiter.priority = min(waiter.priority, priority)
            waiter.ask_again_at = ask_again_at

    def ahead_of(self, key: Hashable) -> int:
        """How many waiters go before `key` (which waits)."""
        rank = self._waiting[key].rank
        return sum(1 for other in self._waiting.values() if other.rank < rank)

    def at_or_above(self, priority: Priority) -> int:
        """How many waiters a newcomer at `priority` would have ahead of it."""
        return sum(1 for other in self._waiting.values() if other.priority <= priority)

    def ask_again_at(self, key: Hashable, at: float) -> None:
        waiter = self._waiting.get(key)
        if waiter is not None:
            waiter.ask_again_at = at

    def upgrade(self, key: Hashable, priority: Priority) -> None:
        """`key`, waiting, is now wanted at `priority` (it keeps its place among those of that priority)."""
        waiter = self._waiting.get(key)
        if waiter is not None:
            waiter.priority = min(waiter.priority, priority)

    def leave(self, key: Hashable) -> None:
        self._waiting.pop(key, None)

    def drop_gone(self, now: float) -> None:
        for key in [key for key, waiter in self._waiting.items() if now > waiter.ask_again_at + GONE_AFTER]:
            del self._waiting[key]
