"""Drives a sink on a thread of its own: waits until a call is due and the pacer gives it a turn, makes the
call, reports Slack's answer back, until the sink is done.

The model stream is read on another thread, so a slow Slack call never slows the model, and a burst of
text never queues Slack calls: text that comes while a call waits for its turn is in that call, because
the sink makes the call's content only when the turn is granted. The writer shares one condition (lock)
with the reply's layout, so new text wakes it only when it may make a call due sooner.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, cast

from bot.sinks.base import Call, Sink
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError
from bot.slack.pacing import Pacer, Priority, Turn

log = logging.getLogger(__name__)


class _PacerBudgets:
    """The pacer's budgets, as a sink sees them (see `base.Budgets`)."""

    def __init__(self, pacer: Pacer, channel: str) -> None:
        self._pacer = pacer
        self._channel = channel

    def ready(self, method: str) -> bool:
        return self._pacer.estimate(method, channel=self._channel) == 0

    def room(self, method: str) -> float:
        return self._pacer.room(method)

    def estimate(self, method: str) -> float:
        return self._pacer.estimate(method, Priority.FIRST, self._channel)


class Writer:
    def __init__(self, sink: Sink, calls: SlackCalls, changed: threading.Condition, *, channel: str,
                 clock: Callable[[], float] = time.monotonic,
                 on_answer: Callable[["Writer"], None] = lambda writer: None,
                 on_end: Callable[["Writer"], None] = lambda writer: None,
                 may_call: Callable[[], bool] = lambda: True) -> None:
        """`on_answer` runs after each of Slack's answers is reported to the sink (with the lock held);
        `on_end` when the sink is done (without it); `may_call` says (with the lock held) whether a call may
        be made now (else the writer waits for the next change)."""
        self.sink = sink
        self._calls = calls
        self._pacer = calls.pacer
        self._changed = changed
        self._channel = channel
        self._clock = clock
        self._budgets = _PacerBudgets(self._pacer, channel)
        self._on_answer = on_answer
        self._on_end = on_end
        self._may_call = may_call
        self._thread = threading.Thread(target=self._run, name="reply-writer", daemon=True)
        self.calls = 0
        self.crashed = False

    def start(self) -> "Writer":
        self._thread.start()
        return self

    def join(self, timeout: float | None) -> bool:
        """Wait until the sink is done; False if that took longer than `timeout`."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            while (next_call := self._next()) is not None:
                self._make(*next_call)
        except Exception:  # a bug here must not take the process down; the log says what happened
            self.crashed = True
            log.exception("the reply in %s stopped updating", self._channel)
        finally:
            self._on_end(self)

    def _next(self) -> tuple[Call, Turn] | None:
        """Wait until a call is due and its turn is granted; None when the sink is done."""
        turn: Turn | None = None
        try:
            with self._changed:
                while True:
                    now = self._clock()
                    due = self.sink.due(now, self._budgets)
                    if due is None:
                        if turn is not None:
                            turn.close()
                            turn = None
                        if self.sink.done:
                            return None
                        wake_at = self.sink.wake_at()
                        self._changed.wait(None if wake_at is None else max(wake_at - now, 0.0))
                        continue
                    if turn is None or turn.method != due.method:
                        if turn is not None:
                            turn.close()
                        turn = self._pacer.turn(due.method, due.priority, self._channel)
                    turn.upgrade(due.priority)
                    wait = turn.ask()
                    if wait > 0:
                        if not self.sink.wait(due, turn.expected, self._budgets):  # it would rather do something else
                            turn.close()
                            turn = None
                            continue
                        self._changed.wait(wait)  # new text or the end of the stream may change what is due
                        continue
                    if not self._may_call():  # something else must reach Slack first: wait until it has
                        turn.unused()
                        turn.close()
                        turn = None
                        self._changed.wait()
                        continue
                    call = self.sink.make(due, self._clock())  # made now: all the text that came while it waited
                    if call is None:  # nothing to send after all
                        turn.unused()
                        turn.close()
                        turn = None
                        continue
                    granted, turn = turn, None
                    self.calls += 1  # counted at once, with the lock held: the reply sees a call on its way
                    return call, granted
        finally:
            if turn is not None:
                turn.close()

    def _make(self, call: Call, turn: Turn) -> None:
        response, error = None, None
        try:
            response = cast(dict, self._calls.call(call.method, turn=turn, retry=call.retry, tag=call.tag,
                                                   **call.params).data)
        except SlackError as failure:
            error = failure
        with self._changed:
            self.sink.answered(call, self._clock(), response, error)
            self._on_answer(self)
            self._changed.notify_all()
