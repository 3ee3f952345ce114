"""The answer's Markdown, laid out as the Slack messages of one reply. Pure: no thread, clock or network.

The model's text is fed in as it comes and gathered (`pending`) until a sink takes it (`absorb`) into the
last message. A message whose text would pass its surface's limit is closed at a paragraph or line break
(see `splitting`) and the answer goes on in a new message; a code fence cut by the split is reopened, with
its language, at the start of the next message. Joined, the messages' bodies are exactly the answer. The
surface says what fits (`fits`) and what can no longer move (`floor`: text a native stream has already
appended), so the same layout serves edited messages and native streams. When the stream ends, the last
message ends with the closing note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bot import notes
from bot.layout.splitting import open_fence, split_point
from bot.layout.steps import Steps


@dataclass
class Part:
    """One Slack message of the reply: `prefix` (a code fence reopened from the message before) and `body`
    (its share of the answer)."""

    prefix: str = ""
    body: str = ""
    closed: bool = False  # the body will not grow any more
    version: int = 0  # bumped whenever prefix or body changes

    @property
    def source(self) -> str:
        return self.prefix + self.body


@dataclass(frozen=True)
class Pending:
    """What the model sent since the answer's text was last taken into a message (`Layout.absorb`): how many
    chunks, and how many characters."""

    chunks: int = 0
    chars: int = 0


class Layout:
    def __init__(self) -> None:
        self.parts = [Part()]
        self._pending: list[str] = []
        self._pending_chars = 0
        self.finished = False
        self.note: str | None = None
        self.abandoned = False  # no more of the answer can be shown
        self.lost = 0  # messages whose text Slack never took
        self.moved = 0  # messages whose last text Slack would not take, which went on in a new message
        self.steps = Steps()  # the reply's tool calls, shown as task cards where the surface can

    # -- input -------------------------------------------------------------------------------------

    def feed(self, text: str) -> bool:
        """Text the model produced, in order. True when it is the first text waiting since the last absorb."""
        if not text or self.finished:
            return False
        self._pending.append(text)
        self._pending_chars += len(text)
        return len(self._pending) == 1

    def finish(self, note: str | None = None) -> None:
        """The stream ended; `note` closes the last message. Only the first call counts."""
        if not self.finished:
            self.finished = True
            self.note = note

    def stop_growing(self) -> None:
        """No more of the answer will be shown (Slack will not take it): what is waiting is dropped."""
        self.abandoned = True
        self.finished = True
        self._pending.clear()
        self._pending_chars = 0

    def drop_from(self, index: int) -> None:
        """Messages from `index` on can never be posted: the one before ends the reply (and says the rest is
        missing)."""
        del self.parts[index:]
        self.parts[-1].version += 1
        self.lost += 1
        self.stop_growing()

    # -- state -------------------------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    @property
    def waiting(self) -> Pending:
        """What is waiting to be taken into a message."""
        return Pending(len(self._pending), self._pending_chars)

    def fresh(self, index: int, after: int) -> str:
        """Message `index`'s source after its first `after` characters, with the text still waiting if it is
        the last message."""
        fresh = self.parts[index].source[after:]
        return fresh + "".join(self._pending) if self.is_last(index) else fresh

    @property
    def bodies(self) -> list[str]:
        return [part.body for part in self.parts]

    def is_last(self, index: int) -> bool:
        return index == len(self.parts) - 1

    def is_final(self, index: int) -> bool:
        """Message `index` will not change any more, once its pending text is absorbed."""
        return self.parts[index].closed or (self.finished and self.is_last(index))

    # -- laying out --------------------------------------------------------------------------------

    def absorb(self) -> bool:
        """Move the pending text into the last message; True if it changed."""
        if not self._pending:
            return False
        part = self.parts[-1]
        part.body += "".join(self._pending)
        part.version += 1
        self._pending.clear()
        self._pending_chars = 0
        return True

    def fit(self, index: int, fits: Callable[[str], bool], floor: int = 0) -> bool:
        """Close message `index` where its source stops fitting (never before `floor` characters of its
        body) and move the rest to the start of the next message (a new one after the last). True if it split."""
        part = self.parts[index]
        if fits(part.source) or len(part.body) <= floor:
            return False
        prefix = part.prefix
        self.cut(index, split_point(part.body, lambda head: self._fits_over(prefix + head, fits, floor, len(prefix)),
                                    floor=floor))
        return True

    def cut(self, index: int, at: int) -> None:
        """Close message `index` after `at` characters of its body; the rest (perhaps nothing yet) starts the
        next message, behind the opening line of a code fence the cut left open."""
        part = self.parts[index]
        head, tail = part.body[:at], part.body[at:]
        opener = open_fence(part.prefix + head)
        carried = f"{opener}\n" if opener else ""
        part.body = head
        part.closed = True
        part.version += 1
        if self.is_last(index):
            self.parts.append(Part(prefix=carried, body=tail, version=1))
        else:
            following = self.parts[index + 1]
            following.prefix, following.body = carried, tail + following.body
            following.version += 1

    def drop_blank_tail(self) -> bool:
        """Once the answer is all in, a last message that a cut left blank goes: the one before it ends the
        answer again (and takes the closing note). True if it went."""
        if not self.finished or self._pending or len(self.parts) < 2 or self.parts[-1].body.strip():
            return False
        blank = self.parts.pop()
        self.parts[-1].body += blank.body  # nothing visible, but nothing of the answer is dropped either
        self.parts[-1].closed = False
        self.parts[-1].version += 1
        return True

    @staticmethod
    def _fits_over(source: str, fits: Callable[[str], bool], floor: int, prefix: int) -> bool:
        return len(source) - prefix <= floor or fits(source)

    def closer(self, index: int) -> str:
        """What a message must end with so that a code fence left open by a split is closed (for surfaces
        that do not close it themselves)."""
        if not self.parts[index].closed:
            return ""
        opener = open_fence(self.parts[index].source)
        return f"\n{opener[0] * _fence_length(opener)}" if opener else ""

    def closing_note(self, index: int, *, blank: bool, shown_anything: bool) -> str | None:
        """The note that ends message `index`: only the last one, once the stream has ended. `blank`: the
        message shows nothing of the answer (an empty answer then says so, rather than show nothing)."""
        if not (self.finished and self.is_last(index)):
            return None
        note = self.note
        if note is None and blank and not shown_anything:
            note = notes.EMPTY_ANSWER
        if self.steps and not self.steps.as_cards:  # no task cards showed the steps: one line says them
            note = notes.lines(self.steps.line(), note)
        if self.lost:
            note = notes.lines(note, notes.PART_MISSING)
        elif self.moved:
            note = notes.lines(note, notes.ANSWER_MOVED)
        return note


def _fence_length(opener: str) -> int:
    return len(opener) - len(opener.lstrip(opener[0]))
