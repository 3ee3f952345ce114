"""The interface every shared state offers, and the small values it trades in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

# The rules a budget follows whether one instance keeps it (`bot.slack.pacing`) or several share it (`redis_state`):
SLOW_CALL_SECONDS = 2.0  # a call in flight this long no longer holds the next one back (nor a probe the next probe)
PROBE_QUIET_SECONDS = 60.0  # no probing of a budget for a larger burst this long after a 429


@dataclass(frozen=True)
class RedisSettings:
    """Where several instances keep what they share (REDIS_URL, REDIS_KEY_PREFIX, REDIS_TIMEOUT_SECONDS,
    REDIS_LEASE_SECONDS). No URL: one instance, state in the process."""

    url: str = ""
    key_prefix: str = ""  # "": the app's own (`app_prefix`), so two bots sharing a Redis never mix their keys
    timeout_seconds: float = 0.25  # the longest a reply waits on Redis before using this instance's own state
    lease_seconds: float = 30.0  # an answer in flight counts for its person this long after its instance stops


def app_prefix(team_id: str, bot_id: str) -> str:
    """The default key prefix: the bot's app in its workspace (what every instance of one bot shares, and no other
    bot does)."""
    return f"bedrock-slack-bot:{team_id}:{bot_id}"


@dataclass(frozen=True)
class Bucket:
    """One of Slack's budgets, as a call asks it for a token: `name` (a method, or a method in a channel),
    the pace it refills at now (`per_second`; None: no budget of its own, only Retry-After pauses), the burst
    it holds, the tokens the call needs there (1, or more for a routine call that leaves a reserve), the
    tokens this instance's bucket holds (after a 429: what Slack's holds, as `pacing.learning` reckons it),
    and how many calls of it may be in flight at once, across instances, with this one (`places`, as
    `pacing.learning.Learning.in_flight` allows)."""

    name: str
    per_second: float | None
    burst: float
    needs: float = 1.0
    tokens: float = 1.0
    places: int = 1


@dataclass(frozen=True)
class Lesson:
    """What a 429 taught one instance about a budget (the pace it may climb back to, and its burst), numbered
    so that every other instance takes it once."""

    number: int
    per_second: float
    burst: float


@dataclass(frozen=True)
class Taken:
    """What a shared budget answered a call's `take`: `wait` 0.0 if the call may go (its tokens are spent),
    else the seconds to wait; and, for each bucket asked, the tokens it holds now (after this call's, if it
    goes; None where the store keeps no tokens of its own), the seconds its pause has yet to run, the last
    lesson a 429 taught about it, and how many calls every instance has been granted from it so far (with this
    one, if it goes; None where not counted), so that the instance's own budgets see what the others spent and
    learned, and measure Slack's pace by all the calls it took."""

    wait: float
    tokens: tuple[float | None, ...] = ()
    paused_for: tuple[float, ...] = ()
    lessons: tuple[Lesson | None, ...] = ()
    granted: tuple[int | None, ...] = ()


NOTHING_SHARED = Taken(0.0)  # a store with no budgets of its own: the instance's budgets decide alone


@dataclass(frozen=True)
class Held:
    """What one shared budget holds now, as `follow` tells it: its tokens (None without a pace of its own),
    the seconds its pause has yet to run, the calls the other instances want of it (waiting or spoken for),
    and how many other instances follow it."""

    tokens: float | None
    paused_for: float
    others_want: float
    others: int = 0


class Lease(ABC):
    """One answer in flight for one person, held until `release()` (or, in a store several instances share,
    until it expires because its instance stopped renewing it)."""

    @abstractmethod
    def release(self) -> None: ...


class SharedState(ABC):
    """What instances serving one workspace must agree on. Thread-safe. No method blocks longer than the
    store's short timeout: a store that cannot answer in time answers from this process's own state."""

    @abstractmethod
    def claim(self, keys: Sequence[str]) -> bool:
        """True if none of `keys` (an event's id, its message) was claimed before: this instance answers it.
        False for every later claim of any of them, by any instance, for an hour."""

    @abstractmethod
    def take(self, buckets: Sequence[Bucket], probe: bool = False, call: str = "") -> Taken:
        """Take a token from each of `buckets` for one Slack call (`call`, unique in this instance), all or
        none: `wait` 0.0 if they are taken, or the seconds to wait before asking again (a pause for a
        Retry-After, a token yet to come, or as many calls in flight as the bucket's `places`).
        `probe`: the call goes beyond this instance's bucket to learn whether Slack's burst is larger; it
        may, if no other instance is probing that budget and none was answered 429 there lately."""

    @abstractmethod
    def pause(self, buckets: Sequence[Bucket], seconds: float, call: str = "") -> None:
        """Slack answered `call` of these budgets 429 with a Retry-After of `seconds`: none of them is
        spent by anyone until then, and their pace and burst as the refused instance now knows them are a
        lesson for every instance; and nobody probes them for a larger burst for a while (as one instance
        does not after a 429)."""

    def follow(self, wants: Callable[[], Sequence[Bucket]], learn: Callable[[Mapping[str, Held]], None]) -> None:
        """Keep this instance's view of the shared budgets fresh, a few times a second: what `wants` says it
        wants of each budget (`Bucket.needs`: its calls waiting or spoken for) goes to the others, and what
        each budget holds, with what the others want of it, goes to `learn`. A store that shares nothing
        has nothing to tell."""

    @abstractmethod
    def answered(self, names: Sequence[str], call: str = "") -> None:
        """Slack answered `call`, which `take` let go in these budgets (a 429 is told to `pause` instead): its
        place in flight is free."""

    @abstractmethod
    def lease(self, holder: str, limit: int) -> Lease | None:
        """A lease for one more answer in flight for `holder` (a person), or None if `limit` are already held."""

    @abstractmethod
    def put(self, key: str, value: str, seconds: float) -> None:
        """Keep `value` under `key` for `seconds`, where every instance can read it (a person's answer to a
        question one instance asked, which another may have received)."""

    @abstractmethod
    def get(self, key: str) -> str | None:
        """What `put` kept under `key`, if it has not expired."""

    @abstractmethod
    def add(self, key: str, amount: int, seconds: float) -> int:
        """Add `amount` to the count under `key` (kept `seconds` from its first add), for every instance; the
        count now. `amount` 0 reads it."""

    @property
    @abstractmethod
    def status(self) -> str:
        """How the state is kept now, for /healthz and the log: "local", "redis", or "local: <why>"."""

    def close(self) -> None:
        """Stop any background work (renewing leases)."""
