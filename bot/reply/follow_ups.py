"""Follow-ups: in a channel thread the bot has answered, the next message is answered without a new mention.

Who may follow up is a setting (`FOLLOW_UPS`): `asker`, the person whose question the bot answered there last
(the default); `anyone`; or `off`. The threads the bot answered are remembered where every instance can read
them (`SharedState.put`) for a week. Which messages are follow-ups at all (a person's new message in the
thread, mentioning no one) is `intake.requests.follow_up_from_event`'s rule.
"""

from __future__ import annotations

from bot.request import Request
from bot.shared.base import SharedState

MODES = ("asker", "anyone", "off")
MEMORY = 7 * 24 * 3600.0  # seconds a thread the bot answered is remembered


class FollowUps:
    def __init__(self, state: SharedState, mode: str = "asker") -> None:
        self._state = state
        self.mode = mode

    def remember(self, request: Request) -> None:
        """The bot answers `request` in its thread: a follow-up there may come without a mention."""
        if self.mode != "off" and not request.is_dm and request.reply_thread_ts:
            self._state.put(_key(request.channel, request.reply_thread_ts), request.user, MEMORY)

    def answers(self, request: Request) -> bool:
        """`request`, a message in a thread that mentions no one, is a follow-up the bot answers."""
        if self.mode == "off" or not request.thread_ts:
            return False
        asker = self._state.get(_key(request.channel, request.thread_ts))
        return asker is not None and (self.mode == "anyone" or asker == request.user)


def _key(channel: str, thread_ts: str) -> str:
    return f"answered:{channel}:{thread_ts}"
