"""One instance: the state lives in this process. Slack's budgets need nothing here beyond the pacer's own
(the process's budgets are the workspace's), so `take` and `pause` have nothing to add."""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from typing import Callable, Sequence

from bot.shared.base import NOTHING_SHARED, Bucket, Lease, SharedState, Taken

EVENT_MEMORY = 3600.0  # seconds an event is remembered: Slack's last redelivery comes minutes after the first
EVENT_CAPACITY = 10_000  # events remembered at most (the oldest are forgotten first)


class LocalState(SharedState):
    def __init__(self, clock: Callable[[], float] = time.monotonic, memory: float = EVENT_MEMORY,
                 capacity: int = EVENT_CAPACITY) -> None:
        self._clock = clock
        self._memory = memory
        self._capacity = capacity
        self._claimed: OrderedDict[str, float] = OrderedDict()
        self._held: Counter[str] = Counter()
        self._kept: dict[str, tuple[str, float]] = {}  # key → (value, until)
        self._lock = threading.Lock()

    def claim(self, keys: Sequence[str]) -> bool:
        now = self._clock()
        with self._lock:
            while self._claimed and (
                len(self._claimed) > self._capacity or next(iter(self._claimed.values())) < now - self._memory
            ):
                self._claimed.popitem(last=False)
            if any(key in self._claimed for key in keys):
                return False
            for key in keys:
                self._claimed[key] = now
            return True

    def take(self, buckets: Sequence[Bucket], probe: bool = False, call: str = "") -> Taken:
        return NOTHING_SHARED

    def pause(self, buckets: Sequence[Bucket], seconds: float, call: str = "") -> None:
        pass

    def answered(self, names: Sequence[str], call: str = "") -> None:
        pass

    def lease(self, holder: str, limit: int) -> Lease | None:
        with self._lock:
            if self._held[holder] >= limit:
                return None
            self._held[holder] += 1
        return _LocalLease(self, holder)

    def _release(self, holder: str) -> None:
        with self._lock:
            self._held[holder] -= 1
            if self._held[holder] <= 0:
                del self._held[holder]

    def put(self, key: str, value: str, seconds: float) -> None:
        now = self._clock()
        with self._lock:
            self._kept = {kept: entry for kept, entry in self._kept.items() if entry[1] > now}
            self._kept[key] = (value, now + seconds)

    def add(self, key: str, amount: int, seconds: float) -> int:
        now = self._clock()
        with self._lock:
            value, until = self._kept.get(key, ("0", 0.0))
            if until <= now:
                value, until = "0", now + seconds
            total = int(value) + amount
            self._kept[key] = (str(total), until)
        return total

    def get(self, key: str) -> str | None:
        with self._lock:
            value, until = self._kept.get(key, (None, 0.0))
        return value if until > self._clock() else None

    @property
    def status(self) -> str:
        return "local"


class _LocalLease(Lease):
    def __init__(self, state: LocalState, holder: str) -> None:
        self._state = state
        self._holder = holder
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._state._release(self._holder)
