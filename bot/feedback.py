"""The 👍 / 👎 buttons under a finished answer, and what a click on them carries.

Each button's value names the vote, the event that asked and the model that answered, so that a click can
be logged as one line without remembering anything about the reply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot import notes
from bot.jsontext import json_object

ACTION_ID = "answer_feedback"
VOTES = ("good", "bad")


@dataclass(frozen=True)
class Vote:
    vote: str  # "good" or "bad"
    event: str  # the event id of the question
    model: str


def block(event_id: str, model_id: str) -> dict:
    """A `context_actions` block with Slack's `feedback_buttons`."""

    def button(vote: str, text: str, label: str) -> dict:
        value = json.dumps({"vote": vote, "event": event_id, "model": model_id}, separators=(",", ":"))
        return {"text": {"type": "plain_text", "text": text}, "value": value, "accessibility_label": label}

    return {"type": "context_actions", "elements": [{
        "type": "feedback_buttons",
        "action_id": ACTION_ID,
        "positive_button": button("good", notes.FEEDBACK_POSITIVE, notes.FEEDBACK_POSITIVE_LABEL),
        "negative_button": button("bad", notes.FEEDBACK_NEGATIVE, notes.FEEDBACK_NEGATIVE_LABEL),
    }]}


def read_vote(value: object) -> Vote | None:
    """The vote a button's value carries; None if it is not one of ours."""
    data = json_object(str(value))
    if data is None or data.get("vote") not in VOTES:
        return None
    return Vote(data["vote"], str(data.get("event") or "-"), str(data.get("model") or "-"))
