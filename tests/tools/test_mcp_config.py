"""The MCP servers file: what it may say, and every problem in it named in the one start-up message."""

from __future__ import annotations

import json

from bot.settings import Settings, SettingsError
from bot.tools.mcp_config import parse

MINIMAL = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}


def servers(**entries) -> str:
    return json.dumps({"mcpServers": entries})


def test_a_server_of_each_kind_with_credentials_from_the_environment():
    found, problems = parse(servers(
        tickets={"url": "https://mcp.example/mcp", "headers": {"Authorization": "Bearer ${TICKETS_TOKEN}"},
                 "tools": ["get_ticket", "close_ticket"], "approval": ["close_ticket"]},
        files={"command": "python", "args": ["-m", "files"], "env": {"KEY": "${FILES_KEY}"}, "tools": "*"}),
        {"TICKETS_TOKEN": "secret-1", "FILES_KEY": "secret-2"}, "mcp.json")
    assert problems == []
    tickets, files = found
    assert tickets.headers == {"Authorization": "Bearer secret-1"} and "secret" not in repr(tickets)
    assert tickets.allows("get_ticket") and not tickets.allows("delete_everything")
    assert tickets.needs_approval("close_ticket") and not tickets.needs_approval("get_ticket")
    assert files.allows("anything") and files.env == {"KEY": "secret-2"} and files.args == ("-m", "files")


def test_every_problem_is_named():
    _, problems = parse(servers(
        a={"url": "https://x/mcp", "command": "y", "tools": "*"},
        b={"command": "x"},
        c={"command": "x", "tools": "*", "env": {"TOKEN": "literal-secret"}},
        d={"url": "https://x/mcp", "tools": "*", "headers": {"Authorization": "Bearer ${UNSET_TOKEN}"}},
        **{"bad name!": {"command": "x", "tools": "*"}}), {}, "mcp.json")
    text = "\n".join(problems)
    assert "'a' needs either url (streamable HTTP) or command (stdio)" in text
    assert "'b': tools is required" in text
    assert "'c': env: TOKEN must take its value from the environment" in text
    assert "'d': headers: Authorization needs UNSET_TOKEN, which is not set" in text
    assert "'bad name!': a name is 1 to 30 letters" in text
    assert "literal-secret" not in text


def test_a_bad_file_stops_the_start_with_the_one_message(tmp_path):
    path = tmp_path / "mcp.json"
    path.write_text("{not json")
    try:
        Settings.from_env({**MINIMAL, "MCP_SERVERS_FILE": str(path)})
    except SettingsError as error:
        assert f"MCP_SERVERS_FILE ({path}) is not valid JSON" in str(error)
    else:
        raise AssertionError("a file that is not JSON was accepted")
    try:
        Settings.from_env({**MINIMAL, "MCP_SERVERS_FILE": str(tmp_path / "missing.json")})
    except SettingsError as error:
        assert "cannot be read" in str(error)
    else:
        raise AssertionError("a missing file was accepted")
