"""The steps of a reply (its tool calls) as Slack shows them: task cards in a native stream (`task_update`
chunks, each card updated in place by its id), or one line under an answer that has no cards. Pure.

A stream sends only the cards that changed since Slack last took them, the newest state of each (several
changes while a call waits become one), so that under load cards merge into fewer calls rather than add calls.
Text from outside (titles the model's input made, a failure's reason, sources' names) is made plain: no
`<…>` tokens Slack would read as a mention or a link, and links only to http(s) addresses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.layout.links import misleading

STATUSES = ("pending", "in_progress", "complete", "error")
MAX_TITLE = 120
MAX_SOURCES = 10
_UNSAFE = re.compile(r"[<>\x00-\x1f\x7f]")
_MARKS = {"complete": "✓", "error": "✗"}


@dataclass(frozen=True)
class _Card:
    title: str
    status: str
    details: str
    sources: tuple[tuple[str, str], ...]  # (name, url)


class Steps:
    def __init__(self) -> None:
        self._cards: dict[str, _Card] = {}
        self._versions: dict[str, int] = {}
        self._sent: dict[str, int] = {}
        self._counter = 0
        self.as_cards = False  # Slack took task cards for this reply (a native stream showed them)

    def __bool__(self) -> bool:
        return bool(self._cards)

    def update(self, step_id: str, title: str, status: str, *, details: str = "",
               sources: tuple[tuple[str, str | None], ...] = ()) -> None:
        """The newest state of step `step_id` (`sources`: (name, url or None); only links are carried)."""
        if status not in STATUSES:
            raise ValueError(f"unknown step status {status!r}")
        links = tuple((_named(name, url), url) for name, url in sources
                      if url and re.match(r"https?://[^\s<>|]+$", url))[:MAX_SOURCES]
        self._cards[step_id] = _Card(plain(title, MAX_TITLE) or "Working", status, plain(details, MAX_TITLE), links)
        self._counter += 1
        self._versions[step_id] = self._counter

    @property
    def pending(self) -> bool:
        """Some card changed since Slack last took it."""
        return any(self._sent.get(step_id) != version for step_id, version in self._versions.items())

    def chunks(self) -> tuple[list[dict], dict[str, int]]:
        """The cards that changed, as `task_update` chunks, and the mark to pass to `sent` once Slack took them."""
        chunks, marks = [], {}
        for step_id, card in self._cards.items():
            version = self._versions[step_id]
            if self._sent.get(step_id) == version:
                continue
            chunk: dict[str, object] = {"type": "task_update", "id": step_id, "title": card.title,
                                        "status": card.status}
            if card.details:
                chunk["details"] = card.details
            if card.sources:
                chunk["sources"] = [{"type": "url", "url": url, "text": name} for name, url in card.sources]
            chunks.append(chunk)
            marks[step_id] = version
        return chunks, marks

    def sent(self, marks: dict[str, int]) -> None:
        for step_id, version in marks.items():
            self._sent[step_id] = max(self._sent.get(step_id, 0), version)

    def line(self) -> str | None:
        """The steps in one line, for an answer without cards: "Steps: Searching the handbook ✓ · …"."""
        if not self._cards:
            return None
        return "Steps: " + " · ".join(f"{card.title} {_MARKS.get(card.status, '…')}".rstrip()
                                      for card in self._cards.values())


def _named(name: str, url: str) -> str:
    """A source's name as its card shows it: plain, and never a name that passes for another address than the
    link's (then the link's own address is its name)."""
    name = plain(name, MAX_TITLE)
    return url[:MAX_TITLE] if not name or misleading(name, url) else name


def plain(text: str, most: int) -> str:
    """`text` on one line, at most `most` characters, with nothing Slack would read as a token."""
    text = re.sub(r"\s+", " ", _UNSAFE.sub(" ", text)).strip()
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"
