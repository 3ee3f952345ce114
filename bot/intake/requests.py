"""A Slack event becomes a request for an answer, or nothing.

Pure rules: a person's `app_mention` in a channel, a person's new message in a DM with the bot, or (a
follow-up) a person's new message in a channel thread that mentions no one. Not the bot's own messages, not
other bots', not edits, deletions or other subtypes. `SeenEvents` makes a
redelivered event (same `event_id`, or the same message) get one answer, across instances where they share
their state; a redelivery not recognised so (another process that kept its own state may have answered) is
checked against the thread by the replier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping

from bot.conversation.build import Identity
from bot.request import Request, Viewed
from bot import feedback
from bot.shared.base import SharedState

# Subtypes that are still a person's new message; every other subtype (message_changed,
# message_deleted, bot_message, channel_join, ...) is not a question.
_PERSON_SUBTYPES = (None, "file_share", "thread_broadcast")


def request_from_event(event: Mapping, event_id: str | None, bot: Identity, *, attempt: int = 0,
                       team: str | None = None) -> Request | None:
    """`attempt`: Slack's retry number for this delivery (0: the first). `team`: the envelope's, for an event
    that does not name its own (Slack's documented `app_mention` has none)."""
    kind = event.get("type")
    channel = event.get("channel") or ""
    if kind == "app_mention":
        if channel.startswith("D"):
            return None  # the DM itself arrives as `message` and is answered there, once
        is_dm = False
    elif kind == "message":
        if event.get("channel_type") != "im":
            return None
        is_dm = True
    else:
        return None
    if event.get("subtype") not in _PERSON_SUBTYPES:
        return None
    user = event.get("user")
    if not isinstance(user, str) or not isinstance(event.get("text", ""), (str, type(None))):
        return None
    if not user or user == bot.user_id or event.get("bot_id") or event.get("bot_profile"):
        return None
    ts = event.get("ts")
    if not ts or not channel:
        return None
    return Request(
        event_id=event_id or f"{channel}:{ts}",
        channel=channel,
        user=user,
        text=event.get("text") or "",
        ts=ts,
        thread_ts=event.get("thread_ts"),
        is_dm=is_dm,
        team=event.get("team") or team,
        has_files=bool(event.get("files")) or event.get("subtype") == "file_share",
        files=tuple(file for file in event.get("files") or () if isinstance(file, Mapping)),
        redelivered=attempt > 0,
        viewing=viewing_from(event["context"]) if is_dm and "context" in event else None,
        action_token=event.get("action_token") if isinstance(event.get("action_token"), str) else None,
    )


_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")  # a channel's (another person's DM the bot could not read anyway)
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")
MOST_VIEWED = 3  # things a person has open that the bot reads for a question


def viewing_from(context: object) -> tuple[Viewed, ...]:
    """What Slack says a person has open: an agent context's entities, most relevant first (`app_context_changed`,
    and a DM message's `context` once the app has the agent view: channels and messages; canvases and lists are
    not read), or an assistant thread's context (`{"channel_id": …}`)."""
    if not isinstance(context, Mapping):
        return ()
    viewed = []
    for entity in context.get("entities") or ():
        if not isinstance(entity, Mapping):
            continue
        kind, value = entity.get("type"), entity.get("value")
        if kind == "slack#/types/channel_id" and isinstance(value, str) and _CHANNEL_ID.fullmatch(value):
            viewed.append(Viewed(value))
        elif (kind == "slack#/types/message_context" and isinstance(value, Mapping)
              and isinstance(value.get("channel_id"), str) and _CHANNEL_ID.fullmatch(value["channel_id"])
              and isinstance(value.get("message_ts"), str) and _TS.fullmatch(value["message_ts"])):
            viewed.append(Viewed(value["channel_id"], value["message_ts"]))
    channel = context.get("channel_id")
    if isinstance(channel, str) and _CHANNEL_ID.fullmatch(channel):
        viewed.append(Viewed(channel))
    return tuple(dict.fromkeys(viewed))[:MOST_VIEWED]


_CHANNEL_TYPES = ("channel", "group", "mpim")  # conversations where a follow-up may come without a mention
_MENTIONS = ("<@", "<!")  # a mention of someone (or a group, or everyone): not a follow-up to the bot


def follow_up_from_event(event: Mapping, event_id: str | None, bot: Identity, *, attempt: int = 0,
                         team: str | None = None) -> Request | None:
    """A person's new message in a channel thread that mentions no one: a follow-up, if the thread is one the bot
    answered (the replier's `FollowUps` decides that). A message that mentions the bot is its `app_mention`."""
    if event.get("type") != "message" or event.get("channel_type") not in _CHANNEL_TYPES:
        return None
    thread_ts, text = event.get("thread_ts"), event.get("text") or ""
    if not thread_ts or thread_ts == event.get("ts") or not isinstance(text, str) or any(m in text for m in _MENTIONS):
        return None
    question = request_from_event({**event, "type": "app_mention"}, event_id, bot, attempt=attempt, team=team)
    return None if question is None else replace(question, follow_up=True)


class SeenEvents:
    """Recognises a redelivered request: the same event, or the same message in another event, is answered
    once, by whichever instance claims it first (see `bot.shared`)."""

    def __init__(self, state: SharedState) -> None:
        self._state = state

    def first_time(self, request: Request) -> bool:
        """True once per event and per message; False for every redelivery."""
        return self._state.claim((f"event:{request.event_id}", f"message:{request.channel}:{request.ts}"))

    def first_click(self, click: "FeedbackClick") -> bool:
        """True once per click (a person, a message, the click's time): a replayed request is not counted again."""
        return self._state.claim((f"click:{click.user}:{click.channel}:{click.message_ts}:{click.action_ts}",))


@dataclass(frozen=True)
class FeedbackClick:
    """A person's click on the feedback buttons under an answer."""

    user: str
    channel: str
    thread_ts: str | None  # the thread the answer is in
    vote: "feedback.Vote"
    message_ts: str = ""  # the answer's message
    action_ts: str = ""  # when the click was made (Slack's, the same in a replay of the request)


def feedback_click(body: Mapping) -> FeedbackClick | None:
    """The click a `block_actions` payload carries, or None if it is not one of ours."""
    try:
        action = body["actions"][0]
        vote = feedback.read_vote(action.get("value"))
        message = body.get("message") or {}
        channel = (body.get("channel") or body.get("container") or {})
        channel_id = channel.get("id") or channel.get("channel_id")
        user = body["user"]["id"]
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if vote is None or not channel_id or not user:
        return None
    return FeedbackClick(user, channel_id, message.get("thread_ts") or message.get("ts"), vote,
                         str(message.get("ts") or ""), str(action.get("action_ts") or ""))
