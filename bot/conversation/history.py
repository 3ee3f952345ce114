"""Reads what was said before a question: a thread, or the recent history of a DM, and people's names.

The Slack edge of the conversation stage; `conversation.build_conversation` turns what this returns into
model messages. Each read has a budget of time, shared by all its calls (their waits for a turn and their
retries included): the conversation's (`read_seconds`) and the names' (`names_seconds`, short: names are
optional). A read that runs out of it gives what it has; the answer does not wait for Slack for minutes.
"""

from __future__ import annotations

import logging
import threading

from bot.conversation.reading import ThreadRead, read_thread
from bot.slack.calls import SlackCalls
from bot.slack.kinds import Gone, NotAllowed, Refused, SlackError

log = logging.getLogger(__name__)

_PAGE_SIZE = 200
_MAX_PAGES = 25  # a thread's first page, then its newest 4,800 messages at most: far past any conversation budget


class SlackHistory:
    def __init__(self, calls: SlackCalls, *, dm_messages: int, dm_hours: float, read_seconds: float = 10.0,
                 names_seconds: float = 3.0) -> None:
        self._calls = calls
        self._dm_messages = dm_messages
        self._dm_hours = dm_hours
        self._read_seconds = read_seconds
        self._names_seconds = names_seconds
        self._names: dict[str, str] = {}
        self._names_lock = threading.Lock()

    def thread(self, channel: str, thread_ts: str, *, before: str, enough_chars: int) -> ThreadRead:
        """The thread's first page and its newest messages before `before` (see `reading`), within the read
        budget (`conversations.replies`)."""
        deadline = self._calls.clock() + self._read_seconds

        def fetch(oldest: str | None, latest: str | None, cursor: str | None) -> tuple[list[dict], str | None]:
            window = {"oldest": oldest, "latest": latest, "inclusive": True} if oldest or latest else {}
            response = self._calls.call("conversations.replies", deadline=deadline, channel=channel, ts=thread_ts,
                                        limit=_PAGE_SIZE, cursor=cursor, **window)
            return response.get("messages", []), (response.get("response_metadata") or {}).get("next_cursor")

        return read_thread(fetch, before=before, enough_chars=enough_chars, max_pages=_MAX_PAGES,
                           time_left=lambda: deadline - self._calls.clock())

    def direct_messages(self, channel: str, before_ts: str) -> list[dict]:
        """The latest messages of a DM before `before_ts`, within the configured count and age, and the read
        budget; a `SlackError` if they cannot be read."""
        oldest = max(float(before_ts) - self._dm_hours * 3600, 0)
        response = self._calls.call(
            "conversations.history", deadline=self._calls.clock() + self._read_seconds,
            channel=channel, latest=before_ts, oldest=f"{oldest:.6f}", limit=self._dm_messages, inclusive=False
        )
        return list(reversed(response.get("messages", [])))

    def names(self, user_ids: set[str]) -> dict[str, str]:
        """Display names for user ids (`users.info`, cached), as many as the names' budget allows in all; an id
        stands in where a name is not known."""
        if self._names_seconds <= 0:  # names are turned off
            return {user_id: self._names.get(user_id, user_id) for user_id in user_ids}
        deadline = self._calls.clock() + self._names_seconds
        unknown = sorted(user_ids - self._names.keys())
        without: list[str] = []
        failed: SlackError | None = None
        for user_id in unknown:
            if self._calls.clock() >= deadline:
                without.append(user_id)
                continue
            try:
                user = self._calls.call("users.info", deadline=deadline, user=user_id)["user"]
            except SlackError as error:
                failed = error
                without.append(user_id)
                if isinstance(error, (Gone, NotAllowed, Refused)):  # asking again will not help: the id will do
                    self._remember(user_id, user_id)
                continue
            profile = user.get("profile") or {}
            self._remember(user_id, profile.get("display_name") or profile.get("real_name") or user.get("name")
                           or user_id)
        if without:
            log.warning("could not look up %d of %d names within %gs (%s); the model sees their ids instead",
                        len(without), len(unknown), self._names_seconds,
                        f"users.info: {failed.code}" if failed else "out of time")
        return {user_id: self._names.get(user_id, user_id) for user_id in user_ids}

    def _remember(self, user_id: str, name: str) -> None:
        with self._names_lock:
            self._names[user_id] = name
