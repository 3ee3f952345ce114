"""What the bot learns of one of Slack's budgets from Slack's answers, and how each answer changes its bucket.
Pure: the caller passes the time.

A budget starts from the rate `methods` assumes (Slack's documented tier, or a guess where Slack publishes
none) and a burst, and learns:
- its burst, from its first 429: a refused call that was spending burst (or going beyond the bucket) shows
  Slack's burst is about what Slack took since the bucket was last full, less what it refilled meanwhile
  (never less than half of what it took; half the bucket if it took nothing, which says only that someone
  else spent it); the bucket takes that as its burst, and probing stops there;
- its pace, from two 429s: a call refused at the pace of the bucket's rate (or spending what the bucket
  refilled since the last 429, before it was full again), within a minute of another 429 or with the
  bucket never full since, shows Slack's rate is at most what it took between the two, and one more (a
  tenth less is taken, for the jitter of the network; where instances share the budget, what all of them
  took); the bucket paces at that, and climbs back no
  higher, for `RELEARN_SECONDS` (one refused with no 429 to compare it with halves the rate, which then
  climbs back step by step: a halving is a reaction, not a lesson);
- upward, by probing: when its bucket is empty and an urgent call waits with at most one call in flight,
  one more call goes; if Slack takes it, the burst grows by one (up to `largest_burst`). Where the rate is a guess
  (Slack publishes none), probing goes on past the burst, for the rate: until Slack refuses a probe, calls
  go two at a time as fast as Slack takes them, and the refusal teaches the pace (two 429s, as above);
and every call that lands adds a step back toward the ceiling it learned (additive increase).
What Slack has shown of its burst (the most it took from a full bucket, less what refilled meanwhile) lets
several calls be in flight at once within it (`in_flight`); beyond it, two at most, and one while a guessed
pace Slack refused is not learned yet.
A budget without a rate only honours Slack's Retry-After.
"""

from __future__ import annotations

import math

from bot.shared.base import PROBE_QUIET_SECONDS, Lesson
from bot.slack.pacing.bucket import TokenBucket

DECREASE = 0.5  # a 429 with nothing better to learn from multiplies the rate by this
INCREASE = 0.05  # a call that lands adds this share of the ceiling back to the rate
LARGEST_BURST_MINUTES = 5  # probing may grow a burst up to this many minutes' worth of calls, by default
FLOOR = 0.1  # the rate never drops below this share of the ceiling it started from
RATE_MARGIN = 0.9  # a pace learned between two 429s is taken this much lower (calls bunch up on the network)
REFUSALS_COMPARED = 60.0  # seconds: a 429 this soon after another measures Slack's pace between them
RELEARN_SECONDS = 600.0  # a pace learned from 429s is the most the rate climbs back to for this long
IN_FLIGHT = 8  # calls of a budget in flight at once, while they stay within what Slack has shown it takes
UNPROVEN_IN_FLIGHT = 2  # ... and beyond it: a burst smaller than assumed costs at most this many 429s


