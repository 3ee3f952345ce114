"""The MCP servers file (`MCP_SERVERS_FILE`): which servers the model's tools come from, which of their tools it
may use, and which ask the person first. Pure: read at start with the other settings, every problem named.

The file is JSON in the shape MCP clients share (`mcpServers`), with two keys of the bot's own:

    {"mcpServers": {
        "tickets": {"url": "https://mcp.example.com/mcp",
                    "headers": {"Authorization": "Bearer ${TICKETS_TOKEN}"},
                    "tools": ["get_ticket", "close_ticket"], "approval": ["close_ticket"]},
        "files": {"command": "python", "args": ["-m", "files_server"], "env": {"API_KEY": "${FILES_KEY}"},
                  "tools": "*"}}}

- `url` (streamable HTTP) or `command` with `args` (stdio): one of the two.
- `tools`: the tools the model may use (a list of names, or "*" for every tool the server lists): required, so
  that a server's new tool is never offered by accident.
- `approval`: the tools that change something, which the person who asked must approve first (names or "*").
- `headers` and `env`: credentials come from the environment, never from the file: every value must name a
  variable (`${NAME}`, in a longer text if need be), which must be set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Mapping

NAME = re.compile(r"[A-Za-z0-9_-]{1,30}")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ALL = "*"


@dataclass(frozen=True)
class McpServer:
    name: str
    url: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # resolved from the environment: secrets
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    tools: frozenset[str] | None = None  # None: every tool the server lists
    approval: frozenset[str] | None = frozenset()  # None: every tool

    def allows(self, tool: str) -> bool:
        return self.tools is None or tool in self.tools

    def needs_approval(self, tool: str) -> bool:
        return self.approval is None or tool in self.approval


def parse(text: str, environment: Mapping[str, str], where: str) -> tuple[tuple[McpServer, ...], list[str]]:
    """The servers `text` (the file's content) names, and every problem in it (`where` names the file)."""
    try:
        data = json.loads(text)
    except ValueError as error:
        return (), [f"{where} is not valid JSON ({error})."]
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return (), [f'{where} must hold {{"mcpServers": {{"name": {{...}}}}}}.']
    found, problems = [], []
    for name, entry in servers.items():
        said = f"{where}: server {name!r}"
        if not NAME.fullmatch(str(name)):
            problems.append(f"{said}: a name is 1 to 30 letters, digits, _ or -.")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{said} must be an object.")
            continue
        url, command = entry.get("url"), entry.get("command")
        if (url is None) == (command is None):
            problems.append(f"{said} needs either url (streamable HTTP) or command (stdio), not both or neither.")
            continue
        if url is not None and not (isinstance(url, str) and re.match(r"https?://", url)):
            problems.append(f"{said}: url must be an http(s) address.")
        args = entry.get("args", [])
        if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
            problems.append(f"{said}: args must be a list of texts.")
            args = []
        tools = _names(entry.get("tools"), f"{said}: tools", problems, required=True)
        approval = _names(entry.get("approval", []), f"{said}: approval", problems, required=False)
        env = _credentials(entry.get("env", {}), f"{said}: env", environment, problems)
        headers = _credentials(entry.get("headers", {}), f"{said}: headers", environment, problems)
        found.append(McpServer(str(name), url=url, command=command, args=tuple(args), env=env, headers=headers,
                               tools=tools, approval=approval))
    return tuple(found), problems


def _names(value, said: str, problems: list[str], *, required: bool) -> frozenset[str] | None:
    if value == ALL:
        return None
    if value is None and required:
        problems.append(f'{said} is required: the tools the model may use, as a list of names, or "*" for all.')
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        problems.append(f'{said} must be a list of tool names, or "*".')
        return frozenset()
    return frozenset(value)


def _credentials(values, said: str, environment: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    if not isinstance(values, dict):
        problems.append(f"{said} must be an object of texts.")
        return {}
    resolved = {}
    for key, value in values.items():
        if not isinstance(value, str) or not _REFERENCE.search(value):
            problems.append(f"{said}: {key} must take its value from the environment, as ${{NAME}} (credentials are "
                            "never written in the file).")
            continue
        missing = [name for name in _REFERENCE.findall(value) if not environment.get(name)]
        if missing:
            problems.append(f"{said}: {key} needs {', '.join(missing)}, which is not set.")
            continue
        resolved[str(key)] = _REFERENCE.sub(lambda match: environment[match.group(1)], value)
    return resolved
