"""The Slack-facing listeners: thin. They turn an event into a request and hand it to the replier."""

from __future__ import annotations

import logging

from slack_bolt import App, BoltContext

from bot.conversation.build import Identity
from bot.intake.requests import SeenEvents, request_from_event
from bot.reply.replier import Replier

log = logging.getLogger(__name__)


def register_listeners(app: App, replier: Replier, seen: SeenEvents) -> None:
    def take(body: dict, event: dict, context: BoltContext) -> None:
        try:
            bot = Identity(user_id=context.bot_user_id or "", bot_id=context.bot_id)
            request = request_from_event(event, body.get("event_id"), bot)
        except Exception:  # an event of a shape we do not know: skip it, never crash the listener
            log.exception("skipping an event that could not be read (type %r)", type(event).__name__)
            return
        if request is None:
            return
        if not seen.first_time(request):
            log.info("ignoring a redelivery of event %s", request.event_id)
            return
        replier.answer(request, bot)

    app.event("app_mention")(take)
    app.event("message")(take)
