"""Slack search as a tool: `assistant.search.context` (Real-time Search) with the action token the question's event
carried, so that the results are what the person who asked may see, and each result's permalink is its source.
Where the answer is read by others (any conversation but a DM with the bot) only public channels are searched:
the answer must not carry what the asker may see into a thread others read.

Made for one request (the token is short-lived and the asker's). Calls go through the bot's one Slack call
policy (`SlackCalls`: paced, retried on 429), bounded by the tool's time. Off unless the app has a
`search:read.*` scope (`SLACK_SEARCH`), and only for an event that carries an action token.
"""

from __future__ import annotations

import logging

from bot.slack import methods, scopes
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError
from bot.tools.base import Passage, Source, ToolFailed, ToolOutput, query_of, search_spec

log = logging.getLogger(__name__)

MAX_RESULTS = 20  # Slack's most per call
MAX_MESSAGE = 1_000  # characters of one message given to the model
SEARCH_SCOPES = ("search:read.public", "search:read.private", "search:read.mpim", "search:read.im",
                 "search:read.files")
_REASONS = {
    "missing_scope": "the app may not search Slack (it needs a search:read scope)",
    "invalid_action_token": "Slack's permission to search for this question has run out",
    "expired_action_token": "Slack's permission to search for this question has run out",
    "ratelimited": "Slack search is busy",
}


class SlackSearch:
    name = "search_slack"

    def __init__(self, calls: SlackCalls, action_token: str, results: int = 10, *, private: bool = False) -> None:
        """`private`: the answer is read by the asker alone (a DM with the bot), so their private channels and
        DMs may be searched too; elsewhere only public channels, since everyone in the conversation reads it."""
        self._calls = calls
        self._token = action_token
        self._channel_types = "public_channel,private_channel,mpim,im" if private else "public_channel"
        self._results = max(1, min(results, MAX_RESULTS))

    @property
    def spec(self) -> dict:
        return search_spec(self.name, "Search the messages of this Slack workspace that the person asking may see: "
                                      "decisions, announcements, what was said in other channels. Cite each message "
                                      "you use by its number in square brackets, like [1].")

    def title(self, tool_input: dict) -> str:
        query = query_of(tool_input, 60)
        return "Searching Slack" + (f" for “{query}”" if query else "")

    def doing(self, tool_input: dict) -> str:
        return "is searching Slack…"

    def run(self, tool_input: dict, timeout: float) -> ToolOutput:
        query = query_of(tool_input, 500)
        if not query:
            raise ToolFailed("the search had no query")
        try:
            response = self._calls.call(
                methods.SEARCH, deadline=self._calls.clock() + timeout, query=query, action_token=self._token,
                limit=self._results, content_types="messages", channel_types=self._channel_types)
        except SlackError as error:
            raise ToolFailed(_REASONS.get(error.code, f"Slack search failed ({error.code})"), error.code) from error
        found = (response.get("results") or {}).get("messages") or []
        passages = tuple(Passage(str(message.get("content") or "")[:MAX_MESSAGE], _source(message))
                         for message in found if str(message.get("content") or "").strip())
        if not passages:
            return ToolOutput(f"No Slack messages match “{query}”.")
        return ToolOutput(f"Slack messages for “{query}”:", passages)


def _source(message: dict) -> Source:
    channel = message.get("channel_name") or message.get("channel_id") or "a conversation"
    author = message.get("author_name") or message.get("author_user_id") or "someone"
    link = message.get("permalink")
    return Source(f"#{channel}, {author}", link if isinstance(link, str) and link.startswith("https://") else None)


class MaySearch:
    """Whether the bot token has a `search:read.*` scope (`Granted`: asked once, the first time a question could
    use Slack search; not known: no Slack search for this question)."""

    def __init__(self, granted: scopes.Granted) -> None:
        self._granted = granted
        self._said = False

    def __call__(self) -> bool:
        known = self._granted()
        if known is None:
            return False
        may = bool(known & set(SEARCH_SCOPES))
        if not self._said:
            self._said = True
            log.info("Slack search is %s (SLACK_SEARCH=auto): the app has %s", "on" if may else "off",
                     "a search:read scope" if may else "no search:read scope")
        return may
