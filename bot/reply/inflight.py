"""The replies in flight: who may start one (shutdown, per-person limit), their deadlines, and stopping them.

A `Reply` is the record of one answer while it runs; another thread (the deadline, a shutdown, the news that
its message was deleted) may ask it to stop, which closes its model stream at once so no more tokens are
read or paid for. `InFlight` admits replies (a person may have a few in flight at once, counted across
instances where they share their state), gives them one of a bounded number of slots to ask the model in (a
reply waits for one after showing its sign of life), times them out and, on shutdown, lets them finish for a
grace period before stopping the rest with a note.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator

from bot import notes
from bot.request import Request
from bot.model.bedrock import ModelStream
from bot.shared.base import Lease, SharedState
from bot.shared.local import LocalState
from bot.sinks.delivery import Delivery

_RECHECK = 0.25  # seconds: how often a reply waiting for a slot looks whether it was stopped
STOP_MEMORY = 120.0  # seconds a Stop pressed in a thread is kept for the other instances
GONE = ""  # the stop note of a reply whose messages are out of reach: there is nowhere to show a note


class Reply:
    """A reply in flight."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.delivery: Delivery | None = None
        self.stop_note: str | None = None  # set once: why the reply was stopped
        self.first_text_after: float | None = None  # seconds from asking the model to its first text
        self.first_token_at: float | None = None  # when that first text came (on the replier's clock)
        self._stream: ModelStream | None = None
        self.lease: Lease | None = None  # one of its person's answers in flight, while admitted
        self.began_at = time.time()  # wall clock: a Stop pressed after this, on any instance, stops it
        self._lock = threading.Lock()

    @property
    def got_text(self) -> bool:
        """The model sent some text: from then on a failure interrupts the answer."""
        return self.first_text_after is not None

    def attach(self, stream: ModelStream) -> ModelStream:
        with self._lock:
            self._stream = stream
            stopped = self.stop_note is not None
        if stopped:
            stream.close()
        return stream

    def stop(self, note: str) -> None:
        with self._lock:
            if self.stop_note is None:
                self.stop_note = note
            stream = self._stream
        if stream is not None:
            stream.close()


class InFlight:
    def __init__(self, *, max_per_person: int, deadline: float, slots: int = 1_000,
                 clock: Callable[[], float] = time.monotonic, state: SharedState | None = None) -> None:
        """`state`: where a person's answers in flight are counted (by default, in this process only)."""
        self._max_per_person = max_per_person
        self._state = state or LocalState(clock)
        self._slots = slots
        self._running = 0
        self._deadline = deadline
        self._clock = clock
        self._active: list[Reply] = []
        self._changed = threading.Condition()
        self._accepting = True

    def admit(self, reply: Reply) -> str | None:
        """Register `reply`, or say (as a note) why not."""
        with self._changed:
            if not self._accepting:
                return notes.SHUTTING_DOWN
        lease = self._state.lease(reply.request.user, self._max_per_person)  # across instances, if shared
        if lease is None:
            return notes.TOO_MANY_AT_ONCE.format(count=self._max_per_person)
        with self._changed:
            if not self._accepting:  # shutdown began meanwhile
                lease.release()
                return notes.SHUTTING_DOWN
            reply.lease = lease
            self._active.append(reply)
            return None

    def done(self, reply: Reply) -> None:
        if reply.lease is not None:
            reply.lease.release()
        with self._changed:
            self._active.remove(reply)
            self._changed.notify_all()

    @contextlib.contextmanager
    def slot(self, reply: Reply) -> Iterator[bool]:
        """Wait for a free slot to ask the model in; yields False if the reply was stopped while it waited."""
        with self._changed:
            while self._running >= self._slots and reply.stop_note is None:
                self._changed.wait(_RECHECK)  # a stop (deadline, shutdown) is seen within this
            if reply.stop_note is not None:
                got = False
            else:
                got, self._running = True, self._running + 1
        try:
            yield got
        finally:
            if got:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()

    @contextlib.contextmanager
    def deadline(self, reply: Reply) -> Iterator[None]:
        """Stop `reply` with a note if it is still running when its time is up."""
        timer = threading.Timer(self._deadline, reply.stop, args=(notes.TOOK_TOO_LONG,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def stop_thread(self, channel: str, thread_ts: str, note: str) -> int:
        """A person pressed Stop in this thread: stop this instance's replies there at once, and leave word for
        the other instances (where they share their state) of those started before now; how many stopped here."""
        stopped_at = time.time()  # wall clock: the instances compare it with when their replies began
        with self._changed:
            here = [reply for reply in self._active if _thread_of(reply) == (channel, thread_ts)]
        for reply in here:
            reply.stop(note)
        self._state.put(_stop_key(channel, thread_ts), repr(stopped_at), STOP_MEMORY)
        return len(here)

    def watch_stops(self, note: str, every: float = 0.25) -> None:
        """Stop this instance's replies in a thread where a person pressed Stop on another instance (read from the
        shared state, `every` seconds), on a thread of its own."""
        def watch() -> None:
            while True:
                time.sleep(every)
                with self._changed:
                    running = [reply for reply in self._active if reply.stop_note is None and _thread_of(reply)[1]]
                for reply in running:
                    stopped_at = self._state.get(_stop_key(*_thread_of(reply)))
                    if stopped_at is not None and float(stopped_at) >= reply.began_at:
                        reply.stop(note)

        threading.Thread(target=watch, name="stop-watch", daemon=True).start()

    def shutdown(self, grace: float, final_edit_timeout: float = 15.0) -> int:
        """Take no new replies, let those in flight finish for `grace` seconds, then stop the rest with a
        note. Returns how many were stopped."""
        with self._changed:
            self._accepting = False
            self._wait_until_idle(grace)
            unfinished = list(self._active)
        for reply in unfinished:
            reply.stop(notes.SHUTTING_DOWN)  # closes its model stream: its own thread ends it with the note
        with self._changed:
            self._wait_until_idle(final_edit_timeout)
            stuck = list(self._active)
        deadline = self._clock() + final_edit_timeout  # one bound for all of them, not one each
        for reply in stuck:  # still waiting on Bedrock or Slack: end what Slack shows from here
            if reply.delivery is not None:
                reply.delivery.finish(notes.SHUTTING_DOWN, timeout=max(deadline - self._clock(), 0.0))
        return len(unfinished)

    def _wait_until_idle(self, seconds: float) -> None:
        """Wait (with the lock held) until no reply is in flight, or `seconds` have passed."""
        deadline = self._clock() + seconds
        while self._active and (remaining := deadline - self._clock()) > 0:
            self._changed.wait(remaining)


def _thread_of(reply: Reply) -> tuple[str, str | None]:
    return reply.request.channel, reply.request.reply_thread_ts


def _stop_key(channel: str, thread_ts: str | None) -> str:
    return f"stop:{channel}:{thread_ts}"
