"""Tools from an MCP server, through the official SDK against a real MCP server (`standins/mcp_server.py`, made
with the SDK) over stdio: the tools the file allows, their results, and their failures as plain reasons."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from bot.tools.base import ToolFailed
from bot.tools.mcp import McpServers
from bot.tools.mcp_config import McpServer

SERVER = str(Path(__file__).resolve().parents[2] / "standins" / "mcp_server.py")


def tickets(**env: str) -> McpServer:
    return McpServer("tickets", command=sys.executable, args=(SERVER,), env=env,
                     tools=frozenset({"get_ticket", "close_ticket"}), approval=frozenset({"close_ticket"}))


@pytest.fixture
def servers():
    started = []

    def start(*configured: McpServer) -> McpServers:
        servers = McpServers(configured, connect_seconds=20)
        servers.start()
        started.append(servers)
        return servers

    yield start
    for servers in started:
        servers.close()


def test_only_the_tools_the_file_allows_are_offered_and_they_answer(servers):
    offered = {tool.name: tool for tool in servers(tickets()).tools()}
    assert sorted(offered) == ["tickets__close_ticket", "tickets__get_ticket"]  # not delete_everything
    get, close = offered["tickets__get_ticket"], offered["tickets__close_ticket"]
    assert get.spec["inputSchema"]["json"]["required"] == ["ticket_id"] and "(from the tickets server)" in get.spec[
        "description"]
    assert not get.needs_approval and close.needs_approval and close.label == "close_ticket on tickets"
    assert get.run({"ticket_id": "T-1"}, timeout=10).text == "Ticket T-1: Printer on fire, floor 3. Status: open."


def test_a_tool_that_fails_is_a_plain_reason(servers):
    [get, _] = servers(tickets(TICKETS_FAIL="1")).tools()
    with pytest.raises(ToolFailed, match="the ticket system is down"):
        get.run({"ticket_id": "T-1"}, timeout=10)


def test_a_slow_tool_is_given_up_after_its_time(servers):
    [get, _] = servers(tickets(TICKETS_SLOW="5")).tools()
    started = time.monotonic()
    with pytest.raises(ToolFailed, match="took too long"):
        get.run({"ticket_id": "T-1"}, timeout=0.5)
    assert time.monotonic() - started < 2


def test_a_server_that_cannot_start_offers_nothing_and_the_log_says_why(servers, caplog):
    broken = McpServer("broken", command=sys.executable, args=("-c", "raise SystemExit(3)"), tools=None)
    assert servers(broken).tools() == []
    assert "MCP server broken: could not connect" in caplog.text


def test_a_server_over_streamable_http_gets_its_credentials_as_headers(servers):
    from standins.mcp_server import HttpServer

    http = HttpServer().start()
    try:
        remote = McpServer("tickets", url=http.url, headers={"Authorization": "Bearer from-the-env"},
                           tools=frozenset({"get_ticket"}))
        [get] = servers(remote).tools()
        assert "Printer on fire" in get.run({"ticket_id": "T-1"}, timeout=10).text
        assert http.headers and all(seen.get("authorization") == "Bearer from-the-env" for seen in http.headers)
    finally:
        http.stop()


def test_a_schema_bedrock_would_refuse_is_made_an_object_schema():
    from bot.tools.mcp import _object_schema

    assert _object_schema({"anyOf": [{"required": ["a"]}, {"required": ["b"]}],
                           "properties": {"a": {"type": "string"}}}) == {"type": "object",
                                                                        "properties": {"a": {"type": "string"}}}
    assert _object_schema(None) == {"type": "object"}
