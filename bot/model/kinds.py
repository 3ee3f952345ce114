"""The kinds of model failure: plain names, importable by what puts them into words without importing an SDK."""

from __future__ import annotations

from enum import Enum


class ModelErrorKind(Enum):
    BUSY = "busy"  # throttled, not ready or unavailable, past the retry bound
    UNREACHABLE = "unreachable"  # the network failed
    NO_ACCESS = "no_access"  # model access not granted, or IAM denies it
    NOT_FOUND = "not_found"  # no such model in this region
    NEEDS_PROFILE = "needs_profile"  # the model runs only through an inference profile
    TOO_LONG = "too_long"  # the conversation is over the model's input limit
    NO_CREDENTIALS = "no_credentials"
    BAD_CREDENTIALS = "bad_credentials"
    EXPIRED_CREDENTIALS = "expired_credentials"
    QUOTA = "quota"
    MODEL_TIMEOUT = "model_timeout"
    MODEL_FAILED = "model_failed"
    ENDED_EARLY = "ended_early"  # the stream closed before Bedrock said the answer was complete
    UNKNOWN = "unknown"
