"""Events as Slack sends them, for a message that the test first puts into the Slack stand-in."""

from __future__ import annotations

from standins.slack import FakeSlack, Message


def mention(slack: FakeSlack, text: str, *, channel: str = "C1", user: str = "U1",
            thread_ts: str | None = None, files: list[dict] | None = None,
            action_token: bool = False) -> tuple[dict, Message]:
    """An app_mention; with `files` (file objects from `slack.add_file`), the files shared with it; with
    `action_token`, the token Slack gives an app that may search as the asker (Real-time Search)."""
    message = slack.add_message(channel, text, user=user, thread_ts=thread_ts, files=files)
    event = {"type": "app_mention", "user": user, "text": text, "ts": message.ts, "channel": channel,
             "event_ts": message.ts, "team": slack.team_id}
    if action_token:
        event["action_token"] = f"{message.ts}.action"
        slack.action_tokens[event["action_token"]] = message.ts
    if thread_ts:
        event["thread_ts"] = thread_ts
    if files:
        event["files"] = [dict(file) for file in files]
    return event, message


def direct_message(slack: FakeSlack, text: str, *, channel: str = "D1", user: str = "U1",
                   thread_ts: str | None = None, files: list[dict] | None = None,
                   context: list[dict] | None = None) -> tuple[dict, Message]:
    """A message in a DM; with `files`, a `file_share` message carrying them, as Slack sends one; with `context`,
    the agent view's entities (what the person has open, as `app_context_changed` gives them)."""
    message = slack.add_message(channel, text, user=user, thread_ts=thread_ts, files=files)
    event = {"type": "message", "channel_type": "im", "user": user, "text": text, "ts": message.ts,
             "channel": channel, "event_ts": message.ts, "team": slack.team_id}
    if context is not None:
        event["context"] = {"entities": context}
    if thread_ts:
        event["thread_ts"] = thread_ts
    if files:
        event.update(subtype="file_share", files=[dict(file) for file in files], upload=False, display_as_bot=False)
    return event, message


def thread_message(slack: FakeSlack, text: str, *, thread_ts: str, channel: str = "C1", user: str = "U1",
                   bot_id: str | None = None, subtype: str | None = None) -> tuple[dict, Message]:
    """A message in a channel thread, as `message.channels` delivers it (with `bot_id`: another app's)."""
    message = slack.add_message(channel, text, user=user, thread_ts=thread_ts)
    event = {"type": "message", "channel_type": "channel", "user": user, "text": text, "ts": message.ts,
             "channel": channel, "event_ts": message.ts, "team": slack.team_id, "thread_ts": thread_ts}
    if bot_id:
        event["bot_id"] = bot_id
    if subtype:
        event["subtype"] = subtype
    return event, message


def app_context_changed(slack: FakeSlack, entities: list[dict], *, channel: str = "D1", user: str = "U1") -> dict:
    """What a person has open changed while the bot's agent view was visible (`app_context_changed`)."""
    return {"type": "app_context_changed", "channel": channel, "user": user, "context": {"entities": entities} if
            entities else {}, "event_ts": slack.next_ts()}


def channel_entity(channel: str, slack: FakeSlack) -> dict:
    return {"type": "slack#/types/channel_id", "value": channel, "team_id": slack.team_id}


def message_entity(channel: str, ts: str, slack: FakeSlack) -> dict:
    return {"type": "slack#/types/message_context", "value": {"channel_id": channel, "message_ts": ts},
            "team_id": slack.team_id}
