"""Paced edits become Slack calls: posts and edits the messages of one reply, driven by its renderer.

`SlackThread` makes the calls through the one Slack call policy; `LiveReply` runs the renderer on a thread
of its own, so the model stream is read without waiting for Slack, and Slack is called without waiting for
the model. Each call waits for its turn from the process-wide `Pacer` first, and its text is made only
then, so it carries everything the model said while it waited. Posts and final edits are retried by the
policy until they land (bounded); an intermediate edit is made once, since the next one carries newer text
anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Hashable

from slack_sdk.errors import SlackApiError

from bot import notes
from bot.slack.pacing import Priority
from bot.sinks.renderer import Due, Edit, ReplyRenderer
from bot.slack.calls import SlackCalls, error_code

log = logging.getLogger(__name__)

# The reply's messages are out of reach: stop, and stop the model too.
GONE = frozenset({
    "message_not_found", "channel_not_found", "is_archived", "cant_update_message", "edit_window_closed",
    "not_in_channel", "invalid_auth", "token_revoked", "account_inactive", "missing_scope",
})


class SlackThread:
    """The messages of one reply, in one channel and thread."""

    def __init__(self, calls: SlackCalls, channel: str, thread_ts: str | None) -> None:
        self.calls = calls
        self.channel = channel
        self.thread_ts = thread_ts
        self.message_ts: dict[int, str] = {}  # the reply's message number → its ts

    def post(self, text: str, index: int = 0, *, turn: Hashable = None) -> str:
        response = self.calls.call(
            "chat.postMessage",
            turn=turn,
            channel=self.channel,
            thread_ts=self.thread_ts,
            text=text,
            unfurl_links=False,  # an answer full of link previews is hard to read
            unfurl_media=False,
        )
        self.message_ts[index] = response["ts"]
        return response["ts"]

    def apply(self, edit: Edit, turn: Hashable) -> None:
        """Make `edit`, whose turn `turn` already took from the pacer."""
        if edit.post:
            self.post(edit.text, edit.index, turn=turn)
        else:
            self.calls.call("chat.update", retry=edit.final, turn=turn, channel=self.channel,
                            ts=self.message_ts[edit.index], text=edit.text)


class LiveReply:
    """Drives a renderer: waits until an edit is due and the pacer gives it a turn, makes it, reports back,
    until the reply is done. `inline`: reading the model waits while an edit is due or being made, the way
    bots that edit from their stream loop behave (the benchmark compares them; the bot itself never waits)."""

    def __init__(
        self,
        renderer: ReplyRenderer,
        thread: SlackThread,
        clock: Callable[[], float] = time.monotonic,
        on_gone: Callable[[], None] = lambda: None,
        inline: bool = False,
    ) -> None:
        self._renderer = renderer
        self._thread = thread
        self._pacer = thread.calls.pacer  # the one every Slack call of the process takes its turn from
        self._clock = clock
        self._on_gone = on_gone
        self._inline = inline
        self._changed = threading.Condition()
        self._worker = threading.Thread(target=self._run, name="live-reply", daemon=True)
        self.calls = 0
        self.crashed = False
        self._gone_reported = False

    def start(self) -> "LiveReply":
        self._worker.start()
        return self

    def feed(self, text: str) -> None:
        with self._changed:
            if self._renderer.feed(text):
                self._changed.notify_all()
            while self._inline and self._worker.is_alive() and (
                    self._renderer.in_flight or self._renderer.due(self._clock()) is not None):
                self._changed.wait(0.05)

    def finish(self, note: str | None = None, timeout: float | None = None) -> bool:
        """End the stream (the first call's note counts) and wait until every message shows its final
        text. False if that took longer than `timeout`."""
        with self._changed:
            self._renderer.finish(note)
            self._changed.notify_all()
        self._worker.join(timeout)
        return not self._worker.is_alive() and not self.crashed

    def _run(self) -> None:
        try:
            while (edit := self._next_edit()) is not None:
                self._make(edit)
                if self._renderer.abandoned and not self._gone_reported:
                    self._gone_reported = True
                    self._on_gone()  # nothing more can be shown: the model may stop
        except Exception:  # a bug here must not take the process down; the log says what happened
            self.crashed = True
            log.exception("the reply in %s stopped updating", self._thread.channel)
            if not self._renderer.shown_anything and 0 in self._thread.message_ts:
                try:  # never leave the placeholder behind
                    self._thread.calls.call("chat.update", channel=self._thread.channel,
                                            ts=self._thread.message_ts[0], text=notes.FAILED)
                except Exception:
                    log.exception("could not replace the placeholder in %s", self._thread.channel)
        finally:
            self._pacer.withdraw(self)

    def _next_edit(self) -> Edit | None:
        with self._changed:
            while True:
                now = self._clock()
                due = self._renderer.due(now)
                if due is None:
                    if self._renderer.done:
                        return None
                    wake_at = self._renderer.wake_at()
                    self._changed.wait(None if wake_at is None else max(wake_at - now, 0.0))
                    continue
                method = _method(due)
                wait = self._pacer.take(method, self, due.priority)
                if wait > 0:
                    self._changed.wait(wait)  # new text or the end of the stream may raise the priority
                    continue
                try:
                    edit = self._renderer.next_edit(now)  # made now: all the text that came while it waited
                except BaseException:
                    self._pacer.refund(method, self)
                    raise
                if edit is None or _method(edit) != method:  # the turn taken is not the one needed
                    self._pacer.refund(method, self)
                if edit is None:
                    continue  # nothing to send after all
                if _method(edit) != method:  # rare: the message due had nothing new; the next one is another kind
                    while (wait := self._pacer.take(_method(edit), self, Priority.URGENT)) > 0:
                        self._changed.wait(wait)
                return edit

    def _make(self, edit: Edit) -> None:
        self.calls += 1
        try:
            self._thread.apply(edit, turn=self)
        except SlackApiError as error:
            code = error_code(error)
            with self._changed:
                if code in GONE:
                    log.warning("the reply in %s is out of reach (%s); stopping it", self._thread.channel, code)
                    self._renderer.abandon()
                else:
                    self._renderer.sent(edit, self._clock(), ok=False, too_long=code == "msg_too_long")
                self._changed.notify_all()
            return
        except Exception as error:  # a network failure must not kill the reply: the next edit carries the text
            log.warning("Slack call failed for the reply in %s: %s", self._thread.channel, error_code(error))
            with self._changed:
                self._renderer.sent(edit, self._clock(), ok=False)
                self._changed.notify_all()
            return
        with self._changed:
            self._renderer.sent(edit, self._clock())
            self._changed.notify_all()


def _method(call: Edit | Due) -> str:
    return "chat.postMessage" if call.post else "chat.update"
