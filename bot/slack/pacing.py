"""Pacing: every Slack call takes its turn in Slack's budgets, for the whole process.

Slack rate-limits per method, per app and workspace (Tier 2 about 20 calls a minute, Tier 3 about 50,
Tier 4 about 100), and some methods per channel as well (chat.postMessage: about one a second in each
channel, plus a workspace-wide ceiling it does not publish). It publishes no burst sizes. So each budget
starts from the documented rate and a modest burst (ten seconds' worth), and learns from Slack's answers:
- upward, by probing: when its bucket is empty and an URGENT call waits with nothing in flight, one more
  call goes; if Slack takes it, the burst grows by one; if Slack refuses it, the burst stays where it is
  and probing stops for a while;
- downward, by a 429 that was not a probe: the budget pauses for the Retry-After and halves what was too
  much (the burst, if the refused call was spending burst; the rate, if it came at the pace of the rate);
  every call that lands then adds a step back (additive increase, multiplicative decrease).
A budget without a rate (a workspace ceiling Slack does not publish) only honours Retry-After, until 429s
from two or more channels within a few seconds show that the ceiling was met: the budget then takes what it
was doing as the ceiling, halved, and from there paces and learns as any other.

A `Turn` is one call's place in its method's queues, from asking to Slack's answer:

    with pacer.turn("chat.update", Priority.ROUTINE) as turn:
        turn.wait()              # or: turn.ask() → seconds to wait, to wait on something else meanwhile
        ...make the call...
        turn.landed()            # or turn.rate_limited(seconds); leaving without an outcome counts as failed

Within a budget, turns go in order of priority, then of arrival; a reply that had its turn queues again at
the back, so replies share a budget evenly. URGENT turns (a new message, first words, the end of an answer,
a retry) may use the last tokens; a ROUTINE one (an intermediate edit or append) leaves a small reserve for
them. A budget with a rate lets one call in flight at a time: Slack answers in a fraction of the time a
token takes to come, and a call sent while another is being refused would reach Slack inside the
Retry-After (which prolongs the penalty).

`Budget` is pure (the caller passes the time); `Pacer` adds a lock and a clock for the threads of the bot.
One process serves one workspace (one bot token); where several instances serve it, their budgets also
spend from, and learn from, the budgets they share (`bot.shared`): a turn takes a token there too, a 429
pauses and teaches every instance, and each instance's room counts what the others want.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable, Hashable, Mapping

from bot import metrics
from bot.shared.base import Bucket, Held, Lesson, SharedState
from bot.shared.local import LocalState

_DECREASE = 0.5  # a 429 multiplies the rate and the burst by this
_INCREASE = 0.05  # a call that lands adds this share of the ceiling back to the rate
_BURST_INCREASE = 0.02  # ... and this share of the largest burst back to the burst
_FLOOR = 0.1  # the rate never drops below this share of the ceiling
_RECHECK = 1.0  # a waiter asks again at least this often (waiters ahead of it may have left)
_MIN_WAIT = 0.001
_GONE_AFTER = 5.0  # a waiter that has not asked again this long after it was told to is dropped from the queue
_SLOW_CALL = 2.0  # a call in flight this long no longer holds the next one back
_NEXT_IN_LINE = 0.01  # how often a waiter whose token is there checks whether the call in flight is done
_MAX_CHANNEL_BUDGETS = 2_000  # idle per-channel budgets beyond this are forgotten
_PROBE_QUIET = 60.0  # seconds without probing after a probe was refused
_CEILING_EVIDENCE = 10.0  # seconds within which 429s from two channels show a workspace ceiling


class Priority(IntEnum):
    URGENT = 0  # a new message, a reply's first words, the end of an answer, a retry: someone waits on it
    ROUTINE = 1  # an intermediate edit or append: a later one carries the same text and more


@dataclass(frozen=True)
class Limit:
    """What the bot assumes of one Slack budget until Slack says otherwise: `per_minute` calls a minute
    (None: no budget of its own, only Slack's Retry-After), bursts of `burst` calls to start with, which
    probing may grow up to `largest_burst` (default: a minute's worth)."""

    per_minute: float | None
    burst: float = 1.0
    largest_burst: float | None = None


@dataclass(frozen=True)
class MethodLimits:
    """A method's budgets: one per channel (None: Slack limits it per workspace only) and one for the
    workspace."""

    workspace: Limit = Limit(None)
    per_channel: Limit | None = None


# Slack's documented rates (https://docs.slack.dev/apis/web-api/rate-limits), each starting from a burst of
# ten seconds' worth that probing grows and 429s shrink. chat.postMessage and assistant.threads.setStatus are
# in Slack's "special" tier: about one a second per channel, and a workspace ceiling Slack does not publish
# (none assumed until a 429 says so). A reply posts its messages one a second in its channel, Slack's
# documented pace (a little under it, so that network jitter does not bring two posts closer than a second),
# without probing for a burst: the many channels of a busy workspace would each pay a 429 to learn it.
DEFAULT_LIMITS: dict[str, MethodLimits] = {
    "chat.update": MethodLimits(Limit(50, 8)),  # Tier 3
    "chat.startStream": MethodLimits(Limit(20, 3)),  # Tier 2
    "chat.stopStream": MethodLimits(Limit(20, 3)),  # Tier 2
    "chat.appendStream": MethodLimits(Limit(100, 16)),  # Tier 4
    "chat.postEphemeral": MethodLimits(Limit(100, 16)),  # Tier 4
    "chat.postMessage": MethodLimits(per_channel=Limit(55, 1, largest_burst=1)),
    "assistant.threads.setStatus": MethodLimits(per_channel=Limit(60, 3)),
}


@dataclass
class _Waiter:
    priority: Priority
    since: float  # when it started waiting: earlier goes first, within a priority
    order: int  # ties
    ask_again_at: float  # when it was told to ask again


class Budget:
    """The calls of one Slack method in one workspace (or one channel). `per_minute=None`: no budget of its
    own, only Slack's Retry-After pauses, and no limit on calls in flight."""

    def __init__(self, per_minute: float | None = None, *, burst: float = 10, reserve: int = 2,
                 now: float = 0.0, largest_burst: float | None = None) -> None:
        """`burst`: the burst to start from; `largest_burst`: how far probing may grow it (default: a
        minute's worth of calls)."""
        self.ceiling = None if per_minute is None else per_minute / 60.0  # calls per second
        self.rate = self.ceiling
        self.burst = max(float(burst), 1.0)
        self.max_burst = max(self.burst, float(largest_burst if largest_burst is not None else per_minute or 0))
        self.reserve = reserve
        self.spoken_for = 0  # calls the bot will certainly make soon (see `Pacer.speak_for`)
        self.others_want = 0.0  # calls other instances sharing the budget want of it (see `bot.shared`)
        self.others = 0  # how many other instances share it
        self.tokens = self.burst
        self.paused_until = -math.inf
        self._updated = now
        self._waiting: dict[Hashable, _Waiter] = {}
        self._order = itertools.count()
        self._in_flight: dict[Hashable, float] = {}  # who holds a call not yet answered → when it was granted
        self._from_burst: dict[Hashable, bool] = {}  # whether a call in flight was spending burst
        self._probes: set[Hashable] = set()  # calls in flight beyond the bucket, to learn a larger burst
        self._probe_after = -math.inf
        self._recent: list[float] = []  # without a rate: when the calls of the last minute were granted
        self._lesson = 0  # the last lesson taken from the budget other instances share (see `sync`)
        self._last_grant = -math.inf

    # -- turns -------------------------------------------------------------------------------------

    def request(self, key: Hashable, priority: Priority, now: float) -> float:
        """Ask for a call now. 0.0: `key` may go (call `grant`); otherwise the seconds to wait before asking
        again. `key` keeps its place in the queue between asks; a higher priority moves it up."""
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
        needed = ahead + 1 + (self._reserve() if priority is Priority.ROUTINE else 0)
        self._forget_slow_calls(now)
        if self.tokens >= needed or self._may_probe(priority, ahead, now):
            if not self._in_flight and ahead == 0:  # the one call slot goes strictly in order of rank
                return 0.0
            wait = _NEXT_IN_LINE * (ahead + 1)
        else:
            wait = min(max((needed - self.tokens) / self.rate, _MIN_WAIT), _RECHECK)
        waiter.ask_again_at = now + wait
        return wait

    def _may_probe(self, priority: Priority, ahead: int, now: float) -> bool:
        """An URGENT call first in line may go beyond the bucket, to learn whether Slack's burst is larger."""
        return (priority is Priority.URGENT and ahead == 0 and not self._in_flight and now >= self._probe_after
                and self.burst < self.max_burst)

    def grant(self, key: Hashable, now: float) -> None:
        """`key`, which `request` just let go, makes its call: a token is spent."""
        self._waiting.pop(key, None)
        if self.ceiling is None:
            self._recent = [at for at in self._recent if at > now - 60.0] + [now]
        else:
            if self.tokens < 1:
                self._probes.add(key)  # beyond the bucket: Slack's answer says whether its burst is larger
            else:
                # spending burst: a token to spare, or one left sooner after the last call than the rate gives
                self._from_burst[key] = self.tokens >= 2 or now - self._last_grant < 1 / self.rate
                self.tokens -= 1
            self._last_grant = now
            self._in_flight[key] = now

    def hold(self, key: Hashable, now: float) -> None:
        """`key`, which `request` just let go, asks the budget other instances share (see `Turn.ask`): its
        place is held as a call in flight, so that nobody else here goes first meanwhile."""
        self._in_flight.setdefault(key, now)

    def unhold(self, key: Hashable, wait: float, now: float) -> None:
        """The shared budget said `key` must wait `wait` seconds: it keeps its place in the queue."""
        self._in_flight.pop(key, None)
        waiter = self._waiting.get(key)
        if waiter is not None:
            waiter.ask_again_at = now + wait

    def sync(self, tokens: float | None, paused_for: float, lesson: Lesson | None, now: float) -> None:
        """What the budget the instances share holds now (after this call's token, if it went): this budget
        holds no more, and is paused as long, so that its estimates and room count the others' spending; and
        a lesson another instance's 429 taught, taken once: its pace and burst are no larger."""
        self._refill(now)
        if tokens is not None and self.ceiling is not None:
            self.tokens = min(self.tokens, max(tokens, 0.0))
        self.paused_until = max(self.paused_until, now + paused_for)
        if lesson is not None and lesson.number > self._lesson and self.ceiling is not None:
            self._lesson = lesson.number
            self.rate = max(min(self.rate, lesson.per_second), self.ceiling * _FLOOR)
            self.burst = max(min(self.burst, lesson.burst), 1.0)
            self.tokens = min(self.tokens, self.burst)

    def bucket(self, name: str, priority: Priority) -> Bucket:
        """This budget as the budget several instances share (see `bot.shared`): its pace and burst as this
        instance knows them now, and the tokens a call at `priority` needs there."""
        needs = 1 + (self._reserve() if priority is Priority.ROUTINE and self.ceiling is not None else 0)
        return Bucket(name, self.rate, self.burst, needs)

    @property
    def probing(self) -> bool:
        """A call granted now would go beyond the bucket (see `_may_probe`)."""
        return self.ceiling is not None and self.tokens < 1

    def withdraw(self, key: Hashable) -> None:
        """`key` no longer wants a call."""
        self._waiting.pop(key, None)

    def upgrade(self, key: Hashable, priority: Priority) -> None:
        """`key`, waiting, is now wanted at `priority` (it keeps its place among those of that priority)."""
        waiter = self._waiting.get(key)
        if waiter is not None:
            waiter.priority = min(waiter.priority, priority)

    def estimate(self, priority: Priority, now: float) -> float:
        """How long a new caller at `priority` would wait, without queuing it (for choosing between
        budgets)."""
        self._refill(now)
        if now < self.paused_until:
            return self.paused_until - now
        if self.ceiling is None:
            return 0.0
        ahead = sum(1 for other in self._waiting.values() if other.priority <= priority)
        needed = ahead + 1 + (self._reserve() if priority is Priority.ROUTINE else 0)
        if self.tokens >= needed or self._may_probe(priority, ahead, now):
            return 0.0 if not self._in_flight and ahead == 0 else _NEXT_IN_LINE * (ahead + 1)
        return (needed - self.tokens) / self.rate

    def room(self, now: float, within: float = 0.0) -> float:
        """Tokens there now (or `within` seconds from now) beyond the calls waiting and those spoken for (may be
        negative). Where other instances share the budget: beyond what they want of it, and this instance's
        share only of the rest, since instances deciding at the same moment (a burst of questions spread over
        them) cannot see each other's decisions in time."""
        self._refill(now)
        if self.ceiling is None:
            return math.inf if now + within >= self.paused_until else 0.0
        coming = max(now + within - max(now, self.paused_until), 0.0) * self.rate
        free = min(self.tokens + coming, self.burst + coming) - self.others_want
        return free / (1 + self.others) - len(self._waiting) - self.spoken_for

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    # -- what Slack answered -----------------------------------------------------------------------

    def landed(self, key: Hashable, now: float) -> None:
        """The call of `key` landed: the rate and the burst climb back a step toward their ceilings (a probe
        that landed shows that Slack's burst is one larger than thought)."""
        probe = key in self._probes
        self._answered(key)
        if self.ceiling is not None:
            self._refill(now)
            self.rate = min(self.rate + self.ceiling * _INCREASE, self.ceiling)
            self.burst = min(self.burst + (1 if probe else self.max_burst * _BURST_INCREASE), self.max_burst)

    def rate_limited(self, key: Hashable, retry_after: float, now: float) -> bool:
        """Slack answered 429: nothing before `retry_after` has passed, then the one call Slack said it
        would take, and a slower pace and smaller bursts after (halved once per pause: calls already in
        flight when it began say nothing new). True if this budget's own spending explains the refusal (the
        call spent burst, or went beyond the bucket), rather than its steady rate."""
        from_burst, probe = self._from_burst.get(key, False), key in self._probes
        self._answered(key)
        self._refill(now)
        self._probe_after = now + _PROBE_QUIET  # Slack said no: no probing for a while
        if probe:  # Slack's burst is about what the bucket holds
            self.max_burst = max(self.burst, 1.0)
        elif self.ceiling is not None and now >= self.paused_until:
            if from_burst:
                self.burst = max(self.burst * _DECREASE, 1.0)
            else:
                self.rate = max(self.rate * _DECREASE, self.ceiling * _FLOOR)
        self.tokens = min(1.0, self.burst)  # nothing accrues during the pause
        self.paused_until = max(self.paused_until, now + retry_after)
        return from_burst or probe

    def failed(self, key: Hashable, now: float) -> None:
        """The call of `key` failed otherwise (an error, no answer): it says nothing about the pace."""
        self._answered(key)

    def unused(self, key: Hashable, now: float) -> None:
        """The turn granted to `key` was not used after all: its token goes back."""
        self._refill(now)
        if key in self._in_flight and key not in self._probes and self.ceiling is not None:
            self.tokens = min(self.tokens + 1, self.burst)
        self._answered(key)

    def take_burst(self, other: "Budget") -> None:
        """Another budget of the same limit (another channel's) learned its burst: this one is no larger."""
        self.burst = min(self.burst, other.burst)
        self.max_burst = min(self.max_burst, other.max_burst)
        self.tokens = min(self.tokens, self.burst)
        self._probe_after = max(self._probe_after, other._probe_after)  # and it is not probed for meanwhile

    def learn_ceiling(self, now: float) -> None:
        """Slack showed a ceiling this budget did not know: take what it was doing as the ceiling, halved."""
        if self.ceiling is not None:
            return
        last_minute = [at for at in self._recent if at > now - 60.0]
        last_seconds = sum(1 for at in last_minute if at > now - _CEILING_EVIDENCE)
        self.ceiling = max(len(last_minute), 1) / 60.0
        self.rate = self.ceiling * _DECREASE
        self.max_burst = max(float(last_seconds), 1.0)
        self.burst = max(self.max_burst * _DECREASE, 1.0)
        self.tokens = min(self.tokens, 1.0)
        self._updated = now
        self._recent.clear()

    @property
    def idle(self) -> bool:
        return not self._waiting and not self._in_flight and self.tokens >= self.burst

    # -- internals ---------------------------------------------------------------------------------

    def _reserve(self) -> float:
        """Tokens a ROUTINE call leaves for URGENT ones: the reserve, or what is spoken for (never the whole
        burst, so that ROUTINE calls still go when the bucket is full)."""
        return min(max(self.reserve, self.spoken_for), max(math.floor(self.burst) - 1, 0))

    def _answered(self, key: Hashable) -> None:
        self._in_flight.pop(key, None)
        self._from_burst.pop(key, None)
        self._probes.discard(key)

    def _forget_slow_calls(self, now: float) -> None:
        """A slow call stops holding the others back; its answer, when it comes, frees nothing."""
        self._in_flight = {holder: at for holder, at in self._in_flight.items() if now - at < _SLOW_CALL}
        self._from_burst = {holder: burst for holder, burst in self._from_burst.items() if holder in self._in_flight}
        self._probes &= self._in_flight.keys()

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
    """Every Slack method's budgets, for the whole process. Thread-safe. Methods it has no limits for only
    honour Slack's Retry-After."""

    def __init__(self, limits: Mapping[str, MethodLimits] | None = None,
                 clock: Callable[[], float] = time.monotonic, shared: SharedState | None = None) -> None:
        """`shared`: the budgets other instances serving the workspace spend too (default: none)."""
        self.clock = clock
        self.shared = shared or LocalState(clock)
        self._limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._budgets: dict[tuple[str, str | None], Budget] = {}
        self._refusals: dict[str, dict[str, float]] = {}  # method → channel → when it was last answered 429
        self._channel_bursts: dict[str, Budget] = {}  # method → the channel budget that last learned its burst
        self._lock = threading.Lock()
        for method, limits in self._limits.items():  # followed from the start, before any question comes
            if limits.workspace.per_minute is not None:
                self._budget(method, None)
        self.shared.follow(self._wants, self._learn)

    def turn(self, method: str, priority: Priority = Priority.URGENT, channel: str | None = None) -> "Turn":
        """A place in `method`'s queues (the channel's, where Slack limits the method per channel, then the
        workspace's)."""
        with self._lock:
            return Turn(self, method, priority, self._budgets_for(method, channel), channel)

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

    def _wants(self) -> list[Bucket]:
        """What this instance wants of each workspace budget with a pace (for the other instances)."""
        with self._lock:
            return [Bucket(method, budget.rate, budget.burst, len(budget._waiting) + budget.spoken_for)
                    for (method, channel), budget in self._budgets.items()
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

    def _refused_in(self, method: str, channel: str | None, now: float) -> None:
        """A call of `method` in `channel`, made at its channel's steady pace, was answered 429 (with the lock
        held): such 429s from two channels in a few seconds show a workspace ceiling that the workspace's
        budget did not know. (A call that spent its channel's burst says only that the burst was too large.)"""
        if channel is None or self._limit(method).per_channel is None:
            return
        recent = self._refusals.setdefault(method, {})
        recent[channel] = now
        for other in [other for other, at in recent.items() if at < now - _CEILING_EVIDENCE]:
            del recent[other]
        if len(recent) >= 2:
            self._budget(method, None).learn_ceiling(now)

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
            if channel is not None and len(self._budgets) > _MAX_CHANNEL_BUDGETS:
                self._budgets = {key: kept for key, kept in self._budgets.items() if key[1] is None or not kept.idle}
            budget = self._budgets[(method, channel)] = Budget(limit.per_minute, burst=limit.burst, now=self.clock(),
                                                               largest_burst=limit.largest_burst)
            if channel is not None and method in self._channel_bursts:
                budget.take_burst(self._channel_bursts[method])
        return budget


class Turn:
    """One call's place in its method's budgets, from asking until Slack's answer. Use it once, as a context
    manager: leaving it withdraws a turn that was never granted, and counts a granted one that reported no
    outcome as failed."""

    def __init__(self, pacer: Pacer, method: str, priority: Priority, budgets: list[Budget],
                 channel: str | None = None) -> None:
        self.method = method
        self.priority = priority
        self._pacer = pacer
        self._budgets = budgets
        self._channel = channel
        self.granted = False
        self._answered = False
        self._asked_at: float | None = None  # when it first asked for its turn

    def ask(self) -> float:
        """0.0: the call may go now (the turn is granted); otherwise the seconds to wait before asking again."""
        with self._pacer._lock:
            if self.granted:
                return 0.0
            now = self._pacer.clock()
            if self._asked_at is None:
                self._asked_at = now
            for budget in self._budgets:  # the channel's first: no place in the workspace's queue until it is ready
                wait = budget.request(self, self.priority, now)
                if wait > 0:
                    return wait
            for budget in self._budgets:
                budget.hold(self, now)
            buckets = self._buckets()
            probe = any(budget.probing for budget in self._budgets)
        taken = self._pacer.shared.take(buckets, probe)  # other instances' spending (no lock held: it may be I/O)
        with self._pacer._lock:
            now = self._pacer.clock()
            if taken.wait > 0:
                for budget in self._budgets:
                    budget.unhold(self, taken.wait, now)
            else:
                for budget in self._budgets:
                    budget.grant(self, now)
                self.granted = True
            for budget, tokens, paused_for, lesson in zip(self._budgets, taken.tokens, taken.paused_for,
                                                          taken.lessons):
                budget.sync(tokens, paused_for, lesson, now)
            if taken.wait > 0:
                return taken.wait
        metrics.BUDGET_WAIT.labels(method=self.method).observe(max(now - self._asked_at, 0.0))
        return 0.0

    def _buckets(self) -> list[Bucket]:
        """The turn's budgets as the instances share them, as this instance knows them now (with the lock held)."""
        return [budget.bucket(name, self.priority) for budget, name in zip(self._budgets, self._names())]

    def _names(self) -> list[str]:
        """The names of the turn's budgets where instances share them: the channel's, then the workspace's."""
        return [f"{self.method}@{self._channel}", self.method] if len(self._budgets) > 1 else [self.method]

    def wait(self, sleep: Callable[[float], None] = time.sleep, deadline: float | None = None) -> float:
        """Block until the call may go; 0. With a `deadline` (on the pacer's clock), a wait that would end after
        it is not begun: the seconds it would have taken are returned instead."""
        while (seconds := self.ask()) > 0:
            if deadline is not None and self._pacer.clock() + seconds > deadline:
                return seconds
            sleep(seconds)
        return 0.0

    def upgrade(self, priority: Priority) -> None:
        """Someone now waits on this call (its text became first words, or final)."""
        with self._pacer._lock:
            self.priority = min(self.priority, priority)
            for budget in self._budgets:
                budget.upgrade(self, self.priority)

    def landed(self) -> None:
        if self._answer(Budget.landed):
            self._pacer.shared.answered(self._names())

    def rate_limited(self, retry_after: float) -> None:
        explained = self._answer(lambda budget, key, now: budget.rate_limited(key, retry_after, now))
        if explained:  # every instance waits, and learns what this one learned
            with self._pacer._lock:
                lessons = self._buckets()
            self._pacer.shared.pause(lessons, retry_after)
        if not explained or self._channel is None or len(self._budgets) < 2:
            return
        with self._pacer._lock:  # the first budget is the channel's
            if explained[0]:
                self._pacer._channel_burst_learned(self.method, self._budgets[0])
            else:
                self._pacer._refused_in(self.method, self._channel, self._pacer.clock())

    def failed(self) -> None:
        if self._answer(Budget.failed):
            self._pacer.shared.answered(self._names())

    def unused(self) -> None:
        """The turn was granted but no call was made: its tokens go back (here; the shared budget keeps them)."""
        if self._answer(Budget.unused):
            self._pacer.shared.answered(self._names())

    def close(self) -> None:
        if not self.granted:
            with self._pacer._lock:
                for budget in self._budgets:
                    budget.withdraw(self)
        elif not self._answered:
            self.failed()

    def __enter__(self) -> "Turn":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _answer(self, report: Callable[[Budget, Hashable, float], Any]) -> list:
        """Report the answer to every budget of the turn (once); what each said."""
        with self._pacer._lock:
            if self._answered or not self.granted:
                return []
            self._answered = True
            now = self._pacer.clock()
            return [report(budget, self, now) for budget in self._budgets]
