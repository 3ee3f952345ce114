"""Figures from what the stand-ins recorded: every Slack call with the time it arrived, every message's
edits, and the time each model delta was written. Nothing here is timed by the bot itself."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.workload import TAG, Answer, index_of
from standins.bedrock import FakeBedrock
from standins.slack import FakeSlack, Message


@dataclass(frozen=True)
class Asked:
    """One mention the benchmark sent."""

    index: int
    thread_ts: str  # the mention's ts: the reply goes in its thread
    at: float  # when the event went out
    answer: Answer


@dataclass
class Figures:
    replies: int = 0
    complete: int = 0  # replies whose final text is the model's whole answer
    placeholder_ms: list[float] = field(default_factory=list)
    first_words_ms: list[float] = field(default_factory=list)  # model's first token → Slack shows it
    staleness_s: list[float] = field(default_factory=list)  # per word: written by the model → shown in Slack
    calls: int = 0
    rate_limited: int = 0
    early: int = 0
    deltas: int = 0
    cpu_s: float = math.nan
    peak_mb: float = math.nan
    seconds: float = 0.0

    def summary(self) -> dict:
        return {
            "replies": self.replies,
            "complete": self.complete,
            "placeholder_ms_p50": percentile(self.placeholder_ms, 50),
            "placeholder_ms_p95": percentile(self.placeholder_ms, 95),
            "first_words_ms_p50": percentile(self.first_words_ms, 50),
            "first_words_ms_p95": percentile(self.first_words_ms, 95),
            "staleness_s_p50": percentile(self.staleness_s, 50),
            "staleness_s_p95": percentile(self.staleness_s, 95),
            "calls_per_reply": self.calls / self.replies if self.replies else math.nan,
            "rate_limited": self.rate_limited,
            "early": self.early,
            "cpu_ms_per_1000_deltas": 1000 * self.cpu_s / self.deltas * 1000 if self.deltas else math.nan,
            "peak_mb": self.peak_mb,
            "seconds": self.seconds,
        }


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def reply_messages(slack: FakeSlack, thread_ts: str) -> list[Message]:
    with slack.lock:
        mine = [m for m in slack.messages if m.bot_id == slack.bot_id and m.thread_ts == thread_ts]
    return sorted(mine, key=lambda m: float(m.ts))


def shows_whole_answer(messages: list[Message], answer: Answer) -> bool:
    """The reply's messages, read one after the other, say exactly the model's answer (as mrkdwn)."""
    return tuple(" ".join(m.text for m in messages).split()) == answer.shown_words


def measure(asked: list[Asked], slack: FakeSlack, bedrock: FakeBedrock, ended_at: float) -> Figures:
    figures = Figures(replies=len(asked))
    requests = {index_of(request): request for request in bedrock.requests}
    with slack.lock:
        calls = list(slack.calls)
        figures.rate_limited = sum(1 for _, status, _ in slack.responses if status == 429)
        figures.early = len(slack.early_calls)
    for one in asked:
        messages = reply_messages(slack, one.thread_ts)
        request = requests.get(one.index)
        figures.deltas += len(one.answer.deltas)
        if messages:
            figures.placeholder_ms.append(1000 * (messages[0].posted_at - one.at))
        if shows_whole_answer(messages, one.answer):
            figures.complete += 1
        mine = {m.ts for m in messages}
        figures.calls += sum(1 for call in calls if call.params.get("thread_ts") == one.thread_ts
                             or (call.method == "chat.update" and call.params.get("ts") in mine))
        if request is None or len(request.sent_at) < 2:
            continue
        written = {}  # word number → when the model wrote it
        for number, piece in enumerate(one.answer.deltas):
            at = request.sent_at[1 + number] if 1 + number < len(request.sent_at) else ended_at
            for tag in TAG.findall(piece):
                written.setdefault(tag, at)
        if messages and messages[0].edits:
            figures.first_words_ms.append(1000 * (messages[0].edits[0][0] - request.sent_at[1]))
        shown = {}  # word number → when Slack first showed it
        timeline = sorted([(m.posted_at, m.text) for m in messages[1:]]
                          + [edit for m in messages for edit in m.edits])
        for at, text in timeline:
            for tag in TAG.findall(text):
                shown.setdefault(tag, at)
        figures.staleness_s.extend(shown.get(tag, ended_at) - at for tag, at in written.items())
    return figures
