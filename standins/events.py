"""Events as Slack sends them, for a message that the test first puts into the Slack stand-in."""

from __future__ import annotations

from standins.slack import FakeSlack, Message


def mention(slack: FakeSlack, text: str, *, channel: str = "C1", user: str = "U1",
            thread_ts: str | None = None) -> tuple[dict, Message]:
    message = slack.add_message(channel, text, user=user, thread_ts=thread_ts)
    event = {"type": "app_mention", "user": user, "text": text, "ts": message.ts, "channel": channel,
             "event_ts": message.ts, "team": slack.team_id}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event, message


def direct_message(slack: FakeSlack, text: str, *, channel: str = "D1", user: str = "U1",
                   thread_ts: str | None = None) -> tuple[dict, Message]:
    message = slack.add_message(channel, text, user=user, thread_ts=thread_ts)
    event = {"type": "message", "channel_type": "im", "user": user, "text": text, "ts": message.ts,
             "channel": channel, "event_ts": message.ts, "team": slack.team_id}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event, message
