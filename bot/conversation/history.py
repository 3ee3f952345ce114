"""Reads what was said before a question: a thread, or the recent history of a DM, and people's names.

The Slack edge of the conversation stage; `conversation.build_conversation` turns what this returns into
model messages. Each read has a budget of time, shared by all its calls (their waits for a turn and their
retries included): the conversation's (`read_seconds`) and the names' (`names_seconds`, short: names are
optional). A read that runs out of it gives what it has; the answer does not wait for Slack for minutes.

Names are looked up all at once, each on a small pool of threads, and kept (at most `NAMES_KEPT`, each for
`NAMES_FRESH_SECONDS`, so that a renamed person is seen by the next hour's answers); a name being looked up
already is waited for, never asked twice. `look_up` starts lookups without waiting (the names a question
mentions, while the thread is read).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for

from cachetools import TTLCache

from typing import Any, Sequence

from bot.conversation.reading import ThreadRead, read_thread
from bot.request import Viewed
from bot.slack.calls import SlackCalls
from bot.slack.kinds import Gone, NotAllowed, Refused, SlackError
from bot.slack import methods

log = logging.getLogger(__name__)

_PAGE_SIZE = 200
_MAX_PAGES = 25  # a thread's first page, then its newest 4,800 messages at most: far past any conversation budget
NAMES_KEPT = 10_000
NAMES_FRESH_SECONDS = 3600.0
_LOOKUPS_AT_ONCE = 16  # users.info calls in flight at once, for all replies
VIEWED_MESSAGES = 15  # of a channel (or a message's replies) a person has open


class SlackHistory:
    def __init__(self, calls: SlackCalls, *, dm_messages: int, dm_hours: float, read_seconds: float = 10.0,
                 names_seconds: float = 3.0) -> None:
        self._calls = calls
        self._dm_messages = dm_messages
        self._dm_hours = dm_hours
        self._read_seconds = read_seconds
        self._names_seconds = names_seconds
        self._names: TTLCache[str, str] = TTLCache(maxsize=NAMES_KEPT, ttl=NAMES_FRESH_SECONDS)
        self._looking_up: dict[str, Future[str | None]] = {}
        self._names_lock = threading.Lock()
        self._lookups = ThreadPoolExecutor(max_workers=_LOOKUPS_AT_ONCE, thread_name_prefix="name-lookup")
        self._viewed = ThreadPoolExecutor(max_workers=_LOOKUPS_AT_ONCE, thread_name_prefix="viewed-read")

    def thread(self, channel: str, thread_ts: str, *, before: str, enough_chars: int) -> ThreadRead:
        """The thread's first page and its newest messages before `before` (see `reading`), within the read
        budget (`conversations.replies`)."""
        deadline = self._calls.clock() + self._read_seconds

        def fetch(oldest: str | None, latest: str | None, cursor: str | None) -> tuple[list[dict], str | None]:
            window: dict[str, Any] = ({"oldest": oldest, "latest": latest, "inclusive": True} if oldest or latest
                                      else {})
            response = self._calls.call(methods.REPLIES, deadline=deadline, channel=channel, ts=thread_ts,
                                        limit=_PAGE_SIZE, cursor=cursor, **window)
            return response.get("messages", []), (response.get("response_metadata") or {}).get("next_cursor")

        return read_thread(fetch, before=before, enough_chars=enough_chars, max_pages=_MAX_PAGES,
                           time_left=lambda: deadline - self._calls.clock())

    def direct_messages(self, channel: str, before_ts: str) -> list[dict]:
        """The latest messages of a DM before `before_ts`, within the configured count and age, and the read
        budget; a `SlackError` if they cannot be read."""
        oldest = max(float(before_ts) - self._dm_hours * 3600, 0)
        response = self._calls.call(
            methods.HISTORY, deadline=self._calls.clock() + self._read_seconds,
            channel=channel, latest=before_ts, oldest=f"{oldest:.6f}", limit=self._dm_messages, inclusive=False
        )
        return list(reversed(response.get("messages", [])))

    def viewed_later(self, viewed: Sequence[Viewed]) -> list[Future[tuple[str, str | None, list[dict]] | None]]:
        """Start reading what a person has open, each at once and without waiting: a channel's latest messages, or
        a message and its first replies (a channel with a message of it open is read through the message). Each
        gives (channel, ts, messages oldest first), or None if it cannot be read (the bot is not in the channel,
        say); all end within the read budget."""
        deadline = self._calls.clock() + self._read_seconds
        with_message = {item.channel for item in viewed if item.ts is not None}
        return [self._viewed.submit(self._read_viewed, item, deadline) for item in viewed
                if item.ts is not None or item.channel not in with_message]

    def _read_viewed(self, item: Viewed, deadline: float) -> tuple[str, str | None, list[dict]] | None:
        try:
            if item.ts is None:
                response = self._calls.call(methods.HISTORY, deadline=deadline, channel=item.channel,
                                            limit=VIEWED_MESSAGES)
                return item.channel, None, list(reversed(response.get("messages", [])))
            response = self._calls.call(methods.REPLIES, deadline=deadline, channel=item.channel, ts=item.ts,
                                        limit=VIEWED_MESSAGES)
            return item.channel, item.ts, response.get("messages", [])[:VIEWED_MESSAGES]
        except SlackError as error:
            log.info("cannot read %s, which the person has open (%s): answering without it", item.channel,
                     error.code)
            return None

    def look_up(self, user_ids: set[str]) -> None:
        """Start looking up the names of `user_ids` that are not known or on their way; do not wait."""
        self._start(user_ids)

    def names(self, user_ids: set[str]) -> dict[str, str]:
        """Display names for user ids (`users.info`, kept), as many as the names' budget allows; an id stands
        in where a name is not known."""
        lookups = self._start(user_ids)
        if lookups:
            done, late = wait_for(lookups.values(), timeout=self._names_seconds)
            failures = [future.result() for future in done if future.result() is not None]
            if late or failures:
                log.warning("could not look up %d of %d names within %gs (%s); the model sees their ids instead",
                            len(late) + len(failures), len(lookups), self._names_seconds,
                            f"users.info: {failures[0]}" if failures else "out of time")
        with self._names_lock:
            return {user_id: self._names.get(user_id, user_id) for user_id in user_ids}

    def _start(self, user_ids: set[str]) -> dict[str, Future[str | None]]:
        """The lookups of the names of `user_ids` not known yet: those on their way, and new ones started."""
        if self._names_seconds <= 0:  # names are turned off
            return {}
        lookups = {}
        with self._names_lock:
            for user_id in sorted(user_ids):
                if user_id in self._names:
                    continue
                future = self._looking_up.get(user_id)
                if future is None:
                    future = self._looking_up[user_id] = self._lookups.submit(
                        self._look_up, user_id, self._calls.clock() + self._names_seconds)
                lookups[user_id] = future
        return lookups

    def _look_up(self, user_id: str, deadline: float) -> str | None:
        """Look one name up and keep it (on a lookup thread); the Slack error code if it failed."""
        try:
            user = self._calls.call(methods.USER, deadline=deadline, user=user_id)["user"]
        except SlackError as error:
            with self._names_lock:
                del self._looking_up[user_id]
                if isinstance(error, (Gone, NotAllowed, Refused)):  # asking again will not help: the id will do
                    self._names[user_id] = user_id
            return error.code
        except BaseException:
            with self._names_lock:
                del self._looking_up[user_id]
            raise
        profile = user.get("profile") or {}
        with self._names_lock:
            self._names[user_id] = (profile.get("display_name") or profile.get("real_name") or user.get("name")
                                    or user_id)
            del self._looking_up[user_id]
        return None
