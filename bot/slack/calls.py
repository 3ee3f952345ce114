"""Every Slack Web API call the bot makes, under one retry policy.

Each call takes its `Turn` from the process-wide `Pacer` first (which holds back every call of a method
while its Retry-After runs, and spreads calls over the method's budget), and reports Slack's answer to it
(a 429 pauses the method and slows its pace). Failures are raised as the kinds of `errors`, never as
slack_sdk's or urllib's own. The policy (tenacity) retries a 429 after exactly the Retry-After Slack gave
plus a little jitter; a 5xx or a network failure after a short backoff, if repeating the call cannot make
a second message or a second piece of text (or the request never left); all within a bound. A caller whose
call a newer one would supersede (an intermediate edit) asks for no retry; a caller that can do without the
answer after a while (an optional look-up, reading the conversation) gives a deadline, past which the call
neither waits for its turn nor sleeps before a retry.

A post that carries a `Tag` is retried even when Slack may have taken it: before it is sent again, the
thread is searched for the message it tagged, and if Slack did take it the call returns that message, so
every message is posted exactly once. Every call that carries text is sent with `parse=none`, so Slack never
turns a plain "@channel" the model wrote into a broadcast (chat.update's default would).
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from slack_sdk import WebClient
from slack_sdk.web import SlackResponse
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from bot import metrics
from bot.slack import errors, methods
from bot.slack.methods import MethodLimits
from bot.slack.kinds import RateLimited, SlackError, Unavailable
from bot.slack.pacing import Pacer, Priority, Turn
from bot.shared.base import SharedState
from bot.shared.local import LocalState
from bot.slack.tags import Tag, messages_after

log = logging.getLogger(__name__)

_JITTER = 0.25  # seconds at most added to a Retry-After, so that waiting callers do not all return at once


@dataclass(frozen=True)
class SlackSettings:
    """How the bot reaches Slack (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_API_URL, SLACK_SIGNING_SECRET) and
    how its calls are paced and retried (SLACK_RATE_LIMITS, SLACK_RETRY_ATTEMPTS, SLACK_RETRY_MAX_SECONDS)."""

    bot_token: str = ""
    app_token: str = ""  # Socket Mode only
    api_url: str = "https://slack.com/api/"
    signing_secret: str = ""  # HTTP mode only
    rate_limits: Mapping[str, MethodLimits] = field(default_factory=lambda: dict(methods.DEFAULT_LIMITS))
    retry_attempts: int = 5
    retry_max_seconds: float = 120.0

    def __repr__(self) -> str:  # never print a token, even by accident
        return f"SlackSettings(api_url={self.api_url!r}, ...)"


def retryable(method: str, error: BaseException, tagged: bool = False) -> bool:
    """A 429 always; a 5xx or a network failure if repeating the call cannot show anything twice (see
    `methods.Method.idempotent` and `findable`)."""
    if isinstance(error, RateLimited):
        return True
    if isinstance(error, Unavailable):
        facts = methods.method(method)
        return facts.idempotent or not error.sent or (tagged and facts.findable)
    return False


ORPHAN_LOOKS = (2.0, 8.0)  # seconds before each further look for a stream start whose answer was lost


class SlackCalls:
    def __init__(
        self,
        client: WebClient,
        pacer: Pacer | None = None,
        *,
        attempts: int = 5,
        max_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        state: SharedState | None = None,
    ) -> None:
        """`state`: where the streams the replies started are claimed, each by one reply (across instances where
        they share it), so that a reply whose start answer was lost adopts its own stream, never another's."""
        self.client = client
        self.pacer = pacer or Pacer()
        self._state = state if state is not None else LocalState()
        self._attempts = attempts
        self._max_seconds = max_seconds
        self._sleep = sleep

    @property
    def max_seconds(self) -> float:
        """How long one call may take, its waits for a turn and its retries together."""
        return self._max_seconds

    @property
    def clock(self) -> Callable[[], float]:
        """The clock deadlines are read on (the pacer's)."""
        return self.pacer.clock

    def call(self, method: str, *, turn: Turn | None = None, retry: bool = True, tag: Tag | None = None,
             deadline: float | None = None, **params) -> SlackResponse:
        """Call `method` (for example "chat.update") with `params`; a `SlackError` if it does not succeed.
        `turn`: the caller's own turn for the first attempt (granted, or to wait for); retries take their own.
        `tag`: the reply's message this call makes or changes (see `tags`).
        `deadline` (on `clock`): no waiting for a turn, and no sleep before a retry, that would end after it;
        the call fails instead, with what Slack last answered (`RateLimited` when the turn would come too late)."""
        channel = params.get("channel") or params.get("channel_id")
        facts = methods.method(method)
        if facts.parses_text:
            params = {**params, "parse": "none"}
            params.pop("link_names", None)
        if tag is not None and method != methods.START:  # a stream takes metadata only when it stops
            params = {**params, "metadata": tag.metadata()}
        given = [turn] if turn is not None else []
        unknown: list[SlackError] = []  # an attempt Slack may have taken without our hearing
        tried: list[Turn] = []  # each attempt's turn: a retry keeps the first one's priority and place

        def landed_after_all() -> SlackResponse | None:
            """The message an earlier attempt Slack may have taken did post, if it is found."""
            if not (unknown and tag is not None and facts.findable):
                return None
            found = self._find(method, params, tag, deadline)
            if found is not None:
                log.info("Slack %s: the message was posted after all (%s); carrying on with it",
                         method, unknown[-1].code)
            return found

        def look_again() -> SlackResponse | None:
            """After the last attempt failed: the message an earlier one may have made, if it can be found now."""
            try:
                return landed_after_all()
            except SlackError:  # the look itself failed: the call fails as it did
                return None

        def attempt() -> SlackResponse:
            if (found := landed_after_all()) is not None:
                return found
            if given:
                current = given.pop()
            elif tried:
                current = tried[-1].again()
            else:
                current = self.pacer.turn(method, Priority.URGENT, channel)
            tried.append(current)
            with current:
                if (too_late := current.wait(self._sleep, deadline)) > 0:  # the turn would come after the deadline
                    raise RateLimited(method, "ratelimited", retry_after=too_late)
                try:
                    return self._once(method, params, current)
                except Unavailable as error:
                    if error.sent:
                        unknown.append(error)
                    raise

        if not retry:
            try:
                return self._claimed(method, params, attempt())
            except Unavailable:
                if (found := look_again()) is None:
                    if unknown and tag is not None and method == methods.START:
                        self._clear_later(params, tag)  # the caller goes on without it: Slack may show it yet
                    raise
                return found
        stop: Any = stop_after_attempt(self._attempts) | stop_after_delay(self._max_seconds)
        if deadline is not None:
            stop = stop | (lambda state: self.clock() + state.upcoming_sleep > deadline)
        policy = Retrying(
            retry=retry_if_exception(lambda error: retryable(method, error, tag is not None)),
            wait=self._wait,
            stop=stop,
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: log.info(
                "Slack %s: %s; retrying (attempt %d)", method, _code(state), state.attempt_number + 1),
        )
        try:
            return self._claimed(method, params, policy(attempt))
        except SlackError:  # a later attempt failed (a 429, out of time) where an earlier one may have landed
            if (found := look_again()) is None:
                raise
            return found

    def _clear_later(self, params: dict, tag: Tag) -> None:
        """A stream start Slack may have taken was not found, and its reply goes on without it (posting its answer):
        look for it again a little later, and delete it if it is there, so the thread shows the answer once."""
        def clear() -> None:
            for pause in ORPHAN_LOOKS:
                self._sleep(pause)
                try:
                    found = self._find(methods.START, params, tag)
                    if found is not None:
                        self.call(methods.DELETE, channel=params["channel"], ts=found["ts"])
                        log.info("Slack chat.startStream: deleted the stream it had taken after all (the answer went "
                                 "on without it)")
                        return
                except SlackError as error:
                    log.info("could not look for a stream start whose answer was lost: %s", error.code)

        threading.Thread(target=clear, name="stream-orphan", daemon=True).start()

    def _claimed(self, method: str, params: dict, response: SlackResponse) -> SlackResponse:
        """A stream this call started is claimed for it: no other reply's lost start will adopt it."""
        if method == methods.START and isinstance(response.get("ts"), str):
            self._state.claim([_stream_key(params["channel"], response["ts"])])
        return response

    def _once(self, method: str, params: dict, turn: Turn) -> SlackResponse:
        """One attempt, whose turn is granted; its outcome goes to the pacer."""
        try:
            response = getattr(self.client, method.replace(".", "_"))(**params)  # e.g. chat.update → chat_update
        except Exception as raw:
            error = errors.from_exception(method, raw)
            metrics.SLACK_CALLS.labels(method=method, result=metrics.error_kind(error)).inc()
            if isinstance(error, RateLimited):
                turn.rate_limited(error.retry_after)
            else:
                turn.failed()
                log.warning("Slack %s failed: %s", method, error.code, extra={"slack_code": error.code})
            raise error from raw
        turn.landed()
        metrics.SLACK_CALLS.labels(method=method, result="ok").inc()
        return response

    def _find(self, method: str, params: dict, tag: Tag, deadline: float | None = None) -> SlackResponse | None:
        """The message an earlier attempt of a tagged call made, if Slack took it (its reads within `deadline`)."""
        landed = tag.landed(method, params)

        read = functools.partial(self.call, retry=False, deadline=deadline)  # a failure: the attempt fails again
        for message in messages_after(read, params["channel"], params.get("thread_ts"), tag.after):
            if landed(message) and (method != methods.START or self._state.claim([_stream_key(params["channel"],
                                                                                              message["ts"])])):
                data = {"ok": True, "channel": params["channel"], "ts": message["ts"], "message": message}
                return SlackResponse(client=self.client, http_verb="POST", api_url=method, req_args={},
                                     data=data, headers={}, status_code=200)
        return None

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RateLimited):
            return error.retry_after + random.uniform(0, _JITTER)
        return min(0.5 * 2 ** (state.attempt_number - 1), 8.0) * random.uniform(0.5, 1.0)


def describe(error: BaseException) -> str:
    """A Slack failure's code, for the log."""
    return error.code if isinstance(error, SlackError) else type(error).__name__


def _stream_key(channel: str, ts: str) -> str:
    return f"stream:{channel}:{ts}"


def _code(state: RetryCallState) -> str:
    """The Slack code of the attempt that just failed."""
    error = state.outcome.exception() if state.outcome is not None else None
    return getattr(error, "code", type(error).__name__)
