"""Bedrock's failures as kinds, mapped once at the model's edge.

`ModelStream` raises `ModelError` for every failure (the original is its `__cause__`), so the rest of the
bot asks what kind of failure it was, never which botocore or urllib3 class it is. `is_transient` is the
retry policy's question: worth trying again as is?

Not every error answer is Bedrock's own: a proxy, a VPC endpoint or a load balancer in between may answer
500, 502, 503 or 504 with an HTML or plain-text page and no AWS error type. botocore then gives the status as
the code; such an answer is retried by its status, and named (in the log) as `HTTP <status>`.

`may_refuse_cache_points` is the other question the retry policy asks, of a request that carried cache
points: could they be what Bedrock refused? (See its notes for the rule.)
"""

from __future__ import annotations

import re

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
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})  # whoever answered them, AWS or something in between
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
        if _not_aws(error):
            return f"HTTP {_status(error)}"
        return str(_aws_code(error) or "ClientError")
    return type(error).__name__


def is_transient(error: BaseException) -> bool:
    """Worth trying again as is: throttling, a service hiccup (by Bedrock's code, or by the HTTP status of
    whatever answered), a dropped, stalled or cut-off stream."""
    if isinstance(error, ClientError):
        return _aws_code(error) in TRANSIENT_CODES or _status(error) in TRANSIENT_STATUSES
    return isinstance(error, (StreamEndedEarly, *CONNECTION_ERRORS))


_CACHE_WORDS = ("cache point", "cachepoint", "cache_control", "prompt caching")


def may_refuse_cache_points(error: BaseException) -> bool:
    """Of a request that carried cache points: worth one more try without them?

    Bedrock's refusal by a model that does not take them reads "You invoked an unsupported model or your
    request did not allow prompt caching", and other refusals name `cache_control` (Claude's own word for
    them) or say where a cache point may not go; none of that wording is promised. So: any error whose
    message speaks of caching, and any `ValidationException` that is not already understood as something
    else (too long, needs an inference profile), which a request without cache points would meet again. The
    try without them decides: only if it is accepted were the cache points to blame.
    """
    if not isinstance(error, ClientError) or _not_aws(error):
        return False
    if any(words in _message(error).lower() for words in _CACHE_WORDS):
        return True
    return code_of(error).lower() == "validationexception" and kind_of(error) is ModelErrorKind.UNKNOWN


_FILE_PATH = re.compile(r"messages\.(\d+)\.content\.(\d+)\.(image|document)\b")
_BAD_FILE_WORDS = ("could not process", "not valid", "invalid", "corrupt", "could not be processed",
                   "unable to process", "appears to be")


def refused_file(error: BaseException) -> tuple[str, tuple[int, int] | None] | None:
    """Of a request that carried images or documents: refused for one of them, by a model that takes files (a PNG
    whose bytes are a JPEG, an image it cannot decode, a PDF that is not valid)? ("image" or "document", and
    (message, block) where Bedrock names the block: `messages.0.content.1.image.source.bytes: …`), else None."""
    if not isinstance(error, ClientError) or _not_aws(error) or code_of(error).lower() != "validationexception":
        return None
    message = _message(error)
    if (found := _FILE_PATH.search(message)) is not None:
        return found.group(3), (int(found.group(1)), int(found.group(2)))
    lower = message.lower()
    for kind in ("image", "document"):
        if kind in lower and any(words in lower for words in _BAD_FILE_WORDS):
            return kind, None
    return None


def may_refuse_files(error: BaseException) -> bool:
    """Of a request that carried images or documents: refused for them, by a model that takes none? Bedrock
    says so in a `ValidationException` that names the block ("This model doesn't support the image field for
    user messages. Remove image and try again."); the try without them decides, as for cache points."""
    if not isinstance(error, ClientError) or _not_aws(error) or code_of(error).lower() != "validationexception":
        return False
    message = _message(error).lower()
    return any(word in message for word in ("image", "document")) and "support" in message


def kind_of(error: BaseException) -> ModelErrorKind:
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return ModelErrorKind.NO_CREDENTIALS
    if isinstance(error, StreamEndedEarly):
        return ModelErrorKind.ENDED_EARLY
    if not isinstance(error, ClientError):
        return ModelErrorKind.UNREACHABLE if is_transient(error) else ModelErrorKind.UNKNOWN
    if _not_aws(error):  # something in between answered instead of Bedrock
        return ModelErrorKind.BUSY if _status(error) == 429 else ModelErrorKind.UNREACHABLE
    code = code_of(error)
    if code.lower() == "validationexception":
        message = _message(error).lower()
        if "on-demand throughput" in message or "inference profile" in message:
            return ModelErrorKind.NEEDS_PROFILE
        if any(words in message for words in ("too long", "too many tokens", "context", "input length")):
            return ModelErrorKind.TOO_LONG
        return ModelErrorKind.UNKNOWN
    if code in _KINDS:
        return _KINDS[code]
    if code in TRANSIENT_CODES or _status(error) in TRANSIENT_STATUSES:
        return ModelErrorKind.BUSY
    return ModelErrorKind.UNKNOWN


def _message(error: BaseException) -> str:
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message", ""))
        if _not_aws(error):  # the page's text, on one line
            return "not an AWS error, so from something between the bot and Bedrock: " + " ".join(message.split())[:200]
        return message
    return str(error)


def _aws_code(error: ClientError) -> str | None:
    """The error code as botocore read it (the HTTP status when the answer had no AWS error type)."""
    return error.response.get("Error", {}).get("Code")


def _status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _not_aws(error: ClientError) -> bool:
    """An error answer without an AWS error type (botocore then makes the HTTP status its code)."""
    status = _status(error)
    return status is not None and _aws_code(error) in (None, "", str(status))
