"""The scopes Slack granted the bot token, as `auth.test` reports them (its `x-oauth-scopes` header)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from bot.slack import methods
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError

log = logging.getLogger(__name__)


def granted(response: Any) -> frozenset[str]:
    """The scopes in an `auth.test` response's headers (empty if Slack did not say)."""
    headers = {key.lower(): value for key, value in (getattr(response, "headers", None) or {}).items()}
    header = headers.get("x-oauth-scopes", "")
    if isinstance(header, (list, tuple)):
        header = ",".join(header)
    return frozenset(scope.strip() for scope in str(header).split(",") if scope.strip())


class Granted:
    """The scopes the bot token has: asked of `auth.test` once, the first time something needs to know (after a
    failure to ask, not again for a minute)."""

    def __init__(self, calls: SlackCalls) -> None:
        self._calls = calls
        self._known: frozenset[str] | None = None
        self._failed_until = float("-inf")  # after a failure, no one asks again (nor waits) for a minute
        self._lock = threading.Lock()

    def __call__(self) -> frozenset[str] | None:
        """The scopes, or None if Slack could not be asked now."""
        with self._lock:
            if self._known is None and self._calls.clock() >= self._failed_until:
                try:
                    self._known = granted(self._calls.call(methods.AUTH, deadline=self._calls.clock() + 5))
                except SlackError as error:
                    log.warning("could not read the app's scopes (auth.test): %s; asking again in a minute",
                                error.code)
                    self._failed_until = self._calls.clock() + 60
            return self._known
