"""What every sink shares: the place a reply goes, the call a sink wants next, and the call it makes.

A sink is pure: it owns no thread, clock or network. Its driver (`writer.Writer`) asks it what call is
due (`due`), takes that call's turn from the pacer (telling the sink how long the turn would make it wait:
`wait`), asks the sink to make the call's content only then (`make`, so that it carries everything the model
said while it waited), makes the call and reports Slack's answer (`answered`). `due` decides which message
and which method once; `make` acts on that decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from bot.slack.kinds import SlackError
from bot.slack.pacing import Priority
from bot.slack.tags import Tag

SOON = 0.05  # seconds: a call that can go this soon is as good as one that can go now
HANDOVER_AFTER = 0.25  # seconds: a reply's first call that would wait longer may go to another surface's queue


@dataclass(frozen=True)
class Place:
    """Where a reply goes: the channel, the thread (None: in line, in a DM), and who asked (native streams
    are addressed to a person)."""

    channel: str
    thread_ts: str | None
    user: str
    team: str | None = None
    event: str = ""  # the event the reply answers: every message of the reply is tagged with it
    asked: str | None = None  # the question's ts: the reply's messages come after it

    def tag(self, part: int) -> Tag:
        return Tag(self.event, part, self.asked)


@dataclass(frozen=True)
class Due:
    """The call a sink wants next, before its content is made."""

    method: str
    index: int  # which message of the reply
    priority: Priority
    closes: bool = False  # a post that closes its message at its last whole line: it will never be edited


@dataclass(frozen=True)
class Call:
    """A Slack call a sink wants made now."""

    method: str
    index: int
    params: dict
    retry: bool  # False: a later call would carry the same and more, so a failure is not retried
    final: bool = False  # the message will not change after this call lands
    version: int = 0  # the message's layout version the call shows
    end: int = 0  # how much of the message's source the call takes Slack to (native streams)
    extra: dict = field(default_factory=dict, compare=False)  # what the sink needs back in `answered`
    tag: Tag | None = None  # the message the call makes or changes, so that a post is made only once


class Budgets(Protocol):
    """What a sink may know of Slack's budgets when it decides what to call: a sink picks a cheaper call when
    the better one must wait, and holds a call back when what must follow it would have to queue."""

    def ready(self, method: str) -> bool:
        """A call of `method` could go at once."""

    def room(self, method: str) -> float:
        """Calls of `method` the budget could take now beyond those waiting and spoken for."""

    def estimate(self, method: str) -> float:
        """How long a reply's first call of `method` asked for now would wait."""


class Unlimited:
    """Budgets that never hold anything back (a sink driven by hand, in a test)."""

    def ready(self, method: str) -> bool:
        return True

    def room(self, method: str) -> float:
        return float("inf")

    def estimate(self, method: str) -> float:
        return 0.0


class Sink(Protocol):
    """One surface's calls for the messages of a reply."""

    gone: bool  # the reply is out of reach (deleted, archived, stopped by a person): the model may stop
    stopped_by_person: bool  # ... because a person stopped it where Slack lets them (a stream's stop)
    handover: int | None  # the first message another surface must write (a stream Slack would not start)
    refusal: SlackError | None  # what Slack said when it refused this surface, if it did

    def due(self, now: float, budgets: Budgets) -> Due | None:
        """The call wanted now, or None."""

    def wake_at(self) -> float | None:
        """When `due` may next want a call; None: not before new text or an answer from Slack."""

    def wait(self, due: Due, seconds: float, budgets: Budgets) -> bool:
        """The call for `due` would wait `seconds` for its turn; False: the sink gives it up."""

    def make(self, due: Due, now: float) -> Call | None:
        """The call for `due`, made now; None if it turned out to have nothing to say."""

    def answered(self, call: Call, now: float, response: Mapping[str, Any] | None, error: SlackError | None) -> None:
        """What Slack answered to `call` (after the call policy's retries)."""

    def holding(self) -> int:
        """Messages the sink holds open now: each speaks for the calls its surface's record names (`holds`),
        which the bot will make soon."""

    @property
    def done(self) -> bool:
        """Every message shows its final text, or was given up on (or handed over)."""

    @property
    def shown_anything(self) -> bool:
        """Some of the answer (or a note) reached Slack."""

    @property
    def posted(self) -> list[str]:
        """The ts of every message the sink posted (or took over)."""
