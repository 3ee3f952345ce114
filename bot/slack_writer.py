"""Paced edits become Slack calls: posts and edits the messages of one reply, driven by its renderer.

`SlackThread` makes the calls; `LiveReply` runs the renderer on a thread of its own, so the model stream
is read without waiting for Slack, and Slack is called without waiting for the model.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .renderer import Edit, ReplyRenderer

log = logging.getLogger(__name__)


class SlackThread:
    """The messages of one reply, in one channel and thread."""

    def __init__(self, client: WebClient, channel: str, thread_ts: str | None) -> None:
        self._client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.message_ts: dict[int, str] = {}  # the reply's message number → its ts

    def post(self, text: str, index: int = 0) -> str:
        response = self._client.chat_postMessage(
            channel=self.channel,
            thread_ts=self.thread_ts,
            text=text,
            unfurl_links=False,  # an answer full of link previews is hard to read
            unfurl_media=False,
        )
        self.message_ts[index] = response["ts"]
        return response["ts"]

    def apply(self, edit: Edit) -> None:
        if edit.post:
            self.post(edit.text, edit.index)
        else:
            self._client.chat_update(channel=self.channel, ts=self.message_ts[edit.index], text=edit.text)


class LiveReply:
    """Drives a renderer: waits until an edit is due, makes it, reports back, until the reply is done."""

    def __init__(
        self,
        renderer: ReplyRenderer,
        thread: SlackThread,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._renderer = renderer
        self._thread = thread
        self._clock = clock
        self._changed = threading.Condition()
        self._worker = threading.Thread(target=self._run, name="live-reply", daemon=True)
        self.calls = 0

    def start(self) -> "LiveReply":
        self._worker.start()
        return self

    def feed(self, text: str) -> None:
        with self._changed:
            self._renderer.feed(text)
            self._changed.notify()

    def finish(self, note: str | None = None, timeout: float | None = None) -> None:
        """End the stream and wait until every message shows its final text."""
        with self._changed:
            self._renderer.finish(note)
            self._changed.notify()
        self._worker.join(timeout)

    @property
    def gave_up(self) -> bool:
        return self._renderer.gave_up

    @property
    def shown_anything(self) -> bool:
        return self._renderer.shown_anything

    def _run(self) -> None:
        while True:
            edit = self._next_edit()
            if edit is None:
                return
            ok, retry_after = self._apply(edit)
            with self._changed:
                self._renderer.sent(edit, self._clock(), ok=ok, retry_after=retry_after)

    def _next_edit(self) -> Edit | None:
        with self._changed:
            while True:
                now = self._clock()
                edit = self._renderer.next_edit(now)
                if edit is not None or self._renderer.done:
                    return edit
                wake_at = self._renderer.wake_at()
                self._changed.wait(None if wake_at is None else max(wake_at - now, 0.0))

    def _apply(self, edit: Edit) -> tuple[bool, float | None]:
        self.calls += 1
        try:
            self._thread.apply(edit)
            return True, None
        except SlackApiError as error:
            response = error.response
            retry_after = None
            if response.status_code == 429:
                retry_after = float(response.headers.get("Retry-After", response.headers.get("retry-after", 1)))
            log.warning(
                "Slack %s failed for message %d of the reply in %s: %s",
                "chat.postMessage" if edit.post else "chat.update",
                edit.index,
                self._thread.channel,
                response.get("error"),
            )
            return False, retry_after
        except Exception:  # a network failure must not kill the reply: the next edit carries the text
            log.exception("Slack call failed for message %d of the reply in %s", edit.index, self._thread.channel)
            return False, None
