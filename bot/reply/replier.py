"""One reply, end to end: sign of life → conversation → model stream → the delivery's messages → a log line.

Nothing stands between the event and the model but what the prompt needs: the sign of life goes up on a
thread of its own while the conversation is read (`conversation.assemble`), so a top-level mention asks the
model before any Slack call returns, and a follow-up after one round trip for the thread (two when names
are new).

Whatever happens, the reply ends showing either the answer or a short note saying why not; the placeholder
or the status is never left behind. A reply stops early, with a note, when it passes its deadline or the
process shuts down, and silently when its messages were deleted; in each case the model stream is closed at
once, so no more tokens are paid for.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from bot import feedback, metrics, notes
from bot.conversation.assemble import Conversation, Conversations
from bot.conversation.build import Identity, question_text
from bot.conversation.unreadable import Unreadable
from bot.model.bedrock import Finished, Models, TextDelta, Usage
from bot.model.errors import ModelError
from bot.profiles.people import People
from bot.profiles.profile import Profile
from bot.profiles.watch import Profiles
from bot.reply.approval import Approvals
from bot.reply.inflight import GONE, InFlight, Reply
from bot.reply.follow_ups import FollowUps
from bot.reply.allowance import Allowance
from bot.reply.session import Sessions
from bot.request import Request
from bot.shared.base import SharedState
from bot.shared.local import LocalState
from bot.sinks.base import Place
from bot.sinks.delivery import Deliveries, Delivery
from bot.slack import methods, tags
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError
from bot.slack.tags import Tag
from bot.tools.base import Approver, ToolSettings
from bot.tools.rounds import Rounds, Step
from bot.tools.toolbox import Toolbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplySettings:
    """Who gets answers, how many at once, and for how long (MAX_CONCURRENT_REPLIES, MAX_WAITING_REPLIES,
    REPLY_DEADLINE_SECONDS, SHUTDOWN_GRACE_SECONDS, MAX_REPLIES_PER_USER, ALLOWED_CHANNEL_IDS,
    ALLOWED_USER_IDS, FOLLOW_UPS, DAILY_TOKENS_PER_PERSON)."""

    max_concurrent_replies: int = 32  # asking the model at once
    max_waiting_replies: int = 200  # questions beyond those, showing their sign of life while they wait
    reply_deadline_seconds: float = 300.0
    shutdown_grace_seconds: float = 20.0
    max_replies_per_user: int = 3
    allowed_channel_ids: frozenset[str] = frozenset()  # empty: every channel the bot is in
    allowed_user_ids: frozenset[str] = frozenset()  # empty: everyone
    follow_ups: str = "asker"  # who may go on in a thread the bot answered without a mention: asker | anyone | off
    daily_tokens_per_person: int = 0  # a person's model tokens (in and out) a day, across instances; 0: no cap


SESSION_AFTER_SECONDS = 2.0  # the Stop button waits this long at most for the first words to go to Slack


class Stopped(Exception):
    """The reply was stopped before it asked the model."""


class Replier:
    def __init__(
        self,
        *,
        calls: SlackCalls,
        deliveries: Deliveries,
        conversations: Conversations,
        models: Models,
        profiles: Profiles,
        settings: ReplySettings,
        feedback_buttons: bool = True,
        clock: Callable[[], float] = time.monotonic,
        state: SharedState | None = None,
        toolbox: Toolbox = Toolbox(),
        tool_settings: ToolSettings = ToolSettings(),
        approvals: Approvals | None = None,
        sessions: Sessions | None = None,
        follow_ups: FollowUps | None = None,
        people: People | None = None,
        unreadable: Unreadable | None = None,
    ) -> None:
        """`profiles`: what the bot is in each conversation (model, prompt, tools, who may ask); `models`: the
        model each profile asks. `state`: where each person's answers in flight are counted (default: in this
        process). `toolbox`: the tools a profile's model may use while it answers (see `bot.tools`). `people`:
        who is in the user groups a profile names (None: a group admits no one)."""
        self._profiles = profiles
        self._people = people
        self._unreadable = unreadable  # files the model could not read, for the thread's later replies
        self._toolbox = toolbox
        self._approvals = approvals
        self._sessions = sessions
        self._follow_ups = follow_ups
        self._shared = state is not None and not isinstance(state, LocalState)
        state = state if state is not None else LocalState(clock)
        self._state = state
        self._allowance = (Allowance(state, settings.daily_tokens_per_person)
                           if settings.daily_tokens_per_person else None)
        self._tool_settings = tool_settings
        self._calls = calls
        self._deliveries = deliveries
        self._conversations = conversations
        self._models = models
        self._settings = settings
        self._feedback_buttons = feedback_buttons
        self._clock = clock
        self._in_flight = InFlight(max_per_person=settings.max_replies_per_user,
                                   deadline=settings.reply_deadline_seconds,
                                   slots=settings.max_concurrent_replies, clock=clock, state=state)
        if sessions is not None and sessions.enabled and self._shared:
            self._in_flight.watch_stops(notes.STOPPED)  # a Stop another instance heard, for a reply of this one

    def stop_thread(self, channel: str, thread_ts: str) -> None:
        """A person pressed Slack's Stop button in this thread: stop the replies there, on whichever instance."""
        stopped = self._in_flight.stop_thread(channel, thread_ts, notes.STOPPED)
        if stopped:
            log.info("stopped %d reply(ies) in %s at a person's request", stopped, channel)
        elif self._shared:
            log.info("a Stop in %s: no reply of this instance there; the other instances are told", channel)
        else:
            log.info("a Stop in %s: no reply of this instance there, and without REDIS_URL it cannot stop another "
                     "instance's", channel)

    def answer(self, request: Request, bot: Identity) -> None:
        if request.redelivered and self._answered_before(request, bot):
            log.info("ignoring a redelivery of event %s: the thread has its answer", request.event_id)
            return
        if request.viewing:  # what the person has open, as far as the bot would answer them there
            request = replace(request, viewing=tuple(
                item for item in request.viewing if self.may_ask(item.channel, request.user, is_dm=False)))
        reply = Reply(request)
        profile = self._profiles.for_conversation(request.channel, is_dm=request.is_dm)
        refusal = self._refusal(request, bot, profile) or self._in_flight.admit(reply)
        if refusal is not None or profile is None:
            metrics.REPLIES.labels(outcome="refused", profile=profile.name if profile else "none").inc()
            if request.follow_up:  # no one asked the bot: a refusal there would answer a conversation between people
                log.info("not answering a follow-up in %s: %s", request.channel, refusal)
                return
            self._say(request, refusal or notes.NOT_ALLOWED_HERE)
            return

        if self._follow_ups is not None:
            self._follow_ups.remember(request)  # the asker may go on in this thread without a mention
        try:
            self._answer(reply, bot, profile)
        finally:
            self._in_flight.done(reply)

    def shutdown(self, grace: float, final_edit_timeout: float = 15.0) -> int:
        """Take no new requests, let replies in flight finish for `grace` seconds, then stop the rest with a
        note. Returns how many were stopped."""
        return self._in_flight.shutdown(grace, final_edit_timeout)

    # -- one reply ---------------------------------------------------------------------------------

    def _answer(self, reply: Reply, bot: Identity, profile: Profile) -> None:
        request = reply.request
        # a profile filled in from the environment's (`Profiles.for_conversation`) names all three
        model = self._models.get(profile.model_id or "", profile.system_prompt or "", profile.max_tokens or 1)
        started = self._clock()
        deadline = self._calls.clock() + self._settings.reply_deadline_seconds  # on the Slack calls' clock
        place = Place(request.channel, request.reply_thread_ts, request.user, request.team, event=request.event_id,
                      asked=request.ts)
        delivery = reply.delivery = self._deliveries.open(
            place, feedback=feedback.block(request.event_id, model.model_id) if self._feedback_buttons else None,
            on_gone=lambda: reply.stop(GONE))
        session = self._sessions.open(place) if self._sessions is not None else None  # Slack's Stop button

        def signs() -> None:  # that the bot is working, then (once the words are on their way) the Stop button
            delivery.begin()
            if session is not None:
                delivery.wait_for_words(SESSION_AFTER_SECONDS)  # never in the way of the first words
                session.begin()
                if request.is_dm and self._first_in_thread(request) and self._sessions is not None:
                    self._sessions.title(place, question_text(request.text, bot))  # a messages-tab thread's title

        threading.Thread(target=signs, name="reply-sign-of-life", daemon=True).start()
        outcome: str = "failed"
        note: str | None = notes.FAILED
        usage: Usage | None = None
        conversation = Conversation([])
        rounds = Rounds(model, self._toolbox.for_request(request, profile), rounds=self._tool_settings.rounds,
                        timeout=self._tool_settings.timeout_seconds, clock=self._clock, approve=self._approver(place),
                        max_tokens=self._tool_settings.max_tokens)
        with self._in_flight.deadline(reply), self._in_flight.slot(reply) as slot:
            try:
                if not slot:  # stopped (deadline, shutdown) while it waited for a slot
                    raise Stopped()
                conversation = self._conversations.assemble(request, bot, on_reading=delivery.reading,
                                                            until=deadline, takes_files=model.takes_files)
                if reply.stop_note is not None:  # nowhere to answer, or stopped, while it read
                    raise Stopped()
                asked_at = self._clock()
                outcome, note, usage = self._read(rounds, conversation.messages, reply, delivery, asked_at,
                                                  until=started + self._settings.reply_deadline_seconds)
                if rounds.dropped_files:
                    conversation = conversation.with_note(notes.MODEL_TAKES_NO_FILES)
                if rounds.unreadable:  # named now; those Bedrock named, left out of the thread's later replies
                    conversation = conversation.unread(rounds.unreadable)
                    if self._unreadable is not None:
                        self._unreadable.remember(conversation.files_of(rounds.named_unreadable))
            except Exception as error:
                outcome, note = ("failed", None) if delivery.nowhere else self._failure(reply, error, delivery)
        note = notes.lines(note, notes.tool_failures(rounds.failures))
        note = conversation.closing_note(note, got_text=reply.got_text)
        try:
            finished = delivery.finish(note, timeout=self._final_edit_timeout())
        finally:
            if session is not None:
                session.end()  # never left `processing`, however the reply ended
        if not finished:
            log.error("the reply to %s did not finish its Slack calls in time", request.event_id)
            outcome = "failed"
        if delivery.nowhere:  # Slack would not take even the sign of life (the log said why): the model stopped
            outcome = "failed"
        if delivery.failures:
            log.error("Slack did not take %d message(s) of the reply to %s", delivery.failures, request.event_id)
            outcome = "failed"
        _measure(outcome, usage, reply, delivery, started, profile.name)
        if usage is not None and self._allowance is not None:
            self._allowance.spent(request.user, usage.input_tokens + usage.output_tokens)
        log.info(
            "reply event=%s channel=%s user=%s profile=%s model=%s outcome=%s surface=%s first_token_s=%s "
            "slack_calls=%d model_attempts=%d tokens_in=%s tokens_out=%s cache_read_tokens=%s cache_write_tokens=%s "
            "seconds=%.2f",
            request.event_id, request.channel, request.user, profile.name, model.model_id, outcome, delivery.surface,
            "-" if reply.first_text_after is None else f"{reply.first_text_after:.3f}", delivery.calls,
            rounds.attempts, usage.input_tokens if usage else "-",
            usage.output_tokens if usage else "-", usage.cache_read_tokens if usage else "-",
            usage.cache_write_tokens if usage else "-", self._clock() - started,
        )

    def _approver(self, place: Place) -> Approver | None:
        """Asks the person who asked, in the reply's thread, before a tool that acts runs."""
        approvals = self._approvals
        if approvals is None:
            return None
        return lambda what, arguments, stopped, until: approvals.ask(place, what, arguments, until=until,
                                                                      stopped=stopped)

    def _first_in_thread(self, request: Request) -> bool:
        """The first question answered in its thread (across instances, as far as they share their state)."""
        return bool(request.thread_ts) and self._state.claim([f"titled:{request.channel}:{request.thread_ts}"])

    def _final_edit_timeout(self) -> float:
        """How long the last calls of a reply may take: a few rounds of the Slack retry policy."""
        return 3 * self._calls.max_seconds + 30

    def _read(self, rounds: Rounds, messages: list[dict], reply: Reply, delivery: Delivery, asked_at: float, *,
              until: float) -> tuple[str, str | None, Usage | None]:
        stop_reason, usage = None, None
        for event in rounds.run(messages, attach=reply.attach, stopped=lambda: reply.stop_note is not None,
                                until=until):
            if isinstance(event, TextDelta):
                if not reply.got_text:
                    reply.first_token_at = self._clock()
                    reply.first_text_after = reply.first_token_at - asked_at
                delivery.feed(event.text)
            elif isinstance(event, Step):
                delivery.step(event.id, event.title, event.status, doing=event.doing, details=event.reason,
                              sources=tuple((source.title, source.url) for source in event.sources))
            elif isinstance(event, Finished):
                stop_reason = event.stop_reason
            elif isinstance(event, Usage):
                usage = event
        cited = rounds.sources.cited(rounds.text)
        if cited:
            delivery.feed(notes.sources([(number, source.title, source.url) for number, source in cited]))
        return stop_reason or "complete", notes.stop_note(stop_reason), usage

    def _failure(self, reply: Reply, error: Exception, delivery: Delivery) -> tuple[str, str | None]:
        """The outcome and note of a reply that did not end normally."""
        event_id = reply.request.event_id
        if reply.stop_note is not None:
            reason = "deleted" if reply.stop_note == GONE and not delivery.stopped_by_person else "stopped"
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

    def may_ask(self, channel: str, user: str, *, is_dm: bool) -> bool:
        """Whether the bot answers `user` in `channel` (its settings and the channel's profile)."""
        return self._not_allowed(channel, user, is_dm, self._profiles.for_conversation(channel, is_dm=is_dm)) is None

    def _not_allowed(self, channel: str, user: str, is_dm: bool, profile: Profile | None) -> str | None:
        """Why the bot does not answer `user` in `channel`, if it does not."""
        settings = self._settings
        if profile is None or (settings.allowed_channel_ids and channel not in settings.allowed_channel_ids
                               and not is_dm):
            return notes.NOT_ALLOWED_HERE
        if (settings.allowed_user_ids and user not in settings.allowed_user_ids) or not self._admits(profile, user):
            return notes.NOT_ALLOWED_FOR_YOU
        return None

    def _refusal(self, request: Request, bot: Identity, profile: Profile | None) -> str | None:
        settings = self._settings
        if (not_allowed := self._not_allowed(request.channel, request.user, request.is_dm, profile)) is not None:
            return not_allowed
        if self._allowance is not None and (reset := self._allowance.over(request.user)) is not None:
            return notes.over_daily_tokens(settings.daily_tokens_per_person, reset)
        if not question_text(request.text, bot) and not (request.files and self._conversations.reads_files):
            return notes.FILES_ONLY if request.has_files else notes.empty_question(in_dm=request.is_dm)
        return None

    def _admits(self, profile: Profile, user: str) -> bool:
        """Whether the profile lets `user` ask (its people, and the members of its user groups)."""
        if self._people is None:
            return profile.people is None or user in profile.people
        return self._people.admits(profile, user)

    def _answered_before(self, request: Request, bot: Identity) -> bool:
        """A reply to `request` is already in its thread (a process before this one answered it, or is streaming
        it now)."""
        try:
            return tags.answered(request.event_id, self._calls.call,
                                 request.channel, request.reply_thread_ts, request.ts, bot_id=bot.bot_id)
        except SlackError as error:
            log.warning("could not check whether event %s was answered (%s); answering it", request.event_id,
                        error.code)
            return False

    def _say(self, request: Request, text: str) -> None:
        """A one-message answer that is not the model's (a refusal, a prompt to ask something)."""
        try:
            self._calls.call(methods.POST, tag=Tag(request.event_id, 0, request.ts), channel=request.channel,
                             thread_ts=request.reply_thread_ts, text=text, unfurl_links=False, unfurl_media=False)
        except SlackError as error:
            log.error("cannot answer in %s: %s", request.channel, error.code)


def _measure(outcome: str, usage: Usage | None, reply: Reply, delivery: Delivery, started: float,
             profile: str) -> None:
    """A finished reply, in the metrics: its outcome and tokens (by profile), and how soon it showed its first
    token and words."""
    metrics.REPLIES.labels(outcome=metrics.reply_outcome(outcome), profile=profile).inc()
    if reply.first_token_at is not None:
        metrics.FIRST_TOKEN.observe(reply.first_token_at - started)
    if delivery.first_words_at is not None:
        metrics.FIRST_WORDS.observe(delivery.first_words_at - started)
    if usage is not None:
        for kind, tokens in (("input", usage.input_tokens), ("output", usage.output_tokens),
                             ("cache_read", usage.cache_read_tokens), ("cache_write", usage.cache_write_tokens)):
            metrics.MODEL_TOKENS.labels(kind=kind, profile=profile).inc(tokens)
