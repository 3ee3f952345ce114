"""Slack's failures, mapped once at the edge to the kinds of `kinds` (as httpx maps transport errors into its
own hierarchy). `SlackCalls` raises only those; the rest of the bot never sees slack_sdk's or urllib's types.
"""

from __future__ import annotations

import http.client
import socket

from slack_sdk.errors import SlackApiError

from bot.slack.kinds import CODES, RateLimited, Refused, SlackError, Unavailable


def from_exception(method: str, error: BaseException) -> SlackError:
    """The kind of a failed call, from what slack_sdk or the network raised."""
    if isinstance(error, SlackError):
        return error
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        body = error.response.data if isinstance(error.response.data, dict) else {}
        code = str(body.get("error") or "")
        if status == 429 or code == "ratelimited":
            return RateLimited(method, "ratelimited", status=status, retry_after=retry_after(error))
        if not code or " " in code:  # no JSON (an HTML error page: slack_sdk puts a sentence here)
            code = f"http_{status}"
        known = CODES.get(code)
        kind = known.kind if known is not None else Unavailable if status >= 500 else Refused
        return kind(method, code, status=status)
    return Unavailable(method, type(error).__name__, sent=not _never_sent(error))


def retry_after(error: SlackApiError) -> float:
    """The seconds a 429 asked to wait (1 if it did not say)."""
    headers = {key.lower(): value for key, value in (error.response.headers or {}).items()}
    value = headers.get("retry-after", "1")
    try:
        return max(float(value[0] if isinstance(value, list) else value), 0.0)
    except ValueError:
        return 1.0


def _never_sent(error: BaseException) -> bool:
    """The request cannot have reached Slack: the connection was never made."""
    reason = getattr(error, "reason", error)  # urllib wraps the socket error in URLError.reason
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror)) and not isinstance(
        reason, http.client.HTTPException)
