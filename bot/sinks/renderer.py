"""The streaming renderer: model text in, paced Slack edits out.

Pure: it owns no thread, no clock and no network. Whoever drives it feeds it text as the model produces
it, asks `next_edit(now)` what Slack call to make, reports back with `sent(...)`, and sleeps until
`wake_at()` when there is nothing to do. The rules it keeps:

- the reply's `Cadence` says when it wants an edit (ours: the first words replace the placeholder at
  once, then a message is edited at most once per interval, whatever the number of chunks); whether
  Slack's budget allows the edit now is the shared `Pacer`'s call, which the driver asks (`due` says what
  kind of edit is waiting);
- one Slack call at a time per reply; text that arrives meanwhile is coalesced, and the newest wins;
- a message whose text would pass Slack's limit is closed at a paragraph or line break and the answer
  goes on in a new message (see `splitting`); joined, the messages' bodies are exactly the answer;
- when the stream ends, every message gets its final text once, the last one with the closing note;
- a failed intermediate edit is superseded by the next one; a message Slack finds too long is split
  again under a lower limit; posts and final edits are
  retried by the Slack call policy, not here: a final edit that still fails is given up (and the last
  message says part of the answer is missing), a post that still fails ends the reply where it stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from bot import notes
from bot.layout.mrkdwn import to_mrkdwn
from bot.slack.pacing import Cadence, EverySeconds, Priority
from bot.layout.splitting import open_fence, split_point

SLACK_TEXT_LIMIT = 4000  # chat.update rejects longer `text` with msg_too_long
NOTE_ROOM = 400  # kept free in every message for the closing notes
_SHRINK = 0.9  # after msg_too_long, the limit becomes this share of the refused text's length
_MIN_LIMIT = 500
_AFTER_FAILURE = 1.0  # seconds before a message whose edit failed is tried again


@dataclass(frozen=True)
class Edit:
    """One Slack call the renderer wants made."""

    index: int  # which message of the reply; 0 is the one that held the placeholder
    text: str  # the mrkdwn that message should show
    post: bool  # True: post a new message in the thread; False: edit message `index`
    final: bool  # the message will not change after this
    version: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Due:
    """The kind of Slack call a renderer has waiting, before its text is made."""

    post: bool  # a new message (chat.postMessage) rather than an edit (chat.update)
    priority: Priority  # URGENT: a new message, the first words or a final text


@dataclass
class _Message:
    prefix: str = ""  # the code fence opener carried over from the message before, if any
    body: str = ""  # the part of the answer this message holds
    shown: str | None = None  # what Slack shows now; None until posted
    answered: bool = False  # it shows answer text, not the placeholder
    closed: bool = False  # the body will not grow any more
    version: int = 0  # bumped when the body changes
    seen: int = -1  # the version last rendered and dealt with
    final_sent: bool = False
    last_call_at: float = -math.inf
    not_before: float = -math.inf


class ReplyRenderer:
    def __init__(
        self,
        *,
        placeholder: str,
        cadence: Cadence = EverySeconds(1.0),
        limit: int = SLACK_TEXT_LIMIT - NOTE_ROOM,
        formatter: Callable[[str], str] = to_mrkdwn,
    ) -> None:
        self._cadence = cadence
        self._limit = limit
        self._formatter = formatter
        self._format_cache: tuple[str, str] = ("", formatter(""))
        self._messages = [_Message(shown=placeholder, seen=0)]  # shows all of its (empty) body
        self._pending: list[str] = []
        self._finished = False
        self._note: str | None = None
        self._in_flight: Edit | None = None
        self._deltas = 0  # text fed since the last message's last edit, in pieces and characters
        self._chars = 0
        self._wanted = False  # the cadence wants an edit for what is pending
        self.abandoned = False  # no more of the answer can be shown: the model may stop
        self.lost_messages = 0  # messages whose post or final edit never landed

    # -- input -------------------------------------------------------------------------------------

    def feed(self, text: str) -> bool:
        """Text the model produced, in order. True when this text may make an edit due sooner than
        `wake_at` said (the driver should look again); most text does not, and costs nothing more."""
        if not text or self._finished:
            return False
        self._pending.append(text)
        self._deltas += 1
        self._chars += len(text)
        was_wanted, self._wanted = self._wanted, self._cadence_due_at(self._messages[-1]) is not None
        return len(self._pending) == 1 or (self._wanted and not was_wanted)

    def finish(self, note: str | None = None) -> None:
        """The stream ended; `note` (mrkdwn) closes the last message, for example to say why it stopped.
        Only the first call counts."""
        if not self._finished:
            self._finished = True
            self._note = note

    def abandon(self) -> None:
        """The reply's messages are gone (deleted, channel archived): make no more calls."""
        self._stop_growing()
        self._in_flight = None
        for message in self._messages:
            message.final_sent = True

    def _stop_growing(self) -> None:
        """No more text will be shown; messages already written still get their final edits."""
        self.abandoned = True
        self._finished = True
        self._pending.clear()

    # -- state -------------------------------------------------------------------------------------

    @property
    def bodies(self) -> list[str]:
        """The part of the answer each message holds."""
        return [message.body for message in self._messages]

    @property
    def done(self) -> bool:
        """Finished, and every message shows its final text (or was given up on)."""
        return (
            self._finished
            and self._in_flight is None
            and not self._pending
            and all(message.final_sent for message in self._messages)
        )

    @property
    def in_flight(self) -> bool:
        """An edit was handed out and not reported back yet."""
        return self._in_flight is not None

    @property
    def shown_anything(self) -> bool:
        return any(message.answered for message in self._messages)

    # -- scheduling --------------------------------------------------------------------------------

    def due(self, now: float) -> Due | None:
        """What kind of call `next_edit(now)` would hand out, without making its text; None: nothing."""
        if self._in_flight is not None:
            return None
        for index, message in enumerate(self._messages):
            due = self._due_at(index)
            if due is not None and due <= now:
                urgent = message.shown is None or not message.answered or self._is_final(index)
                return Due(post=message.shown is None, priority=Priority.URGENT if urgent else Priority.ROUTINE)
        return None

    def next_edit(self, now: float) -> Edit | None:
        """The Slack call to make now, or None. At most one call is in flight at a time."""
        if self._in_flight is not None:
            return None
        index = 0
        while index < len(self._messages):  # the list grows when the last message rolls over
            edit = self._edit_if_due(index, now)
            if edit is not None:
                self._in_flight = edit
                self._messages[index].last_call_at = now
                return edit
            index += 1
        return None

    def wake_at(self) -> float | None:
        """When `next_edit` may next have something to send; None: not before new input or `sent`."""
        if self._in_flight is not None:
            return None
        times = [due for index in range(len(self._messages)) if (due := self._due_at(index)) is not None]
        return min(times, default=None)

    def sent(
        self,
        edit: Edit,
        now: float,
        ok: bool = True,
        too_long: bool = False,
    ) -> None:
        """The outcome of an edit `next_edit` handed out. `too_long`: Slack refused the text as over its
        limit (msg_too_long). Slack's Retry-After is the `Pacer`'s business, not the renderer's."""
        message = self._take_back(edit)
        if ok:
            message.shown = edit.text
            message.answered = True
            message.seen = edit.version
            if edit.final and edit.version == message.version:
                message.final_sent = True
            return
        if too_long and self._limit > _MIN_LIMIT:
            self._limit = max(min(self._limit, int(len(edit.text) * _SHRINK)), _MIN_LIMIT)
            return  # split again under the lower limit, at once
        # Posts and final edits were already retried by the Slack call policy.
        if edit.post:
            self.lost_messages += 1
            message.final_sent = True
            self._stop_growing()  # Slack will not take a new message of this reply: nowhere to show the rest
            return
        if edit.final:
            message.final_sent = True
            self.lost_messages += 1
            return
        message.not_before = now + _AFTER_FAILURE  # an intermediate edit: the next one supersedes it

    def _take_back(self, edit: Edit) -> _Message:
        if edit != self._in_flight:
            raise ValueError("reports an edit that is not in flight")
        self._in_flight = None
        message = self._messages[edit.index]
        message.seen = -1  # unless the edit landed, what Slack shows is stale
        return message

    # -- internals ---------------------------------------------------------------------------------

    def _is_last(self, index: int) -> bool:
        return index == len(self._messages) - 1

    def _is_final(self, index: int) -> bool:
        return self._messages[index].closed or (self._finished and self._is_last(index))

    def _due_at(self, index: int) -> float | None:
        message = self._messages[index]
        if message.final_sent:
            return None
        previous = self._messages[index - 1] if index > 0 else None
        if message.shown is None and previous is not None and previous.shown is None and not previous.final_sent:
            return None  # posts go out in order, or the thread would read out of order
        if self._is_final(index):
            return message.not_before  # final text goes out at once
        changed = message.version != message.seen or (self._is_last(index) and self._pending)
        if not changed:
            return None
        if message.shown is None:
            return message.not_before  # a new message holding text goes up at once, whatever the cadence
        wanted = self._cadence_due_at(message)
        return None if wanted is None else max(wanted, message.not_before)

    def _cadence_due_at(self, message: _Message) -> float | None:
        return self._cadence.due_at(last_edit_at=message.last_call_at, deltas=self._deltas, chars=self._chars,
                                    first=not message.answered)

    def _edit_if_due(self, index: int, now: float) -> Edit | None:
        due = self._due_at(index)
        if due is None or due > now:
            return None
        if self._is_last(index):
            self._absorb()
        self._fit(index)
        message = self._messages[index]
        final = self._is_final(index)
        text = self._render(index, final)
        message.seen = message.version
        if not text.strip() or text == message.shown:
            if final:
                message.final_sent = True  # nothing left to change (a blank tail is never posted)
            return None
        return Edit(index, text, post=message.shown is None, final=final, version=message.version)

    def _absorb(self) -> None:
        """Move pending text into the last message."""
        if self._pending:
            message = self._messages[-1]
            message.body += "".join(self._pending)
            self._pending.clear()
            message.version += 1
        self._deltas = self._chars = 0
        self._wanted = False

    def _fit(self, index: int) -> None:
        """Move what does not fit in message `index` to the start of the next one (a new one after the last)."""
        message = self._messages[index]
        if self._fits(message.prefix + message.body):
            return
        prefix = message.prefix
        cut = split_point(message.body, lambda head: self._fits(prefix + head))
        head, tail = message.body[:cut], message.body[cut:]
        opener = open_fence(prefix + head)
        carried = f"{opener}\n" if opener else ""
        message.body = head
        message.version += 1
        if self._is_last(index):
            message.closed = True
            self._messages.append(_Message(prefix=carried, body=tail, version=1))
        else:
            following = self._messages[index + 1]
            following.prefix, following.body = carried, tail + following.body
            following.version += 1
            following.final_sent = False

    def _fits(self, markdown: str) -> bool:
        return len(self._format(markdown)) <= self._limit

    def _format(self, markdown: str) -> str:
        if self._format_cache[0] != markdown:
            self._format_cache = (markdown, self._formatter(markdown))
        return self._format_cache[1]

    def _render(self, index: int, final: bool) -> str:
        message = self._messages[index]
        text = self._format(message.prefix + message.body)
        if final and self._finished and self._is_last(index):
            note = self._note
            if note is None and not text.strip() and index == 0:
                note = notes.EMPTY_ANSWER
            if self.lost_messages:
                note = "\n".join(filter(None, [note, notes.PART_MISSING]))
            if note:
                text = f"{text}\n\n{note}" if text.strip() else note
        return text
