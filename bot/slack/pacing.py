"""Pacing: when each reply wants to edit its message, and how all replies share Slack's budget for edits.

Slack counts `chat.update` calls per app and workspace (Tier 3: about 50 a minute, short bursts tolerated),
not per message. A reply that paces only itself is fine alone and trips 429s as soon as twenty of them
stream at once. So two things decide when an edit goes out:

- the reply's `Cadence` says when it would like to edit (ours: the first words at once, then at most once
  per interval);
- the process-wide `Pacer` says when it may. Each method has a `Budget`: a token bucket whose rate starts
  at the configured ceiling, halves when Slack answers 429 (and the method pauses for the `Retry-After`),
  and climbs back a step with every call that lands (additive increase, multiplicative decrease). Replies
  queue for tokens in order of priority, then of arrival: new messages, first words, final texts and
  retries are URGENT and may use the last tokens; an intermediate edit is ROUTINE and leaves a small
  reserve for them. A reply that got its turn queues again at the back, so replies streaming at the same
  time share the budget evenly. One call of a budgeted method is in flight at a time: Slack answers in a
  fraction of the second a token takes to come, and a call sent while another one is being refused would
  reach Slack inside the Retry-After (which prolongs the penalty).

`Budget` is pure (the caller passes the time); `Pacer` adds a lock and a clock for the threads of the bot.
One process serves one workspace (one bot token), so the process's budget is the workspace's.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Callable, Hashable, Protocol

PACED_METHOD = "chat.update"  # the method every streaming reply spends; the others only honour Retry-After

_DECREASE = 0.5  # a 429 multiplies the rate by this
_INCREASE = 0.05  # a call that lands adds this share of the ceiling back
_FLOOR = 0.1  # the rate never drops below this share of the ceiling
_RECHECK = 1.0  # a waiter asks again at least this often (waiters ahead of it may have left)
_MIN_WAIT = 0.001
_GONE_AFTER = 5.0  # a waiter that has not asked again this long after it was told to is dropped from the queue
_SLOW_CALL = 2.0  # a call in flight this long no longer holds the next one back
_NEXT_IN_LINE = 0.01  # how often a waiter whose token is there checks whether the call in flight is done


class Priority(IntEnum):
    URGENT = 0  # a new message, a reply's first words, its final text, a retry: someone is waiting on it
    ROUTINE = 1  # an intermediate edit: a newer one would carry the same text and more


class Cadence(Protocol):
    """When a reply would like to edit its streaming message, before any budget is consulted."""

    def due_at(self, *, last_edit_at: float, deltas: int, chars: int, first: bool) -> float | None:
        """The time from which an edit is wanted, or None: not until more text comes. `deltas` and `chars`:
        what the model sent since the last edit; `first`: the message still shows no answer."""


@dataclass(frozen=True)
class EverySeconds:
    """The first words at once, then at most one edit per `seconds`, however the text arrives."""

    seconds: float

    def due_at(self, *, last_edit_at: float, deltas: int, chars: int, first: bool) -> float | None:
        return -math.inf if first else last_edit_at + self.seconds


@dataclass
class _Waiter:
    priority: Priority
    since: float  # when it started waiting: earlier goes first, within a priority
    order: int  # ties
    ask_again_at: float  # when it was told to ask again


class Budget:
    """The calls of one Slack method in one workspace. `per_minute=None`: no budget of our own, only
    Slack's Retry-After pauses, and no limit on calls in flight."""

    def __init__(self, per_minute: float | None = None, *, burst: float = 10, reserve: int = 2,
                 now: float = 0.0) -> None:
        self.ceiling = None if per_minute is None else per_minute / 60.0  # calls per second
        self.rate = self.ceiling
        self.burst = float(burst)
        self.reserve = reserve
        self.tokens = self.burst
        self.paused_until = -math.inf
        self._updated = now
        self._waiting: dict[Hashable, _Waiter] = {}
        self._order = itertools.count()
        self._in_flight: dict[Hashable, float] = {}  # who holds a call not yet answered → when it was granted

    # -- turns -------------------------------------------------------------------------------------

    def take(self, key: Hashable, priority: Priority, now: float) -> float:
        """Ask for a call now. 0.0: go (a token is spent); otherwise the seconds to wait before asking again.
        `key` keeps its place in the queue between asks; a higher priority moves it up."""
        self._refill(now)
        if now < self.paused_until:
            wait = self.paused_until - now
            if self.ceiling is not None:
                self._enqueue(key, priority, now, now + wait)
            return wait
        if self.ceiling is None:
            return 0.0
        self._drop_gone(now)
        waiter = self._enqueue(key, priority, now, now)
        ahead = sum(1 for other in self._waiting.values() if _rank(other) < _rank(waiter))
        needed = ahead + 1 + (self.reserve if priority is Priority.ROUTINE else 0)
        if self.tokens >= needed:
            # A slow call (past _SLOW_CALL) stops holding the others back; its answer, when it comes, frees nothing.
            self._in_flight = {holder: at for holder, at in self._in_flight.items() if now - at < _SLOW_CALL}
            if not self._in_flight and ahead == 0:  # the one call slot goes strictly in order of rank
                self.tokens -= 1
                del self._waiting[key]
                self._in_flight[key] = now
                return 0.0
            wait = _NEXT_IN_LINE * (ahead + 1)
        else:
            wait = min(max((needed - self.tokens) / self.rate, _MIN_WAIT), _RECHECK)
        waiter.ask_again_at = now + wait
        return wait

    def withdraw(self, key: Hashable) -> None:
        """`key` no longer wants a call (its reply ended, or it wants another method)."""
        self._waiting.pop(key, None)

    def refund(self, now: float, key: Hashable = None) -> None:
        """The turn granted to `key` was not used."""
        self._refill(now)
        self._answered(key)
        if self.ceiling is not None:
            self.tokens = min(self.tokens + 1, self.burst)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    # -- what Slack answered -----------------------------------------------------------------------

    def succeeded(self, now: float, key: Hashable = None) -> None:
        """The call of `key` landed: the rate climbs back a step toward the ceiling."""
        self._answered(key)
        if self.ceiling is not None:
            self._refill(now)
            self.rate = min(self.rate + self.ceiling * _INCREASE, self.ceiling)

    def rate_limited(self, now: float, retry_after: float, key: Hashable = None) -> None:
        """Slack answered 429: nothing of this method before `retry_after` has passed, and a slower pace
        after (once per pause: the calls already in flight when it began say nothing new)."""
        self._answered(key)
        self._refill(now)
        if self.ceiling is not None and now >= self.paused_until:
            self.rate = max(self.rate * _DECREASE, self.ceiling * _FLOOR)
        self.tokens = 0.0
        self.paused_until = max(self.paused_until, now + retry_after)

    def failed(self, now: float, key: Hashable = None) -> None:
        """The call of `key` failed otherwise (an error, no answer): it says nothing about the pace."""
        self._answered(key)

    # -- internals ---------------------------------------------------------------------------------

    def _answered(self, key: Hashable) -> None:
        self._in_flight.pop(key, None)

    def _refill(self, now: float) -> None:
        if self.rate is not None and now > self._updated:
            start = max(self._updated, self.paused_until)  # nothing accrues during a pause
            if now > start:
                self.tokens = min(self.tokens + (now - start) * self.rate, self.burst)
        self._updated = max(self._updated, now)

    def _enqueue(self, key: Hashable, priority: Priority, now: float, ask_again_at: float) -> _Waiter:
        waiter = self._waiting.get(key)
        if waiter is None:
            waiter = self._waiting[key] = _Waiter(priority, now, next(self._order), ask_again_at)
        else:
            waiter.priority = min(waiter.priority, priority)
            waiter.ask_again_at = ask_again_at
        return waiter

    def _drop_gone(self, now: float) -> None:
        gone = [key for key, waiter in self._waiting.items() if now > waiter.ask_again_at + _GONE_AFTER]
        for key in gone:
            del self._waiting[key]


