"""One reply's messages in Slack, on whichever surface carries them.

`begin` shows a sign of life at once: the thread's "is thinking…" status (tried once: if Slack will not set
it, a placeholder goes at once instead), or a placeholder message. It may run on a thread of its own while
the conversation is read and the model asked: text that comes before the sign of life is up waits for it,
and `finish` waits for it too. If Slack will not take even the sign of life, there is nowhere to answer:
`nowhere` is set, `on_gone` is called (the model may stop) and `finish` shows nothing. The first words
choose the answer's sink (a native stream, or messages posted and edited; see `router`), which a `Writer`
then drives; everything
after is fed to the same layout. A stream that cannot or may not start hands the reply over to the edit
sink from that message on, and a refusal is passed to the router to learn from. A reply that ends before any
text (a failure, an empty answer) posts its note, or edits the placeholder into it. Whatever happens, the
reply ends showing the answer or a note, and a status that nothing replaced is cleared.

While its sink runs, the reply tells the router what it holds open (a stream, or posted messages awaiting
their final edit), so that the calls they will need are spoken for; it releases them when the sink ends.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from bot import notes
from bot.layout.layout import Layout
from bot.sinks.base import Place, Sink
from bot.sinks.edit import EditSink
from bot.sinks.router import Router, SignOfLife, Surface
from bot.sinks.stream import StreamSink
from bot.sinks.writer import Writer
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError

log = logging.getLogger(__name__)

STATUS = "assistant.threads.setStatus"


class Delivery:
    def __init__(
        self,
        calls: SlackCalls,
        router: Router,
        place: Place,
        *,
        interval: float,
        status: str = notes.STATUS,
        loading_messages: tuple[str, ...] = notes.LOADING_MESSAGES,
        feedback: dict | None = None,
        hold: float = 0.0,
        on_gone: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._calls = calls
        self._router = router
        self._place = place
        self._interval = interval
        self._status = status
        self._loading_messages = loading_messages
        self._feedback = feedback
        self._hold = hold
        self._on_gone = on_gone
        self._clock = clock
        self._changed = threading.Condition()
        self.layout = Layout()
        self.sign_of_life: SignOfLife | None = None
        self._placeholder: tuple[str, str] | None = None
        self._writer: Writer | None = None
        self._writers: list[Writer] = []
        self._held = (0, 0)  # (streams, edited messages) this reply holds open in the router's count
        self._begun = False  # the sign of life was shown (or could not be)
        self.nowhere = False  # Slack would not take even the sign of life
        self._reading: str | None = None  # a file whose reading began before the sign of life was up
        self.first_words_at: float | None = None  # when Slack first showed words of the answer (on `clock`)

    # -- what the reply does -----------------------------------------------------------------------

    def begin(self) -> bool:
        """Show at once that the bot is working. False if Slack would not take even that (nowhere to answer)."""
        shown = self._show_sign_of_life()
        with self._changed:
            self._begun, self.nowhere = True, not shown
            if shown and self._writer is None and self.layout.pending:
                self._start(self._first_sink())  # the first words came while the sign of life went up
            self._changed.notify_all()
        if not shown:
            self._on_gone()
        elif self._reading is not None:
            self._show_reading(self._reading)
        return shown

    def _show_sign_of_life(self) -> bool:
        if self._router.sign_of_life(self._place.channel, self._place.thread_ts) is SignOfLife.STATUS:
            try:  # once: a status that must wait for a retry is no sign of life
                self._set_status(self._status, loading_messages=list(self._loading_messages) or None)
                self.sign_of_life = SignOfLife.STATUS
                return True
            except SlackError as error:
                self._router.status_refused(error, self._place.channel)
        try:
            response = self._calls.call("chat.postMessage", tag=self._place.tag(0), channel=self._place.channel,
                                        thread_ts=self._place.thread_ts, text=notes.PLACEHOLDER,
                                        unfurl_links=False, unfurl_media=False)
        except SlackError as error:
            log.error("cannot answer in %s: %s", self._place.channel, error.code)
            return False
        self.sign_of_life = SignOfLife.PLACEHOLDER
        self._placeholder = (response["ts"], notes.PLACEHOLDER)
        return True

    def reading(self, name: str) -> None:
        """Say in the thread's status which file is being read, where the status is the sign of life and no
        answer has begun: at once, on a thread of its own (or right after the sign of life, if it is still on
        its way). A status that cannot be set is not worth a retry."""
        with self._changed:
            if not self._begun:
                self._reading = name
                return
        threading.Thread(target=self._show_reading, args=(name,), name="reply-status", daemon=True).start()

    def _show_reading(self, name: str) -> None:
        with self._changed:
            if self.sign_of_life is not SignOfLife.STATUS or self._writer is not None:
                return
        try:
            self._set_status(notes.reading(name))
        except SlackError as error:
            log.info("could not show what is being read in %s: %s", self._place.channel, error.code)

    def feed(self, text: str) -> None:
        with self._changed:
            wake = self.layout.feed(text)
            if not self._begun or self.nowhere:
                return  # it waits for the sign of life (`begin` starts the sink)
            if self._writer is None and not self.layout.finished:
                self._start(self._first_sink())
            elif wake:
                self._changed.notify_all()

    def finish(self, note: str | None = None, timeout: float | None = None) -> bool:
        """End the answer (the first call's note counts) and wait until every message shows its final text.
        False if that took longer than `timeout`, or a writer failed."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._changed:
            while not self._begun:  # the sign of life is still on its way
                if deadline is not None and self._clock() >= deadline:
                    return False
                self._changed.wait(None if deadline is None else max(deadline - self._clock(), 0.0))
            if self.nowhere:
                return True  # nowhere to show anything
            self.layout.finish(note)
            if self._writer is None:
                self._start(self._edit_sink())  # no text came: the note is all there is to show
            self._changed.notify_all()
        while True:
            with self._changed:
                writer = self._writer
            remaining = None if deadline is None else max(deadline - self._clock(), 0.0)
            if not writer.join(remaining):
                return False
            with self._changed:
                if self._writer is writer:  # no handover meanwhile
                    break
        self._clear_status_if_unused()
        return not any(writer.crashed for writer in self._writers)

    # -- what happened -----------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Slack calls made for the answer after the sign of life."""
        return sum(writer.calls for writer in self._writers)

    @property
    def failures(self) -> int:
        """Messages of the answer whose text Slack would not take (whether or not it went on in another)."""
        return self.layout.lost + self.layout.moved

    @property
    def surface(self) -> str:
        """How the answer went: "stream", "edit", or "stream+edit" when a stream handed over."""
        return "+".join(dict.fromkeys(writer.sink.name for writer in self._writers)) or "-"

    # -- internals ---------------------------------------------------------------------------------

    def _first_sink(self) -> Sink:
        if self._placeholder is None and self._router.answer_surface(
                self._place.channel, self._place.thread_ts) is Surface.STREAM:
            return StreamSink(self.layout, self._place, interval=self._interval, feedback=self._feedback,
                              wait_for_starts=self._router.surface is Surface.STREAM)
        return self._edit_sink()

    def _edit_sink(self, first: int = 0) -> EditSink:
        return EditSink(self.layout, self._place, interval=self._interval, first=first,
                        placeholder=self._placeholder if first == 0 else None, feedback=self._feedback,
                        hold=self._hold, text_since=self._clock())

    def _start(self, sink: Sink) -> None:
        """Run `sink` (with the lock held)."""
        self._writer = Writer(sink, self._calls, self._changed, channel=self._place.channel, clock=self._clock,
                              on_answer=self._answered, on_end=self._ended)
        self._writers.append(self._writer)
        self._hold_open(self._writer)
        self._writer.start()

    def _answered(self, writer: Writer) -> None:
        """Slack answered one of the writer's calls (with the lock held). Words of the answer, not a note that
        stands in for one (a failure, an empty answer), are the first words."""
        if self.first_words_at is None and writer.sink.shown_anything and any(self.layout.bodies):
            self.first_words_at = self._clock()
        self._hold_open(writer)

    def _hold_open(self, writer: Writer, held: tuple[int, int] | None = None) -> None:
        """Tell the router what this reply holds open now (with the lock held)."""
        held = writer.sink.holds() if held is None else held
        streams, edits = held[0] - self._held[0], held[1] - self._held[1]
        self._held = held
        if streams:
            self._router.streams_open(streams)
        if edits:
            self._router.edits_open(edits)

    def _ended(self, writer: Writer) -> None:
        """A writer's sink is done, or its writer failed (on the writer's own thread)."""
        sink = writer.sink
        with self._changed:
            self._hold_open(writer, (0, 0))  # whatever happened, it holds nothing open any more
            if sink.handover is not None and not writer.crashed:
                if sink.refusal is not None:
                    self._router.stream_refused(sink.refusal, self._place.channel)
                self._start(self._edit_sink(first=sink.handover))
            self._changed.notify_all()
        if writer.crashed and not sink.shown_anything:
            self._say_it_failed()
        if sink.gone:
            self._on_gone()  # nothing more can be shown: the model may stop

    def _say_it_failed(self) -> None:
        """A writer failed before showing anything: never leave a placeholder (or the status) behind."""
        try:
            if self._placeholder is not None:
                self._calls.call("chat.update", channel=self._place.channel, ts=self._placeholder[0], text=notes.FAILED)
            else:
                self._calls.call("chat.postMessage", tag=self._place.tag(0), channel=self._place.channel,
                                 thread_ts=self._place.thread_ts, text=notes.FAILED)
        except SlackError:
            log.exception("could not say in %s that the reply failed", self._place.channel)

    def _set_status(self, status: str, *, retry: bool = False, **extra) -> None:
        """The thread's status; by default tried once (a status that must wait for a retry is out of date)."""
        self._calls.call(STATUS, retry=retry, channel_id=self._place.channel, thread_ts=self._place.thread_ts,
                         status=status, **extra)

    def _clear_status_if_unused(self) -> None:
        """Slack clears the status when the app posts in the thread; a reply that posted nothing clears it."""
        if self.sign_of_life is not SignOfLife.STATUS or any(writer.sink.posted for writer in self._writers):
            return
        try:
            self._set_status("", retry=True)
        except SlackError as error:
            log.info("could not clear the status in %s: %s", self._place.channel, error.code)
