"""The tools one reply's model may use, as its profile allows: the knowledge bases the profile names, the tools
of the MCP servers connected now, and Slack search (as the person who asked, where the event gave the token to
do so)."""

from __future__ import annotations

from typing import Callable, Sequence

from bot.profiles.profile import Profile
from bot.request import Request
from bot.tools.base import Tool
from bot.tools.slack_search import SlackSearch


class Toolbox:
    def __init__(self, knowledge: Callable[[Sequence[tuple[str, str]]], Sequence[Tool]] = lambda bases: (), *,
                 slack_search: Callable[..., Tool] | None = None, may_search: Callable[[], bool] = lambda: True,
                 connected: Callable[[], Sequence[Tool]] = lambda: ()) -> None:
        """`knowledge`: the search tools of knowledge bases, from their (id, what it holds);
        `slack_search`: makes the Slack search tool from an event's action token, and whether only the asker
        reads the answer (None: Slack search is off);
        `may_search`: whether the app may search now (asked only for a request that carries a token);
        `connected`: the tools of the MCP servers connected now."""
        self._knowledge = knowledge
        self._connected = connected
        self._slack_search = slack_search
        self._may_search = may_search

    def for_request(self, request: Request, profile: Profile) -> list[Tool]:
        tools = [*self._knowledge(profile.knowledge_bases or ()),
                 *(tool for tool in self._connected() if profile.may_use(tool.name))]
        if (self._slack_search is not None and request.action_token and profile.may_use(SlackSearch.name)
                and self._may_search()):
            tools.append(self._slack_search(request.action_token, private=request.is_dm))
        return tools
