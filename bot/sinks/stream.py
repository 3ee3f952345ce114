"""The stream sink: the answer as Slack's native streaming messages (`chat.startStream`, `chat.appendStream`,
`chat.stopStream`). Slack renders the Markdown itself, shows no "(edited)" mark, and each call sends only the
new text, so a message can hold about three times what an edited one can.

A message starts with its first words, grows by appends (when its `cadence` says, newest text gathered,
one call at a time per reply) and, once final, gets its last words (with a fence closed and the closing
note) with its stop when the stop can go at once (one call instead of two), else by a final append, then
its stop; the last message's stop carries the feedback buttons. The last words thus never wait for a Tier 2
stop: they go with one that is ready, or on the generous Tier 4 budget. A stop carrying them that fails is
not retried with them where Slack may have shown them (the message is rewritten to what it must show once
stopped); otherwise they go by an append after all. What a stream took can never
be taken back, so the layout splits a message only after what it already sent (`floor`), a message that
must end closes its code fence itself, and a link or code span still open waits for its end before it goes
(`markdown.for_stream`, which also shows a misleading link's target). The messages of a reply stream one
after the other.

Task cards (the reply's tool calls, `layout.steps`) ride with the text: a call carries the cards that
changed since Slack last took them as `task_update` chunks before its text (then sent as a chunk too), and
a card that changes while no text comes is an append of its own at the cadence's pace; a card alone may
start the stream (in `timeline` mode).

While every append the workspace can make is spoken for (by other streams' last words), the first start
holds for up to `hold` seconds from the first words, or until the answer is complete, so that it carries
the whole answer (a short one needs no append, only its stop), as a held post does on the edit path.

A start that must wait for a token (more than `HANDOVER_AFTER`: the start budget is spent, not merely busy
with the starts ahead of it) while the surface it falls back to could open a message sooner (`rival`, the
method that opens one), or that Slack refuses, hands the reply over to that surface from that message on
(`handover`; the refusal is kept for the router to learn from): posting the words beats waiting for a Tier 2
token. Unless told to wait for starts (`SLACK_REPLY_SURFACE=stream`).

What Slack answers, after the call policy's retries:
- a stream Slack ended (`message_not_in_streaming_state`, about five minutes), a message it finds too long,
  an append it will not take: the message ends with what Slack took, and the rest goes on in a new message
  (a message too long also lowers the limit);
- an append whose answer never came (Slack may or may not have taken it): the stream is stopped and the
  message rewritten to the text it should show (`chat.update`, once it no longer streams), so nothing shows
  twice; the rest goes on in a new message;
- a person who stops the stream, or a message or conversation out of reach: the answer stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from bot.layout.layout import Layout
from bot.layout.markdown import for_stream
from bot.sinks.base import HANDOVER_AFTER, Budgets, Call, Due, Place, Unlimited
from bot.sinks.cadence import Cadence, Every
from bot.slack.kinds import Gone, NotAllowed, NotStreaming, RateLimited, SlackError, TooLong, Unavailable
from bot.slack.methods import APPEND, START, STOP, UPDATE
from bot.slack.pacing import Priority

CALL_LIMIT = 12_000  # markdown_text per call (Slack's documented limit)
MESSAGE_LIMIT = CALL_LIMIT - 500  # a message's Markdown, leaving room for a fence's closing line and the note
_MIN_LIMIT = 500
_WORD_ROOM = 60  # characters from the end of a message where a stream sends only whole words
_SHRINK = 0.9  # after a message too long to start, the limit becomes this share of the refused text
_AFTER_FAILURE = 1.0  # seconds before an intermediate append that failed is superseded by the next
_RECHECK = 0.25  # how often a held start looks again for room among the appends


@dataclass
class _Message:
    ts: str | None = None  # None until its stream starts
    committed: int = 0  # characters of the message's source that Slack took
    tail_sent: bool = False  # the last words, the closing fence and the note went out
    stopped: bool = False  # stopped (or ended by Slack): no more appends
    done: bool = False  # nothing more to send
    repair: str | None = None  # the Markdown the message must be rewritten to, once stopped
    words_by_stop: bool = True  # its last words may go with its stop (not after a stop carrying them failed)
    last_call_at: float = -math.inf
    not_before: float = -math.inf


class StreamSink:

    def __init__(self, layout: Layout, place: Place, *, cadence: Cadence = Every(1.0), feedback: dict | None = None,
                 limit: int = MESSAGE_LIMIT, wait_for_starts: bool = False, rival: str | None = None,
                 hold: float = 0.0, text_since: float = 0.0, sign_shown: bool = False) -> None:
        self._layout = layout
        self._place = place
        self._cadence = cadence
        self._feedback = feedback
        self._limit = limit
        self._wait_for_starts = wait_for_starts
        self._rival = rival  # the method the surface this one falls back to opens a message with
        # the reply's first words: first in their queue while nothing shows that the bot is working, and
        # before every other reply's later messages once its sign of life does
        self._first_words = Priority.WORDS if sign_shown else Priority.FIRST
        self._hold_until = text_since + hold if hold > 0 else -math.inf  # the first start holds until then ...
        self._recheck_at = math.inf  # ... looking again this often for room among the appends
        self._messages: list[_Message] = []
        self._in_flight: Call | None = None
        self.gone = False  # nothing more can be shown (deleted, or a person stopped the stream): the model may stop
        self.stopped_by_person = False  # ... because a person stopped the stream (not a deletion)
        self.handover: int | None = None  # the first message another surface must write
        self.refusal: SlackError | None = None  # what Slack said to the start it refused (None: no token to start)

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
    def posted(self) -> list[str]:
        return [message.ts for message in self._messages if message.ts]

    def holding(self) -> int:
        """Streams this reply holds open: from the moment a stream is chosen until it stops, each will need a
        stop (and a final append)."""
        if self.handover is not None or self.gone or self.done:
            return 0
        return max(sum(1 for message in self._messages if message.ts and not message.stopped), 1)

    # -- the schedule ------------------------------------------------------------------------------

    def due(self, now: float, budgets: Budgets = Unlimited()) -> Due | None:
        self._recheck_at = now + _RECHECK
        due, at = self._next(budgets)
        return due if due is not None and at <= now else None

    def wake_at(self) -> float | None:
        due, at = self._next(None)
        return at if due is not None else None

    def wait(self, due: Due, seconds: float, budgets: Budgets = Unlimited()) -> bool:
        """A start that cannot go soon is posted instead where a post could go sooner (unless told to wait for
        starts)."""
        if (due.method == START and seconds > HANDOVER_AFTER and not self._wait_for_starts
                and (self._rival is None or budgets.estimate(self._rival) < seconds)):
            self.handover = due.index
            return False
        return True

    def make(self, due: Due, now: float) -> Call | None:
        index, layout = due.index, self._layout
        message = self._messages[index]
        if due.method == STOP and (message.tail_sent or message.repair is not None):
            return self._call(due, {"channel": self._place.channel, "ts": message.ts, **self._buttons(index)},
                              now, end=message.committed)
        if due.method == UPDATE:
            return self._call(due, {"channel": self._place.channel, "ts": message.ts, "markdown_text": message.repair},
                              now, end=message.committed)
        if layout.is_last(index):
            layout.absorb()
        part = layout.parts[index]
        layout.fit(index, self._fits, floor=max(message.committed - len(part.prefix), 0))
        self._sync()
        final = layout.is_final(index)
        source = part.source
        text, end = for_stream(source, message.committed, final=final)
        if not final and len(self._shown(index, message.committed)) + len(text) > self._limit - _WORD_ROOM:
            # near the end of what a message holds, words go whole: the rest of a word sent now could be cut off
            # by the rollover ("… w31 w" / "32 …"), since what a stream took stays
            whole = max(source.rfind(" ", message.committed, end), source.rfind("\n", message.committed, end)) + 1
            if whole > message.committed:
                text, end = for_stream(source[:whole], message.committed, final=False)
        if due.method == START:
            # a message whose text is all in (a start that held, or one that holds nothing but the note after
            # a rollover at the very end) starts with its last words too: only its stop is left
            tail = self._tail(index, blank=not text.strip()) if final else ""
            if not text.strip():
                text = ""
            if not text + tail and not layout.steps.pending:
                return None
            params = {"channel": self._place.channel, "thread_ts": self._place.thread_ts,
                      "recipient_user_id": self._place.user, "recipient_team_id": self._place.team,
                      "markdown_text": text + tail}
            return self._call(due, params, now, end=end, tail=final)
        tail = self._tail(index, blank=not source.strip()) if final and not message.tail_sent else ""
        if due.method == STOP:  # the stop carries the last words (the stop's own text and buttons)
            params = {"channel": self._place.channel, "ts": message.ts, **self._buttons(index)}
            if text + tail:
                params["markdown_text"] = text + tail
            else:
                message.tail_sent = True  # nothing left but the stop
            return self._call(due, params, now, end=end, tail=bool(text + tail))
        if not text + tail and not self._layout.steps.pending:
            message.tail_sent = message.tail_sent or final  # nothing left but the stop
            return None
        params = {"channel": self._place.channel, "ts": message.ts, "markdown_text": text + tail}
        return self._call(due, params, now, end=end, tail=final)

    def answered(self, call: Call, now: float, response: Mapping[str, Any] | None, error: SlackError | None) -> None:
        if call is not self._in_flight:
            raise ValueError("an answer to a call that is not in flight")
        self._in_flight = None
        index, message = call.index, self._messages[call.index]
        if error is None:
            self._layout.steps.sent(call.extra.get("steps", {}))
            if call.method == START:  # a stream shows the reply's steps as cards: no line under the answer for them
                self._layout.steps.as_cards = True
            if call.method == START:
                message.ts = response["ts"]  # type: ignore[index]
            if call.method in (START, APPEND) or call.extra["tail"]:
                message.committed = call.end
                message.tail_sent = message.tail_sent or call.extra["tail"]
            message.stopped = message.stopped or call.method == STOP
            message.done = call.method == UPDATE or (call.method == STOP and message.repair is None)
            return
        if isinstance(error, Gone) or (isinstance(error, NotAllowed) and call.method != START) or (
                isinstance(error, NotStreaming) and error.by_person):
            self.stopped_by_person = isinstance(error, NotStreaming)
            self.abandon()  # out of reach, or a person stopped the answer
        elif call.method == START:
            self._refused_start(call, error, now)
        elif call.method == STOP and call.extra["tail"]:
            self._failed_last_words(call, error, now)
        elif call.method == APPEND:
            if isinstance(error, Unavailable) and error.sent:  # Slack may have taken it: show what it must show
                message.repair = self._shown(index, message.committed) + call.extra["text"]
                if call.final:
                    message.tail_sent = True
                else:
                    self._end_at(index, call.end, stopped=False)
            elif not call.final and (isinstance(error, RateLimited) or isinstance(error, Unavailable)):
                message.not_before = now + _AFTER_FAILURE  # a later append carries the text
            else:  # ended by Slack, too long, refused, or the last words lost: the rest goes on in a new message
                if isinstance(error, TooLong):
                    self._limit = max(len(self._shown(index, message.committed)), _MIN_LIMIT)
                self._end_at(index, message.committed, stopped=isinstance(error, NotStreaming))
        elif call.method == STOP and isinstance(error, NotStreaming):
            message.stopped = True  # Slack had ended it already
            message.done = message.repair is None
        elif call.method == STOP and message.repair is None:
            message.done = True  # Slack would not stop it: its words are there, and Slack ends it in a few minutes
        else:  # a message whose last append was in doubt, and that cannot be rewritten: it may show too little
            self._lost(index)

    def abandon(self) -> None:
        """Nothing more can be shown: make no more calls."""
        self.gone = True
        self._layout.stop_growing()
        self._in_flight = None

    # -- internals ---------------------------------------------------------------------------------

    def _call(self, due: Due, params: dict, now: float, *, end: int, tail: bool = False) -> Call:
        # The call policy retries only what must land and cannot show anything twice: a final append (on a
        # 429) and a plain stop. A start that must wait is better posted; an intermediate append is superseded;
        # a stop carrying the last words that must wait hands them to an append (the stops of a burst of
        # replies come a few a minute: retried, the words would wait behind all of them).
        retry = (due.method == UPDATE or (due.method == STOP and not tail)
                 or (due.method == APPEND and due.priority.urgent))
        params, extra = self._with_steps(due.method, params)
        call = Call(due.method, due.index, params, retry=retry, final=due.priority.urgent,
                    version=self._layout.parts[due.index].version, end=end, extra={"tail": tail, **extra},
                    tag=self._place.tag(due.index) if due.method != APPEND else None)
        self._in_flight = call
        self._messages[due.index].last_call_at = now
        return call

    def _with_steps(self, method: str, params: dict) -> tuple[dict, dict]:
        """`params` carrying the task cards that changed since Slack last took them, before the text (then as a
        `markdown_text` chunk: a call's content is its chunks); and what `answered` needs back: the text, and
        which cards the call carries."""
        text = params.get("markdown_text", "")
        steps = self._layout.steps
        if method not in (START, APPEND, STOP) or not steps.pending:
            return params, {"text": text}
        chunks, marks = steps.chunks()
        if text:
            chunks.append({"type": "markdown_text", "text": text})
        params = {key: value for key, value in params.items() if key != "markdown_text"}
        params["chunks"] = chunks
        if method == START:
            params["task_display_mode"] = "timeline"
        return params, {"text": text, "steps": marks}

    def _buttons(self, index: int) -> dict:
        layout = self._layout
        if self._feedback and layout.is_last(index) and layout.finished and not layout.abandoned:
            return {"blocks": [self._feedback]}
        return {}

    def _tail(self, index: int, *, blank: bool) -> str:
        """What ends message `index` once it is final: a closing fence, and the note on the last message."""
        note = self._layout.closing_note(index, blank=blank, shown_anything=self.shown_anything)
        closer = self._layout.closer(index)
        return closer + (f"\n\n{note}" if note and not blank else note or "")

    def _refused_start(self, call: Call, error: SlackError, now: float) -> None:
        message = self._messages[call.index]
        text = call.extra["text"]
        if isinstance(error, TooLong) and self._limit > _MIN_LIMIT and len(text) > _MIN_LIMIT:
            self._limit = max(min(self._limit, int(len(text) * _SHRINK)), _MIN_LIMIT)
            message.not_before = now  # start again with less
            return
        self.handover, self.refusal = call.index, error  # post it instead

    def _failed_last_words(self, call: Call, error: SlackError, now: float) -> None:
        """A stop carrying the message's last words failed. Where Slack may have shown them (it ended the
        stream, or the answer was lost after Slack had the call), the message is rewritten to what it should
        show once stopped; otherwise the last words go by an append after all, then a plain stop."""
        message = self._messages[call.index]
        if isinstance(error, NotStreaming) or (isinstance(error, Unavailable) and error.sent):
            message.repair = self._shown(call.index, message.committed) + call.extra["text"]
            message.committed, message.tail_sent = call.end, True
            message.stopped = message.stopped or isinstance(error, NotStreaming)
        else:
            message.words_by_stop = False
            message.not_before = now + _AFTER_FAILURE

    def _lost(self, index: int) -> None:
        """Message `index` may not show what it should: say so at the end of the answer."""
        self._layout.lost += 1
        self._messages[index].done = True
        if self._layout.is_last(index) and self._layout.finished:
            self._layout.cut(index, len(self._layout.parts[index].body))  # a message of its own for the note
        self._sync()

    def _sync(self) -> None:
        while len(self._messages) < len(self._layout.parts):
            self._messages.append(_Message())

    def _fits(self, source: str) -> bool:
        return len(for_stream(source)[0]) <= self._limit

    def _shown(self, index: int, committed: int) -> str:
        """What Slack shows of message `index` once it took its first `committed` characters."""
        return for_stream(self._layout.parts[index].source[:committed])[0]

    def _nothing_to_show(self, index: int) -> bool:
        """A message that never started and never will: no text, and no note to carry."""
        layout = self._layout
        return (self._messages[index].ts is None and layout.is_final(index) and not layout.parts[index].source.strip()
                and not (layout.is_last(index) and layout.pending)
                and not layout.closing_note(index, blank=True, shown_anything=self.shown_anything))

    def _end_at(self, index: int, at: int, *, stopped: bool) -> None:
        """Message `index` ends after `at` characters of its source; the rest starts the next message. A message
        still streaming is stopped (with nothing more); `stopped`: Slack already ended it."""
        message, part = self._messages[index], self._layout.parts[index]
        if self._layout.is_last(index):
            self._layout.absorb()
        self._layout.cut(index, max(at - len(part.prefix), 0))
        self._sync()
        message.tail_sent = True  # no room (or no stream) for a closing fence or a note: they go to the next one
        message.stopped = message.stopped or stopped
        message.done = message.stopped and message.repair is None

    def _next(self, budgets: Budgets | None) -> tuple[Due | None, float]:
        """The call the first unfinished message wants, and from when (`budgets` None: not known now; a held
        start looks again soon)."""
        if self._in_flight is not None or self.handover is not None or self.gone:
            return None, math.inf
        self._sync()
        layout = self._layout
        for index, message in enumerate(self._messages):
            if message.done or self._nothing_to_show(index):
                continue
            if message.repair is not None:
                return Due(UPDATE if message.stopped else STOP, index, Priority.URGENT), message.not_before
            final = layout.is_final(index)
            fresh = layout.fresh(index, message.committed)
            if not final:  # what can go now: a link or code span still open waits for the rest
                fresh = for_stream(layout.fresh(index, 0), message.committed, final=False)[0]
            if message.ts is None:
                if fresh.strip() or final or layout.steps.pending:  # a task card alone may start it
                    at = message.not_before
                    if index == 0 and not final and self._hold_until > at:  # may it wait to carry the whole answer?
                        if budgets is None:
                            at = min(self._hold_until, self._recheck_at)
                        elif budgets.room(APPEND) < 1:
                            at = self._hold_until
                    return Due(START, index, self._first_words if index == 0 else Priority.URGENT), at
                return None, math.inf
            if final:
                if fresh or not message.tail_sent:
                    # the last words go with the stop when it can go at once (one call, not two), else by an
                    # append on the more generous budget, the stop after them
                    stop_now = message.words_by_stop and budgets is not None and budgets.ready(STOP)
                    return Due(STOP if stop_now else APPEND, index, Priority.URGENT), message.not_before
                return Due(STOP, index, Priority.URGENT), message.not_before
            wanted = self._cadence.next_update_at(message.last_call_at, layout.waiting)
            if layout.steps.pending and wanted is None:  # a task card changed: it needs no more text to go
                wanted = -math.inf
            if (fresh.strip() or layout.steps.pending) and wanted is not None:  # white space waits for words
                return Due(APPEND, index, Priority.ROUTINE), max(wanted, message.not_before)
            return None, math.inf
        return None, math.inf
