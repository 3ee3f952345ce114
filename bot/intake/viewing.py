"""What each person has open in Slack, as the agent view last said (`app_context_changed`, or an assistant
thread's context), for a DM question whose own event does not say. Kept ten minutes where every instance can
read it (`SharedState.put`): the event that said it and the question may reach different instances."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Sequence

from bot.request import Request, Viewed
from bot.shared.base import SharedState

KEEP = 600.0  # seconds what a person had open is remembered (the agent view says again when it changes)


class Viewing:
    def __init__(self, state: SharedState) -> None:
        self._state = state

    def saw(self, channel: str, user: str, viewed: Sequence[Viewed]) -> None:
        """In their DM with the bot (`channel`), `user` has `viewed` open (nothing: the context was cleared)."""
        self._state.put(_key(channel, user), json.dumps([[item.channel, item.ts] for item in viewed]), KEEP)

    def fill(self, request: Request) -> Request:
        """`request`, with what its person has open if its event did not say and the agent view said before."""
        if not request.is_dm or request.viewing is not None:  # its event said (even that nothing readable is open)
            return request
        said = self._state.get(_key(request.channel, request.user))
        if not said:
            return request
        try:
            viewed = tuple(Viewed(channel, ts) for channel, ts in json.loads(said))
        except (ValueError, TypeError):
            return request
        return replace(request, viewing=viewed)


def _key(channel: str, user: str) -> str:
    return f"viewing:{channel}:{user}"
