"""A `Turn`: one call's place in its method's budgets, from asking until Slack's answer.

    with pacer.turn("chat.update", Priority.ROUTINE) as turn:
        turn.wait()              # or: turn.ask() → seconds to wait, to wait on something else meanwhile
        ...make the call...
        turn.landed()            # or turn.rate_limited(seconds); leaving without an outcome counts as failed

Use it once, as a context manager: leaving it withdraws a turn that was never granted, and counts a granted
one that reported no outcome as failed. The pacer keeps the budgets; the turn only says where it stands.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from bot.slack.pacing.queue import Priority

if TYPE_CHECKING:
    from bot.slack.pacing.budget import Budget
    from bot.slack.pacing.pacer import Pacer

LANDED, RATE_LIMITED, FAILED, UNUSED = "landed", "rate_limited", "failed", "unused"


class Turn:
    def __init__(self, pacer: "Pacer", method: str, priority: Priority, budgets: "list[Budget]",
                 channel: str | None = None, newest_first: bool = False, call: str = "") -> None:
        self.method = method
        self.call = call  # names the call where instances share its budgets (unique in the process)
        self.priority = priority
        self.newest_first = newest_first  # among waiters of its priority, the newest goes first (see `queue`)
        self.channel = channel
        self.budgets = budgets  # the channel's first (where Slack limits the method per channel), then the workspace's
        self._pacer = pacer
        self.granted = False
        self.answered = False
        self.expected = 0.0  # how long the turn is likely to wait in all, as its last ask reckoned it
        self.asked_at: float | None = None  # when it first asked for its turn
        self.since: float | None = None  # its place in the queues, if earlier: when its call's first attempt asked

    @property
    def names(self) -> list[str]:
        """The names of the turn's budgets where instances share them: the channel's, then the workspace's."""
        return [f"{self.method}@{self.channel}", self.method] if len(self.budgets) > 1 else [self.method]

    def ask(self) -> float:
        """0.0: the call may go now (the turn is granted); otherwise the seconds to wait before asking again."""
        return self._pacer.ask(self)

    def wait(self, sleep: Callable[[float], None] = time.sleep, deadline: float | None = None) -> float:
        """Block until the call may go; 0. With a `deadline` (on the pacer's clock), a wait that would end after
        it is not begun: the seconds it would have taken are returned instead."""
        while (seconds := self.ask()) > 0:
            if deadline is not None and self._pacer.clock() + seconds > deadline:
                return seconds
            sleep(seconds)
        return 0.0

    def again(self) -> "Turn":
        """A turn for the next attempt of this call (after a 429 or a failure): someone waits on it (URGENT, or
        this turn's priority if higher), and it keeps the place this call first took in the queues, so a
        retry is not sent behind the calls that came after its first attempt."""
        retry = self._pacer.turn(self.method, min(self.priority, Priority.URGENT), self.channel, self.newest_first)
        retry.since = self.since if self.since is not None else self.asked_at
        return retry

    def upgrade(self, priority: Priority) -> None:
        """Someone now waits on this call (its text became first words, or final)."""
        self._pacer.upgrade(self, priority)

    def landed(self) -> None:
        self._pacer.answered(self, LANDED)

    def rate_limited(self, retry_after: float) -> None:
        self._pacer.answered(self, RATE_LIMITED, retry_after)

    def failed(self) -> None:
        self._pacer.answered(self, FAILED)

    def unused(self) -> None:
        """The turn was granted but no call was made: its tokens go back (here; the shared budget keeps them)."""
        self._pacer.answered(self, UNUSED)

    def close(self) -> None:
        if not self.granted:
            self._pacer.withdraw(self)
        elif not self.answered:
            self.failed()

    def __enter__(self) -> "Turn":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
