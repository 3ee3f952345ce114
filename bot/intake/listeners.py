"""The Slack-facing listeners, by Slack surface: events (a question) and actions (a feedback click, an
approval). Thin: each turns what Slack sent into a plain value and hands it on."""

from __future__ import annotations

import logging
import re

from slack_bolt import Ack, App, BoltContext, BoltRequest

from bot import notes
from bot.conversation.build import Identity
from bot.intake.requests import SeenEvents, feedback_click, follow_up_from_event, request_from_event, viewing_from
from bot.intake.viewing import Viewing
from bot.reply.approval import ACTION_ID as APPROVAL_ID, Approvals, read_click
from bot.reply.follow_ups import FollowUps
from bot.reply.greeting import Greeting
from bot.reply.replier import Replier
from bot import feedback, metrics
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError
from bot.slack import methods

log = logging.getLogger(__name__)


def register_listeners(app: App, replier: Replier, seen: SeenEvents, calls: SlackCalls,
                       approvals: Approvals | None = None, follow_ups: FollowUps | None = None,
                       greeting: Greeting | None = None, viewing: Viewing | None = None) -> None:
    def take(body: dict, event: dict, context: BoltContext, request: BoltRequest) -> None:
        try:
            bot = Identity(user_id=context.bot_user_id or "", bot_id=context.bot_id)
            team = body.get("team_id") if isinstance(body.get("team_id"), str) else None  # the envelope's
            question = request_from_event(event, body.get("event_id"), bot, attempt=_retry_number(request), team=team)
            if question is None and follow_ups is not None:  # a message in a thread the bot answered?
                question = follow_up_from_event(event, body.get("event_id"), bot, attempt=_retry_number(request),
                                                team=team)
                if question is not None and not follow_ups.answers(question):
                    question = None
        except Exception:  # an event of a shape we do not know: skip it, never crash the listener
            log.exception("skipping an event that could not be read (type %r)", type(event).__name__)
            return
        if question is None:
            return
        if not seen.first_time(question):
            log.info("ignoring a redelivery of event %s", question.event_id)
            return
        replier.answer(viewing.fill(question) if viewing is not None else question, bot)

    def vote(ack: Ack, body: dict) -> None:
        ack()
        click = feedback_click(body)
        if click is None:
            log.info("skipping a feedback click that could not be read")
            return
        if not seen.first_click(click):
            log.info("ignoring a repeated feedback click of %s", click.user)
            return
        metrics.FEEDBACK.labels(vote=click.vote.vote).inc()
        log.info("feedback event=%s channel=%s model=%s value=%s user=%s",
                 click.vote.event, click.channel, click.vote.model, click.vote.vote, click.user)
        try:  # to that person alone
            calls.call(methods.EPHEMERAL, channel=click.channel, user=click.user, thread_ts=click.thread_ts,
                       text=notes.FEEDBACK_THANKS[click.vote.vote])
        except SlackError as error:
            log.info("could not thank %s for their feedback: %s", click.user, error.code)

    def approve(ack: Ack, body: dict) -> None:
        ack()
        click = read_click(body)
        if click is None or approvals is None:
            log.info("skipping an approval click that could not be read")
            return
        told = approvals.decide(click)
        if told is not None:  # to that person alone
            try:
                calls.call(methods.EPHEMERAL, channel=click.channel, user=click.user, thread_ts=click.thread_ts,
                           text=told)
            except SlackError as error:
                log.info("could not answer %s's approval click: %s", click.user, error.code)

    unplaced: list = []  # a context event of a shape not known was seen (said once)

    def stop(event: dict) -> None:
        channel, thread_ts = event.get("channel"), event.get("thread_ts")
        if isinstance(channel, str) and isinstance(thread_ts, str) and channel and thread_ts:
            replier.stop_thread(channel, thread_ts)

    def started(event: dict) -> None:  # a new thread in the messages tab
        thread = event.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        looked_at(event)
        user = thread.get("user_id")
        if greeting is not None and isinstance(channel, str) and isinstance(thread_ts, str) and isinstance(user, str):
            greeting.welcome(channel, thread_ts, user)

    def looked_at(event: dict) -> None:  # what the person has open changed (the agent view), or a thread said it
        thread = event.get("assistant_thread")
        if isinstance(thread, dict):  # assistant_thread_started / _context_changed
            channel, user, context = thread.get("channel_id"), thread.get("user_id"), thread.get("context")
        else:  # app_context_changed
            channel, user, context = event.get("channel"), event.get("user"), event.get("context")
        if viewing is None:
            return
        if isinstance(channel, str) and isinstance(user, str) and channel and user:
            viewing.saw(channel, user, viewing_from(context))
        elif not unplaced:  # a shape of the event not known: its context cannot be placed (said once)
            unplaced.append(event.get("type"))
            log.info("a %s event named no DM and person (channel, user): what people have open is taken from their "
                     "messages only", event.get("type"))

    app.event("app_mention")(take)
    app.event("assistant_thread_started")(started)
    app.event("assistant_thread_context_changed")(looked_at)
    app.event("app_context_changed")(looked_at)
    app.event("agent_session_stopped")(stop)
    app.event("message")(take)
    app.action(feedback.ACTION_ID)(vote)
    app.action(re.compile(f"^{APPROVAL_ID}_"))(approve)


def _retry_number(request: BoltRequest) -> int:
    """Slack's retry number for this delivery (HTTP: the X-Slack-Retry-Num header; Socket Mode: the envelope's
    retry_attempt, which Bolt puts in the same header)."""
    values = request.headers.get("x-slack-retry-num") or ["0"]
    try:
        return int(values[0])
    except ValueError:
        return 0
