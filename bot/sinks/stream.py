"""The stream sink: the answer as Slack's native streaming messages (`chat.startStream`, `chat.appendStream`,
`chat.stopStream`). Slack renders the Markdown itself, shows no "(edited)" mark, and each call sends only the
new text, so a message can hold about three times what an edited one can. Unless told to wait for starts, a
message whose start cannot go at once (its budget is spent) is handed over to the edit sink, like a start
Slack refused: posting the words beats waiting for a Tier 2 token.

A message starts with its first words, grows by appends (at most one per `interval`, newest text gathered,
one call at a time per reply) and is stopped when it is final; the last one's stop carries the feedback
buttons. When the stop must wait for its budget (Tier 2) the final text goes first by an append (Tier 4),
so the end of the answer is not held back by the stop. What a stream took can never be taken back, so the
layout splits a message only after what it already sent (`floor`), and a message that must end closes its
code fence itself. The messages of a reply stream one after the other.

Slack's answers: a stream Slack ended (`message_not_in_streaming_state`, about five minutes) keeps what it
took and the answer goes on in a new message; `msg_too_long` ends the message where it stands, and the rest
goes on in a new one under a lower limit; a person who stops the stream stops the answer; a refused
`chat.startStream` hands the reply over to the edit sink (`handover`), from the message that could not start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slack_sdk.web import SlackResponse

from bot.layout.layout import Layout
from bot.layout.markdown import escape
from bot.sinks.base import Budgets, Call, Due, Place, Unlimited
from bot.slack.errors import Gone, NotAllowed, NotStreaming, RateLimited, SlackError, TooLong, Unavailable
from bot.slack.pacing import Priority

START, APPEND, STOP = "chat.startStream", "chat.appendStream", "chat.stopStream"
CALL_LIMIT = 12_000  # markdown_text per call (Slack's documented limit)
MESSAGE_LIMIT = CALL_LIMIT - 500  # a message's Markdown, leaving room for a fence's closing line and the note
_MIN_LIMIT = 500
_AFTER_FAILURE = 1.0  # seconds before a call that failed is tried again
_GIVE_UP_AFTER = 3  # failures of a message's final call before its stream is left to Slack's time limit


@dataclass
class _Message:
    ts: str | None = None  # None until its stream starts
    committed: int = 0  # characters of the message's source that Slack took
    tail_sent: bool = False  # the closing fence and note went out
    done: bool = False  # stopped (or ended by Slack), nothing more to send
    last_call_at: float = -math.inf
    not_before: float = -math.inf
    failures: int = 0
    maybe_stopped: bool = False  # a stop whose answer never came may have landed


class StreamSink:
    def __init__(self, layout: Layout, place: Place, *, interval: float = 1.0, feedback: dict | None = None,
                 limit: int = MESSAGE_LIMIT, wait_for_starts: bool = False) -> None:
        self._layout = layout
        self._place = place
        self.interval = interval
        self._feedback = feedback
        self._limit = limit
        self._wait_for_starts = wait_for_starts
        self._messages: list[_Message] = []
        self._in_flight: Call | None = None
        self.gone = False  # nothing more can be shown (deleted, or a person stopped the stream): the model may stop
        self.handover: int | None = None  # the first message another surface must write
        self.refusal: SlackError | None = None  # why chat.startStream was refused (None: its budget was spent)

    # -- state -------------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        if self.handover is not None or self.gone:
            return self._in_flight is None
        self._sync()
        return (self._layout.finished and self._in_flight is None and not self._layout.pending
                and all(message.done or self._nothing_to_show(index) for index, message in enumerate(self._messages)))

    @property
    def shown_anything(self) -> bool:
        return any(message.ts for message in self._messages)

    @property
    def streaming(self) -> int:
        """Messages of this reply streaming now (started, not stopped): each will need a stop."""
        return sum(1 for message in self._messages if message.ts and not message.done)

    @property
    def posted(self) -> list[str]:
        return [message.ts for message in self._messages if message.ts]

    # -- the schedule ------------------------------------------------------------------------------

    def due(self, now: float, budgets: Budgets = Unlimited()) -> Due | None:
        due, at = self._next(budgets)
        if due is None or at > now:
            return None
        if due.method == START and not self._wait_for_starts and not budgets.ready(START):
            self.handover = due.index  # post it rather than wait for a start
            return None
        return due

    def wake_at(self) -> float | None:
        due, at = self._next(Unlimited())
        return at if due is not None else None

    def make(self, due: Due, now: float) -> Call | None:
        index, layout = due.index, self._layout
        message = self._messages[index]
        if layout.is_last(index):
            layout.absorb()
        part = layout.parts[index]
        layout.fit(index, self._fits, floor=max(message.committed - len(part.prefix), 0))
        self._sync()
        final = layout.is_final(index)
        source = part.source
        text = escape(source[message.committed:])
        tail, ends = "", final and due.method != START  # the call carries the message's end (perhaps nothing)
        if ends and not message.tail_sent:
            note = layout.closing_note(index, blank=not source.strip(), shown_anything=True)
            tail = layout.closer(index) + (f"\n\n{note}" if note and source.strip() else note or "")
        params: dict = {"channel": self._place.channel}
        if due.method == START:
            if not text.strip():  # a message with nothing but the note (after a rollover at the very end)
                text = (layout.closing_note(index, blank=True, shown_anything=True) or "") if final else ""
                if not text:
                    return None
                ends = True
            params.update(thread_ts=self._place.thread_ts, recipient_user_id=self._place.user,
                          recipient_team_id=self._place.team, markdown_text=text)
        else:
            params["ts"] = message.ts
            if text + tail:
                params["markdown_text"] = text + tail
            if due.method == APPEND and "markdown_text" not in params:
                message.tail_sent = True  # nothing left but the stop
                return None
            if due.method == STOP and self._feedback and layout.is_last(index) and layout.finished and not layout.abandoned:
                params["blocks"] = [self._feedback]
        # Only a final append waits out a 429 in the call policy: a start that must wait is better posted, and a
        # stop that must wait lets the final words go by an append meanwhile.
        retry = due.method == APPEND and due.priority is Priority.URGENT
        call = Call(due.method, index, params, retry=retry, final=final, version=part.version, end=len(source),
                    extra={"tail": ends})
        self._in_flight = call
        message.last_call_at = now
        return call

    def answered(self, call: Call, now: float, response: SlackResponse | None, error: SlackError | None) -> None:
        if call is not self._in_flight:
            raise ValueError("an answer to a call that is not in flight")
        self._in_flight = None
        message = self._messages[call.index]
        if error is None:
            if call.method == START:
                message.ts = response["ts"]  # type: ignore[index]
            message.committed = call.end
            message.failures = 0
            message.tail_sent = message.tail_sent or call.extra["tail"]
            message.done = message.done or call.method == STOP
            return
        if isinstance(error, Gone) or (isinstance(error, NotAllowed) and call.method != START):
            self.abandon()
        elif call.method == START and not isinstance(error, TooLong):
            self.handover, self.refusal = call.index, error  # post it instead
        elif isinstance(error, NotStreaming) and call.method == STOP and message.maybe_stopped:
            message.committed, message.done = call.end, True  # the earlier stop landed after all
        elif isinstance(error, NotStreaming):
            if error.by_person:
                self.abandon()  # a person stopped the answer
            else:
                self._end_at_committed(call.index)  # Slack ended the stream: the rest goes on in a new message
        elif isinstance(error, TooLong):
            self._limit = max(min(self._limit, len(escape(self._layout.parts[call.index].source[:message.committed]))),
                              _MIN_LIMIT)
            if message.ts is None:
                message.not_before = now  # start again with less
            else:
                self._end_at_committed(call.index, stop=True)
        elif call.method == APPEND and not call.final and isinstance(error, (RateLimited, Unavailable)):
            message.not_before = now + _AFTER_FAILURE  # a later append carries the text
        elif call.method == STOP and isinstance(error, RateLimited):
            pass  # the pacer holds stops back for the Retry-After; the final words may go by an append meanwhile
        else:
            message.failures += 1
            message.not_before = now + _AFTER_FAILURE
            if call.method == STOP and isinstance(error, Unavailable) and error.sent:
                message.maybe_stopped = True
            if message.failures >= _GIVE_UP_AFTER:  # the stream is left to Slack's time limit
                if len(self._layout.parts[call.index].source) > message.committed:
                    self._layout.lost += 1
                message.done = True

    def abandon(self) -> None:
        """Nothing more can be shown: make no more calls."""
        self.gone = True
        self._layout.stop_growing()
        self._in_flight = None

    # -- internals ---------------------------------------------------------------------------------

    def _sync(self) -> None:
        while len(self._messages) < len(self._layout.parts):
            self._messages.append(_Message())

    def _fits(self, source: str) -> bool:
        return len(escape(source)) <= self._limit

    def _nothing_to_show(self, index: int) -> bool:
        """A message that never started and never will: no text, and no note to carry."""
        layout = self._layout
        return (self._messages[index].ts is None and layout.is_final(index) and not layout.parts[index].source.strip()
                and not (layout.is_last(index) and layout.pending)
                and not layout.closing_note(index, blank=True, shown_anything=True))

    def _end_at_committed(self, index: int, stop: bool = False) -> None:
        """Message `index` ends with what Slack took; whatever it did not take starts the next message. `stop`:
        it is still streaming and must be stopped (with nothing more)."""
        message, part = self._messages[index], self._layout.parts[index]
        if self._layout.is_last(index):
            self._layout.absorb()
        self._layout.cut(index, max(message.committed - len(part.prefix), 0))
        self._sync()
        message.tail_sent = True  # no room (or no stream) for a closing fence or a note: they go to the next one
        message.done = not stop

    def _next(self, budgets: Budgets) -> tuple[Due | None, float]:
        """The call the first unfinished message wants, and from when."""
        if self._in_flight is not None or self.handover is not None or self.gone:
            return None, math.inf
        self._sync()
        layout = self._layout
        for index, message in enumerate(self._messages):
            if message.done or self._nothing_to_show(index):
                continue
            final = layout.is_final(index)
            fresh = layout.fresh(index, message.committed)
            new_text = bool(fresh.strip())  # white space waits for the words after it
            if message.ts is None:
                if new_text or final:
                    return Due(START, index, Priority.URGENT), message.not_before
                return None, math.inf
            if final:
                if (fresh or not message.tail_sent) and not budgets.ready(STOP):
                    return Due(APPEND, index, Priority.URGENT), message.not_before
                return Due(STOP, index, Priority.URGENT), message.not_before
            if new_text:
                return Due(APPEND, index, Priority.ROUTINE), max(message.last_call_at + self.interval, message.not_before)
            return None, math.inf
        return None, math.inf
