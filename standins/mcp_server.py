"""An MCP server for the tests, made with the official SDK: a ticket system with a tool that reads (its answer
links to the ticket) and one that acts. `python standins/mcp_server.py` serves it over stdio; `serve_http(port)` over streamable HTTP in a thread.
`TICKETS_FAIL=1` in its environment makes every call fail; `TICKETS_SLOW=seconds` makes every call that slow."""

from __future__ import annotations

import os
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ResourceLink, TextContent

server = MCPServer("tickets")
TICKETS = {"T-1": "Printer on fire, floor 3. Status: open."}
closed: list[str] = []


@server.tool()
def get_ticket(ticket_id: str) -> list:
    """Look up a support ticket by its id (like T-1)."""
    if os.environ.get("TICKETS_FAIL"):
        raise ToolError("the ticket system is down")
    time.sleep(float(os.environ.get("TICKETS_SLOW") or 0))
    return [TextContent(type="text", text=f"Ticket {ticket_id}: {TICKETS.get(ticket_id, 'no such ticket')}"),
            ResourceLink(type="resource_link", name=f"Ticket {ticket_id}", uri=f"https://tickets.example/{ticket_id}")]


@server.tool()
def close_ticket(ticket_id: str) -> str:
    """Close a support ticket."""
    closed.append(ticket_id)
    log = os.environ.get("TICKETS_LOG")
    if log:
        with open(log, "a") as out:
            out.write(f"closed {ticket_id}\n")
    return f"Closed {ticket_id}."


@server.tool()
def delete_everything() -> str:
    """Not allowed by any test's file: never offered."""
    return "deleted"


if __name__ == "__main__":
    server.run("stdio")


class HttpServer:
    """The same server over streamable HTTP on 127.0.0.1 (uvicorn, in a thread), recording each request's
    headers."""

    def __init__(self) -> None:
        import socket
        import threading

        import uvicorn

        app = server.streamable_http_app()
        self.headers: list[dict[str, str]] = []

        async def recording(scope, receive, send):
            if scope["type"] == "http":
                self.headers.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
            await app(scope, receive, send)

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(recording, host="127.0.0.1", port=self.port, log_level="error",
                                                     lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> "HttpServer":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
