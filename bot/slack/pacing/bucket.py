"""A token bucket: the bot's picture of one of Slack's budgets at a moment. Pure: the caller passes the time.

It holds up to `burst` tokens and refills at `rate` tokens a second; while it is paused (Slack's Retry-After)
nothing may be spent, but Slack's own bucket goes on refilling, and so does this one. A budget without a rate
(`rate` None) holds no tokens of its own; only its pause counts.
"""

from __future__ import annotations

import math


class TokenBucket:
    def __init__(self, rate: float | None, burst: float, now: float = 0.0) -> None:
        self.rate = rate  # tokens a second (None: no budget of its own)
        self.burst = max(float(burst), 1.0)
        self.tokens = self.burst
        self.paused_until = -math.inf
        self._updated = now

    def refill(self, now: float) -> None:
        """Bring the tokens up to `now`."""
        if self.rate is not None and now > self._updated:
            self.tokens = min(self.tokens + (now - self._updated) * self.rate, self.burst)
        self._updated = max(self._updated, now)

    def paused(self, now: float) -> bool:
        return now < self.paused_until

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)

    def seconds_for(self, needed: float) -> float:
        """How long until the bucket holds `needed` tokens, at its rate (after a refill to now)."""
        return max(needed - self.tokens, 0.0) / self.rate if self.rate else 0.0

    def cap(self, tokens: float) -> None:
        """Hold no more than `tokens` (what Slack, or the budget other instances share, holds)."""
        self.tokens = min(self.tokens, max(tokens, 0.0))

    def resize(self, burst: float) -> None:
        """A burst of `burst` from now on (at least one call); tokens beyond it go."""
        self.burst = max(float(burst), 1.0)
        self.tokens = min(self.tokens, self.burst)

    @property
    def full(self) -> bool:
        return self.tokens >= self.burst
