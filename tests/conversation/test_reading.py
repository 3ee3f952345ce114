"""Which pages of a thread the bot reads (`bot.conversation.reading`), against a thread in memory that pages
as Slack's `conversations.replies` does: oldest first, a cursor forward, a time window (`oldest`, `latest`,
both included when asked). A short thread is one call; a long one gives its first page and its newest
messages, with nothing in between those newest ones missing; reading stops when the newest fill the
conversation budget, and says why when it stopped before something that mattered was read."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.conversation.reading import OUT_OF_PAGES, OUT_OF_TIME, read_thread
from bot.slack.kinds import NotAllowed, RateLimited

PAGE = 3


class Thread:
    """A thread as Slack pages it; `fail_on` makes the call of that number (1 for the first) fail."""

    def __init__(self, stamps, text: str = "x" * 10, fail_on: int | None = None, error=None) -> None:
        self.messages = [{"ts": f"{ts:.6f}", "text": f"{i}:{text}"} for i, ts in enumerate(sorted(stamps))]
        self.calls: list[tuple] = []
        self.fail_on, self.error = fail_on, error or RateLimited("conversations.replies", "ratelimited")

    def fetch(self, oldest, latest, cursor):
        self.calls.append((oldest, latest, cursor))
        if len(self.calls) == self.fail_on:
            raise self.error
        low, high = float(oldest or 0), float(latest or "inf")
        inside = [m for m in self.messages if low <= float(m["ts"]) <= high]
        start = int(cursor or 0)
        more = start + PAGE < len(inside)
        return inside[start:start + PAGE], str(start + PAGE) if more else None

    def read(self, before=None, enough_chars=100_000, max_pages=25, **kwargs):
        before = before or self.messages[-1]["ts"]  # the question is the thread's newest message
        return read_thread(self.fetch, before=before, enough_chars=enough_chars, max_pages=max_pages, **kwargs)

    def texts(self, read) -> list[int]:
        return [int(m["text"].split(":")[0]) for m in read.messages]


def test_a_short_thread_is_one_call_and_complete():
    thread = Thread([1, 2, 3])
    read = thread.read(before="4")
    assert thread.texts(read) == [0, 1, 2] and read.complete and len(thread.calls) == 1


def test_a_thread_that_fits_in_the_page_budget_is_read_whole_without_the_question_or_what_came_after():
    thread = Thread(range(1, 41))  # the question is message 39, at 40
    read = thread.read()
    assert thread.texts(read) == list(range(39)) and read.complete


def test_a_thread_longer_than_the_page_budget_keeps_its_first_page_and_its_newest_messages():
    thread = Thread(range(1, 201))
    read = thread.read(max_pages=10)
    got = thread.texts(read)
    assert got[:3] == [0, 1, 2]  # the first page: the topic
    newest = got[3:]
    assert newest and newest[-1] == 198 and newest == list(range(newest[0], 199))  # no hole among the newest
    assert read.unread == OUT_OF_PAGES and len(thread.calls) == 10


def test_reading_back_stops_once_the_newest_messages_fill_the_budget():
    thread = Thread(range(1, 1001), text="y" * 50)
    read = thread.read(enough_chars=500)
    got = thread.texts(read)
    assert got[:3] == [0, 1, 2] and got[-1] == 998
    assert read.complete  # older messages would not have reached the model anyway
    assert sum(len(m["text"]) for m in read.messages[3:]) >= 500 and len(thread.calls) < 10


def test_a_first_page_slack_refuses_gives_nothing_and_says_why():
    thread = Thread(range(1, 20), fail_on=1)
    read = thread.read()
    assert read.messages == [] and read.unread == "ratelimited"


def test_a_failure_further_on_keeps_the_first_page_and_the_windows_read_whole():
    thread = Thread(range(1, 101), fail_on=6, error=NotAllowed("conversations.replies", "missing_scope"))
    read = thread.read()
    got = thread.texts(read)
    assert got[:3] == [0, 1, 2] and got[-1] == 98 and got[3:] == list(range(got[3], 99))
    assert read.unread == "missing_scope"


def test_reading_stops_when_its_time_is_up():
    thread = Thread(range(1, 101))
    read = thread.read(time_left=lambda: 1.0 if len(thread.calls) < 2 else 0.0)
    assert read.unread == OUT_OF_TIME and len(thread.calls) == 2
    assert thread.texts(read)[:3] == [0, 1, 2]


def test_messages_on_the_edges_of_the_windows_are_read_once():
    # seconds apart, then a burst within a microsecond's reach of each other: windows end on some of them
    thread = Thread([1, 2, 3, 4, 4.000001, 4.000002, 5, 7, 7.5, 8, 9, 9.000001, 10, 11])
    read = thread.read()
    assert thread.texts(read) == list(range(13)) and read.complete


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 5_000_000), min_size=1, max_size=80, unique=True), st.integers(1, 30))
def test_any_thread_read_gives_its_first_page_and_an_unbroken_run_of_its_newest_messages(micros, max_pages):
    thread = Thread([1_700_000_000 + m / 1_000_000 for m in micros])
    read = thread.read(max_pages=max_pages)
    got = thread.texts(read)
    before = len(thread.messages) - 1  # every message but the question
    assert got == sorted(set(got)) and all(i < before for i in got)
    assert got[:3] == list(range(min(3, before)))
    newest = got[3:]
    assert newest == list(range(newest[0], before)) if newest else True
    if read.complete:
        assert got == list(range(before))
    assert len(thread.calls) <= max_pages
