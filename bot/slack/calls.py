"""Every Slack Web API call the bot makes, under one retry policy.

Slack rate-limits per method and per workspace, and calling a method again before its `Retry-After` has
passed prolongs the penalty. So every call takes its turn from the process-wide `Pacer` first (which holds
back all calls of a method while its Retry-After runs, and spreads `chat.update` over the workspace's
budget), every answer is reported to it (a 429 pauses the method and slows its pace), and the policy
(tenacity) retries a 429 after exactly the `Retry-After` Slack gave plus a little jitter, and a connection
error after a short backoff, within a bound. Calls that a newer one would supersede (an intermediate edit)
are made once, without retrying.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from typing import Callable, Hashable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from bot.notes import slack_fix
from bot.slack.pacing import Pacer

log = logging.getLogger(__name__)

_JITTER = 0.25  # seconds at most added to a Retry-After, so that waiting callers do not all return at once


def retry_after(error: BaseException) -> float | None:
    """The seconds Slack asked to wait, if `error` is a 429."""
    if isinstance(error, SlackApiError) and error.response.status_code == 429:
        headers = {key.lower(): value for key, value in (error.response.headers or {}).items()}
        value = headers.get("retry-after", "1")
        try:
            return max(float(value[0] if isinstance(value, list) else value), 0.0)
        except ValueError:
            return 1.0
    return None


def error_code(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or f"http_{error.response.status_code}")
    return type(error).__name__


# Methods that must not be repeated once Slack may have taken them: a timeout after the request went out
# could mean a second message. They are retried on 429 and on a connection that was never made.
_NOT_IDEMPOTENT = frozenset({"chat.postMessage"})


def _never_sent(error: BaseException) -> bool:
    reason = getattr(error, "reason", error)  # urllib wraps the socket error in URLError.reason
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror))


def _retryable(method: str, error: BaseException) -> bool:
    if retry_after(error) is not None:
        return True
    if method in _NOT_IDEMPOTENT:
        return _never_sent(error)
    return isinstance(error, (OSError, ConnectionError, TimeoutError))


class SlackCalls:
    def __init__(
        self,
        client: WebClient,
        pacer: Pacer | None = None,
        *,
        attempts: int = 5,
        max_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.pacer = pacer or Pacer()
        self._attempts = attempts
        self._max_seconds = max_seconds
        self._sleep = sleep

    def call(self, method: str, *, retry: bool = True, turn: Hashable = None, **params) -> SlackResponse:
        """Call `method` (for example "chat.update") with `params`; SlackApiError if it does not succeed.
        `turn`: the key under which the caller already took this call's turn from the pacer (retries take
        their own)."""
        granted = [turn]

        def attempt() -> SlackResponse:
            key = granted[0] if granted[0] is not None else self._wait_turn(method)
            granted[0] = None
            return self._once(method, params, key)

        if not retry:
            return attempt()
        policy = Retrying(
            retry=retry_if_exception(lambda error: _retryable(method, error)),
            wait=self._wait,
            stop=stop_after_attempt(self._attempts) | stop_after_delay(self._max_seconds),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: log.info(
                "Slack %s: %s; retrying (attempt %d)", method, error_code(state.outcome.exception()),
                state.attempt_number + 1,
            ),
        )
        return policy(attempt)

    def _wait_turn(self, method: str) -> Hashable:
        """Wait until the pacer lets this call go: never while the method's Retry-After runs (it may be
        extended meanwhile), and for `chat.update` not beyond the workspace's budget. Urgent: a caller that
        blocks here is a post, a final edit, a read or a retry."""
        key = object()
        try:
            while (wait := self.pacer.take(method, key)) > 0:
                self._sleep(wait)
        finally:
            self.pacer.withdraw(key)
        return key

    def _once(self, method: str, params: dict, key: Hashable) -> SlackResponse:
        """One attempt, whose turn `key` holds; its outcome goes to the pacer."""
        try:
            response = getattr(self.client, method.replace(".", "_"))(**params)  # e.g. chat.update → chat_update
        except SlackApiError as error:
            seconds = retry_after(error)
            if seconds is not None:
                self.pacer.rate_limited(method, seconds, key)
            else:
                self.pacer.failed(method, key)
                fix = slack_fix(error_code(error))
                log.warning("Slack %s failed: %s%s", method, error_code(error), f" ({fix})" if fix else "")
            raise
        except BaseException:
            self.pacer.failed(method, key)
            raise
        self.pacer.succeeded(method, key)
        return response

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        seconds = retry_after(state.outcome.exception())
        if seconds is not None:
            return seconds + random.uniform(0, _JITTER)
        return min(0.5 * 2 ** (state.attempt_number - 1), 8.0) * random.uniform(0.5, 1.0)
