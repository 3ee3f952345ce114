"""The edit sink: the answer as ordinary messages, posted and then edited as it grows (`chat.postMessage`,
`chat.update`), in Slack's mrkdwn. It works wherever the bot may post, so it is the path of last resort.

Its edit schedule: a new message goes up as soon as it has text; the first words replace the placeholder at
once; after that a message is edited when its `cadence` says (the bot's: at most once per
SLACK_UPDATE_INTERVAL_SECONDS, by the clock), and the newest text wins.

When the edit budget has no room for this reply's edits (every token is spoken for by other replies' final
edits), the answer goes up as posts that are never edited: each post holds for up to `hold` seconds (from
the first words, then from the post before), or until the answer is complete, so that it carries more of it
(a short answer, all of it), and then goes with the whole lines it has (the words of a line that has not
ended by then, if none has), closed there: the rest starts the next post. Only the per-channel post budget
is spent, and nothing waits for an edit. (A placeholder is still edited into the first words.)

One call at a time per reply. When the stream ends every message gets its final text once, the last one with the
closing note (and the feedback buttons, when asked for). A failed intermediate edit is superseded by the next one; a
message Slack finds too long is split again under a lower limit; posts and final edits are retried by the Slack call
policy, not here: a final edit that still fails is given up (and the last message says part of the answer is
missing), a post that still fails ends the reply where it stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from bot.layout.layout import Layout
from bot.layout.mrkdwn import to_mrkdwn
from bot.layout.splitting import last_break, open_fence, split_point
from bot.sinks.base import HANDOVER_AFTER, Budgets, Call, Due, Place, Unlimited
from bot.sinks.cadence import Cadence, Every
from bot.slack.kinds import Gone, NotAllowed, SlackError, TooLong
from bot.slack.methods import POST, UPDATE
from bot.slack.pacing import Priority

SLACK_TEXT_LIMIT = 4000  # chat.update rejects longer `text` with msg_too_long
NOTE_ROOM = 400  # kept free in every message for the closing notes
SECTION_LIMIT = 3000  # a section block's text (used when the last message carries the feedback buttons)
_SHRINK = 0.9  # after msg_too_long, the limit becomes this share of the refused text's length
_MIN_LIMIT = 500
_AFTER_FAILURE = 1.0  # seconds before a message whose edit failed is tried again
_RECHECK = 0.25  # how often a held post looks again for room in the edit budget


@dataclass
class _Message:
    ts: str | None = None  # None until posted
    shown: str | None = None  # what Slack shows now
    answered: bool = False  # it shows answer text, not the placeholder
    seen: int = -1  # the layout version last rendered and dealt with
    final_sent: int | None = None  # the layout version whose final text Slack took (or that was given up)
    shown_end: int = 0  # how much of the message's source Slack shows
    closed_by_post: bool = False  # a post that closed it at its last whole line (never to be edited for text)
    last_call_at: float = -math.inf
    not_before: float = -math.inf


class EditSink:
    refusal: SlackError | None = None  # the path of last resort: Slack's refusals end it, they are not handed over

    def __init__(
        self,
        layout: Layout,
        place: Place,
        *,
        cadence: Cadence = Every(1.0),
        placeholder: tuple[str, str] | None = None,
        first: int = 0,
        feedback: dict | None = None,
        hold: float = 0.0,
        sign_shown: bool = True,
        text_since: float = 0.0,
        limit: int = SLACK_TEXT_LIMIT - NOTE_ROOM,
        rival: str | None = None,
    ) -> None:
        """`placeholder`: (ts, text) of a message already posted, which the first words replace. `first`: the
        first message of the layout this sink writes (those before it went another way). `feedback`: a block
        the last message ends with. `hold`: how long the first post may wait for room in the edit budget,
        from `text_since` (when the first words were ready)."""
        self._layout = layout
        self._place = place
        self._cadence = cadence
        self._limit = limit
        self._format_cache: tuple[str, str] = ("", to_mrkdwn(""))
        self._feedback = feedback
        self._messages: list[_Message] = [_Message() for _ in layout.parts]
        for message in self._messages[:first]:
            message.final_sent = math.inf  # type: ignore[assignment]  # never this sink's to write
        if placeholder is not None:
            ts, text = placeholder
            self._messages[first] = _Message(ts=ts, shown=text, seen=layout.parts[first].version)
        self._in_flight: Call | None = None
        self._first = first
        self._hold = hold
        self._hold_until = text_since + hold if placeholder is None and sign_shown else -math.inf
        # the reply's first words: first in their queue while nothing shows that the bot is working, and
        # before every other reply's later messages once its sign of life does
        self._first_words = Priority.WORDS if sign_shown else Priority.FIRST
        self._recheck_at = math.inf
        self._posted_at = text_since  # when this sink last posted a message
        self.gone = False  # the reply's messages are out of reach: the model may stop
        self.stopped_by_person = False  # an edited message has no stop of a person's
        self.handover: int | None = None  # the reply's first words went to another surface's queue
        self._rival = rival  # the method that opens a message there (None: they stay here)

    # -- state -------------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        if self.handover is not None:
            return self._in_flight is None
        self._sync()
        return (self._layout.finished and self._in_flight is None and not self._layout.pending
                and all(self._final_sent(index) for index in range(len(self._messages))))

    @property
    def shown_anything(self) -> bool:
        return any(message.answered for message in self._messages)

    def holding(self) -> int:
        """Messages this reply holds open: every message posted whose final text has yet to go out will need an
        edit."""
        if self.handover is not None:
            return 0
        return sum(1 for index, message in enumerate(self._messages) if message.ts and not self._final_sent(index))

    @property
    def posted(self) -> list[str]:
        """The ts of every message this sink posted or took over."""
        return [message.ts for message in self._messages if message.ts]

    # -- the schedule ------------------------------------------------------------------------------

    def due(self, now: float, budgets: Budgets = Unlimited()) -> Due | None:
        if self._in_flight is not None or self.handover is not None:
            return None
        self._sync()
        self._recheck_at = now + _RECHECK
        for index, message in enumerate(self._messages):
            at = self._due_at(index, budgets)
            if at is not None and at <= now:
                final = self._layout.is_final(index)
                if index == 0 and not message.answered:  # the reply's first words (or the note instead)
                    priority = self._first_words
                elif message.ts is None or not message.answered or final:
                    priority = Priority.URGENT
                else:
                    priority = Priority.ROUTINE
                closes = message.ts is None and not final and self._hold > 0 and budgets.room(UPDATE) < 1
                return Due(POST if message.ts is None else UPDATE, index, priority, closes=closes)
        return None

    def wake_at(self) -> float | None:
        if self._in_flight is not None or self.handover is not None:
            return None
        self._sync()
        times = [at for index in range(len(self._messages)) if (at := self._due_at(index, None)) is not None]
        return min(times, default=None)

    def wait(self, due: Due, seconds: float, budgets: Budgets = Unlimited()) -> bool:
        """Posts and edits wait for their turn; but the reply's first words, with nothing shown yet, go to the
        rival's queue where that is shorter by far (the post budget paused by a 429, say)."""
        if (self._rival is not None and due.method == POST and due.index == 0 and not self.shown_anything
                and seconds > HANDOVER_AFTER and budgets.estimate(self._rival) < seconds):
            self.handover = due.index
            return False
        return True

    def _wanted_at(self, message_index: int) -> float | None:
        """When a message that shows text would like its next edit (None: not until more text comes): the
        first words at once, then as the cadence says."""
        message = self._messages[message_index]
        if not message.answered:
            return -math.inf
        return self._cadence.next_update_at(message.last_call_at, self._layout.waiting)

    def make(self, due: Due, now: float) -> Call | None:
        index, layout = due.index, self._layout
        if layout.is_last(index):
            layout.absorb()
        layout.fit(index, self._fits)
        if due.closes and not layout.is_final(index):  # never to be edited: it ends at its last whole line
            body = layout.parts[index].body
            layout.cut(index, last_break(body) or last_break(body, (" ",)) or len(body))
        self._sync()
        message, part = self._messages[index], layout.parts[index]
        final = layout.is_final(index)
        text = self._render(index, final)
        message.seen = part.version
        buttons = final and layout.is_last(index) and layout.finished and self._feedback and not layout.abandoned
        if not text.strip() or (text == message.shown and not buttons):
            if final:
                message.final_sent = part.version  # nothing left to change (a blank tail is never posted)
            return None
        params: dict = {"channel": self._place.channel, "text": text}
        if buttons:  # the last message's final text, shown already or not, ends with the buttons
            params["blocks"] = [*_sections(text), self._feedback]
        if message.ts is None:
            params.update(thread_ts=self._place.thread_ts, unfurl_links=False, unfurl_media=False)
            method = POST  # an answer full of link previews is hard to read
        else:
            params["ts"] = message.ts
            method = UPDATE
        call = Call(method, index, params, retry=method == POST or final, final=final, version=part.version,
                    end=len(part.source), tag=self._place.tag(index) if method == POST else None,
                    extra={"closes": due.closes and method == POST})
        self._in_flight = call
        message.last_call_at = now
        return call

    def answered(self, call: Call, now: float, response: Mapping[str, Any] | None, error: SlackError | None) -> None:
        if call is not self._in_flight:
            raise ValueError("an answer to a call that is not in flight")
        self._in_flight = None
        message = self._messages[call.index]
        message.seen = -1  # unless the call landed, what Slack shows is stale
        if error is None:
            if call.method == POST:
                message.ts = response["ts"]  # type: ignore[index]
                self._posted_at = now
            message.shown = call.params["text"]
            message.shown_end = call.end
            message.answered = True
            message.seen = call.version
            if call.final and call.version == self._layout.parts[call.index].version:
                message.final_sent = call.version
            message.closed_by_post = call.extra.get("closes", False)
            return
        if isinstance(error, (Gone, NotAllowed)):
            self.abandon()
        elif isinstance(error, TooLong) and self._limit > _MIN_LIMIT:
            self._limit = max(min(self._limit, int(len(call.params["text"]) * _SHRINK)), _MIN_LIMIT)
        elif call.method == POST:  # already retried (and looked for) by the Slack call policy
            if call.index > self._first and self._messages[call.index - 1].answered:
                self._layout.drop_from(call.index)  # the message before ends the reply, saying the rest is missing
                del self._messages[call.index:]
                return
            self._layout.lost += 1
            message.final_sent = self._layout.parts[call.index].version
            self._layout.stop_growing()  # Slack will not take a new message of this reply: nowhere to show the rest
        elif (call.final and self._layout.is_last(call.index) and self._layout.finished
              and not isinstance(error, TooLong)):
            self._move_rest(call.index)  # Slack would not take the last edit: what it does not show goes on anew
        elif call.final:
            message.final_sent = self._layout.parts[call.index].version
            self._layout.lost += 1
        else:
            message.not_before = now + _AFTER_FAILURE  # an intermediate edit: the next one supersedes it

    def abandon(self) -> None:
        """The reply's messages are gone (deleted, channel archived): make no more calls."""
        self.gone = True
        self._layout.stop_growing()
        self._in_flight = None
        for message in self._messages:
            message.final_sent = math.inf  # type: ignore[assignment]

    def _move_rest(self, index: int) -> None:
        """Message `index` keeps what Slack shows of it; the rest of the answer (from the start of the line Slack
        shows in part) and the closing note go in a new message after it."""
        message, part = self._messages[index], self._layout.parts[index]
        end = message.shown_end
        if end < len(part.source):
            end = part.source.rfind("\n", 0, end) + 1
        self._layout.cut(index, max(end - len(part.prefix), 0))
        self._layout.moved += 1
        message.final_sent = part.version  # given up: it shows what it shows
        self._sync()

    # -- internals ---------------------------------------------------------------------------------

    def _sync(self) -> None:
        """One message of state per message of the layout (the layout grows when an answer rolls over, and
        loses a blank last message a closed post left, once the answer is all in)."""
        while len(self._messages) < len(self._layout.parts):
            self._messages.append(_Message())
        last = len(self._messages) - 1
        if (last > self._first and self._messages[last].ts is None and self._messages[last - 1].closed_by_post
                and self._layout.drop_blank_tail()):
            del self._messages[last]

    def _final_sent(self, index: int) -> bool:
        sent = self._messages[index].final_sent
        return sent is not None and sent >= self._layout.parts[index].version

    def _due_at(self, index: int, budgets: Budgets | None) -> float | None:
        """When message `index` wants a call. `budgets` None: not known now (a held post looks again soon)."""
        message, layout = self._messages[index], self._layout
        if self._final_sent(index):
            return None
        if (index > 0 and message.ts is None and self._messages[index - 1].ts is None
                and not self._final_sent(index - 1)):
            return None  # posts go out in order, or the thread would read out of order
        if layout.is_final(index):
            return message.not_before  # final text goes out at once
        changed = layout.parts[index].version != message.seen or (layout.is_last(index) and layout.pending)
        if not changed:
            return None
        if message.ts is None:
            until = self._hold_until if index == self._first else self._posted_at + self._hold
            if until > message.not_before:  # may it wait to carry more?
                if budgets is None:
                    return min(until, self._recheck_at)
                if budgets.room(UPDATE) < 1:
                    return until
            return message.not_before  # a new message holding text goes up at once
        wanted = self._wanted_at(index)
        return None if wanted is None else max(wanted, message.not_before)

    def _fits(self, markdown: str) -> bool:
        return len(self._format(markdown)) <= self._limit

    def _format(self, markdown: str) -> str:
        if self._format_cache[0] != markdown:
            self._format_cache = (markdown, to_mrkdwn(markdown))
        return self._format_cache[1]

    def _render(self, index: int, final: bool) -> str:
        text = self._format(self._layout.parts[index].source)
        note = (self._layout.closing_note(index, blank=not text.strip(), shown_anything=self.shown_anything)
                if final else None)
        if note:
            text = f"{text}\n\n{note}" if text.strip() else note
        return text


def _sections(text: str) -> list[dict]:
    """`text` as section blocks (a message that carries blocks shows them instead of its text), each within a
    section's limit, cut at a line break; a code block cut there is closed and reopened."""
    sections, carried = [], ""
    while text:
        whole = carried + text
        if len(whole) <= SECTION_LIMIT:
            sections.append(whole)
            break
        cut = split_point(text, lambda head: len(carried + head) + 4 <= SECTION_LIMIT)
        head, text = carried + text[:cut], text[cut:]
        fence = open_fence(head)
        sections.append(f"{head.rstrip()}\n```" if fence else head)
        carried = "```\n" if fence else ""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": section}} for section in sections if section.strip()]
