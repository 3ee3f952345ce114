"""A reply's agent session: Slack's native Stop button while the bot works.

While a reply is being written its thread's session is `processing` (`agents.sessions.setStatus`), and Slack
shows a Stop button; once the reply ends, however it ends (answered, failed, stopped, cut by a shutdown), the
session is `active` again: it never stays `processing`. The start goes after the reply's sign of life, on its
thread (the model is never kept waiting for it, nor the sign of life: under a burst of questions it would
take their place in Slack's queues), and the end waits for the start so that they reach Slack in order.

Sessions are for apps declared as agents (the `assistant:write` scope) and threads only. The first refusal
that says the app may not use them (a missing scope, an unknown method, a feature not enabled) turns them off
for the process, with one warning that says what to enable; the replies go on without a Stop button.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from bot import notes
from bot.sinks.base import Place
from bot.slack import methods
from bot.slack.calls import SlackCalls
from bot.slack.kinds import APP, SlackError

log = logging.getLogger(__name__)

PROCESSING, ACTIVE = "processing", "active"
TITLE_CHARS = 60  # a session's title, from its first question


class Sessions:
    def __init__(self, calls: SlackCalls, enabled: bool = True) -> None:
        self._calls = calls
        self.enabled = enabled
        self._lock = threading.Lock()

    def open(self, place: Place) -> "AgentSession | None":
        """The session of the thread a reply goes to, not yet started (`AgentSession.begin`); None where there is
        none (no thread, or sessions are off)."""
        if not self.enabled or not place.thread_ts:
            return None
        return AgentSession(self, place)

    def title(self, place: Place, question: str) -> None:
        """Name the thread's session after its first question (in the messages tab, its title in the list)."""
        if not self.enabled or not place.thread_ts:
            return
        title = " ".join(question.split())
        title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1].rstrip() + "…"
        if not title:
            return
        try:
            self._calls.call(methods.TITLE, retry=False, channel_id=place.channel, thread_ts=place.thread_ts,
                             title=title)
        except SlackError as error:
            log.info("could not title the session in %s: %s", place.channel, error.code)

    def set(self, place: Place, status: str) -> bool:
        """Set the thread's session status; False if Slack would not."""
        try:
            initiator: dict[str, Any] = {"initiator_user_id": place.user} if status == PROCESSING else {}
            self._calls.call(methods.SESSION, channel_id=place.channel, thread_ts=place.thread_ts, status=status,
                             **initiator)
            return True
        except SlackError as error:
            if error.applies_to != APP:
                log.warning("could not set the agent session in %s to %s: %s", place.channel, status, error.code)
                return False
            with self._lock:  # the app may not use sessions: stop asking, and say what to do, once
                first, self.enabled = self.enabled, False
            if first:
                log.warning(notes.sessions_refused(error.code))
            return False
            log.warning("could not set the agent session in %s to %s: %s", place.channel, status, error.code)
            return False


class AgentSession:
    """`begin` (after the reply's sign of life: the Stop button is worth less than showing that the bot is
    working), then `end`, from another thread, whenever the reply ends: `active` again if `processing` went;
    nothing if the reply ended before `begin` made its call."""

    def __init__(self, sessions: Sessions, place: Place) -> None:
        self._sessions = sessions
        self.place = place
        self._state = "new"  # new → calling → done, or new → skipped (the reply ended first)
        self._processing = False
        self._changed = threading.Condition()

    def begin(self) -> None:
        with self._changed:
            if self._state != "new":
                return
            self._state = "calling"
        try:
            self._processing = self._sessions.set(self.place, PROCESSING)
        finally:
            with self._changed:
                self._state = "done"
                self._changed.notify_all()

    def end(self, timeout: float = 30.0) -> None:
        """`active` again (after `processing` has gone, if it went)."""
        with self._changed:
            if self._state == "new":
                self._state = "skipped"
                return
            self._changed.wait_for(lambda: self._state == "done", timeout)
        if self._processing:
            self._processing = not self._sessions.set(self.place, ACTIVE)
