"""A request for an answer: what the bot needs to know of the Slack event that asked, as a plain value.

`intake` makes one from an event; the replier, the conversation and the reply's messages read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class Viewed:
    """Something the person has open in Slack as they ask: a channel, or a message in one (`ts`)."""

    channel: str
    ts: str | None = None


@dataclass(frozen=True)
class Request:
    event_id: str
    channel: str
    user: str
    text: str  # as Slack sent it, with its markup
    ts: str  # the message that asked
    thread_ts: str | None  # the thread it was written in, if any
    is_dm: bool
    team: str | None = None
    has_files: bool = False
    files: tuple[Mapping, ...] = ()  # Slack's file objects shared with the question
    redelivered: bool = False  # Slack sent it again (it did not hear the first ack in time)
    # what the person has open in Slack (a DM's agent context), most relevant first; None: the event did not say
    viewing: tuple[Viewed, ...] | None = None
    follow_up: bool = False  # a message in a thread the bot answered, without a mention
    # Slack's short-lived token to search as the asker (Real-time Search), where the app may: never logged
    action_token: str | None = field(default=None, repr=False)

    @property
    def reply_thread_ts(self) -> str | None:
        """Where the answer goes: the question's thread; a channel mention starts one; a DM answers in line."""
        if self.thread_ts:
            return self.thread_ts
        return None if self.is_dm else self.ts

    @property
    def message(self) -> dict:
        """The question as a Slack message."""
        shared = {"files": list(self.files)} if self.files else {}
        return {"ts": self.ts, "user": self.user, "text": self.text, **shared}
