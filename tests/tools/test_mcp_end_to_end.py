"""An MCP tool end to end: the real `python -m bot` with an MCP servers file, the stand-ins, and a real MCP server
(made with the SDK, over stdio). A tool that reads runs at once; a tool that acts asks the person who asked
first (Approve / Deny in the thread, theirs alone), and runs only if they approve in time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from standins.bedrock import Reply, tool_use
from tests.helpers import ask

SERVER = str(Path(__file__).resolve().parents[2] / "standins" / "mcp_server.py")


@pytest.fixture
def with_tickets(tmp_path, bot_process):
    log = tmp_path / "tickets.log"
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"tickets": {
        "command": sys.executable, "args": [SERVER], "env": {"TICKETS_LOG": "${TICKETS_LOG}"},
        "tools": ["get_ticket", "close_ticket"], "approval": ["close_ticket"]}}}))

    def start(**settings: str):
        bot_process(MCP_SERVERS_FILE=str(config), TICKETS_LOG=str(log), **settings)
        return log

    return start


def model_that_uses(tool: str, arguments: dict, answer: str):
    def model(request) -> Reply:
        if not request.tool_results:
            return tool_use([("tooluse_m", tool, arguments)])
        return Reply.text(answer)
    return model


def ended(slack, needle: str):
    return slack.wait_until(lambda: [m for m in slack.bot_messages("C1") if not m.streaming and needle in m.text],
                            what=f"an answer holding {needle!r}")[0]


def approval_question(slack):
    return slack.wait_until(lambda: [m for m in slack.bot_messages("C1") if m.blocks and "May I?" in m.text],
                            what="the approval question")[0]


def click(slack, question, user: str, decision: str) -> None:
    button = next(b for b in question.blocks[1]["elements"] if json.loads(b["value"])["decision"] == decision)
    slack.click(question, user, {"type": "button", "action_id": button["action_id"], "value": button["value"]})


def test_a_tool_that_reads_runs_and_its_result_reaches_the_model_and_is_cited(slack, bedrock, with_tickets):
    bedrock.answer = model_that_uses("tickets__get_ticket", {"ticket_id": "T-1"}, "The printer is on fire [1].")
    with_tickets()
    ask(slack, "<@UBOT> what is T-1 about?")

    answer = ended(slack, "Sources")
    assert "*Sources:* [1] [Ticket T-1](https://tickets.example/T-1)" in answer.text  # the link the server gave
    [card] = answer.tasks.values()
    assert card["title"] == "Using get_ticket (tickets)" and card["status"] == "complete"
    assert card["sources"] == [{"type": "url", "url": "https://tickets.example/T-1", "text": "Ticket T-1"}]
    [result] = bedrock.requests[1].tool_results
    assert result["status"] == "success" and "Printer on fire, floor 3" in result["content"][0]["text"]
    assert "tickets__close_ticket" in bedrock.requests[0].tools and "tickets__delete_everything" not in (
        bedrock.requests[0].tools)


def test_a_tool_that_acts_runs_once_the_asker_approves_and_not_for_anyone_else(slack, bedrock, with_tickets):
    bedrock.answer = model_that_uses("tickets__close_ticket", {"ticket_id": "T-1"}, "Closed it.")
    log = with_tickets()
    ask(slack, "<@UBOT> please close T-1", user="U1")

    question = approval_question(slack)
    assert "<@U1> I'd like to run *close_ticket on tickets*" in question.text and "T-1" in question.text
    click(slack, question, "U2", "approve")  # someone else: told so, to them alone, and nothing runs
    slack.wait_until(lambda: slack.ephemerals, what="the other person to be told")
    assert slack.ephemerals[0]["user"] == "U2" and "Only <@U1>" in slack.ephemerals[0]["text"]
    assert not log.exists()
    click(slack, question, "U1", "approve")

    ended(slack, "Closed it.")
    assert log.read_text() == "closed T-1\n"
    assert "approved" in question.text and question.blocks == []  # the question ends, buttons gone
    assert bedrock.requests[1].tool_results[0]["status"] == "success"


def test_a_denied_tool_does_not_run_and_the_answer_says_so(slack, bedrock, with_tickets):
    bedrock.answer = model_that_uses("tickets__close_ticket", {"ticket_id": "T-1"}, "I did not close it.")
    log = with_tickets(SLACK_REPLY_SURFACE="edit")
    ask(slack, "<@UBOT> please close T-1", user="U1")
    click(slack, approval_question(slack), "U1", "deny")

    answer = ended(slack, "did not approve")
    assert "I did not close it." in answer.text and not log.exists()
    [result] = bedrock.requests[1].tool_results
    assert result["status"] == "error" and "did not approve" in result["content"][0]["text"]


def test_no_answer_in_time_means_the_tool_does_not_run(slack, bedrock, with_tickets):
    bedrock.answer = model_that_uses("tickets__close_ticket", {"ticket_id": "T-1"}, "Nothing was closed.")
    log = with_tickets(TOOL_APPROVAL_SECONDS="1", SLACK_REPLY_SURFACE="edit")
    ask(slack, "<@UBOT> please close T-1", user="U1")

    answer = ended(slack, "no one approved it in time")
    question = next(m for m in slack.bot_messages("C1") if "was not run" in m.text)
    assert "no answer in time (1 second)" in question.text and question.blocks == []
    assert "Nothing was closed." in answer.text and not log.exists()
