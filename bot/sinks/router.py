"""Which surface carries each reply: the sign of life (the thread's status, or a placeholder message) and
the answer (a native stream, or messages posted and edited).

The choices take plain values (how long each budget would make a call wait, what Slack refused before) and
are unit-tested as such; `Router` reads those values from the pacer and remembers refusals:

- Sign of life: the status when the reply has a thread to show it in and Slack has not refused it, unless
  its budget would keep it waiting while a placeholder could go sooner.
- The answer: a native stream when the start budget has a token now and the stop budget will have room for
  this stream within `STOP_HORIZON` seconds beyond those spoken for (every open stream speaks for its stop,
  so every stream is stopped and gets its buttons soon; its last words go out by an append meanwhile);
  otherwise the first words are posted and then edited (the edit sink decides when; while every edit is
  spoken for, it posts the answer in a few messages that are never edited). `stream` always streams where Slack allows it (waiting for
  the start budget), `edit` never does. A reply that began with a placeholder is edited, so that the
  placeholder is never left behind.
- A refusal that will repeat is learned once, as far as it reaches (see `kinds.SlackError.applies_to`): a
  refusal of the app (a scope, a feature, a method Slack does not offer it) for the whole process, for an
  hour; a refusal of one conversation (`channel_type_not_supported`, …) for that conversation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from enum import Enum
from typing import Callable

from bot import notes
from bot.sinks.base import SOON
from bot.slack.kinds import SlackError
from bot.slack.pacing import Pacer, Priority

log = logging.getLogger(__name__)

RELEARN_AFTER = 3600.0  # seconds before a refusal of the whole app is tried again (an admin may have fixed it)
STOP_HORIZON = 10.0  # seconds within which a stream's stop should find a token
_REMEMBERED_CONVERSATIONS = 10_000


class Surface(str, Enum):
    AUTO = "auto"
    STREAM = "stream"
    EDIT = "edit"


class SignOfLife(str, Enum):
    STATUS = "status"
    PLACEHOLDER = "placeholder"


def choose_sign_of_life(*, status_usable: bool, status_wait: float, placeholder_wait: float) -> SignOfLife:
    if status_usable and status_wait <= placeholder_wait:
        return SignOfLife.STATUS
    return SignOfLife.PLACEHOLDER


def choose_answer_surface(*, surface: Surface, stream_usable: bool, start_wait: float, stop_room: float) -> Surface:
    """STREAM or EDIT for a reply whose first words are ready."""
    if surface is Surface.EDIT or not stream_usable:
        return Surface.EDIT
    if surface is Surface.STREAM:
        return Surface.STREAM
    return Surface.STREAM if start_wait <= SOON and stop_room >= 1 else Surface.EDIT


class _Refusals:
    """What Slack refused: for the whole app (until `RELEARN_AFTER`), or for one conversation."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._app_until = -1.0
        self._conversations: OrderedDict[str, str] = OrderedDict()

    def allows(self, channel: str) -> bool:
        return self._clock() >= self._app_until and channel not in self._conversations

    def learn(self, error: SlackError, channel: str) -> bool:
        """Remember `error`; True the first time (the caller logs it then)."""
        if error.applies_to == "app":
            first = self._clock() >= self._app_until
            self._app_until = self._clock() + RELEARN_AFTER
            return first
        if error.applies_to == "conversation":
            first = channel not in self._conversations
            self._conversations[channel] = error.code
            while len(self._conversations) > _REMEMBERED_CONVERSATIONS:
                self._conversations.popitem(last=False)
            return first
        return False  # a passing failure: try again next time


class Router:
    def __init__(self, pacer: Pacer, *, surface: Surface = Surface.AUTO, status: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pacer = pacer
        self.surface = surface
        self._status = status
        self._lock = threading.Lock()
        self._stream_refusals = _Refusals(clock)
        self._status_refusals = _Refusals(clock)

    def sign_of_life(self, channel: str, thread_ts: str | None) -> SignOfLife:
        with self._lock:
            usable = self._status and thread_ts is not None and self._status_refusals.allows(channel)
        return choose_sign_of_life(
            status_usable=usable,
            status_wait=self._pacer.estimate("assistant.threads.setStatus", Priority.URGENT, channel) if usable else 0,
            placeholder_wait=self._pacer.estimate("chat.postMessage", Priority.URGENT, channel),
        )

    def answer_surface(self, channel: str, thread_ts: str | None) -> Surface:
        """The surface for a reply that showed the status and now has its first words."""
        with self._lock:
            usable = thread_ts is not None and self._stream_refusals.allows(channel)
        if not usable or self.surface is Surface.EDIT:
            return Surface.EDIT
        return choose_answer_surface(surface=self.surface, stream_usable=usable,
                                     start_wait=self._pacer.estimate("chat.startStream"),
                                     stop_room=self._pacer.room("chat.stopStream", within=STOP_HORIZON))

    def streams_open(self, change: int) -> None:
        """`change` more (or fewer) streams are open: each speaks for a stop, and a final append."""
        self._pacer.speak_for("chat.stopStream", change)
        self._pacer.speak_for("chat.appendStream", change)

    def edits_open(self, change: int) -> None:
        """`change` more (or fewer) posted messages await their final edit: each speaks for one."""
        self._pacer.speak_for("chat.update", change)

    def stream_refused(self, error: SlackError, channel: str) -> None:
        with self._lock:
            first = self._stream_refusals.learn(error, channel)
        if first:
            log.warning(notes.streaming_refused(error.code, everywhere=error.applies_to == "app"))

    def status_refused(self, error: SlackError, channel: str) -> None:
        with self._lock:
            first = self._status_refusals.learn(error, channel)
        if first:
            log.warning(notes.status_refused(error.code))