class Learning:
    def __init__(self, bucket: TokenBucket, per_minute: float | None, largest_burst: float | None,
                 now: float = 0.0, published: bool = True) -> None:
        """`largest_burst`: how far probing may grow the burst (default: five minutes' worth of calls).
        `published`: the rate is Slack's documented one (else a guess that probing may find too low)."""
        self._bucket = bucket
        self._published = published
        self.ceiling = None if per_minute is None else per_minute / 60.0  # calls per second
        self._assumed: float = self.ceiling or 0.0  # what it started from
        self._floor = 0.0 if self.ceiling is None else self.ceiling * FLOOR
        self._learned_until = -math.inf  # the ceiling is a pace learned from 429s until then
        self.max_burst = max(bucket.burst, float(largest_burst if largest_burst is not None
                                                 else (per_minute or 0) * LARGEST_BURST_MINUTES))
        self.probe_after = -math.inf
        self.lesson = 0  # the last lesson taken from the budget other instances share
        self.last_grant = -math.inf
        self._full_at = now  # when the bucket was last full with nothing in flight: Slack's was full too
        self.taken_since_full = 0  # calls Slack took since then
        self.shown = 0.0  # the largest burst Slack has been seen to take (what it took from full, less refill)
        self._refused_at = -math.inf  # the last 429
        self._taken_since_refused = 0  # calls Slack took since then
        self._refilling = False  # since a 429 the bucket has not been full: what it holds came at its rate
        # Where instances share the budget: the calls all of them had been granted from it, as last seen, and
        # at the last 429 (Slack's pace is measured by every instance's calls, not this one's alone)
        self.granted_everywhere: int | None = None
        self._granted_at_refused: int | None = None

    def idle(self, now: float) -> None:
        """The bucket is full and nothing is in flight: what Slack takes from now on comes out of a full burst;
        unless it filled at a guessed pace Slack refused within the last minute, which may be faster than
        Slack's (then the next 429 teaches that pace, not a smaller burst)."""
        if self._pace_unknown(now) and now - self._refused_at < REFUSALS_COMPARED:
            return
        self._full_at, self.taken_since_full, self._refilling = now, 0, False

    def in_flight(self, flying: int, now: float) -> int:
        """How many calls may be in flight at once when `flying` are (or will be): `IN_FLIGHT` while one more stays
        within the burst Slack has shown it has (`shown`), from a bucket full at a pace Slack has not refused
        (since a 429, full again at a published pace or one learned since), else `UNPROVEN_IN_FLIGHT` (calls
        sent together beyond what Slack has shown are refused together)."""
        if self._refilling and self._pace_unknown(now):  # pacing at a guessed rate Slack has just refused:
            return 1  # one at a time, so that the 429 that teaches its pace comes alone
        if self._refilling or self._pace_unknown(now):  # what it holds came at a pace Slack has not shown
            return UNPROVEN_IN_FLIGHT
        # what Slack took since full, counting no refill (the pace may be a guess too high): never more than shown
        return IN_FLIGHT if self.taken_since_full + flying + 1 <= self.shown else UNPROVEN_IN_FLIGHT

    def _pace_unknown(self, now: float) -> bool:
        """Slack refused a call of a budget whose pace is a guess, and no pace has been learned since: a bucket
        full again at the guessed pace may not be full at Slack."""
        return not self._published and self._refused_at > -math.inf and now >= self._learned_until

    def _spent_of_burst(self, now: float) -> float:
        """What Slack took since its bucket was last full, less what it refilled meanwhile (at the bucket's rate)."""
        return self.taken_since_full - (self._bucket.rate or 0.0) * (now - self._full_at)

    def may_probe(self, urgent: bool, before_it: int, now: float) -> bool:
        """An urgent call may go beyond the bucket, to learn whether Slack's burst is larger (or, where the
        rate is a guess, its pace faster), when fewer than `UNPROVEN_IN_FLIGHT` calls are in flight or ahead
        of it (`before_it`)."""
        return (urgent and before_it < UNPROVEN_IN_FLIGHT and now >= self.probe_after
                and self.probes(now) is not None)

    def probes(self, now: float) -> str | None:
        """What a call beyond the bucket would probe now: "burst", "rate" (a guessed rate Slack's 429s have not
        measured lately), or None."""
        if self.ceiling is None:
            return None
        if self._bucket.burst < self.max_burst:
            return "burst"
        return "rate" if not self._published and now >= self._learned_until else None

    def from_burst(self, now: float) -> bool:
        """A call granted now spends burst: a token to spare, or one left sooner after the last call than the
        rate gives."""
        bucket = self._bucket
        return bucket.tokens >= 2 or now - self.last_grant < 1 / self._rate

    @property
    def _rate(self) -> float:
        """The bucket's pace: a budget that learns has one (one without a pace has nothing to learn)."""
        return self._bucket.rate or 0.0

    def granted(self, now: float) -> None:
        self.last_grant = now

    def landed(self, probe: bool, now: float) -> None:
        """A call landed: the rate climbs back a step toward its ceiling, and a probe that landed shows that
        Slack's burst is one larger than thought (a call within the bucket shows nothing of the burst)."""
        self.taken_since_full += 1
        self.shown = max(self.shown, self._spent_of_burst(now))
        self._taken_since_refused += 1
        if self.ceiling is None:
            return
        if now >= self._learned_until:
            self.ceiling = self._assumed  # a pace learned long ago may no longer hold: climb back to the start
        bucket, ceiling = self._bucket, self.ceiling
        bucket.rate = min(self._rate + ceiling * INCREASE, ceiling)
        if probe:
            bucket.burst = min(bucket.burst + 1, self.max_burst)

    def rate_limited(self, spent_burst: bool, retry_after: float, now: float) -> None:
        """Slack answered 429 to a call that was spending burst or probing the burst (`spent_burst`), or that
        came at the pace of the rate (or probed it): learn Slack's burst, or its pace; then nothing before
        `retry_after` has passed (calls already in flight when the pause began say nothing new)."""
        bucket = self._bucket
        self.probe_after = now + PROBE_QUIET_SECONDS  # Slack said no: no probing for a while
        if self.ceiling is not None and not bucket.paused(now):
            if spent_burst and not self._refilling:
                self._learn_burst(now)
            else:  # at the rate's pace, or spending what the bucket refilled since a 429: the rate is too high
                self._learn_rate(now)
            self._refused_at, self._taken_since_refused, self._refilling = now, 0, True
            self._granted_at_refused = self.granted_everywhere
        # Slack's bucket is empty, and refills from now on: the one call it said it would take after `retry_after`
        # (and whatever more its pace gives meanwhile)
        bucket.tokens = min(max(1.0 - bucket.rate * retry_after, 0.0), bucket.burst) if bucket.rate else 0.0
        bucket.pause(now + retry_after)

    def _learn_burst(self, now: float) -> None:
        """Slack took `taken_since_full` calls from a full burst before this one, and refilled at about the
        bucket's rate meanwhile."""
        bucket = self._bucket
        taken = self.taken_since_full
        if taken:
            burst = max(taken - self._rate * (now - self._full_at), taken * DECREASE, 1.0)
        else:
            burst = bucket.burst * DECREASE
        bucket.resize(min(bucket.burst, burst))
        self.max_burst = bucket.burst

    def _learn_rate(self, now: float) -> None:
        """Slack ran out again at the bucket's pace: its own is about what it took since the last 429."""
        bucket = self._bucket
        since = now - self._refused_at
        if since < REFUSALS_COMPARED or self._refilling:  # recent, or the budget was in use all along since
            taken = self._taken_since_refused
            if self.granted_everywhere is not None and self._granted_at_refused is not None:
                taken = max(taken, self.granted_everywhere - self._granted_at_refused - 1)  # the others' calls too
            rate = RATE_MARGIN * (taken + 1) / since
            self.ceiling = max(min(self.ceiling or rate, rate), self._floor)  # the steps back climb to it, not past it
            self._learned_until = now + RELEARN_SECONDS
        else:
            rate = self._rate * DECREASE
        bucket.rate = max(min(self._rate, rate), self._floor)

    def take_lesson(self, lesson: Lesson) -> None:
        """Another instance's 429 taught a pace and a burst: this budget's are no larger (taken once)."""
        if lesson.number <= self.lesson or self.ceiling is None:
            return
        bucket = self._bucket
        self.lesson = lesson.number
        bucket.rate = max(min(self._rate, lesson.per_second), self._floor)
        if lesson.per_second < self.ceiling:
            self.ceiling = max(lesson.per_second, self._floor)
            self._learned_until = max(self._learned_until, self.last_grant + RELEARN_SECONDS)
        bucket.resize(min(bucket.burst, lesson.burst))
        self.max_burst = min(self.max_burst, max(lesson.burst, 1.0))
        self.shown = min(self.shown, bucket.burst)

    def take_burst(self, other: "Learning") -> None:
        """Another budget of the same limit (another channel's) learned its burst: this one is no larger, and
        is not probed for meanwhile."""
        self._bucket.resize(min(self._bucket.burst, other._bucket.burst))
        self.max_burst = min(self.max_burst, other.max_burst)
        self.shown = min(self.shown, self._bucket.burst)
        self.probe_after = max(self.probe_after, other.probe_after)
