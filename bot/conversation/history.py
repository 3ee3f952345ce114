"""Reads what was said before a question: a thread, or the recent history of a DM, and people's names.

The Slack edge of the conversation stage; `conversation.build_conversation` turns what this returns into
model messages.
"""

from __future__ import annotations

import logging
import threading

from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError

log = logging.getLogger(__name__)

_PAGE_SIZE = 200
_MAX_PAGES = 25  # 5,000 messages: far past any conversation budget


class SlackHistory:
    def __init__(self, calls: SlackCalls, *, dm_messages: int, dm_hours: float) -> None:
        self._calls = calls
        self._dm_messages = dm_messages
        self._dm_hours = dm_hours
        self._names: dict[str, str] = {}
        self._names_lock = threading.Lock()

    def thread(self, channel: str, thread_ts: str) -> list[dict]:
        """Every message of a thread, oldest first (`conversations.replies`, all pages)."""
        messages: list[dict] = []
        cursor = None
        for _ in range(_MAX_PAGES):
            response = self._calls.call(
                "conversations.replies", channel=channel, ts=thread_ts, limit=_PAGE_SIZE, cursor=cursor
            )
            messages.extend(response.get("messages", []))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return messages

    def direct_messages(self, channel: str, before_ts: str) -> list[dict]:
        """The latest messages of a DM before `before_ts`, within the configured count and age."""
        oldest = max(float(before_ts) - self._dm_hours * 3600, 0)
        response = self._calls.call(
            "conversations.history",
            channel=channel, latest=before_ts, oldest=f"{oldest:.6f}", limit=self._dm_messages, inclusive=False
        )
        return list(reversed(response.get("messages", [])))

    def names(self, user_ids: set[str]) -> dict[str, str]:
        """Display names for user ids (`users.info`, cached); an id stands in where a name is not known."""
        for user_id in user_ids - self._names.keys():
            name = user_id
            try:
                user = self._calls.call("users.info", user=user_id)["user"]
                profile = user.get("profile") or {}
                name = profile.get("display_name") or profile.get("real_name") or user.get("name") or user_id
            except SlackError as error:
                log.warning("could not look up the name of %s: %s", user_id, error.code)
            with self._names_lock:
                self._names[user_id] = name
        return {user_id: self._names[user_id] for user_id in user_ids}
