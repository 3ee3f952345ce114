"""Figures from what the stand-ins recorded: every Slack call with the time it arrived, every message's text
over time, every status set, and the time each model delta was written. Nothing here is timed by the bot."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from bench.workload import TAG, Answer, asked as asked_for
from standins.bedrock import FakeBedrock
from standins.slack import FakeSlack, Message

# Short names for the per-method breakdown.
METHODS = {
    "assistant.threads.setStatus": "status",
    "chat.postMessage": "post",
    "chat.update": "update",
    "chat.startStream": "start",
    "chat.appendStream": "append",
    "chat.stopStream": "stop",
}


@dataclass(frozen=True)
class Asked:
    """One mention the benchmark sent."""

    index: int
    channel: str
    thread_ts: str  # the mention's ts: the reply goes in its thread
    at: float  # when the event went out
    answer: Answer


@dataclass
class Figures:
    replies: int = 0
    complete: int = 0  # replies whose messages show exactly the model's words, in order
    sign_of_life_ms: list[float] = field(default_factory=list)  # event → status or first message
    first_words_ms: list[float] = field(default_factory=list)  # model's first token → Slack shows a word
    staleness_s: list[float] = field(default_factory=list)  # per word: written by the model → shown in Slack
    calls: Counter = field(default_factory=Counter)  # method → calls for the replies
    rate_limited: int = 0
    rate_limited_by_method: Counter = field(default_factory=Counter)
    early: int = 0
    deltas: int = 0
    cpu_s: float = math.nan
    peak_mb: float = math.nan
    seconds: float = 0.0
    whole_at: dict[int, float] = field(default_factory=dict)  # question → when its every word had shown (monotonic)
    # the first question's words: seconds after the model's first token that each was written, and shown in Slack
    written_curve: list[float] = field(default_factory=list)
    shown_curve: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        n = self.replies or 1
        return {
            "replies": self.replies,
            "complete": self.complete,
            "sign_of_life_ms_p50": percentile(self.sign_of_life_ms, 50),
            "sign_of_life_ms_p95": percentile(self.sign_of_life_ms, 95),
            "first_words_ms_p50": percentile(self.first_words_ms, 50),
            "first_words_ms_p95": percentile(self.first_words_ms, 95),
            "staleness_s_p50": percentile(self.staleness_s, 50),
            "staleness_s_p95": percentile(self.staleness_s, 95),
            "calls_per_reply": sum(self.calls.values()) / n,
            "calls_by_method": {METHODS.get(method, method): count / n for method, count in sorted(self.calls.items())},
            "rate_limited": self.rate_limited,
            "rate_limited_by_method": {METHODS.get(m, m): n for m, n in sorted(self.rate_limited_by_method.items())},
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


def reply_messages(slack: FakeSlack, one: Asked) -> list[Message]:
    with slack.lock:
        mine = [m for m in slack.messages
                if m.bot_id == slack.bot_id and m.channel == one.channel and m.thread_ts == one.thread_ts]
    return sorted(mine, key=lambda m: float(m.ts))


def replies_by_thread(slack: FakeSlack) -> dict[tuple[str, str | None], list[Message]]:
    """The bot's messages, by (channel, thread ts), each thread's oldest first: what `reply_messages` gives
    for one question, for all of them in one pass over Slack's messages (a thousand questions would
    otherwise read every message a thousand times, holding the stand-in's lock)."""
    threads: dict[tuple[str, str | None], list[Message]] = {}
    with slack.lock:
        for m in slack.messages:
            if m.bot_id == slack.bot_id:
                threads.setdefault((m.channel, m.thread_ts), []).append(m)
    for messages in threads.values():
        messages.sort(key=lambda m: float(m.ts))
    return threads


def shows_whole_answer(messages: list[Message], answer: Answer) -> bool:
    """The reply's messages, read one after the other, show exactly the model's numbered words."""
    return tuple(tag for m in messages for tag in TAG.findall(m.text)) == answer.tags


def measure(asked: list[Asked], slack: FakeSlack, bedrock: FakeBedrock, ended_at: float) -> Figures:
    figures = Figures(replies=len(asked))
    requests = {asked_for(request)[0]: request for request in bedrock.requests}
    channels = {one.channel for one in asked}
    with slack.lock:
        calls = list(slack.calls)
        statuses = list(slack.statuses)
        figures.rate_limited = sum(1 for _, status, _ in slack.responses if status == 429)
        figures.rate_limited_by_method = Counter(call.method for call, status, _ in slack.responses if status == 429)
        figures.early = len(slack.early_calls)
    for call in calls:
        if (call.params.get("channel") or call.params.get("channel_id")) in channels:
            figures.calls[call.method] += 1
    threads = replies_by_thread(slack)
    statuses_by_thread: dict[tuple[str, str], list[float]] = {}
    for status in statuses:
        statuses_by_thread.setdefault((status.channel, status.thread_ts), []).append(status.at)
    for one in asked:
        messages = threads.get((one.channel, one.thread_ts), [])
        request = requests.get(one.index)
        figures.deltas += len(one.answer.deltas)
        signs = [m.posted_at for m in messages] + statuses_by_thread.get((one.channel, one.thread_ts), [])
        if signs:
            figures.sign_of_life_ms.append(1000 * (min(signs) - one.at))
        if shows_whole_answer(messages, one.answer):
            figures.complete += 1
        if request is None or len(request.sent_at) < 2:
            continue
        written = {}  # word number → when the model wrote it
        for number, piece in enumerate(one.answer.deltas):
            at = request.sent_at[1 + number] if 1 + number < len(request.sent_at) else ended_at
            for tag in TAG.findall(piece):
                written.setdefault(tag, at)
        shown = {}  # word number → when Slack first showed it
        timeline = sorted([(m.posted_at, m.posted_text) for m in messages]
                          + [edit for m in messages for edit in m.edits])
        for at, text in timeline:
            for tag in TAG.findall(text):
                shown.setdefault(tag, at)
        if shown:
            figures.first_words_ms.append(1000 * (min(shown.values()) - request.sent_at[1]))
        if one.index == 0:
            figures.written_curve = sorted(at - request.sent_at[1] for at in written.values())
            figures.shown_curve = sorted(at - request.sent_at[1] for tag, at in shown.items() if tag in written)
        if shown and all(tag in shown for tag in written):
            figures.whole_at[one.index] = max(shown.values())
        figures.staleness_s.extend(shown.get(tag, ended_at) - at for tag, at in written.items())
    return figures
