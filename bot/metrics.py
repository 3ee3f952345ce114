"""What an operator watches, in Prometheus's text format (prometheus_client, on its default registry).

Every metric the bot exports is defined here, and recorded where the thing happens: a reply's outcome,
tokens and first-token and first-words times by the replier; each Slack call by the one call policy
(`bot.slack.calls`), and the time a call waited for its budget by its turn (`bot.slack.pacing`); feedback
clicks by their listener; Redis fallbacks by the shared state. Served at `/metrics` in HTTP mode and on
`METRICS_PORT` in either mode (`serve`).
"""

from __future__ import annotations

import re

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest, start_http_server

__all__ = ["CONTENT_TYPE_LATEST", "exposition", "serve"]

# seconds: a sign of life within a fraction of one, first words within one or two, a slow model in tens
_FIRST = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0)
_WAIT = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class _GaugeOnceSet(Gauge):
    """A gauge served only once something has set it: an unlabelled gauge is otherwise served as 0 from the
    start, a value nothing measured (for `SHARED_STATE_UP`, Redis down in a bot that has no Redis)."""

    _was_set = False

    def set(self, value: float) -> None:
        self._was_set = True
        super().set(value)

    def collect(self):
        return super().collect() if self._was_set else []


REPLIES = Counter(
    "slackbot_replies", "Questions taken, by how their reply ended: answered, cut_short (the model's length "
    "limit), filtered (a guardrail or content filter), interrupted (the model's stream broke off), stopped "
    "(deadline or shutdown), deleted (its message was deleted), failed, refused (not allowed here, nothing "
    "asked, too many at once, shutting down), and by profile (PROFILES_FILE; `default` without one, `none` where "
    "no profile applies)", ["outcome", "profile"])
FIRST_TOKEN = Histogram(
    "slackbot_first_token_seconds", "From taking a question to the model's first text", buckets=_FIRST)
FIRST_WORDS = Histogram(
    "slackbot_first_words_seconds", "From taking a question to the first words of its answer shown in Slack",
    buckets=_FIRST)
SLACK_CALLS = Counter(
    "slackbot_slack_calls", "Slack Web API calls (each attempt), by method and result: ok, rate_limited (429), "
    "or the kind of failure (unavailable, refused, gone, not_allowed, too_long, ...)", ["method", "result"])
BUDGET_WAIT = Histogram(
    "slackbot_slack_budget_wait_seconds", "Time a Slack call waited for its turn in its method's budgets "
    "(Retry-After pauses included)", ["method"], buckets=_WAIT)
MODEL_TOKENS = Counter(
    "slackbot_model_tokens", "Tokens Bedrock counted: input, output, cache_read (input read back from the prompt "
    "cache), cache_write (input kept in it), by profile", ["kind", "profile"])
FEEDBACK = Counter("slackbot_feedback", "Clicks on the feedback buttons, by vote", ["vote"])
SHARED_STATE_FALLBACKS = Counter(
    "slackbot_shared_state_fallbacks", "Times this instance stopped sharing state because Redis did not answer "
    "(it then keeps its own until Redis answers again)")
SHARED_STATE_UP = _GaugeOnceSet(
    "slackbot_shared_state_up", "1 while the state is shared through Redis, 0 while this instance keeps its own "
    "(Redis not answering); absent without REDIS_URL")

_ANSWERED = {"end_turn", "stop_sequence", "complete", "tool_use"}


def reply_outcome(outcome: str) -> str:
    """The replies' label for what the replier's log calls a reply's outcome (the model's stop reason, or
    how it ended)."""
    if outcome in _ANSWERED:
        return "answered"
    if outcome == "max_tokens":
        return "cut_short"
    if outcome in ("guardrail_intervened", "content_filtered"):
        return "filtered"
    if outcome in ("interrupted", "stopped", "deleted", "refused"):
        return outcome
    return "failed"


def error_kind(error: BaseException) -> str:
    """A Slack failure's kind as a label: `RateLimited` → rate_limited."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def exposition() -> bytes:
    """Every metric, in the text format (`CONTENT_TYPE_LATEST`)."""
    return generate_latest()


def serve(port: int, host: str) -> int:
    """Serve `/metrics` on a port of its own, on a daemon thread; the port it listens on."""
    server, _ = start_http_server(port, addr=host)
    return server.server_port
