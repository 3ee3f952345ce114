"""Slack's failures as kinds: plain exception classes, importable by sinks and words without an SDK.

`errors.from_exception` maps what slack_sdk or the network raised to one of these, once, at the edge. Each
kind says what a caller can do about it:

- `RateLimited`: Slack answered 429; the method is paused for `retry_after` seconds.
- `Unavailable`: Slack answered 5xx or an `internal_error`, or the network failed. `sent` says whether the
  request may have reached Slack (then a call that is not idempotent must not be repeated blindly).
- `Gone`: the message or the conversation is out of reach (deleted, archived, the bot was removed).
- `NotAllowed`: the app may not do this until an admin acts (token, scope, a feature that is off).
- `TooLong`: the text is over Slack's limit for the call or the message.
- `NotStreaming`: the message is no longer streaming (Slack ended it, or a person stopped it).
- `StillStreaming`: the message is still streaming, so it cannot be edited.
- `Refused`: anything else Slack refused (its arguments, this kind of conversation, ...).

`applies_to` says how far a refusal reaches: the whole app (it will repeat everywhere until an admin acts),
one conversation (it will repeat there), or just this call.
"""

from __future__ import annotations

from dataclasses import dataclass

APP, CONVERSATION, CALL = "app", "conversation", "call"  # how far a refusal reaches


class SlackError(Exception):
    """A Slack call that did not succeed. `code` is Slack's error code, or the transport error's name."""

    def __init__(self, method: str, code: str, *, status: int | None = None) -> None:
        super().__init__(f"{method}: {code}")
        self.method = method
        self.code = code
        self.status = status

    @property
    def applies_to(self) -> str:
        """APP, CONVERSATION or CALL: how far the refusal reaches."""
        return CODES[self.code].reach if self.code in CODES else CALL


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


@dataclass(frozen=True)
class Code:
    """What one of Slack's error codes means: its kind, and how far a refusal with it reaches."""

    kind: type[SlackError]
    reach: str = CALL


# Slack's error codes the bot knows, in one table (`errors` maps a failed call's code with it; a code missing
# here is `Unavailable` for a 5xx, else `Refused`, and reaches just the call).
CODES: dict[str, Code] = {
    **dict.fromkeys(("internal_error", "fatal_error", "service_unavailable", "request_timeout"), Code(Unavailable)),
    **dict.fromkeys(("message_not_found", "channel_not_found", "is_archived", "cant_update_message",
                     "edit_window_closed", "not_in_channel", "thread_not_found", "msg_not_found"), Code(Gone)),
    # refusals that will repeat for every call of the app, until an admin acts
    **dict.fromkeys(("invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                     "missing_scope", "not_allowed_token_type", "no_permission", "access_denied",
                     "feature_not_enabled", "not_allowed", "team_access_not_granted", "ekm_access_denied"),
                    Code(NotAllowed, APP)),
    "unknown_method": Code(Refused, APP),
    # refusals that will repeat in this conversation (its type, its settings)
    "restricted_action": Code(NotAllowed, CONVERSATION),
    **dict.fromkeys(("channel_type_not_supported", "invalid_channel_type", "not_supported"),
                    Code(Refused, CONVERSATION)),
    **dict.fromkeys(("msg_too_long", "message_limit_exceeded", "msg_blocks_too_long"), Code(TooLong)),
    **dict.fromkeys(("message_not_in_streaming_state", "stopped_by_user"), Code(NotStreaming)),
    "streaming_state_conflict": Code(StillStreaming),
}
