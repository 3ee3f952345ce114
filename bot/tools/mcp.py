"""Tools from MCP servers, through the official `mcp` SDK (`pip install '.[mcp]'`): streamable HTTP or stdio.

This is the only module that talks to MCP servers. The SDK is asynchronous and the bot's replies are threads,
so `McpServers` runs an event loop of its own on a thread, keeps one client session open per server there,
and the replies' threads call tools through it (`run_coroutine_threadsafe`), each call bounded by the tool's
time. At start it connects to every server at once (within `connect_seconds`) and lists its tools; the
model is offered those the file allows (`mcp_config`). A server that is down at start, or whose session
breaks, is connected again when a question next needs tools, at most once every `RECONNECT_SECONDS`;
meanwhile its tools are not offered.

A tool's result is untrusted text for the model (at most `MAX_RESULT` characters); a result the server marks
as an error, or a call that fails or takes too long, is a `ToolFailed` with a plain reason.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from bot.tools.base import Passage, Source, ToolFailed, ToolOutput
from bot.tools.mcp_config import McpServer

log = logging.getLogger(__name__)

MAX_RESULT = 12_000
MAX_DESCRIPTION = 1_000
RECONNECT_SECONDS = 30.0
_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class _Session:
    server: McpServer
    client: Any = None  # the SDK's `Client`, open on the loop
    tools: tuple[Any, ...] = ()  # the SDK's tool descriptions the file allows
    closing: asyncio.Event | None = None
    tried_at: float = -RECONNECT_SECONDS
    connecting: bool = False


class McpServers:
    def __init__(self, servers: tuple[McpServer, ...], *, connect_seconds: float = 10.0) -> None:
        self._sessions = {server.name: _Session(server) for server in servers}
        self._connect_seconds = connect_seconds
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp", daemon=True)
        self._thread.start()

    def start(self) -> dict[str, str | None]:
        """Connect to every server at once; a server that does not answer in time is named in the log. Each
        server's name → why it could not be reached (None: connected)."""
        waits = [self._connect(session) for session in self._sessions.values()]
        outcome: dict[str, str | None] = {}
        for session, future in zip(self._sessions.values(), waits):
            try:
                future.result(self._connect_seconds + 1)
                outcome[session.server.name] = None
            except Exception as error:  # the log says which server and why; its tools wait for a reconnect
                outcome[session.server.name] = _describe(error)
                log.warning("MCP server %s: could not connect (%s); its tools are not offered until it does",
                            session.server.name, outcome[session.server.name])
        return outcome

    def tools(self) -> list["McpTool"]:
        """The tools offered now (a server that is down is tried again, in the background, now and then)."""
        offered: list[McpTool] = []
        for session in self._sessions.values():
            if session.client is None:
                self._reconnect_later(session)
                continue
            offered.extend(McpTool(self, session.server, tool) for tool in session.tools)
        return offered

    def call(self, server: str, tool: str, arguments: dict, timeout: float):
        session = self._sessions[server]
        client = session.client
        if client is None:
            raise ToolFailed(f"the {server} server is not connected")
        future = asyncio.run_coroutine_threadsafe(client.call_tool(tool, arguments), self._loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise ToolFailed("it took too long")
        except Exception as error:
            from mcp.shared.exceptions import MCPError

            log.warning("MCP server %s: %s failed (%s)", server, tool, _describe(error))
            if isinstance(error, MCPError):  # the server answered with an error: the session is fine
                raise ToolFailed(f"the {server} server refused the call ({' '.join(str(error).split())[:120]})",
                                 _describe(error)) from error
            self._broken(session)  # the session itself failed: it is opened again for a later question
            raise ToolFailed(f"the {server} server failed", _describe(error)) from error

    def close(self, seconds: float = 5.0) -> None:
        """Close every session (a stdio server is told to end), within `seconds`, then the loop."""
        for session in self._sessions.values():
            if session.closing is not None:
                self._loop.call_soon_threadsafe(session.closing.set)
        deadline = time.monotonic() + seconds
        while any(session.client is not None for session in self._sessions.values()) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._loop.call_soon_threadsafe(self._loop.stop)

    # -- sessions, on the loop -----------------------------------------------------------------------

    def _connect(self, session: _Session) -> Future:
        ready: Future = Future()
        with self._lock:
            session.connecting, session.tried_at = True, time.monotonic()
        asyncio.run_coroutine_threadsafe(self._hold(session, ready), self._loop)
        return ready

    async def _hold(self, session: _Session, ready: Future) -> None:
        """Open the server's session, list its tools, and keep it open until the bot closes or it breaks."""
        from mcp import Client

        server, http = session.server, None
        try:
            async with asyncio.timeout(self._connect_seconds):
                target, http = _transport(server)
                client = Client(target)
                await client.__aenter__()
                listed = await client.list_tools()
        except BaseException as error:  # noqa: BLE001 - reported to the caller, whatever it was
            with self._lock:
                session.connecting = False
            if http is not None:
                await http.aclose()
            if not ready.done():
                ready.set_exception(error if isinstance(error, Exception) else RuntimeError(str(error)))
            return
        allowed = tuple(tool for tool in listed.tools if server.allows(tool.name))
        for name in sorted((server.tools or frozenset()) - {tool.name for tool in listed.tools}):
            log.warning("MCP server %s lists no tool %s (MCP_SERVERS_FILE allows it)", server.name, name)
        session.closing = asyncio.Event()
        with self._lock:
            session.client, session.tools, session.connecting = client, allowed, False
        log.info("MCP server %s: %d tool(s) offered (%s)", server.name, len(allowed),
                 ", ".join(tool.name for tool in allowed) or "none")
        ready.set_result(None)
        try:
            await session.closing.wait()
        finally:
            with self._lock:
                if session.client is client:
                    session.client = None
            try:
                await client.__aexit__(None, None, None)
            except BaseException:  # noqa: BLE001 - a broken session closes as it can
                pass
            if http is not None:
                await http.aclose()

    def _broken(self, session: _Session) -> None:
        """A call failed in a way that may mean the session is gone: close it; the next question reconnects."""
        with self._lock:
            session.client = None
            closing = session.closing
        if closing is not None:
            self._loop.call_soon_threadsafe(closing.set)

    def _reconnect_later(self, session: _Session) -> None:
        with self._lock:
            due = not session.connecting and time.monotonic() - session.tried_at >= RECONNECT_SECONDS
        if due:
            self._connect(session)


class McpTool:
    """One tool of an MCP server, as the model sees it: named `server__tool`."""

    def __init__(self, servers: McpServers, server: McpServer, tool: Any) -> None:
        self._servers = servers
        self.server = server
        self.tool = tool.name
        self.name = _TOOL_NAME.sub("_", f"{server.name}__{tool.name}")[:64]
        self._description = (tool.description or tool.name)[:MAX_DESCRIPTION]
        self._schema = _object_schema(tool.input_schema)
        self.needs_approval = server.needs_approval(tool.name)
        self.label = f"{_TOOL_NAME.sub('_', tool.name)} on {server.name}"  # shown in Slack: nothing but a name

    @property
    def spec(self) -> dict:
        return {"name": self.name, "description": f"{self._description} (from the {self.server.name} server)",
                "inputSchema": {"json": self._schema}}

    def title(self, tool_input: dict) -> str:
        return f"Using {_TOOL_NAME.sub('_', self.tool)} ({self.server.name})"

    def doing(self, tool_input: dict) -> str:
        return f"is using {self.server.name}…"

    def run(self, tool_input: dict, timeout: float) -> ToolOutput:
        result = self._servers.call(self.server.name, self.tool, tool_input, timeout)
        texts, sources = [], []
        for item in result.content or ():
            kind = getattr(item, "type", "")
            if kind == "text":
                texts.append(item.text)
            elif kind == "resource_link" and re.match(r"https?://", str(getattr(item, "uri", ""))):
                sources.append(Source(str(getattr(item, "name", "") or item.uri), str(item.uri)))
            else:
                texts.append(f"[{kind or 'content'} not shown]")
        text = "\n".join(texts)[:MAX_RESULT]
        if result.is_error:
            raise ToolFailed(" ".join(text.split())[:200] or "the tool reported an error", text)
        if sources:
            return ToolOutput(text, tuple(Passage(source.title, source) for source in sources))
        return ToolOutput(text or "(no output)")


def _transport(server: McpServer):
    """What the SDK's `Client` connects through: a streamable HTTP transport with the server's headers (and the
    HTTP client to close after it), or the stdio command."""
    if server.url:
        import httpx2  # the SDK's own HTTP client: its docs say to pass one for headers
        from mcp.client.streamable_http import streamable_http_client

        http = httpx2.AsyncClient(headers=dict(server.headers), timeout=httpx2.Timeout(30.0, read=300.0))
        return streamable_http_client(server.url, http_client=http), http
    from mcp.client.stdio import StdioServerParameters

    return StdioServerParameters(command=server.command or "", args=list(server.args),
                                 env=dict(server.env) or None), None


def _object_schema(schema: Any) -> dict:
    """A server's input schema as Bedrock takes it: a JSON object schema at the top (what is not one, or a
    top-level anyOf, oneOf or allOf, which one server's tool must not make every request fail with, is left
    out: the model still sees the properties)."""
    if not isinstance(schema, dict):
        return {"type": "object"}
    kept = {key: value for key, value in schema.items() if key not in ("anyOf", "oneOf", "allOf", "not", "$schema")}
    kept["type"] = "object"
    if not isinstance(kept.get("properties", {}), dict):
        kept.pop("properties")
    return kept


def _describe(error: BaseException) -> str:
    if isinstance(error, ExceptionGroup) and error.exceptions:
        return _describe(error.exceptions[0])
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
