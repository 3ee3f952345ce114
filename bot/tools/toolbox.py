"""The tools one reply's model may use: those every reply shares (the knowledge bases, the tools of the MCP
servers connected now) and those made for the request (Slack search, as the person who asked, where the event
gave the token to do so)."""

from __future__ import annotations

from typing import Callable, Sequence

from bot.request import Request
from bot.tools.base import Tool


class Toolbox:
    def __init__(self, shared: Sequence[Tool] = (), *, slack_search: Callable[..., Tool] | None = None,
                 may_search: Callable[[], bool] = lambda: True,
                 connected: Callable[[], Sequence[Tool]] = lambda: ()) -> None:
        """`slack_search`: makes the Slack search tool from an event's action token, and whether only the asker
        reads the answer (None: Slack search is off);
        `may_search`: whether the app may search now (asked only for a request that carries a token);
        `connected`: the tools of the MCP servers connected now."""
        self._shared = tuple(shared)
        self._connected = connected
        self._slack_search = slack_search
        self._may_search = may_search

    def for_request(self, request: Request) -> list[Tool]:
        tools = [*self._shared, *self._connected()]
        if self._slack_search is not None and request.action_token and self._may_search():
            tools.append(self._slack_search(request.action_token, private=request.is_dm))
        return tools
