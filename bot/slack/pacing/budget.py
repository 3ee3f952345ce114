"""One of Slack's budgets for one method, in the workspace or in one channel: who goes next, and when. Pure:
the caller passes the time.

Its parts: the bucket (tokens, rate, burst, a Retry-After's pause), what Slack's answers taught of its numbers
(`learning`), the calls waiting in order (`queue`) and the calls in flight (`flight`). Turns go in order of priority
(a reply's first words before the rest), then of arrival. Urgent turns (FIRST, WORDS, URGENT) may use the last
tokens; a ROUTINE one leaves a reserve for them: two tokens, or as many as are spoken for (calls the bot will
certainly make soon), whichever is more, but never the whole burst. A budget with a rate lets a few calls be in
flight at once, in order of rank (one at a time, Slack's round trip of 50 to 150 ms would cap it at about ten calls
a second, whatever its tokens): as many as `Learning.in_flight` allows, fewer beyond what Slack has shown it takes,
since calls sent together beyond Slack's burst are refused together. A budget without a rate has no queue: only
Slack's Retry-After holds its calls back.

Where several instances share the budget (`bot.shared`), what they share shows here as what the shared
budget holds (`sync`), what the others want of it (`others_want`) and how many they are (`others`).
"""

from __future__ import annotations

import math
from typing import Hashable

from bot.shared.base import Bucket, Lesson
from bot.slack.pacing.bucket import TokenBucket
from bot.slack.pacing.flight import InFlight
from bot.slack.pacing.learning import UNPROVEN_IN_FLIGHT, Learning
from bot.slack.pacing.queue import Priority, Queue

RECHECK = 1.0  # a waiter asks again at least this often (waiters ahead of it may have left)
MIN_WAIT = 0.001
NEXT_IN_LINE = 0.01  # what each round of waiters ahead adds to a wait for a place in flight (about a round trip)
HEAD_OF_LINE = 0.002  # how often those next in line check whether a place in flight is free


