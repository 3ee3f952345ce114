"""Which pages of a long thread to read: its first page, then its newest messages, newest first.

Slack's `conversations.replies` returns a thread oldest first and pages forward with a cursor; there is no
way to ask for its newest messages first. It does take a time window (`oldest`, `latest`). So the first
page is read as it comes (it holds the thread's first message, which states the topic, and for most threads
it is the whole thread); if there is more, the rest is read in windows of time that go back from the question:
the first as long as the first page took, each next one twice as long, each read forward to its end. Reading
stops when the windows reach the first page (the whole thread was read), when the newest messages read fill
the conversation budget (older ones would not reach the model anyway), or when the page or time budget is
spent, or Slack fails: what was read then is the first page and the newest messages back to the last window
read whole, and the middle was not read.

Pure: `fetch` stands for Slack, so no thread, clock or network is needed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from bot.slack.kinds import SlackError

# fetch(oldest, latest, cursor) → (messages, next cursor or None). `oldest`/`latest` are Slack timestamps that
# bound a window (both included); None for no bound.
Fetch = Callable[[str | None, str | None, str | None], tuple[list[dict], str | None]]

OUT_OF_TIME = "out_of_time"
OUT_OF_PAGES = "out_of_pages"


@dataclass(frozen=True)
class ThreadRead:
    """What was read of a thread, oldest first. `unread`: why some of it that the conversation had room for
    was not read (Slack's error code, `out_of_time` or `out_of_pages`); None when nothing that mattered was
    left unread."""

    messages: list[dict]
    unread: str | None = None

    @property
    def complete(self) -> bool:
        return self.unread is None


def read_thread(fetch: Fetch, *, before: str, enough_chars: int, max_pages: int,
                time_left: Callable[[], float] = lambda: float("inf")) -> ThreadRead:
    """The first page of a thread and its newest messages before `before` (the question's ts), within
    `max_pages` calls and while `time_left()` is positive; reading back from the newest stops once the
    messages read hold `enough_chars` characters."""
    pages = 0

    def page(oldest: float | None, latest: float | None, cursor: str | None) -> tuple[list[dict], str | None]:
        nonlocal pages
        if pages >= max_pages:
            raise _Stop(OUT_OF_PAGES)
        if time_left() <= 0:
            raise _Stop(OUT_OF_TIME)
        pages += 1
        try:
            return fetch(_ts(oldest), _ts(latest), cursor)
        except SlackError as error:
            raise _Stop(error.code) from error

    asked_at = float(before)
    try:
        head, cursor = page(None, None, None)
    except _Stop as stop:
        return ThreadRead([], stop.reason)
    reached_the_question = any(float(m.get("ts", 0)) >= asked_at for m in head)
    head = _sorted(head, below=asked_at)
    if not cursor or not head or reached_the_question:  # the first page holds all that came before the question
        return ThreadRead(head)

    floor = float(head[-1]["ts"])  # the first page holds everything up to here
    span = max(floor - float(head[0]["ts"]), 1.0)  # a window as long as the first page took, to begin with
    newest: list[dict] = []  # windows read whole, oldest first
    top = asked_at
    while top > floor and _chars(newest) < enough_chars:
        bottom = max(top - span, floor)
        try:
            window, cursor = page(bottom, top, None)
            while cursor:
                more, cursor = page(bottom, top, cursor)
                window += more
        except _Stop as stop:
            return ThreadRead(_merged(head, newest), stop.reason)
        newest = [m for m in window if bottom <= float(m["ts"]) < top] + newest
        top, span = bottom, span * 2
    return ThreadRead(_merged(head, newest))


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _ts(value: float | None) -> str | None:
    return None if value is None else f"{value:.6f}"


def _sorted(messages: Iterable[Mapping], *, below: float) -> list[dict]:
    """Messages before `below`, each once, oldest first."""
    unique = {m["ts"]: dict(m) for m in messages if "ts" in m and float(m["ts"]) < below}
    return sorted(unique.values(), key=lambda m: float(m["ts"]))


def _merged(head: list[dict], newest: list[dict]) -> list[dict]:
    return _sorted([*head, *newest], below=float("inf"))


def _chars(messages: list[dict]) -> int:
    return sum(len(m.get("text") or "") for m in messages)
