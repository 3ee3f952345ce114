"""The calls of one budget that Slack has not answered yet, and what each was spending. Pure.

A budget with a rate lets a few calls be in flight at a time (see `budget`); a call in flight longer than
`SLOW_CALL_SECONDS` no longer holds the next one back, and its answer, when it comes, frees nothing.
"""

from __future__ import annotations

from typing import Hashable

from bot.shared.base import SLOW_CALL_SECONDS


class InFlight:
    def __init__(self) -> None:
        self._since: dict[Hashable, float] = {}  # who holds a call not yet answered → when it was granted
        self._from_burst: dict[Hashable, bool] = {}  # whether it was spending burst
        self._probes: dict[Hashable, str] = {}  # calls beyond the bucket → what they probe: "burst" or "rate"

    def __len__(self) -> int:
        return len(self._since)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._since

    def hold(self, key: Hashable, now: float) -> None:
        """`key`'s call may go: nobody else goes first meanwhile (its kind is told by `spend` or `probe`)."""
        self._since.setdefault(key, now)

    def release(self, key: Hashable) -> None:
        """`key` gives its place back without a call (another budget said wait)."""
        self.answered(key)

    def spend(self, key: Hashable, now: float, from_burst: bool) -> None:
        self._since[key] = now
        self._from_burst[key] = from_burst

    def probe(self, key: Hashable, now: float, kind: str) -> None:
        self._since[key] = now
        self._probes[key] = kind

    def was_probe(self, key: Hashable, kind: str | None = None) -> bool:
        """`key`'s call went beyond the bucket (to probe `kind`, "burst" or "rate", if given)."""
        return key in self._probes and kind in (None, self._probes[key])

    def was_from_burst(self, key: Hashable) -> bool:
        return self._from_burst.get(key, False)

    def answered(self, key: Hashable) -> None:
        self._since.pop(key, None)
        self._from_burst.pop(key, None)
        self._probes.pop(key, None)

    def forget_slow(self, now: float) -> None:
        """A slow call stops holding the others back; its answer, when it comes, frees nothing."""
        self._since = {holder: at for holder, at in self._since.items() if now - at < SLOW_CALL_SECONDS}
        self._from_burst = {holder: burst for holder, burst in self._from_burst.items() if holder in self._since}
        self._probes = {holder: kind for holder, kind in self._probes.items() if holder in self._since}
