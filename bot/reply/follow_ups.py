"""Follow-ups: in a channel thread the bot has answered, the next message is answered without a new mention.

Who may follow up is the conversation's profile's `follow_ups` (`FOLLOW_UPS` where no profile says): `asker`, the
person whose question the bot answered there last (the default); `anyone`; or `off`. The threads the bot answered
are remembered where every instance can read them (`SharedState.put`) for a week. Which messages are follow-ups at
all (a person's new message in the thread, mentioning no one) is `intake.requests.follow_up_from_event`'s rule.
"""

from __future__ import annotations

from bot.profiles.watch import Profiles
from bot.request import Request
from bot.shared.base import SharedState

MEMORY = 7 * 24 * 3600.0  # seconds a thread the bot answered is remembered


class FollowUps:
    def __init__(self, state: SharedState, profiles: Profiles) -> None:
        self._state = state
        self._profiles = profiles

    def remember(self, request: Request) -> None:
        """The bot answers `request` in its thread: a follow-up there may come without a mention."""
        if self._mode(request.channel) != "off" and not request.is_dm and request.reply_thread_ts:
            self._state.put(_key(request.channel, request.reply_thread_ts), request.user, MEMORY)

    def answers(self, request: Request) -> bool:
        """`request`, a message in a thread that mentions no one, is a follow-up the bot answers."""
        mode = self._mode(request.channel)
        if mode == "off" or not request.thread_ts:
            return False
        asker = self._state.get(_key(request.channel, request.thread_ts))
        return asker is not None and (mode == "anyone" or asker == request.user)

    def _mode(self, channel: str) -> str:
        profile = self._profiles.for_conversation(channel, is_dm=False)
        return "off" if profile is None or profile.follow_ups is None else profile.follow_ups


def _key(channel: str, thread_ts: str) -> str:
    return f"answered:{channel}:{thread_ts}"
