"""A reply's agent session: Slack's native Stop button while the bot works.

While a reply is being written its thread's session is `processing` (`agents.sessions.setStatus`), and Slack
shows a Stop button; once the reply ends, however it ends (answered, failed, stopped, cut by a shutdown), the
session is `active` again: it never stays `processing`. The calls go on a thread of their own, so the model is
never kept waiting for them, and the end waits for the start so that they reach Slack in order.

Sessions are for apps declared as agents (the `assistant:write` scope) and threads only. The first refusal
that says the app may not use them (a missing scope, an unknown method, a feature not enabled) turns them off
for the process, with one warning that says what to enable; the replies go on without a Stop button.
"""

from __future__ import annotations

import logging
import threading

from bot import notes
from bot.sinks.base import Place
from bot.slack import methods
from bot.slack.calls import SlackCalls
from bot.slack.kinds import APP, SlackError

log = logging.getLogger(__name__)

PROCESSING, ACTIVE = "processing", "active"


class Sessions:
    def __init__(self, calls: SlackCalls, enabled: bool = True) -> None:
        self._calls = calls
        self.enabled = enabled
        self._lock = threading.Lock()

    def open(self, place: Place) -> "AgentSession | None":
        """The session of the thread a reply goes to, set to `processing` now (on a thread of its own); None
        where there is none (no thread, or sessions are off)."""
        if not self.enabled or not place.thread_ts:
            return None
        session = AgentSession(self, place)
        session.start()
        return session

    def set(self, place: Place, status: str) -> bool:
        """Set the thread's session status; False if Slack would not."""
        try:
            self._calls.call(methods.SESSION, channel_id=place.channel, thread_ts=place.thread_ts, status=status,
                             **({"initiator_user_id": place.user} if status == PROCESSING else {}))
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
    def __init__(self, sessions: Sessions, place: Place) -> None:
        self._sessions = sessions
        self.place = place
        self._started = threading.Event()
        self._processing = False
        self._ended = False
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._begin, name="reply-session", daemon=True).start()

    def _begin(self) -> None:
        try:
            with self._lock:
                if self._ended:
                    return
            self._processing = self._sessions.set(self.place, PROCESSING)
        finally:
            self._started.set()

    def end(self, timeout: float = 30.0) -> None:
        """`active` again (after `processing` has gone, if it went)."""
        with self._lock:
            self._ended = True
        self._started.wait(timeout)
        if self._processing:
            self._processing = not self._sessions.set(self.place, ACTIVE)
