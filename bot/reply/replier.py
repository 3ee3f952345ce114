"""One reply, end to end: placeholder → conversation → model stream → paced edits → final text.

Whatever happens, the reply ends showing either the answer or a short note saying why not; the
placeholder is never left behind. A reply stops early, with a note, when it passes its deadline or the
process shuts down, and silently when its message was deleted; in each case the model stream is closed at
once, so no more tokens are paid for.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Callable

from slack_sdk.errors import SlackApiError

from bot import notes
from bot.conversation.build import Identity, build_conversation, question_text
from bot.intake.requests import Request
from bot.model.bedrock import BedrockModel, Finished, ModelStream, TextDelta, Usage
from bot.slack.pacing import Pacing
from bot.sinks.renderer import ReplyRenderer
from bot.settings import Settings
from bot.slack.calls import SlackCalls, error_code
from bot.conversation.history import SlackHistory
from bot.sinks.edit import LiveReply, SlackThread

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_GONE = ""  # stop reason of a reply whose message was deleted: there is nowhere to show a note


class _Reply:
    """A reply in flight, which another thread may ask to stop."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.live: LiveReply | None = None
        self.stop_note: str | None = None  # set once: why the reply was stopped
        self.first_text_after: float | None = None  # seconds from asking the model to its first text
        self._stream: ModelStream | None = None
        self._lock = threading.Lock()

    @property
    def got_text(self) -> bool:
        """The model sent some text: from then on a failure interrupts the answer."""
        return self.first_text_after is not None

    def attach(self, stream: ModelStream) -> ModelStream:
        with self._lock:
            self._stream = stream
            stopped = self.stop_note is not None
        if stopped:
            stream.close()
        return stream

    def stop(self, note: str) -> None:
        with self._lock:
            if self.stop_note is None:
                self.stop_note = note
            stream = self._stream
        if stream is not None:
            stream.close()


