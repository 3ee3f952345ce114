"""Asking the person who asked before a tool acts: they see everything that would run, or they are not asked."""

from __future__ import annotations

from bot.reply.approval import Approvals
from bot.shared.local import LocalState
from bot.sinks.base import Place
from bot.slack.calls import SlackCalls
from bot.slack.http import PooledWebClient
from bot.tools.base import EXPIRED, UNREVIEWABLE


def approvals(slack, **options) -> Approvals:
    calls = SlackCalls(PooledWebClient(token="xoxb-test", base_url=slack.api_url, retry_handlers=[]))
    return Approvals(calls, LocalState(), **options)


def test_the_question_shows_the_whole_input_as_inert_text(slack):
    question = slack.add_message("C1", "close it", user="U1")
    outcome = approvals(slack, wait_seconds=0.3).ask(Place("C1", question.ts, "U1"), "close_ticket on tickets",
                                                     {"ticket_id": "T-1", "note": "<!channel> ```x```"})
    [asked] = [m for m in slack.bot_messages("C1")]
    text = asked.blocks[0]["text"]["text"] if asked.blocks else slack.calls_of("chat.postMessage")[0].params["text"]
    assert outcome == EXPIRED
    assert "T-1" in text and "&lt;!channel&gt;" in text and "<!channel>" not in text and "```x```" not in text


def test_an_input_too_long_to_show_whole_is_not_offered_for_approval(slack):
    question = slack.add_message("C1", "close it", user="U1")
    padded = {"note": "harmless " * 400, "ticket_id": "ALL", "delete_attachments": True}
    outcome = approvals(slack).ask(Place("C1", question.ts, "U1"), "close_ticket on tickets", padded)
    assert outcome == UNREVIEWABLE and slack.bot_messages("C1") == []  # nothing to approve: nothing posted
