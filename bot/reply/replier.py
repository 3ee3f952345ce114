"""One reply, end to end: sign of life → conversation → model stream → the delivery's messages → a log line.

Nothing stands between the event and the model but what the prompt needs: the sign of life goes up on a
thread of its own while the conversation is read (and the names in it looked up, all at once), so a
top-level mention asks the model before any Slack call returns, and a follow-up after one round trip for
the thread (two when names are new).

Whatever happens, the reply ends showing either the answer or a short note saying why not; the placeholder
or the status is never left behind. A reply stops early, with a note, when it passes its deadline or the
process shuts down, and silently when its messages were deleted; in each case the model stream is closed at
once, so no more tokens are paid for.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Callable, NamedTuple

from bot import notes
from bot.conversation.build import Identity, build_conversation, question_text
from bot.conversation.attachments import Attachments, SlackFiles
from bot.conversation.files import SlackFile
from bot.conversation.history import SlackHistory
from bot.intake.requests import Request
from bot.model.bedrock import BedrockModel, Finished, ModelStream, TextDelta, Usage
from bot.model.errors import ModelError
from bot.reply.inflight import GONE, InFlight, Reply
from bot.shared.base import SharedState
from bot.settings import Settings
from bot import feedback, metrics
from bot.sinks.base import Place
from bot.sinks.delivery import Delivery
from bot.sinks.router import Router
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError
from bot.slack import tags
from bot.slack.tags import Tag

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
FILES_QUESTION = "(No words: only the files shared with this message. Say what they are and what stands out.)"


class Stopped(Exception):
    """The reply was stopped before it asked the model."""


class Replier:
    def __init__(
        self,
        *,
        calls: SlackCalls,
        router: Router,
        history: SlackHistory,
        files: SlackFiles,
        model: BedrockModel,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        state: SharedState | None = None,
    ) -> None:
        """`state`: where each person's answers in flight are counted (default: in this process)."""
        self._calls = calls
        self._router = router
        self._history = history
        self._files = files
        self._model = model
        self._settings = settings
        self._clock = clock
        self._in_flight = InFlight(max_per_person=settings.max_replies_per_user, deadline=settings.reply_deadline,
                                   slots=settings.max_concurrent_replies, clock=clock, state=state)

    def answer(self, request: Request, bot: Identity) -> None:
        if request.redelivered and self._answered_before(request):
            log.info("ignoring a redelivery of event %s: the thread has its answer", request.event_id)
            return
        reply = Reply(request)
        refusal = self._refusal(request, bot) or self._in_flight.admit(reply)
        if refusal is not None:
            metrics.REPLIES.labels(outcome="refused").inc()
            self._say(request, refusal)
            return
        try:
            self._answer(reply, bot)
        finally:
            self._in_flight.done(reply)

    def shutdown(self, grace: float, final_edit_timeout: float = 15.0) -> int:
        """Take no new requests, let replies in flight finish for `grace` seconds, then stop the rest with a
        note. Returns how many were stopped."""
        return self._in_flight.shutdown(grace, final_edit_timeout)

    # -- one reply ---------------------------------------------------------------------------------

    def _answer(self, reply: Reply, bot: Identity) -> None:
        request, settings = reply.request, self._settings
        started = self._clock()
        deadline = self._calls.clock() + settings.reply_deadline  # the reply's, on the Slack calls' clock
        delivery = reply.delivery = Delivery(
            self._calls, self._router, Place(request.channel, request.reply_thread_ts, request.user, request.team,
                                             event=request.event_id, asked=request.ts),
            interval=settings.update_interval, status=settings.status_text, loading_messages=settings.loading_messages,
            feedback=feedback.block(request.event_id, self._model.model_id) if settings.feedback_buttons else None,
            hold=settings.post_hold, on_gone=lambda: reply.stop(GONE), clock=self._clock,
        )
        threading.Thread(target=delivery.begin, name="reply-sign-of-life", daemon=True).start()
        outcome, note, usage, stream, context = "failed", notes.FAILED, None, None, _Context([])
        with self._in_flight.deadline(reply), self._in_flight.slot(reply) as slot:
            try:
                if not slot:  # stopped (deadline, shutdown) while it waited for a slot
                    raise Stopped()
                context = self._conversation(request, bot, delivery, until=deadline)
                if reply.stop_note is not None:  # nowhere to answer, or stopped, while it read
                    raise Stopped()
                asked_at = self._clock()
                stream = reply.attach(self._model.stream(context.messages))
                outcome, note, usage = self._read(stream, reply, delivery, asked_at)
                if stream.dropped_files:
                    context = context._replace(read_note=notes.lines(context.read_note, notes.MODEL_TAKES_NO_FILES))
            except Exception as error:
                outcome, note = ("failed", None) if delivery.nowhere else self._failure(reply, error)
        if context.question_cut:
            note = notes.lines(note, notes.QUESTION_CUT.format(limit=settings.max_message_chars))
        if context.read_note and reply.got_text:  # it qualifies an answer; a failure's note stands alone
            note = notes.lines(note, context.read_note)
        if not delivery.finish(note, timeout=self._final_edit_timeout()):
            log.error("the reply to %s did not finish its Slack calls in time", request.event_id)
            outcome = "failed"
        if delivery.nowhere:  # Slack would not take even the sign of life (the log said why): the model stopped
            outcome = "failed"
        if delivery.failures:
            log.error("Slack did not take %d message(s) of the reply to %s", delivery.failures, request.event_id)
            outcome = "failed"
        _measure(outcome, usage, reply, delivery, started)
        log.info(
            "reply event=%s channel=%s model=%s outcome=%s surface=%s first_token_s=%s slack_calls=%d "
            "model_attempts=%d tokens_in=%s tokens_out=%s cache_read_tokens=%s cache_write_tokens=%s seconds=%.2f",
            request.event_id, request.channel, self._model.model_id, outcome, delivery.surface,
            "-" if reply.first_text_after is None else f"{reply.first_text_after:.3f}", delivery.calls,
            stream.attempts if stream else 0, usage.input_tokens if usage else "-",
            usage.output_tokens if usage else "-", usage.cache_read_tokens if usage else "-",
            usage.cache_write_tokens if usage else "-", self._clock() - started,
        )

    def _final_edit_timeout(self) -> float:
        """How long the last calls of a reply may take: a few rounds of the Slack retry policy."""
        return 3 * self._settings.slack_retry_seconds + 30

    def _read(self, stream: ModelStream, reply: Reply, delivery: Delivery,
              asked_at: float) -> tuple[str, str | None, Usage | None]:
        stop_reason, usage = None, None
        for event in stream:
            if isinstance(event, TextDelta):
                if not reply.got_text:
                    reply.first_token_at = self._clock()
                    reply.first_text_after = reply.first_token_at - asked_at
                delivery.feed(event.text)
            elif isinstance(event, Finished):
                stop_reason = event.stop_reason
            elif isinstance(event, Usage):
                usage = event
        return stop_reason or "complete", notes.stop_note(stop_reason), usage

    def _failure(self, reply: Reply, error: Exception) -> tuple[str, str | None]:
        """The outcome and note of a reply that did not end normally."""
        event_id = reply.request.event_id
        if reply.stop_note is not None:
            reason = "deleted" if reply.stop_note == GONE else "stopped"
            log.info("the answer to %s was stopped: %s", event_id, reason)
            return reason, reply.stop_note or None
        if not isinstance(error, ModelError):
            log.exception("the answer to %s failed", event_id)
            return "failed", notes.FAILED
        note = notes.failure_note(error.kind, reply.got_text)
        if note == notes.INTERRUPTED:
            log.warning("the model stream for %s broke off: %s", event_id, error)
            return "interrupted", note
        if note == notes.FAILED:
            log.error("the answer to %s failed: %s", event_id, error, exc_info=error)
        else:
            log.warning("the answer to %s failed: %s", event_id, error)
        return "failed", note

    # -- around it ---------------------------------------------------------------------------------

    def _refusal(self, request: Request, bot: Identity) -> str | None:
        settings = self._settings
        if settings.allowed_channels and request.channel not in settings.allowed_channels and not request.is_dm:
            return notes.NOT_ALLOWED_HERE
        if settings.allowed_users and request.user not in settings.allowed_users:
            return notes.NOT_ALLOWED_FOR_YOU
        if not question_text(request.text, bot) and not (request.files and self._files.limits.kinds):
            return notes.FILES_ONLY if request.has_files else notes.empty_question(in_dm=request.is_dm)
        return None

    def _answered_before(self, request: Request) -> bool:
        """A reply to `request` is already in its thread (a process before this one answered it)."""
        try:
            return tags.answered(request.event_id, self._calls.call,
                                 request.channel, request.reply_thread_ts, request.ts)
        except SlackError as error:
            log.warning("could not check whether event %s was answered (%s); answering it", request.event_id,
                        error.code)
            return False

    def _say(self, request: Request, text: str) -> None:
        """A one-message answer that is not the model's (a refusal, a prompt to ask something)."""
        try:
            self._calls.call("chat.postMessage", tag=Tag(request.event_id, 0, request.ts), channel=request.channel,
                             thread_ts=request.reply_thread_ts, text=text, unfurl_links=False, unfurl_media=False)
        except SlackError as error:
            log.error("cannot answer in %s: %s", request.channel, error.code)

    def _conversation(self, request: Request, bot: Identity, delivery: Delivery, until: float) -> "_Context":
        """The model messages for `request`, whether the question itself had to be cut, and the note that
        says what of the conversation could not be read."""
        asked_about = set(_MENTION.findall(request.text or "")) - {bot.user_id}
        if asked_about:
            self._history.look_up(asked_about)  # known from the question: looked up while the history is read
        history, read_note = self._history_of(request)
        everyone = [*history, request.message]
        people = {m["user"] for m in everyone if m.get("user") and m.get("user") != bot.user_id and not m.get("bot_id")}
        mentioned = {user for m in everyone for user in _MENTION.findall(m.get("text") or "")} - {bot.user_id}
        wants_names = len(people) > 1 or bool(mentioned)
        if wants_names:
            self._history.look_up(people | mentioned)  # while the files download
        attachments, files_note = self._attachments(request, history, delivery, until)
        names = self._history.names(people | mentioned) if wants_names else {}
        question = request.message
        if not question_text(request.text, bot) and request.files:
            question = {**question, "text": FILES_QUESTION}
        messages = build_conversation(
            history,
            question,
            bot=bot,
            names=names,
            budget_chars=self._settings.context_max_chars,
            max_message_chars=self._settings.max_message_chars,
            skip_texts=(notes.PLACEHOLDER,),
            keep_first=bool(request.thread_ts),
        )
        if attachments.blocks and messages and messages[-1]["role"] == "user":
            messages[-1] = {**messages[-1], "content": [*attachments.blocks, *messages[-1]["content"]]}
        return _Context(messages, len(question_text(request.text, bot, names)) > self._settings.max_message_chars,
                        notes.lines(read_note, files_note))

    def _attachments(self, request: Request, history: list[dict], delivery: Delivery,
                     until: float) -> tuple[Attachments, str | None]:
        """The files shared with the question and before it in the thread (newest first), as model content,
        and the note naming those the model will not see; their downloads end by the reply's deadline (`until`,
        on the Slack calls' clock) at the latest."""
        shared = [SlackFile.from_slack(file, message["ts"])
                  for message in sorted([*history, request.message], key=lambda m: float(m.get("ts", 0)), reverse=True)
                  if float(message.get("ts", 0)) <= float(request.ts)
                  for file in reversed(message.get("files") or [])]
        if not shared or not self._files.limits.kinds:
            return Attachments(), None
        if not self._model.takes_files:
            return Attachments(), notes.MODEL_TAKES_NO_FILES
        attachments = self._files.read(shared, on_reading=delivery.reading, deadline=until)
        return attachments, notes.files_note(item.for_note() for item in attachments.left_out)

    def _history_of(self, request: Request) -> tuple[list[dict], str | None]:
        """What was said before `request`, and a note if some of it that mattered could not be read."""
        if request.thread_ts:
            read = self._history.thread(request.channel, request.thread_ts, before=request.ts,
                                        enough_chars=self._settings.context_max_chars)
            if read.complete:
                return read.messages, None
            log.warning("could not read the thread %s in %s (%s): answering with %s", request.thread_ts,
                        request.channel, read.unread,
                        "what it read" if read.messages else "the question alone")
            return read.messages, notes.THREAD_PART_READ if read.messages else notes.THREAD_UNREAD
        if not request.is_dm:
            return [], None
        try:
            return self._history.direct_messages(request.channel, request.ts), None
        except SlackError as error:
            log.warning("could not read the history of %s (%s): answering the question alone", request.channel,
                        error.code)
            return [], notes.DM_HISTORY_UNREAD


class _Context(NamedTuple):
    messages: list[dict]
    question_cut: bool = False
    read_note: str | None = None  # what of the conversation could not be read


def _measure(outcome: str, usage: Usage | None, reply: Reply, delivery: Delivery, started: float) -> None:
    """A finished reply, in the metrics: its outcome, tokens, and how soon it showed its first token and words."""
    metrics.REPLIES.labels(outcome=metrics.reply_outcome(outcome)).inc()
    if reply.first_token_at is not None:
        metrics.FIRST_TOKEN.observe(reply.first_token_at - started)
    if delivery.first_words_at is not None:
        metrics.FIRST_WORDS.observe(delivery.first_words_at - started)
    if usage is not None:
        for kind, tokens in (("input", usage.input_tokens), ("output", usage.output_tokens),
                             ("cache_read", usage.cache_read_tokens), ("cache_write", usage.cache_write_tokens)):
            metrics.MODEL_TOKENS.labels(kind=kind).inc(tokens)