class Budget:
    def __init__(self, per_minute: float | None = None, *, burst: float = 10, reserve: int = 2,
                 now: float = 0.0, largest_burst: float | None = None, published: bool = True) -> None:
        """`per_minute` None: no budget of its own, only Slack's Retry-After pauses, and no limit on calls in
        flight. `burst`: the burst to start from; `largest_burst`: how far probing may grow it (default: a
        minute's worth of calls). `published`: the rate is Slack's (else a guess, probed upward too)."""
        self.bucket = TokenBucket(None if per_minute is None else per_minute / 60.0, burst, now)
        self.learning = Learning(self.bucket, per_minute, largest_burst, now, published)
        self.reserve = reserve
        self.spoken_for = 0  # calls the bot will certainly make soon (see `Pacer.speak_for`)
        self.others_want = 0.0  # calls other instances sharing the budget want of it (see `bot.shared`)
        self.others = 0  # how many other instances share it
        self._queue = Queue()
        self._flight = InFlight()
        self.expected = 0.0  # how long the caller `request` last answered is likely to wait in all

    # -- what the bucket holds, for reading -------------------------------------------------------------

    @property
    def rate(self) -> float | None:
        return self.bucket.rate

    @property
    def burst(self) -> float:
        return self.bucket.burst

    @property
    def tokens(self) -> float:
        return self.bucket.tokens

    @property
    def paused_until(self) -> float:
        return self.bucket.paused_until

    @property
    def ceiling(self) -> float | None:
        return self.learning.ceiling

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        return not self._queue and not self._flight and self.bucket.full

    # -- turns -------------------------------------------------------------------------------------

    def request(self, key: Hashable, priority: Priority, now: float, newest_first: bool = False,
                since: float | None = None) -> float:
        """Ask for a call now. 0.0: `key` may go (call `grant`); otherwise the seconds to wait before asking
        again (at most `RECHECK`; `expected` says how long the wait is likely to be in all). `key` keeps its
        place in the queue between asks; a higher priority moves it up. `newest_first`: among waiters of its
        priority, the newest goes first (see `queue`). `since`: when the call first asked, if earlier (a retry
        keeps its first attempt's place)."""
        self.expected, again = self._request(key, priority, now, newest_first, since)
        return again

    def _request(self, key: Hashable, priority: Priority, now: float, newest_first: bool,
                 since: float | None) -> tuple[float, float]:
        """(how long `key` is likely to wait in all, when it should ask again)."""
        bucket = self.bucket
        bucket.refill(now)
        if bucket.paused(now):
            wait = bucket.paused_until - now
            if bucket.rate is not None:
                self._queue.join(key, priority, now, now + wait, newest_first, since)
            return wait, wait
        if bucket.rate is None:
            return 0.0, 0.0
        self._notice_idle(now)
        self._queue.drop_gone(now)
        self._queue.join(key, priority, now, now, newest_first, since)
        ahead = self._queue.ahead_of(key)
        self._flight.forget_slow(now)
        go, wait, places = self._turn(ahead, priority, now)
        if go:
            return 0.0, 0.0
        wait = max(wait, MIN_WAIT)
        # waiters ahead of it may leave meanwhile; those next in line look often, so that no place stays idle
        again = HEAD_OF_LINE if ahead < places and wait <= NEXT_IN_LINE else min(wait, RECHECK)
        self._queue.ask_again_at(key, now + again)
        return wait, again

    def grant(self, key: Hashable, now: float) -> None:
        """`key`, which `request` just let go, makes its call: a token is spent."""
        self._queue.leave(key)
        bucket = self.bucket
        if bucket.rate is not None:
            if bucket.tokens < 1:  # beyond the bucket: Slack's answer says whether its burst (or pace) is larger
                self._flight.probe(key, now, self.learning.probes(now) or "burst")
            else:
                self._flight.spend(key, now, self.learning.from_burst(now))
                bucket.tokens -= 1
        self.learning.granted(now)

    def hold(self, key: Hashable, now: float) -> None:
        """`key`, which `request` just let go, asks the budget other instances share (see `Turn.ask`): its
        place is held as a call in flight, so that nobody else here goes first meanwhile."""
        self._flight.hold(key, now)

    def unhold(self, key: Hashable, wait: float, now: float) -> None:
        """The shared budget said `key` must wait `wait` seconds: it keeps its place in the queue."""
        self._flight.release(key)
        self._queue.ask_again_at(key, now + wait)

    def sync(self, tokens: float | None, paused_for: float, lesson: Lesson | None, now: float,
             granted: int | None = None) -> None:
        """What the budget the instances share holds now (after this call's token, if it went): this budget
        holds no more, and is paused as long, so that its estimates and room count the others' spending; a
        lesson another instance's 429 taught, taken once: its pace and burst are no larger; and the calls
        every instance has been granted from it (`granted`), by which a 429 measures Slack's pace."""
        if granted is not None:
            self.learning.granted_everywhere = granted
        bucket = self.bucket
        bucket.refill(now)
        if tokens is not None and bucket.rate is not None:
            bucket.cap(tokens)
        bucket.pause(now + paused_for)
        if lesson is not None:
            self.learning.take_lesson(lesson)

    def shared(self, name: str, priority: Priority, now: float) -> Bucket:
        """This budget as the budget several instances share (see `bot.shared`) for a call it holds a place
        for: its pace and burst as this instance knows them now, the tokens a call at `priority` needs there,
        and how many calls may be in flight with it."""
        needs = 1 + (self._reserve() if priority is Priority.ROUTINE and self.bucket.rate is not None else 0)
        places = self._places(not self.probing, max(len(self._flight) - 1, 0), now)
        return Bucket(name, self.bucket.rate, self.bucket.burst, needs, self.bucket.tokens, places)

    def lesson(self, name: str) -> Bucket:
        """What a 429 taught of this budget, for the other instances sharing it: the pace it may climb back to
        (Slack's pace where two 429s measured it; a halving of the rate is this instance's reaction, which
        climbs back, not a lesson) and its burst, with the tokens Slack's bucket holds now."""
        return Bucket(name, self.learning.ceiling, self.bucket.burst, 1.0, self.bucket.tokens)

    def wants(self, name: str) -> Bucket:
        """What this instance wants of the budget: its calls waiting and spoken for."""
        return Bucket(name, self.bucket.rate, self.bucket.burst, len(self._queue) + self.spoken_for)

    @property
    def probing(self) -> bool:
        """A call granted now would go beyond the bucket (see `Learning.may_probe`)."""
        return self.bucket.rate is not None and self.bucket.tokens < 1

    def withdraw(self, key: Hashable) -> None:
        """`key` no longer wants a call."""
        self._queue.leave(key)

    def upgrade(self, key: Hashable, priority: Priority) -> None:
        """`key`, waiting, is now wanted at `priority`."""
        self._queue.upgrade(key, priority)

    def estimate(self, priority: Priority, now: float) -> float:
        """How long a new caller at `priority` would wait, without queuing it (for choosing between
        budgets)."""
        bucket = self.bucket
        bucket.refill(now)
        if bucket.paused(now):
            return bucket.paused_until - now
        if bucket.rate is None:
            return 0.0
        go, wait, _ = self._turn(self._queue.at_or_above(priority), priority, now)
        return 0.0 if go else wait

    def room(self, now: float, within: float = 0.0) -> float:
        """Tokens there now (or `within` seconds from now) beyond the calls waiting and those spoken for (may be
        negative). Where other instances share the budget: beyond what they want of it, and this instance's
        share only of the rest, since instances deciding at the same moment (a burst of questions spread over
        them) cannot see each other's decisions in time."""
        bucket = self.bucket
        bucket.refill(now)
        if bucket.rate is None:
            return math.inf if now + within >= bucket.paused_until else 0.0
        coming = max(now + within - max(now, bucket.paused_until), 0.0) * bucket.rate
        free = min(bucket.tokens + coming, bucket.burst + coming) - self.others_want
        return free / (1 + self.others) - len(self._queue) - self.spoken_for

    # -- what Slack answered -----------------------------------------------------------------------

    def landed(self, key: Hashable, now: float) -> None:
        """The call of `key` landed (a probe that landed shows that Slack's burst is one larger)."""
        probe = self._flight.was_probe(key, "burst")
        self._flight.answered(key)
        self.bucket.refill(now)
        self.learning.landed(probe, now)

    def explains(self, key: Hashable) -> bool:
        """The call of `key`, in flight, went beyond what this budget has shown Slack takes: beyond the bucket,
        or spending burst after Slack took a call from it (a budget's first call from a full bucket cannot be
        what its own limit refused)."""
        return self._flight.was_probe(key) or (self._flight.was_from_burst(key) and self.learning.taken_since_full > 0)

    def rate_limited(self, key: Hashable, retry_after: float, now: float, learn: bool = True) -> None:
        """Slack answered 429: the budget pauses for `retry_after`, and (where `learn`: it is the budget Slack's
        refusal is about) learns from it (see `Learning.rate_limited`)."""
        spent_burst = self._flight.was_probe(key, "burst") or self._flight.was_from_burst(key)
        self._flight.answered(key)
        self.bucket.refill(now)
        if learn:
            self.learning.rate_limited(spent_burst, retry_after, now)
        else:
            self.bucket.pause(now + retry_after)

    def failed(self, key: Hashable, now: float) -> None:
        """The call of `key` failed otherwise (an error, no answer): it says nothing about the pace."""
        self._flight.answered(key)

    def unused(self, key: Hashable, now: float) -> None:
        """The turn granted to `key` was not used after all: its token goes back."""
        self.bucket.refill(now)
        if key in self._flight and not self._flight.was_probe(key) and self.bucket.rate is not None:
            self.bucket.tokens = min(self.bucket.tokens + 1, self.bucket.burst)
        self._flight.answered(key)

    def take_burst(self, other: "Budget") -> None:
        """Another budget of the same limit (another channel's) learned its burst: this one is no larger."""
        self.learning.take_burst(other.learning)

    # -- internals ---------------------------------------------------------------------------------

    def _turn(self, ahead: int, priority: Priority, now: float) -> tuple[bool, float, int]:
        """For a call at `priority` with `ahead` waiters ahead of it (the bucket refilled to `now`): whether it
        may go now, else how long it is likely to wait; and how many calls may be in flight at once for it."""
        needed = ahead + 1 + (self._reserve() if priority is Priority.ROUTINE else 0)
        before_it = ahead + len(self._flight)  # the places taken before its turn: in flight, and waiters ahead
        within = self.bucket.tokens >= needed
        places = self._places(within, before_it, now)
        if within or self.learning.may_probe(priority.urgent, before_it, now):
            if before_it < places:  # a place is free for it, after one for each waiter ahead of it
                return True, 0.0, places
            return False, NEXT_IN_LINE * (ahead // places + 1), places
        if self._exploring(priority, now):  # the probes ahead of it go a few at a time, as fast as Slack answers
            return False, NEXT_IN_LINE * (ahead // places + 1), places
        return False, self.bucket.seconds_for(needed), places

    def _places(self, within: bool, before_it: int, now: float) -> int:
        """How many calls may be in flight at once for a call with `before_it` places taken before its turn:
        within the bucket, as many as `Learning.in_flight` allows; beyond it (probes), `UNPROVEN_IN_FLIGHT`."""
        return self.learning.in_flight(before_it, now) if within else UNPROVEN_IN_FLIGHT

    def _exploring(self, priority: Priority, now: float) -> bool:
        """Urgent calls beyond the bucket go as probes, one after the other, until Slack refuses one: a waiter
        among them waits for the probes ahead of it, not for tokens at the bucket's rate."""
        return priority.urgent and now >= self.learning.probe_after and self.learning.probes(now) is not None

    def _notice_idle(self, now: float) -> None:
        """A full bucket with nothing in flight starts what Slack will take from a full burst."""
        if self.bucket.full and not self._flight:
            self.learning.idle(now)

    def _reserve(self) -> float:
        """Tokens a ROUTINE call leaves for URGENT ones: the reserve, or what is spoken for (never the whole
        burst, so that ROUTINE calls still go when the bucket is full)."""
        return min(max(self.reserve, self.spoken_for), max(math.floor(self.bucket.burst) - 1, 0))
