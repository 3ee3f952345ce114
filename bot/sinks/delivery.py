"""One reply's messages in Slack, on whichever surfaces carry them (see `surfaces` for the records).

`begin` shows that the bot is working, as soon as Slack's budgets allow and never after the first words: the
sign of life the router ranks first. The thread's "is thinking…" status waits for its turn on a budget of
its own while the first words may go (they make it unneeded if they go first; while its call is in flight
they wait for it, so that Slack shows them after it); a placeholder message goes at once, and only where
the edit that will replace it has room; where neither can, the first words, which usually come within a
second, are the first sign. `begin` runs on a thread of its own while the conversation is read and the
model asked; `finish` waits for a sign of life on its way. If Slack will not take even a message, there is
nowhere to answer: `nowhere` is set, `on_gone` is called (the model may stop) and `finish` shows nothing.

The first words choose the answer's surface (`Router.answer_surface`), whose sink a `Writer` then drives;
everything after is fed to the same layout. A sink that cannot or may not go on hands the rest of the reply
over to the surface its record falls back to, from that message on, and a refusal is passed to the router to
learn from. A reply that ends before any text (a failure, an empty answer) shows its note on the last resort
(it posts the note, or edits the placeholder into it). Whatever happens, the reply ends showing the answer
or a note, and a sign of life that nothing replaced is cleared.

While a sink runs (or a sign of life stands), the reply tells the router what it holds open (the calls its
record says each open message will need: a stream's stop, a posted message's final edit, the edit that
replaces a placeholder), so that they are spoken for; it releases them when the sink ends.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from bot import notes
from bot.layout.layout import Layout
from bot.sinks.base import Place
from bot.sinks.cadence import Cadence, Every
from bot.sinks.router import YIELD_SECONDS, Router
from bot.sinks.surfaces import LAST_RESORT, SURFACES, Opening, SignOfLife, Surface, fallback
from bot.sinks.writer import Writer
from bot.slack import methods
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError
from bot.slack.pacing import Priority, Turn

log = logging.getLogger(__name__)

YIELD_LOOKS_EVERY = 0.05  # seconds: how often a finished answer that yields looks whether it still must


@dataclass(frozen=True)
class DeliverySettings:
    """How replies show in Slack (SLACK_REPLY_SURFACE, SLACK_UPDATE_INTERVAL_SECONDS, SLACK_POST_HOLD_SECONDS,
    SLACK_STATUS, SLACK_STATUS_TEXT, SLACK_LOADING_MESSAGES, SLACK_FEEDBACK_BUTTONS, SLACK_AGENT_SESSIONS)."""

    reply_surface: str = "auto"  # auto: native streams where possible | stream | edit (see `surfaces.PREFERENCES`)
    update_interval_seconds: float = 0.3  # least time between two updates (edits or appends) of one message
    post_hold_seconds: float = 1.5  # while every edit is spoken for: how long each post may hold to carry more
    status: bool = True  # show "is thinking…" under the thread (else a placeholder message)
    status_text: str = notes.STATUS
    loading_messages: tuple[str, ...] = notes.LOADING_MESSAGES
    feedback_buttons: bool = True
    agent_sessions: bool = True  # Slack's Stop button while the bot works (agent sessions), where the app may


@dataclass
class _Run:
    """One surface's sink at work for the reply, and what it holds open in the router's count."""

    surface: Surface
    writer: Writer
    held: dict[str, int] = field(default_factory=dict)


class Delivery:
    def __init__(
        self,
        calls: SlackCalls,
        router: Router,
        place: Place,
        *,
        cadence: Cadence = Every(1.0),
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
        self._cadence = cadence
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
        self._run: _Run | None = None  # the sink writing now
        self._runs: list[_Run] = []
        self._begun = False  # the words may go: the sign of life is up, or need not be waited for
        self._sign_in_flight = False  # a sign of life's call is in flight: the answer's first call waits for it
        self.nowhere = False  # Slack would not take even the sign of life
        self._doing: str | None = None  # what the bot is doing (reading a file), to say once the sign of life is up
        self._sign_held: dict[str, int] = {}  # the calls the sign of life holds until the answer's sink does
        self.first_words_at: float | None = None  # when Slack first showed words of the answer (on `clock`)
        self._text_since: float | None = None  # when the model's first words came (a post holds from then)
        self._yielding = False  # its words let replies that show nothing yet open first (see `_open_or_yield`)

    # -- what the reply does -----------------------------------------------------------------------

    def begin(self) -> bool:
        """Show that the bot is working, as soon as Slack's budgets allow it and never after the first words
        (see `Router.sign_of_life`): a sign that queues for its turn lets the words go meanwhile, and is not
        shown once they have gone. False if Slack would not take even that (nowhere to answer)."""
        self._router.unseen(self)
        sign = self._decide_sign()
        failed: tuple[SignOfLife, SlackError] | None = None
        shown = False
        while sign is not None:
            try:
                shown, failed = self._show(sign), None
                break
            except SlackError as error:
                if sign.refused is not None:
                    self._router.refused(sign.name, sign.refused, error, self._place.channel)
                failed = (sign, error)
                sign = self._decide_sign(instead_of=sign)
        # a message Slack will not take: the answer's messages will not be taken either
        nowhere = failed is not None and methods.method(failed[0].method).opens_message
        if shown or nowhere:
            self._router.seen(self)
        with self._changed:
            self._begun, self.nowhere = True, nowhere
            if not nowhere and self._run is None and (self.layout.pending or self.layout.steps.pending):
                self._open_or_yield()  # the words (or a step) came while the sign of life went up
            self._changed.notify_all()
        if nowhere and failed is not None:
            log.error("cannot answer in %s: %s", self._place.channel, failed[1].code)
            self._on_gone()
        elif shown and self._doing is not None:
            self._show_doing()
        return not nowhere

    def _show(self, sign: SignOfLife) -> bool:
        """Show `sign` (a `SlackError` if Slack would not); False if the first words went first, so that a sign
        that queues for its turn was not needed."""
        turn = None
        if sign.queues:
            turn = self._turn_before_words(sign)
            if turn is None:
                return False
        try:
            self._placeholder = sign.show(self._calls, self._place, self._status, self._loading_messages,
                                          sign.retried, turn=turn)
        finally:
            if turn is not None:
                turn.close()
                with self._changed:
                    self._sign_in_flight = False
                    self._changed.notify_all()
        with self._changed:
            self.sign_of_life = sign
        return True

    def _decide_sign(self, instead_of: SignOfLife | None = None) -> SignOfLife | None:
        """The sign of life to show (`instead_of`: one Slack would not take), the calls it holds spoken for in
        the same breath: no other reply decides on the room this one takes."""
        with self._changed, self._router.deciding:
            self._hold_for_sign({})
            sign = self._router.sign_of_life(self._place, instead_of=instead_of)
            if sign is not None:
                self._hold_for_sign(sign.holds)
        return sign

    def _hold_for_sign(self, holds: Mapping[str, int]) -> None:
        """The sign of life holds `holds` now, until the answer's sink holds what it needs (with the lock held)."""
        for method, calls in self._sign_held.items():
            self._router.hold(method, -calls)
        self._sign_held = dict(holds)
        for method, calls in self._sign_held.items():
            self._router.hold(method, calls)

    def _start_best(self, instead_of: Surface | None = None, first: int = 0) -> None:
        """Start the surface where the reply's words open soonest (with the lock held), speaking for what it
        holds in the same breath."""
        with self._router.deciding:
            self._start(self._router.answer_surface(self._place, self.sign_of_life, instead_of=instead_of), first)

    def _turn_before_words(self, sign: SignOfLife) -> Turn | None:
        """Wait for `sign`'s turn while the first words may go (they need not wait for it); the turn, granted,
        with the answer's first call held back until its call is answered (so that Slack shows the words after
        it), or None if the words went first."""
        with self._changed:
            self._begun = True
            if self._run is None and self.layout.pending:
                self._start_best()
        turn = self._calls.pacer.turn(sign.method, Priority.FIRST, self._place.channel, sign.newest_first)
        while (wait := turn.ask()) > 0:
            with self._changed:
                if self._words_went():
                    turn.close()
                    return None
                self._changed.wait(wait)
        with self._changed:
            if self._words_went():
                turn.unused()
                turn.close()
                return None
            self._sign_in_flight = True
        return turn

    def wait_for_words(self, timeout: float) -> None:
        """Wait until the answer's first call has gone to Slack (or the answer is over), at most `timeout`."""
        with self._changed:
            self._changed.wait_for(lambda: self._words_went() or self.nowhere or self.layout.finished, timeout)

    def _words_went(self) -> bool:
        """The answer's first call was made (with the lock held): a sign of life after it would be late."""
        return any(run.writer.calls for run in self._runs)

    def reading(self, name: str) -> None:
        """Say in the sign of life which file is being read (see `doing`)."""
        self.doing(notes.reading(name))

    def doing(self, status: str) -> None:
        """Say in the sign of life what the bot is doing ("is searching the handbook…"), where it can say so and
        nothing of the answer has gone to Slack: at once, on a thread of its own (or right after the sign of
        life, if it is still on its way). A sign that cannot be changed is not worth a retry."""
        with self._changed:
            self._doing = status
            if not self._begun or self.sign_of_life is None:
                return
        threading.Thread(target=self._show_doing, name="reply-status", daemon=True).start()

    def _show_doing(self) -> None:
        """Show the newest `doing` (again, if it changed while a call showed an older one). While its call is
        in flight the answer's calls wait for it, so that Slack never shows it under the answer."""
        shown = None
        while True:
            with self._changed:
                sign, status = self.sign_of_life, self._doing
                if (sign is None or not sign.says_what_it_does or status in (None, shown) or self._words_went()
                        or self._sign_in_flight):
                    return
                self._sign_in_flight = True
            # Worth saying only if its budget has a token now (it is soon stale): never a wait, nor a probe beyond
            # the budget that could cost a 429
            pacer = self._calls.pacer
            turn = pacer.turn(sign.method, Priority.URGENT, self._place.channel)
            try:
                if pacer.estimate(sign.method, Priority.URGENT, self._place.channel) == 0.0 and turn.ask() == 0.0:
                    sign.show(self._calls, self._place, status, (), False, turn=turn)
            except SlackError as error:
                log.info("could not say what the bot is doing in %s: %s", self._place.channel, error.code)
            finally:
                turn.close()
                with self._changed:
                    self._sign_in_flight = False
                    self._changed.notify_all()
            shown = status

    def step(self, step_id: str, title: str, status: str, *, doing: str = "", details: str = "",
             sources: tuple[tuple[str, str | None], ...] = ()) -> None:
        """A tool call's progress: a task card where the answer's surface shows them (a native stream opens for
        it if none is open yet), a line under the answer where it does not; there, while nothing of the answer
        shows, the sign of life says what it does (`doing`)."""
        with self._changed:
            self.layout.steps.update(step_id, title, status, details=details, sources=sources)
            if self._run is None and self._begun and not self.nowhere and not self.layout.finished:
                self._open_or_yield()
            self._changed.notify_all()
            as_cards = self.layout.steps.as_cards or (self._run is not None and self._run.surface.shows_steps)
        if doing and not as_cards:  # a card says it where the surface shows them: a status would cost a call
            self.doing(doing)

    def feed(self, text: str) -> None:
        with self._changed:
            if self._text_since is None and text:
                self._text_since = self._clock()
            wake = self.layout.feed(text)
            if not self._begun or self.nowhere:
                return  # it waits for the sign of life (`begin` starts the sink)
            if self._run is None and not self.layout.finished:
                self._open_or_yield()
            elif wake or self._cadence.wakes(self.layout.waiting):
                self._changed.notify_all()

    def finish(self, note: str | None = None, timeout: float | None = None) -> bool:
        """End the answer (the first call's note counts) and wait until every message shows its final text.
        False if that took longer than `timeout`, or a writer failed."""
        try:
            return self._finish(note, None if timeout is None else self._clock() + timeout)
        finally:
            self._router.seen(self)

    def _finish(self, note: str | None, deadline: float | None) -> bool:
        with self._changed:
            while not self._begun:  # the sign of life is still on its way
                if deadline is not None and self._clock() >= deadline:
                    return False
                self._changed.wait(None if deadline is None else max(deadline - self._clock(), 0.0))
            if self.nowhere:
                return True  # nowhere to show anything
            self.layout.finish(note)
            if self._run is None and self._text_since is not None:
                while (left := self._yield_left()) > 0:  # its words yield to replies that show nothing yet
                    self._changed.wait(min(left, YIELD_LOOKS_EVERY))
                self._start_best()
            elif self._run is None:
                self._start(LAST_RESORT)  # no text came: the note is all there is to show
            self._changed.notify_all()
        while True:
            with self._changed:
                run = self._run
            remaining = None if deadline is None else max(deadline - self._clock(), 0.0)
            if run is None:
                break
            if not run.writer.join(remaining):
                return False
            with self._changed:
                if self._run is run:  # no handover meanwhile
                    break
        self._clear_sign_of_life_if_unused()
        return not any(run.writer.crashed for run in self._runs)

    # -- what happened -----------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Slack calls made for the answer after the sign of life."""
        return sum(run.writer.calls for run in self._runs)

    @property
    def failures(self) -> int:
        """Messages of the answer whose text Slack would not take (whether or not it went on in another)."""
        return self.layout.lost + self.layout.moved

    @property
    def stopped_by_person(self) -> bool:
        """A person stopped the answer's stream (Slack's stop on the message): it ended there, not deleted."""
        return any(run.writer.sink.stopped_by_person for run in self._runs)

    @property
    def surface(self) -> str:
        """How the answer went: "stream", "edit", or "stream+edit" when a stream handed over."""
        return "+".join(dict.fromkeys(run.surface.name for run in self._runs)) or "-"

    # -- internals ---------------------------------------------------------------------------------

    def _open_or_yield(self) -> None:
        """Start the answer where its words open soonest (with the lock held), unless it yields (see
        `_yield_left`); then it looks again with its next words, and when its yield is up."""
        left = self._yield_left()
        if left <= 0:
            self._start_best()
        elif not self._yielding:
            self._yielding = True
            timer = threading.Timer(left, self._yield_ended)
            timer.daemon = True
            timer.start()

    def _yield_left(self) -> float:
        """How much longer the answer lets other replies open first (with the lock held): while its sign of life
        is up and some other reply shows nothing yet, up to `YIELD_SECONDS` after its words came (see
        `Router`); 0 if it does not."""
        if self.sign_of_life is None or self._text_since is None or not self._router.others_unseen(self):
            return 0.0
        return max(YIELD_SECONDS - (self._clock() - self._text_since), 0.0)

    def _yield_ended(self) -> None:
        with self._changed:
            if self._run is None and not self.layout.finished and not self.nowhere and self.layout.pending:
                self._start_best()

    def _start(self, surface: Surface, first: int = 0) -> None:
        """Run `surface`'s sink from message `first` of the layout (with the lock held)."""
        self._router.seen(self)
        self._hold_for_sign({})  # the sink holds what it needs from now on
        sink = surface.make(Opening(
            self.layout, self._place, self._cadence, feedback=self._feedback, first=first,
            placeholder=self._placeholder if first == 0 else None, hold=self._hold,
            text_since=self._clock() if self._text_since is None else self._text_since,
            sign_shown=self.sign_of_life is not None,
            waits=self._router.preference.waits,
            rival=SURFACES[surface.rival].opens_with if surface.rival and len(self._runs) == 0 else None))
        writer = Writer(sink, self._calls, self._changed, channel=self._place.channel, clock=self._clock,
                        on_answer=self._answered, on_end=self._ended, may_call=lambda: not self._sign_in_flight)
        self._run = _Run(surface, writer)
        self._runs.append(self._run)
        self._hold_open(self._run)
        writer.start()

    def _run_of(self, writer: Writer) -> _Run:
        return next(run for run in self._runs if run.writer is writer)

    def _answered(self, writer: Writer) -> None:
        """Slack answered one of the writer's calls (with the lock held). Words of the answer, not a note that
        stands in for one (a failure, an empty answer), are the first words."""
        if self.first_words_at is None and writer.sink.shown_anything and any(self.layout.bodies):
            self.first_words_at = self._clock()
        self._hold_open(self._run_of(writer))

    def _hold_open(self, run: _Run, holding: int | None = None) -> None:
        """Tell the router what `run` holds open now (with the lock held)."""
        messages = run.writer.sink.holding() if holding is None else holding
        held = {method: calls * messages for method, calls in run.surface.holds.items()}
        for method, calls in held.items():
            if calls != run.held.get(method, 0):
                self._router.hold(method, calls - run.held.get(method, 0))
        run.held = held

    def _ended(self, writer: Writer) -> None:
        """A writer's sink is done, or its writer failed (on the writer's own thread)."""
        sink = writer.sink
        with self._changed:
            run = self._run_of(writer)
            self._hold_open(run, 0)  # whatever happened, it holds nothing open any more
            if sink.handover is not None and not writer.crashed:
                if sink.refusal is not None:
                    self._router.refused(run.surface.name, run.surface.refused, sink.refusal, self._place.channel)
                    self._start(fallback(run.surface), first=sink.handover)
                else:  # its first call would wait: wherever the first words open soonest, now
                    self._start_best(instead_of=run.surface, first=sink.handover)
            self._changed.notify_all()
        if writer.crashed and not sink.shown_anything:
            self._say_it_failed()
        if sink.gone:
            self._on_gone()  # nothing more can be shown: the model may stop

    def _say_it_failed(self) -> None:
        """A writer failed before showing anything: never leave a placeholder (or the status) behind."""
        try:
            if self._placeholder is not None:
                self._calls.call(methods.UPDATE, channel=self._place.channel, ts=self._placeholder[0],
                                 text=notes.FAILED)
            else:
                self._calls.call(methods.POST, tag=self._place.tag(0), channel=self._place.channel,
                                 thread_ts=self._place.thread_ts, text=notes.FAILED)
        except SlackError:
            log.exception("could not say in %s that the reply failed", self._place.channel)

    def _clear_sign_of_life_if_unused(self) -> None:
        """A sign of life that stays until the app posts in the thread is cleared by a reply that posted
        nothing."""
        sign = self.sign_of_life
        if sign is None or not sign.clears or any(run.writer.sink.posted for run in self._runs):
            return
        try:
            sign.show(self._calls, self._place, "", (), True)
        except SlackError as error:
            log.info("could not clear the %s in %s: %s", sign.name, self._place.channel, error.code)


class Deliveries:
    """Opens each reply's `Delivery`, with what every reply shares: the Slack calls, the router, the settings
    and the cadence of updates (by default one update per SLACK_UPDATE_INTERVAL_SECONDS)."""

    def __init__(self, calls: SlackCalls, router: Router, settings: DeliverySettings, *,
                 cadence: Cadence | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._calls = calls
        self.router = router
        self.settings = settings
        self._cadence = cadence or Every(settings.update_interval_seconds)
        self._clock = clock

    def open(self, place: Place, *, feedback: dict | None = None,
             on_gone: Callable[[], None] = lambda: None) -> Delivery:
        settings = self.settings
        return Delivery(self._calls, self.router, place, cadence=self._cadence, status=settings.status_text,
                        loading_messages=settings.loading_messages, feedback=feedback,
                        hold=settings.post_hold_seconds, on_gone=on_gone, clock=self._clock)
