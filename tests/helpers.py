"""What the end-to-end tests share: asking the bot through the Slack stand-in, and reading its reply."""

from __future__ import annotations

import time
from typing import NamedTuple

from bot import notes
from standins.bedrock import STALL, Reply
from standins.events import mention
from standins.slack import FakeSlack, Message


class Asked(NamedTuple):
    event_id: str  # the Events API envelope's
    question: Message  # the mention, as the Slack stand-in keeps it
    sent: float  # time.monotonic() as the event left


def ask(slack: FakeSlack, text: str = "<@UBOT> a question", **where) -> Asked:
    """Mention the bot through the Slack stand-in; `where` as `standins.events.mention` takes it (channel, user,
    thread_ts, files)."""
    event, question = mention(slack, text, **where)
    sent = time.monotonic()
    return Asked(slack.send_event(event), question, sent)


def final_text(slack: FakeSlack, channel: str = "C1", contains: str = "") -> str:
    """The text of the reply once it is no longer the placeholder (and holds `contains`)."""
    def done():
        texts = [m.text for m in slack.bot_messages(channel)]
        return texts and texts[-1] != notes.PLACEHOLDER and contains in texts[-1] and texts
    return "\n\n".join(slack.wait_until(done, what=f"the reply in {channel} to hold {contains!r}"))


def stalled(pieces: list[str], *, pause_before_last: float = 0.0) -> Reply:
    """A stream that sends `pieces`, then goes silent without closing (as a stuck connection does)."""
    steps = Reply.deltas(pieces, stop_reason=None).steps[: 1 + len(pieces)]
    if pause_before_last:
        steps[-1] = (pause_before_last, steps[-1][1])
    return Reply(steps + [(0.0, STALL)])
