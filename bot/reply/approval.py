"""Asking the person who asked before a tool that changes something runs: Approve / Deny buttons in the thread,
a click by that person alone, and no click in time means no.

`Approvals.ask` posts the question (the tool, and what the model wants to run it with, shown as inert text),
then waits for the answer where every instance can see it (`SharedState.put`: the click may reach another
instance), bounded by its time and the reply's, and ends the question with the outcome, buttons removed.
`Approvals.decide` takes a click: another person's is refused (they are told so, to them alone); the asker's
is kept for the waiting reply.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping

from bot import notes
from bot.jsontext import json_object
from bot.shared.base import SharedState
from bot.sinks.base import Place
from bot.slack import methods
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError
from bot.tools.base import APPROVED, DENIED, EXPIRED, STOPPED, UNREVIEWABLE

log = logging.getLogger(__name__)

ACTION_ID = "tool_approval"
_DECISIONS = {"approve": APPROVED, "deny": DENIED}
_LOOK_EVERY = 0.25  # seconds between two looks for the answer
MAX_SHOWN = 2_500  # characters of input a question shows (a section holds 3,000): longer is not offered


@dataclass(frozen=True)
class Click:
    approval: str
    decision: str  # APPROVED or DENIED
    asker: str  # who may answer
    user: str  # who clicked
    channel: str
    thread_ts: str | None


class Approvals:
    def __init__(self, calls: SlackCalls, state: SharedState, *, wait_seconds: float = 180.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._calls = calls
        self._state = state
        self.wait_seconds = wait_seconds
        self._clock = clock
        self._sleep = sleep

    def ask(self, place: Place, tool: str, arguments: Mapping, *, until: float | None = None,
            stopped: Callable[[], bool] = lambda: False) -> str:
        """APPROVED, DENIED, EXPIRED (no answer in time, or the question could not be posted) or STOPPED."""
        approval = uuid.uuid4().hex
        shown = _shown(arguments)
        if shown is None:  # what would run cannot be shown whole: it is not offered for approval
            log.info("approval of %s in %s: its input is too long to show", tool, place.channel)
            return UNREVIEWABLE
        question = notes.approval_question(place.user, tool, shown)
        try:
            posted = self._calls.call(methods.POST, channel=place.channel, thread_ts=place.thread_ts, text=question,
                                      blocks=_blocks(question, approval, place.user), unfurl_links=False,
                                      unfurl_media=False)
        except SlackError as error:
            log.warning("could not ask for approval of %s in %s: %s", tool, place.channel, error.code)
            return EXPIRED
        asked_at = self._clock()
        deadline = asked_at + self.wait_seconds
        if until is not None:
            deadline = min(deadline, until)
        outcome = EXPIRED
        while self._clock() < deadline:
            if stopped():
                outcome = STOPPED
                break
            decided = self._state.get(_key(approval))
            if decided in (APPROVED, DENIED):
                outcome = decided
                break
            self._sleep(min(_LOOK_EVERY, max(deadline - self._clock(), 0.0)))
        log.info("approval of %s in %s: %s", tool, place.channel, outcome)
        try:
            self._calls.call(methods.UPDATE, channel=place.channel, ts=posted["ts"], blocks=[],
                             text=notes.approval_outcome(place.user, tool, outcome, deadline - asked_at))
        except SlackError as error:
            log.info("could not close the approval question in %s: %s", place.channel, error.code)
        return outcome

    def decide(self, click: Click) -> str | None:
        """Take a click; what to tell the person who clicked (to them alone), if anything."""
        if click.user != click.asker:
            return notes.approval_not_yours(click.asker)
        self._state.put(_key(click.approval), click.decision, self.wait_seconds * 2)
        return None


def read_click(body: Mapping) -> Click | None:
    """The approval a `block_actions` payload carries, or None if it is not one of ours."""
    try:
        action = body["actions"][0]
        value = json_object(str(action.get("value")))
        channel = (body.get("channel") or body.get("container") or {})
        channel_id = channel.get("id") or channel.get("channel_id")
        message = body.get("message") or {}
        user = body["user"]["id"]
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        return None
    if not isinstance(value, dict) or value.get("decision") not in _DECISIONS or not channel_id or not user:
        return None
    return Click(str(value.get("id")), _DECISIONS[value["decision"]], str(value.get("asker")), user, channel_id,
                 message.get("thread_ts") or message.get("ts"))


def _key(approval: str) -> str:
    return f"approval:{approval}"


def _shown(arguments: Mapping) -> str | None:
    """The model's arguments, whole, as inert text (no fence to break out of, nothing Slack reads as a token);
    None if they are too long to show whole: a person must see everything that would run."""
    text = json.dumps(arguments, ensure_ascii=False, indent=1)
    text = text.replace("```", "ʼʼʼ").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= MAX_SHOWN else None


def _blocks(question: str, approval: str, asker: str) -> list[dict]:
    def button(decision: str, text: str, style: str) -> dict:
        value = json.dumps({"id": approval, "decision": decision, "asker": asker}, separators=(",", ":"))
        return {"type": "button", "action_id": f"{ACTION_ID}_{decision}", "style": style, "value": value,
                "text": {"type": "plain_text", "text": text}}

    return [{"type": "section", "text": {"type": "mrkdwn", "text": question}},
            {"type": "actions", "elements": [button("approve", notes.APPROVE, "primary"),
                                             button("deny", notes.DENY, "danger")]}]
