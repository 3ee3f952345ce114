"""Bedrock's failures as kinds, mapped once at the model's edge.

`ModelStream` raises `ModelError` for every failure (the original is its `__cause__`), so the rest of the
bot asks what kind of failure it was, never which botocore or urllib3 class it is. `is_transient` is the
retry policy's question: worth trying again as is?
"""

from __future__ import annotations

from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError, PartialCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError
from urllib3.exceptions import HTTPError as URLLib3Error

from bot.model.kinds import ModelErrorKind

TRANSIENT_CODES = frozenset({
    # before the stream (HTTP status 429, 503, 500)
    "ThrottlingException", "ServiceUnavailableException", "ModelNotReadyException", "InternalServerException",
    # inside the stream
    "throttlingException", "serviceUnavailableException", "internalServerException", "modelStreamErrorException",
})
CONNECTION_ERRORS = (OSError, ConnectionError, TimeoutError, HTTPClientError, BotoConnectionError, URLLib3Error)

_KINDS = {
    "AccessDeniedException": ModelErrorKind.NO_ACCESS,
    "ResourceNotFoundException": ModelErrorKind.NOT_FOUND,
    "UnrecognizedClientException": ModelErrorKind.BAD_CREDENTIALS,
    "InvalidSignatureException": ModelErrorKind.BAD_CREDENTIALS,
    "ExpiredTokenException": ModelErrorKind.EXPIRED_CREDENTIALS,
    "ServiceQuotaExceededException": ModelErrorKind.QUOTA,
    "ModelTimeoutException": ModelErrorKind.MODEL_TIMEOUT,
    "ModelErrorException": ModelErrorKind.MODEL_FAILED,
}


class StreamEndedEarly(Exception):
    """The stream closed before Bedrock said the message was complete."""


class ModelError(Exception):
    """The model gave no (complete) answer. `code`: Bedrock's error code, or the exception's name."""

    def __init__(self, kind: ModelErrorKind, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.kind = kind
        self.code = code

    @classmethod
    def from_exception(cls, error: BaseException) -> "ModelError":
        if isinstance(error, ModelError):
            return error
        return cls(kind_of(error), code_of(error), _message(error))


def code_of(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def is_transient(error: BaseException) -> bool:
    """Worth trying again as is: throttling, a service hiccup, a dropped, stalled or cut-off stream."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in TRANSIENT_CODES
    return isinstance(error, (StreamEndedEarly, *CONNECTION_ERRORS))


def kind_of(error: BaseException) -> ModelErrorKind:
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return ModelErrorKind.NO_CREDENTIALS
    if isinstance(error, StreamEndedEarly):
        return ModelErrorKind.ENDED_EARLY
    if not isinstance(error, ClientError):
        return ModelErrorKind.UNREACHABLE if is_transient(error) else ModelErrorKind.UNKNOWN
    code = code_of(error)
    if code.lower() == "validationexception":
        message = _message(error).lower()
        if "on-demand throughput" in message or "inference profile" in message:
            return ModelErrorKind.NEEDS_PROFILE
        if any(words in message for words in ("too long", "too many tokens", "context", "input length")):
            return ModelErrorKind.TOO_LONG
        return ModelErrorKind.UNKNOWN
    if code in TRANSIENT_CODES:
        return ModelErrorKind.BUSY
    return _KINDS.get(code, ModelErrorKind.UNKNOWN)


def _message(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Message", ""))
    return str(error)
