"""The Slack the benchmark runs against: each method's rate limit, as the stand-in enforces it.

Rates are Slack's documented tiers (per app and workspace): chat.update Tier 3 (50 a minute),
chat.startStream and chat.stopStream Tier 2 (20), chat.appendStream Tier 4 (100). chat.postMessage is in the
special tier: about one a second in each channel, plus a workspace ceiling Slack does not publish;
assistant.threads.setStatus is special too, and its numbers are not published at all. Slack publishes no
burst sizes, so each profile picks them: `small` (a tenth of a minute's calls, at least 2) and `large` (a
whole minute's). For the numbers Slack does not publish, every profile assumes one a second per channel and
a workspace ceiling of 600 a minute (bursts of 100, or 300 with `large`); `strict` shrinks those bursts to 20
as well, to show what a workspace with a low ceiling looks like.
"""

from __future__ import annotations

from dataclasses import dataclass

from standins.slack import FakeSlack

TIERS = {"chat.update": 50, "chat.startStream": 20, "chat.stopStream": 20, "chat.appendStream": 100,
         "chat.postEphemeral": 100}  # calls a minute
SPECIAL = ("chat.postMessage", "assistant.threads.setStatus")
SPECIAL_PER_MINUTE = 600  # the assumed workspace ceiling of the special-tier methods


@dataclass(frozen=True)
class Limit:
    method: str
    per_minute: float
    burst: float
    per_channel: bool = False

    def __str__(self) -> str:
        where = " per channel" if self.per_channel else ""
        return f"{self.method}{where}: {self.per_minute:g}/min, burst {self.burst:g}"


def _profile(tier_burst, channel_burst: float, special_burst: float) -> tuple[Limit, ...]:
    return (
        *(Limit(method, rate, tier_burst(rate)) for method, rate in TIERS.items()),
        *(Limit(method, 60, channel_burst, per_channel=True) for method in SPECIAL),
        *(Limit(method, SPECIAL_PER_MINUTE, special_burst) for method in SPECIAL),
    )


PROFILES: dict[str, tuple[Limit, ...]] = {
    "small": _profile(lambda rate: max(2, rate // 10), channel_burst=1, special_burst=100),
    "large": _profile(lambda rate: rate, channel_burst=3, special_burst=300),
    "strict": _profile(lambda rate: max(2, rate // 10), channel_burst=1, special_burst=20),
}


def apply(slack: FakeSlack, limits: tuple[Limit, ...]) -> None:
    for limit in limits:
        slack.limit(limit.method, burst=limit.burst, per_second=limit.per_minute / 60, per_channel=limit.per_channel)
