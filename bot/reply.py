"""One reply, end to end: placeholder → conversation → model stream → paced edits → final text.

Whatever happens, the reply ends showing either the answer or a short note saying why not; the
placeholder is never left behind.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import closing

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .conversation import Identity, build_conversation, question_text
from .incoming import Request
from .model import BedrockModel, Finished, StreamEndedEarly, TextDelta, Usage
from .renderer import ReplyRenderer
from .settings import Settings
from .slack_history import SlackHistory
from .slack_writer import LiveReply, SlackThread

log = logging.getLogger(__name__)

PLACEHOLDER = "_Thinking…_"
EMPTY_QUESTION = "Hi! Ask me something after the mention, for example: _@me how do I rotate an IAM key?_"
STOP_NOTES = {
    "max_tokens": ":warning: _The answer was cut short: it reached the length limit set for this bot._",
    "content_filtered": ":warning: _The answer was stopped by a content filter._",
    "guardrail_intervened": ":warning: _A guardrail stopped the answer._",
    "model_context_window_exceeded": ":warning: _This conversation is too long for the model. Start a new thread._",
}
NORMAL_STOPS = ("end_turn", "stop_sequence")
UNEXPECTED_STOP_NOTE = ":warning: _The model stopped before finishing its answer._"
INTERRUPTED_NOTE = ":warning: _The answer was interrupted before it finished. Ask again to get the rest._"
FAILED_NOTE = ":warning: _Sorry, I couldn't get an answer from the model. The details are in the bot's log._"

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def stop_note(stop_reason: str | None) -> str | None:
    """The note that closes an answer which stopped for `stop_reason`; None for a normal end."""
    if stop_reason in NORMAL_STOPS:
        return None
    return STOP_NOTES.get(stop_reason or "", UNEXPECTED_STOP_NOTE)


class Replier:
    def __init__(self, *, client: WebClient, history: SlackHistory, model: BedrockModel, settings: Settings) -> None:
        self._client = client
        self._history = history
        self._model = model
        self._settings = settings

    def answer(self, request: Request, bot: Identity) -> None:
        started = time.monotonic()
        thread = SlackThread(self._client, request.channel, request.reply_thread_ts)
        if not question_text(request.text, bot):
            self._post_or_log(thread, EMPTY_QUESTION, request)
            return
        if not self._post_or_log(thread, PLACEHOLDER, request):
            return
        renderer = ReplyRenderer(placeholder=PLACEHOLDER, interval=self._settings.edit_interval)
        live = LiveReply(renderer, thread).start()
        outcome, note, usage = "failed", FAILED_NOTE, None
        try:
            messages = self._conversation(request, bot)
            outcome, note, usage = self._stream(messages, live)
        except StreamEndedEarly:
            outcome, note = "interrupted", INTERRUPTED_NOTE
            log.warning("the model stream for %s ended without messageStop", request.event_id)
        except Exception:
            log.exception("the answer to %s failed", request.event_id)
            if live.shown_anything:
                outcome, note = "interrupted", INTERRUPTED_NOTE
        finally:
            live.finish(note)
        log.info(
            "reply event=%s channel=%s model=%s outcome=%s slack_calls=%d tokens_in=%s tokens_out=%s seconds=%.2f",
            request.event_id,
            request.channel,
            self._model.model_id,
            outcome,
            live.calls + 1,
            usage.input_tokens if usage else "-",
            usage.output_tokens if usage else "-",
            time.monotonic() - started,
        )

    def _post_or_log(self, thread: SlackThread, text: str, request: Request) -> bool:
        try:
            thread.post(text)
            return True
        except SlackApiError as error:
            log.error(
                "cannot post in %s (%s): check that the bot is in the channel and has the chat:write scope",
                request.channel,
                error.response.get("error"),
            )
            return False

    def _conversation(self, request: Request, bot: Identity) -> list[dict]:
        try:
            if request.thread_ts:
                history = self._history.thread(request.channel, request.thread_ts)
            elif request.is_dm:
                history = self._history.direct_messages(request.channel, request.ts)
            else:
                history = []
        except SlackApiError as error:
            log.warning(
                "could not read the history of %s (%s); answering the question alone",
                request.channel,
                error.response.get("error"),
            )
            history = []
        everyone = [*history, request.message]
        people = {m["user"] for m in everyone if m.get("user") and m.get("user") != bot.user_id and not m.get("bot_id")}
        mentioned = {user for m in everyone for user in _MENTION.findall(m.get("text") or "")} - {bot.user_id}
        names = self._history.names(people | mentioned) if len(people) > 1 or mentioned else {}
        return build_conversation(
            history,
            request.message,
            bot=bot,
            names=names,
            budget_chars=self._settings.context_max_chars,
            skip_texts=(PLACEHOLDER,),
        )

    def _stream(self, messages: list[dict], live: LiveReply) -> tuple[str, str | None, Usage | None]:
        stop_reason, usage = None, None
        with closing(self._model.stream(messages)) as events:
            for event in events:
                if isinstance(event, TextDelta):
                    live.feed(event.text)
                elif isinstance(event, Finished):
                    stop_reason = event.stop_reason
                elif isinstance(event, Usage):
                    usage = event
                if live.gave_up:
                    log.warning("Slack keeps refusing the reply's edits; stopping the model")
                    return "abandoned", None, usage
        return stop_reason or "complete", stop_note(stop_reason), usage
