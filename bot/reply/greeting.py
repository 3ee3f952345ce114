"""A new thread in the bot's messages tab: a short greeting, and the prompts Slack offers under it
(`assistant_thread_started`; the DM profile's `greeting` and `suggested_prompts`, else `GREETING`,
`SUGGESTED_PROMPTS`). Neither is worth a retry: a person who starts
typing needs neither."""

from __future__ import annotations

import logging
from typing import Callable
from dataclasses import dataclass

from bot.profiles.watch import Profiles
from bot.slack import methods
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError

log = logging.getLogger(__name__)

DEFAULT_GREETING = "Hi! What can I help you with?"
DEFAULT_PROMPTS = (
    ("Explain something", "Explain how this works, in plain words:"),
    ("Summarise a text", "Summarise this in five bullet points:"),
    ("Draft a message", "Help me write a short, friendly message about"),
)


@dataclass(frozen=True)
class GreetingSettings:
    """What a new thread in the messages tab shows (GREETING, SUGGESTED_PROMPTS)."""

    text: str = DEFAULT_GREETING  # "": no greeting
    prompts: tuple[tuple[str, str], ...] = DEFAULT_PROMPTS  # (title, message); (): none


class Greeting:
    def __init__(self, calls: SlackCalls, profiles: Profiles,
                 may_ask: Callable[[str, str], bool] = lambda channel, user: True) -> None:
        """`may_ask(channel, user)`: whether the bot answers `user` in their DM with it (`channel`)."""
        self._calls = calls
        self._profiles = profiles
        self._may_ask = may_ask

    def welcome(self, channel: str, thread_ts: str, user: str) -> None:
        profile = self._profiles.for_conversation(channel, is_dm=True)
        if profile is None or not self._may_ask(channel, user):  # it would not answer them: no prompts to ask
            return
        if profile.suggested_prompts:
            self._try(methods.PROMPTS, channel_id=channel, thread_ts=thread_ts,
                      prompts=[{"title": title, "message": message} for title, message in profile.suggested_prompts])
        if profile.greeting:
            self._try(methods.POST, channel=channel, thread_ts=thread_ts, text=profile.greeting, unfurl_links=False,
                      unfurl_media=False)

    def _try(self, method: str, **params) -> None:
        try:
            self._calls.call(method, retry=False, **params)
        except SlackError as error:
            log.info("could not greet a new thread in %s (%s): %s", params.get("channel") or params.get("channel_id"),
                     method, error.code)
