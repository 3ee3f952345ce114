"""Slack's failures as kinds, mapped once at the edge (as httpx maps transport errors into its own hierarchy).

`SlackCalls` raises only these; the rest of the bot deals in kinds, never in slack_sdk's or urllib's types.
Each kind says what a caller can do about it:

- `RateLimited`: Slack answered 429; the method is paused for `retry_after` seconds.
- `Unavailable`: Slack answered 5xx or an `internal_error`, or the network failed. `sent` says whether the
  request may have reached Slack (then a call that is not idempotent must not be repeated blindly).
- `Gone`: the message or the conversation is out of reach (deleted, archived, the bot was removed).
- `NotAllowed`: the app may not do this until an admin acts (token, scope, a feature that is off).
- `TooLong`: the text is over Slack's limit for the call or the message.
- `NotStreaming`: the message is no longer streaming (Slack ended it, or a person stopped it).
- `StillStreaming`: the message is still streaming, so it cannot be edited.
- `Refused`: anything else Slack refused (its arguments, this kind of conversation, ...).
"""

from __future__ import annotations

import http.client
import socket

from slack_sdk.errors import SlackApiError


class SlackError(Exception):
    """A Slack call that did not succeed. `code` is Slack's error code, or the transport error's name."""

    def __init__(self, method: str, code: str, *, status: int | None = None) -> None:
        super().__init__(f"{method}: {code}")
        self.method = method
        self.code = code
        self.status = status


class RateLimited(SlackError):
    def __init__(self, method: str, code: str, *, status: int | None = None, retry_after: float = 1.0) -> None:
        super().__init__(method, code, status=status)
        self.retry_after = retry_after


class Unavailable(SlackError):
    def __init__(self, method: str, code: str, *, status: int | None = None, sent: bool = True) -> None:
        super().__init__(method, code, status=status)
        self.sent = sent


class Gone(SlackError):
    pass


class NotAllowed(SlackError):
    pass


class TooLong(SlackError):
    pass


class NotStreaming(SlackError):
    @property
    def by_person(self) -> bool:
        """A person stopped the stream (some clients let them), rather than Slack's time limit."""
        return self.code == "stopped_by_user"


class StillStreaming(SlackError):
    pass


class Refused(SlackError):
    pass


_KINDS: dict[str, type[SlackError]] = {
    **dict.fromkeys(("internal_error", "fatal_error", "service_unavailable", "request_timeout"), Unavailable),
    **dict.fromkeys(("message_not_found", "channel_not_found", "is_archived", "cant_update_message",
                     "edit_window_closed", "not_in_channel", "thread_not_found", "msg_not_found"), Gone),
    **dict.fromkeys(("invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                     "missing_scope", "not_allowed_token_type", "no_permission", "access_denied",
                     "feature_not_enabled", "not_allowed", "restricted_action", "team_access_not_granted",
                     "ekm_access_denied"), NotAllowed),
    **dict.fromkeys(("msg_too_long", "message_limit_exceeded", "msg_blocks_too_long"), TooLong),
    **dict.fromkeys(("message_not_in_streaming_state", "stopped_by_user"), NotStreaming),
    "streaming_state_conflict": StillStreaming,
}


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
        return _KINDS.get(code, Unavailable if status >= 500 else Refused)(method, code, status=status)
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