class Replier:
    def __init__(
        self,
        *,
        calls: SlackCalls,
        history: SlackHistory,
        model: BedrockModel,
        settings: Settings,
        pacing: Pacing,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._calls = calls
        self._pacing = pacing
        self._history = history
        self._model = model
        self._settings = settings
        self._clock = clock
        self._active: list[_Reply] = []
        self._changed = threading.Condition()
        self._accepting = True

    # -- taking a request --------------------------------------------------------------------------

    def answer(self, request: Request, bot: Identity) -> None:
        thread = SlackThread(self._calls, request.channel, request.reply_thread_ts)
        refusal = self._refusal(request, bot)
        if refusal is not None:
            self._post(thread, refusal, request)
            return
        reply = _Reply(request)
        with self._changed:
            refusal = self._admit(reply)
        if refusal is not None:
            self._post(thread, refusal, request)
            return
        try:
            self._answer(reply, thread, bot)
        finally:
            with self._changed:
                self._active.remove(reply)
                self._changed.notify_all()

    def _refusal(self, request: Request, bot: Identity) -> str | None:
        settings = self._settings
        if settings.allowed_channels and request.channel not in settings.allowed_channels and not request.is_dm:
            return notes.NOT_ALLOWED_HERE
        if settings.allowed_users and request.user not in settings.allowed_users:
            return notes.NOT_ALLOWED_FOR_YOU
        if not question_text(request.text, bot):
            return notes.FILES_ONLY if request.has_files else notes.EMPTY_QUESTION
        return None

    def _admit(self, reply: _Reply) -> str | None:
        """Register `reply`, or say why not. Called with the lock held."""
        if not self._accepting:
            return notes.SHUTTING_DOWN
        mine = sum(1 for active in self._active if active.request.user == reply.request.user)
        if mine >= self._settings.max_replies_per_user:
            return notes.TOO_MANY_AT_ONCE.format(count=mine)
        self._active.append(reply)
        return None

    # -- shutting down -----------------------------------------------------------------------------

    def shutdown(self, grace: float, final_edit_timeout: float = 15.0) -> int:
        """Take no new requests, let replies in flight finish for `grace` seconds, then stop the rest with
        a note. Returns how many were stopped."""
        with self._changed:
            self._accepting = False
            self._wait_until_idle(grace)
            unfinished = list(self._active)
        for reply in unfinished:
            reply.stop(notes.SHUTTING_DOWN)  # closes its model stream: its own thread ends it with the note
        with self._changed:
            self._wait_until_idle(final_edit_timeout)
            stuck = list(self._active)
        for reply in stuck:  # still waiting on Bedrock or Slack: end what Slack shows from here
            if reply.live is not None:
                reply.live.finish(notes.SHUTTING_DOWN, timeout=final_edit_timeout)
        return len(unfinished)

    def _wait_until_idle(self, seconds: float) -> None:
        """Wait (with the lock held) until no reply is in flight, or `seconds` have passed."""
        deadline = self._clock() + seconds
        while self._active and (remaining := deadline - self._clock()) > 0:
            self._changed.wait(remaining)

    # -- answering ---------------------------------------------------------------------------------

    def _answer(self, reply: _Reply, thread: SlackThread, bot: Identity) -> None:
        request = reply.request
        started = self._clock()
        if not self._post(thread, notes.PLACEHOLDER, request):
            return
        live = LiveReply(
            ReplyRenderer(placeholder=notes.PLACEHOLDER, cadence=self._pacing.cadence),
            thread,
            on_gone=lambda: reply.stop(_GONE),
            inline=self._pacing.inline,
        ).start()
        reply.live = live
        deadline = threading.Timer(self._settings.reply_deadline, reply.stop, args=(notes.TOOK_TOO_LONG,))
        deadline.daemon = True
        deadline.start()
        outcome, note, usage, stream = "failed", notes.FAILED, None, None
        question_cut = False
        try:
            messages, question_cut = self._conversation(request, bot)
            asked_at = self._clock()
            stream = reply.attach(self._model.stream(messages))
            outcome, note, usage = self._stream(stream, reply, live, asked_at)
        except Exception as error:
            outcome, note = self._failure(reply, error)
        finally:
            deadline.cancel()
            if question_cut:
                note = "\n".join(filter(None, [note, notes.QUESTION_CUT.format(limit=self._settings.max_message_chars)]))
            if not live.finish(note, timeout=self._final_edit_timeout()):
                log.error("the reply to %s did not finish its Slack edits in time", request.event_id)
        log.info(
            "reply event=%s channel=%s model=%s outcome=%s first_token_s=%s edits=%d model_attempts=%d "
            "tokens_in=%s tokens_out=%s seconds=%.2f",
            request.event_id, request.channel, self._model.model_id, outcome,
            "-" if reply.first_text_after is None else f"{reply.first_text_after:.3f}", live.calls,
            stream.attempts if stream else 0, usage.input_tokens if usage else "-",
            usage.output_tokens if usage else "-", self._clock() - started,
        )

    def _final_edit_timeout(self) -> float:
        """How long the last edits of a reply may take: a few rounds of the Slack retry policy."""
        return 3 * self._settings.slack_retry_seconds + 30

    def _stream(self, stream: ModelStream, reply: _Reply, live: LiveReply,
                asked_at: float) -> tuple[str, str | None, Usage | None]:
        stop_reason, usage = None, None
        for event in stream:
            if isinstance(event, TextDelta):
                if not reply.got_text:
                    reply.first_text_after = self._clock() - asked_at
                live.feed(event.text)
            elif isinstance(event, Finished):
                stop_reason = event.stop_reason
            elif isinstance(event, Usage):
                usage = event
        return stop_reason or "complete", notes.stop_note(stop_reason), usage

    def _failure(self, reply: _Reply, error: Exception) -> tuple[str, str | None]:
        """The outcome and note of a reply that did not end normally."""
        if reply.stop_note is not None:
            reason = "deleted" if reply.stop_note == _GONE else "stopped"
            log.info("the answer to %s was stopped: %s", reply.request.event_id, reason)
            return reason, reply.stop_note or None
        note = notes.failure_note(error, reply.got_text)
        if note == notes.INTERRUPTED:
            log.warning("the model stream for %s broke off: %s", reply.request.event_id, _describe(error))
            return "interrupted", note
        if note == notes.FAILED:
            log.exception("the answer to %s failed", reply.request.event_id)
        else:
            log.warning("the answer to %s failed: %s", reply.request.event_id, _describe(error))
        return "failed", note

    def _post(self, thread: SlackThread, text: str, request: Request) -> bool:
        try:
            thread.post(text)
            return True
        except Exception as error:  # SlackApiError, or no answer from Slack at all
            log.error("cannot answer in %s: %s", request.channel, error_code(error))
            return False

    def _conversation(self, request: Request, bot: Identity) -> tuple[list[dict], bool]:
        """The model messages for `request`, and whether the question itself had to be cut."""
        try:
            if request.thread_ts:
                history = self._history.thread(request.channel, request.thread_ts)
            elif request.is_dm:
                history = self._history.direct_messages(request.channel, request.ts)
            else:
                history = []
        except SlackApiError as error:
            log.warning("could not read the history of %s (%s); answering the question alone",
                        request.channel, error_code(error))
            history = []
        everyone = [*history, request.message]
        people = {m["user"] for m in everyone if m.get("user") and m.get("user") != bot.user_id and not m.get("bot_id")}
        mentioned = {user for m in everyone for user in _MENTION.findall(m.get("text") or "")} - {bot.user_id}
        names = self._history.names(people | mentioned) if len(people) > 1 or mentioned else {}
        messages = build_conversation(
            history,
            request.message,
            bot=bot,
            names=names,
            budget_chars=self._settings.context_max_chars,
            max_message_chars=self._settings.max_message_chars,
            skip_texts=(notes.PLACEHOLDER,),
        )
        return messages, len(question_text(request.text, bot, names)) > self._settings.max_message_chars


def _describe(error: BaseException) -> str:
    code = notes.bedrock_code(error)
    return f"{code}: {error}" if code else f"{type(error).__name__}: {error}"
