"""What the bot learns of one of Slack's budgets from Slack's answers, and how each answer changes its bucket.
Pure: the caller passes the time.

A budget starts from the documented rate (its ceiling) and a modest burst, and learns:
- upward, by probing: when its bucket is empty and an URGENT call waits with nothing in flight, one more
  call goes; if Slack takes it, the burst grows by one; if Slack refuses it, the burst stays where it is
  and probing stops for a while (`PROBE_QUIET_SECONDS`);
- downward, by a 429 that was not a probe: the budget pauses for the Retry-After and halves what was too
  much (the burst, if the refused call was spending burst; the rate, if it came at the pace of the rate);
  every call that lands then adds a step back (additive increase, multiplicative decrease).
A budget without a rate (a workspace ceiling Slack does not publish) only honours Retry-After, until Slack
shows the ceiling was met (`learn_ceiling`): it then takes what it was doing as the ceiling, halved.
"""

from __future__ import annotations

import math

from bot.shared.base import PROBE_QUIET_SECONDS, Lesson
from bot.slack.pacing.bucket import TokenBucket

DECREASE = 0.5  # a 429 multiplies the rate and the burst by this
INCREASE = 0.05  # a call that lands adds this share of the ceiling back to the rate
BURST_INCREASE = 0.02  # ... and this share of the largest burst back to the burst
FLOOR = 0.1  # the rate never drops below this share of the ceiling
CEILING_EVIDENCE = 10.0  # seconds: the calls of this last while show how large a workspace ceiling's burst is


class Learning:
    def __init__(self, bucket: TokenBucket, per_minute: float | None, largest_burst: float | None) -> None:
        """`largest_burst`: how far probing may grow the burst (default: a minute's worth of calls)."""
        self._bucket = bucket
        self.ceiling = None if per_minute is None else per_minute / 60.0  # calls per second
        self.max_burst = max(bucket.burst, float(largest_burst if largest_burst is not None else per_minute or 0))
        self.probe_after = -math.inf
        self.lesson = 0  # the last lesson taken from the budget other instances share
        self.last_grant = -math.inf
        self._recent: list[float] = []  # without a rate: when the calls of the last minute were granted

    def may_probe(self, urgent: bool, first_in_line: bool, in_flight: bool, now: float) -> bool:
        """An URGENT call first in line may go beyond the bucket, to learn whether Slack's burst is larger."""
        return (urgent and first_in_line and not in_flight and now >= self.probe_after
                and self._bucket.burst < self.max_burst)

    def from_burst(self, now: float) -> bool:
        """A call granted now spends burst: a token to spare, or one left sooner after the last call than the
        rate gives."""
        bucket = self._bucket
        return bucket.tokens >= 2 or now - self.last_grant < 1 / bucket.rate

    def granted(self, now: float) -> None:
        if self.ceiling is None:
            self._recent = [at for at in self._recent if at > now - 60.0] + [now]
        self.last_grant = now

    def landed(self, probe: bool) -> None:
        """A call landed: the rate and the burst climb back a step toward their ceilings (a probe that landed
        shows that Slack's burst is one larger than thought)."""
        if self.ceiling is None:
            return
        bucket = self._bucket
        bucket.rate = min(bucket.rate + self.ceiling * INCREASE, self.ceiling)
        bucket.burst = min(bucket.burst + (1 if probe else self.max_burst * BURST_INCREASE), self.max_burst)

    def rate_limited(self, probe: bool, from_burst: bool, retry_after: float, now: float) -> bool:
        """Slack answered 429: nothing before `retry_after` has passed, then the one call Slack said it would
        take, and a slower pace and smaller bursts after (halved once per pause: calls already in flight when
        it began say nothing new). True if this budget's own spending explains the refusal (the call spent
        burst, or went beyond the bucket), rather than its steady rate."""
        bucket = self._bucket
        self.probe_after = now + PROBE_QUIET_SECONDS  # Slack said no: no probing for a while
        if probe:  # Slack's burst is about what the bucket holds
            self.max_burst = max(bucket.burst, 1.0)
        elif self.ceiling is not None and not bucket.paused(now):
            if from_burst:
                bucket.burst = max(bucket.burst * DECREASE, 1.0)
            else:
                bucket.rate = max(bucket.rate * DECREASE, self.ceiling * FLOOR)
        bucket.tokens = min(1.0, bucket.burst)  # nothing accrues during the pause
        bucket.pause(now + retry_after)
        return from_burst or probe

    def take_lesson(self, lesson: Lesson) -> None:
        """Another instance's 429 taught a pace and a burst: this budget's are no larger (taken once)."""
        if lesson.number <= self.lesson or self.ceiling is None:
            return
        bucket = self._bucket
        self.lesson = lesson.number
        bucket.rate = max(min(bucket.rate, lesson.per_second), self.ceiling * FLOOR)
        bucket.resize(min(bucket.burst, lesson.burst))

    def take_burst(self, other: "Learning") -> None:
        """Another budget of the same limit (another channel's) learned its burst: this one is no larger, and
        is not probed for meanwhile."""
        self._bucket.resize(min(self._bucket.burst, other._bucket.burst))
        self.max_burst = min(self.max_burst, other.max_burst)
        self.probe_after = max(self.probe_after, other.probe_after)

    def learn_ceiling(self, now: float) -> None:
        """Slack showed a ceiling this budget did not know: take what it was doing as the ceiling, halved."""
        if self.ceiling is not None:
            return
        bucket = self._bucket
        bucket.refill(now)  # without a rate: nothing accrues, the clock moves on
        last_minute = [at for at in self._recent if at > now - 60.0]
        last_seconds = sum(1 for at in last_minute if at > now - CEILING_EVIDENCE)
        self.ceiling = max(len(last_minute), 1) / 60.0
        bucket.rate = self.ceiling * DECREASE
        self.max_burst = max(float(last_seconds), 1.0)
        bucket.burst = max(self.max_burst * DECREASE, 1.0)
        bucket.tokens = min(bucket.tokens, 1.0)
        self._recent.clear()
