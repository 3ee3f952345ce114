"""Every Slack method's budgets, for the whole process: the budgets by method (and by channel where Slack
limits the method per channel), one lock and one clock for the threads of the bot, and what they share with
other instances serving the workspace (`bot.shared`): a turn takes a token there too, a 429 pauses and
teaches every instance, and each instance's room counts what the others want.

A 429 is about one budget (Slack does not say which): the channel's where the call went beyond what that
channel had shown Slack takes, else the workspace's; that budget learns from it, and every budget of the call
pauses. A channel that learned Slack's burst for a method teaches every channel's budget of it.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Callable, Mapping

from bot import metrics
from bot.shared.base import Bucket, Held, SharedState
from bot.shared.local import LocalState
from bot.slack.methods import DEFAULT_LIMITS, MethodLimits
from bot.slack.pacing.budget import Budget
from bot.slack.pacing.queue import Priority
from bot.slack.pacing.turn import FAILED, LANDED, RATE_LIMITED, UNUSED, Turn

MAX_CHANNEL_BUDGETS = 2_000  # idle per-channel budgets beyond this are forgotten


class Pacer:
    """Thread-safe. Methods it has no limits for only honour Slack's Retry-After."""

    def __init__(self, limits: Mapping[str, MethodLimits] | None = None,
                 clock: Callable[[], float] = time.monotonic, shared: SharedState | None = None) -> None:
        """`shared`: the budgets other instances serving the workspace spend too (default: none)."""
        self.clock = clock
        self.shared = shared or LocalState(clock)
        self._limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._budgets: dict[tuple[str, str | None], Budget] = {}
        self._channel_bursts: dict[str, Budget] = {}  # method → the channel budget that last learned its burst
        self._lock = threading.Lock()
        self._calls = itertools.count()  # names each turn's call for the shared budgets
        for method, method_limits in self._limits.items():  # followed from the start, before any question comes
            if method_limits.workspace.per_minute is not None:
                self._budget(method, None)
        self.shared.follow(self._wants, self._learn)

    def turn(self, method: str, priority: Priority = Priority.URGENT, channel: str | None = None,
             newest_first: bool = False) -> Turn:
        """A place in `method`'s queues (the channel's, where Slack limits the method per channel, then the
        workspace's). `newest_first`: among waiters of its priority, the newest goes first (see `queue`)."""
        with self._lock:
            return Turn(self, method, priority, self._budgets_for(method, channel), channel, newest_first,
                        call=str(next(self._calls)))

    def estimate(self, method: str, priority: Priority = Priority.URGENT, channel: str | None = None) -> float:
        """How long a call of `method` asked for now would wait (0: it could go at once)."""
        with self._lock:
            now = self.clock()
            return max(budget.estimate(priority, now) for budget in self._budgets_for(method, channel))

    def room(self, method: str, within: float = 0.0) -> float:
        """Calls of `method` the workspace's budget could take now (or within `within` seconds) beyond those
        waiting and spoken for."""
        with self._lock:
            return self._budget(method, None).room(self.clock(), within)

    def speak_for(self, method: str, calls: int) -> None:
        """`calls` more (or fewer, if negative) calls of `method` will certainly be made soon: ROUTINE calls
        leave room for them."""
        with self._lock:
            budget = self._budget(method, None)
            budget.spoken_for = max(budget.spoken_for + calls, 0)

    def budget(self, method: str, channel: str | None = None) -> Budget:
        """A budget of `method` (for reading its state; not thread-safe to change)."""
        with self._lock:
            return self._budget(method, channel if self._limit(method).per_channel else None)

    # -- a turn's protocol (see `turn`) ---------------------------------------------------------------

    def ask(self, turn: Turn) -> float:
        """0.0: `turn` is granted (its call may go now); otherwise the seconds to wait before asking again."""
        with self._lock:
            if turn.granted:
                return 0.0
            now = self.clock()
            if turn.asked_at is None:
                turn.asked_at = now
            for budget in turn.budgets:  # the channel's first: no place in the workspace's queue until it is ready
                wait = budget.request(turn, turn.priority, now, turn.newest_first, turn.since)
                turn.expected = budget.expected
                if wait > 0:
                    return wait
            turn.expected = 0.0
            for budget in turn.budgets:
                budget.hold(turn, now)
            buckets = self._shared_buckets(turn, now)
            probe = any(budget.probing for budget in turn.budgets)
        taken = self.shared.take(buckets, probe, turn.call)  # other instances' spending (no lock held: it may be I/O)
        with self._lock:
            now = self.clock()
            for budget in turn.budgets:
                if taken.wait > 0:
                    budget.unhold(turn, taken.wait, now)
                else:
                    budget.grant(turn, now)
            turn.granted = taken.wait <= 0
            for budget, tokens, paused_for, lesson, granted in zip(turn.budgets, taken.tokens, taken.paused_for,
                                                                   taken.lessons, taken.granted):
                budget.sync(tokens, paused_for, lesson, now, granted)
            if taken.wait > 0:
                turn.expected = taken.wait
                return taken.wait
        metrics.BUDGET_WAIT.labels(method=turn.method).observe(max(now - turn.asked_at, 0.0))
        return 0.0

    def upgrade(self, turn: Turn, priority: Priority) -> None:
        with self._lock:
            turn.priority = min(turn.priority, priority)
            for budget in turn.budgets:
                budget.upgrade(turn, turn.priority)

    def withdraw(self, turn: Turn) -> None:
        """`turn`, never granted, no longer wants its call."""
        with self._lock:
            for budget in turn.budgets:
                budget.withdraw(turn)

    def answered(self, turn: Turn, outcome: str, retry_after: float = 0.0) -> None:
        """What became of `turn`'s call (once; nothing for a turn never granted): LANDED, RATE_LIMITED (with
        Slack's Retry-After), FAILED (an error, no answer: it says nothing about the pace), or UNUSED (no call
        was made: its tokens go back here; the shared budget keeps them)."""
        with self._lock:
            if turn.answered or not turn.granted:
                return
            turn.answered = True
            now = self.clock()
            if outcome == RATE_LIMITED:
                about = self._refused_by(turn)
                for budget in turn.budgets:
                    budget.rate_limited(turn, retry_after, now, learn=budget is about)
                lessons = [budget.lesson(name) for budget, name in zip(turn.budgets, turn.names)]
            else:
                report = {LANDED: Budget.landed, FAILED: Budget.failed, UNUSED: Budget.unused}[outcome]
                for budget in turn.budgets:
                    report(budget, turn, now)
        if outcome != RATE_LIMITED:
            self.shared.answered(turn.names, turn.call)
            return
        self.shared.pause(lessons, retry_after, turn.call)  # every instance waits, and learns what this one learned
        if len(turn.budgets) > 1 and about is turn.budgets[0]:
            with self._lock:
                self._channel_burst_learned(turn.method, about)

    # -- what the instances share ------------------------------------------------------------------

    def _shared_buckets(self, turn: Turn, now: float) -> list[Bucket]:
        """The turn's budgets as the instances share them, as this instance knows them now (with the lock held)."""
        return [budget.shared(name, turn.priority, now) for budget, name in zip(turn.budgets, turn.names)]

    def _wants(self) -> list[Bucket]:
        """What this instance wants of each workspace budget with a pace (for the other instances)."""
        with self._lock:
            return [budget.wants(method) for (method, channel), budget in self._budgets.items()
                    if channel is None and budget.ceiling is not None]

    def _learn(self, held: Mapping[str, Held]) -> None:
        """What the workspace budgets the instances share hold, and what the others want of them."""
        with self._lock:
            now = self.clock()
            for method, seen in held.items():
                budget = self._budgets.get((method, None))
                if budget is not None:
                    budget.sync(seen.tokens, seen.paused_for, None, now)
                    budget.others_want, budget.others = seen.others_want, seen.others

    # -- internals (with the lock held) -------------------------------------------------------------

    def _limit(self, method: str) -> MethodLimits:
        return self._limits.get(method, MethodLimits())

    @staticmethod
    def _refused_by(turn: Turn) -> Budget:
        """The budget a 429 to `turn`'s call is about (Slack does not say): the channel's, where the call went
        beyond what that channel has shown Slack takes; else the workspace's (with the lock held)."""
        return next((budget for budget in turn.budgets[:-1] if budget.explains(turn)), turn.budgets[-1])

    def _channel_burst_learned(self, method: str, taught: Budget) -> None:
        """One channel's budget learned Slack's burst in a channel: it is the same in every channel."""
        self._channel_bursts[method] = taught
        for (name, channel), budget in self._budgets.items():
            if name == method and channel is not None and budget is not taught:
                budget.take_burst(taught)

    def _budgets_for(self, method: str, channel: str | None) -> list[Budget]:
        if channel is not None and self._limit(method).per_channel is not None:
            return [self._budget(method, channel), self._budget(method, None)]
        return [self._budget(method, None)]

    def _budget(self, method: str, channel: str | None) -> Budget:
        budget = self._budgets.get((method, channel))
        if budget is None:
            limits = self._limit(method)
            limit = limits.workspace if channel is None else limits.per_channel
            if limit is None:
                raise ValueError(f"{method} has no per-channel budget")
            if channel is not None and len(self._budgets) > MAX_CHANNEL_BUDGETS:
                self._budgets = {key: kept for key, kept in self._budgets.items() if key[1] is None or not kept.idle}
            budget = self._budgets[(method, channel)] = Budget(limit.per_minute, burst=limit.burst, now=self.clock(),
                                                               largest_burst=limit.largest_burst,
                                                               published=limit.published)
            if channel is not None and method in self._channel_bursts:
                budget.take_burst(self._channel_bursts[method])
        return budget
