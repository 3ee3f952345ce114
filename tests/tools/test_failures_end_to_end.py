"""Each kind of tool failing, end to end with the real Bolt app over Socket Mode and the stand-ins: the model
answers without it, and the answer ends with a note that says what failed, never a traceback or a stuck
reply."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from standins.bedrock import Reply, tool_use
from standins.knowledge import Passage, web
from tests.helpers import ask, final_text

SERVER = str(Path(__file__).resolve().parents[2] / "standins" / "mcp_server.py")


def model_that_uses(tool: str, arguments: dict):
    def model(request) -> Reply:
        if not request.tool_results:
            return tool_use([("t1", tool, arguments)])
        return Reply.text("Here is what I could do without it.")
    return model


def test_a_knowledge_base_search_that_times_out_ends_in_a_note(slack, bedrock, knowledge, start_bot):
    knowledge.add("KBHANDBOOK", Passage("x", web("https://wiki.example/x")))
    knowledge.delay = 3
    bedrock.answer = model_that_uses("search_knowledge_base_KBHANDBOOK", {"query": "leave"})
    start_bot(BEDROCK_KNOWLEDGE_BASE_IDS="KBHANDBOOK=the handbook", TOOL_TIMEOUT_SECONDS="1")
    ask(slack)
    text = final_text(slack, contains="failed")
    assert "Here is what I could do without it." in text
    assert "Searching the handbook for “leave” failed: it took too long" in text


def test_an_mcp_tool_that_fails_ends_in_a_note(slack, bedrock, start_bot, tmp_path, monkeypatch):
    monkeypatch.setenv("TICKETS_FAIL", "1")
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"tickets": {
        "command": sys.executable, "args": [SERVER], "env": {"TICKETS_FAIL": "${TICKETS_FAIL}"}, "tools": "*"}}}))
    bedrock.answer = model_that_uses("tickets__get_ticket", {"ticket_id": "T-1"})
    start_bot(MCP_SERVERS_FILE=str(config))
    ask(slack)
    text = final_text(slack, contains="failed")
    assert "Using get ticket (tickets) failed: Error executing tool get ticket: the ticket system is down" in text


def test_a_slack_search_slack_refuses_ends_in_a_note(slack, bedrock, start_bot):
    bedrock.answer = model_that_uses("search_slack", {"query": "the launch"})
    start_bot(SLACK_SEARCH="on")  # on, though the app has no search:read scope
    ask(slack, action_token=True)
    text = final_text(slack, contains="failed")
    assert "Searching Slack for “the launch” failed: the app may not search Slack" in text