def _rank(waiter: _Waiter) -> tuple[int, float, int]:
    return waiter.priority, waiter.since, waiter.order


class Pacer:
    """Every reply's turn at every Slack method, for the whole process. Thread-safe."""

    def __init__(self, budgets: dict[str, Budget] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._budgets: dict[str, Budget] = dict(budgets or {})
        self._waiting_on: dict[Hashable, str] = {}  # key → the method it waits for
        self._lock = threading.Lock()

    @classmethod
    def for_edits(cls, per_minute: float | None, burst: float,
                  clock: Callable[[], float] = time.monotonic) -> "Pacer":
        """A budget for `chat.update` only; every other method just honours Slack's Retry-After."""
        return cls({PACED_METHOD: Budget(per_minute, burst=burst, now=clock())}, clock)

    def take(self, method: str, key: Hashable, priority: Priority = Priority.URGENT) -> float:
        """0.0: call `method` now; otherwise the seconds to wait before asking again (see `Budget.take`)."""
        with self._lock:
            previous = self._waiting_on.pop(key, None)
            if previous is not None and previous != method:
                self._budget(previous).withdraw(key)
            wait = self._budget(method).take(key, priority, self._clock())
            if wait > 0:
                self._waiting_on[key] = method
            return wait

    def withdraw(self, key: Hashable) -> None:
        with self._lock:
            method = self._waiting_on.pop(key, None)
            if method is not None:
                self._budget(method).withdraw(key)

    def refund(self, method: str, key: Hashable) -> None:
        with self._lock:
            self._budget(method).refund(self._clock(), key)

    def succeeded(self, method: str, key: Hashable = None) -> None:
        with self._lock:
            self._budget(method).succeeded(self._clock(), key)

    def rate_limited(self, method: str, retry_after: float, key: Hashable = None) -> None:
        with self._lock:
            self._budget(method).rate_limited(self._clock(), retry_after, key)

    def failed(self, method: str, key: Hashable = None) -> None:
        with self._lock:
            self._budget(method).failed(self._clock(), key)

    def budget(self, method: str) -> Budget:
        """The budget of `method` (for reading its state; not thread-safe to change)."""
        with self._lock:
            return self._budget(method)

    def _budget(self, method: str) -> Budget:
        budget = self._budgets.get(method)
        if budget is None:
            budget = self._budgets[method] = Budget(now=self._clock())
        return budget


@dataclass(frozen=True)
class Pacing:
    """How the bot paces its replies: each reply's cadence, the budget they all share, and whether reading
    the model waits for each edit (never, in the bot; some other bots do, and the benchmark compares)."""

    cadence: Cadence
    pacer: Pacer
    inline: bool = False
