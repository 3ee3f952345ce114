"""Slack's floor: the best figures any bot could reach on a workspace, from its rate limits alone.

The benchmark's figures mix two things: what Slack's limits allow and what the bot does with them. On a
workspace whose limits are tight (see `limits.draw`), no bot can show 100 replies' first words within a
second, and a target that ignores that measures the workspace, not the bot. These pure functions give, for a
profile's limits and a workload, lower bounds that no bot could beat; the benchmark prints them beside the
measured figures, and the targets (`targets`) fall back on them where they are above the target.

The model of Slack (the stand-in's, `standins.slack`): each method's workspace limit is a token bucket that
starts full, holding `burst` calls and refilling at its rate; where Slack also limits a method in each
channel, that bucket starts full in each channel. So a bucket allows at most floor(burst + rate·L) calls in
any stretch of L seconds (and from the start, L = t). Every call lands the moment it is sent (no round
trip), and the bot knows everything in advance; what is left is what the buckets allow. Each bound stands
alone: a bot that reached one might have had to give up another (a post spent on a sign of life is the
same post that must later show the words).

The workloads: `replies` questions at t = 0, each in a channel of its own; the model is asked at once and
writes each answer's first words FIRST_TOKEN_SECONDS (F) later. (A bot that asked the model later would
start the measured clock of its first words later: the first-words floor holds for bots that ask at once,
as this one does.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

from bench.limits import Limit
from bench.measure import percentile
from bench.workload import DELTA_SECONDS, FIRST_TOKEN_SECONDS, Workload, answer

POST, STATUS, EDIT = "chat.postMessage", "assistant.threads.setStatus", "chat.update"
START, APPEND = "chat.startStream", "chat.appendStream"
SIGNS = (STATUS, POST, START)  # what can show a reply's first sign of life: a status, or a message
MAKERS = {POST: EDIT, START: APPEND}  # what creates a reply's message → what then changes its words


@dataclass(frozen=True)
class Capacity:
    """One method's limits as one reply sees them: the workspace's bucket (`burst`, `per_second`; an
    unlimited method has an infinite burst) and, where Slack limits the method per channel, the wait before
    the first call in a fresh channel (zero for a channel burst of one or more)."""

    burst: float
    per_second: float
    first_after: float = 0.0

    def within(self, start: float, end: float) -> float:
        """The most calls it allows from `start` to `end` (seconds from the workload's start), the bucket
        full at `start` (it never holds more)."""
        begin = max(start, self.first_after)
        if end < begin:
            return 0
        if math.isinf(self.burst):
            return math.inf
        return math.floor(self.burst + self.per_second * (end - begin) + 1e-9)

    def by(self, end: float) -> float:
        """The most calls it allows from the workload's start to `end`."""
        return self.within(0.0, end)


def capacities(limits: Iterable[Limit]) -> dict[str, Capacity]:
    """Each method's `Capacity` under a profile's limits (unlimited for a method the profile leaves out)."""
    workspace = {limit.method: limit for limit in limits if not limit.per_channel}
    channel = {limit.method: limit for limit in limits if limit.per_channel}
    found = {}
    for method in (*SIGNS, EDIT, APPEND):
        whole, mine = workspace.get(method), channel.get(method)
        wait = 0.0
        if mine is not None and mine.burst < 1:
            wait = math.inf if mine.per_minute <= 0 else (1 - mine.burst) / (mine.per_minute / 60)
        found[method] = (Capacity(whole.burst, whole.per_minute / 60, wait) if whole is not None
                         else Capacity(math.inf, 0.0, wait))
    return found


def earliest(count_by: Callable[[float], float], k: int, start: float = 0.0) -> float:
    """The earliest time t ≥ `start` at which `count_by(t)` (never decreasing) reaches `k`, to a microsecond
    or so; infinity if it never does within ten million seconds."""
    if count_by(start) >= k:
        return start
    span = 1.0
    while count_by(start + span) < k:
        span *= 2
        if span > 1e7:
            return math.inf
    low, high = start, start + span
    while high - low > 1e-7:
        middle = (low + high) / 2
        low, high = (low, middle) if count_by(middle) >= k else (middle, high)
    return high


def shown_alive_by(caps: dict[str, Capacity], t: float) -> float:
    """How many replies could have shown a sign of life by `t`: one call each, of any of `SIGNS`; each
    method's budget is its own, so their calls add up."""
    return sum(caps[method].by(t) for method in SIGNS)


def shown_words_by(caps: dict[str, Capacity], t: float, first_token: float) -> float:
    """How many replies could show their first words by `t` (≥ `first_token`, when the model wrote them).

    Words show in a new thread only in a message the bot creates there (chat.postMessage or
    chat.startStream). For each creating method, with its bucket: `direct` replies are created after the
    words exist, carrying them (at most within(F, t) calls: the bucket is at most full at F);
    `placeholders` are created before F, empty (at most by(F)), and show words only once changed after F
    (chat.update for a post, chat.appendStream for a stream: at most within(F, t) of those); and creating
    both takes by(t) of the bucket in all. The best mix creates as many direct as it can (each is worth one
    reply; a placeholder is worth one only with a change), so this method shows at most

        min( by(t),  within(F, t) + min(by(F), changes within(F, t)) )

    replies' words, and the two creating methods (their buckets and their changing methods' are apart) add up.
    """
    shown = 0.0
    for maker, changer in MAKERS.items():
        create, change = caps[maker], caps[changer]
        shown += min(create.by(t), create.within(first_token, t)
                     + min(create.by(first_token), change.within(first_token, t)))
    return shown


@dataclass(frozen=True)
class Floor:
    """Slack's floor for one workload on one profile. Times in seconds: `sign_of_life_s[k]` is the earliest
    by which k + 1 replies could have shown a sign of life (from the questions); `first_words_s[k]`, by
    which k + 1 could show their first words (from when the model wrote them)."""

    sign_of_life_s: tuple[float, ...]
    first_words_s: tuple[float, ...]

    @property
    def sign_of_life_s_p95(self) -> float:
        return percentile(list(self.sign_of_life_s), 95)

    @property
    def first_words_s_p95(self) -> float:
        return percentile(list(self.first_words_s), 95)

    def summary(self) -> dict:
        """The figures for a benchmark row, in milliseconds as the measured ones are."""
        return {"floor_sign_of_life_ms_p95": 1000 * self.sign_of_life_s_p95,
                "floor_first_words_ms_p95": 1000 * self.first_words_s_p95}


def slack_floor(limits: Iterable[Limit], workload: Workload, first_token: float = FIRST_TOKEN_SECONDS) -> Floor:
    """Lower bounds no bot could beat for `workload` (its replies at once, each in a channel of its own) on a
    workspace with `limits`.

    Sign of life: the k-th reply cannot show one before the earliest t at which the status, post and
    stream-start buckets together allow k calls:

        status.by(t) + post.by(t) + start.by(t) ≥ k,   with  by(t) = floor(burst + rate·t)

    (0 before a fresh channel's own limit lets its first call go, which with a per-channel burst of one or
    more is at once.)

    First words: the k-th reply cannot show its first words before the earliest t ≥ F at which
    `shown_words_by(t) ≥ k`, counted from F: a post or a stream start carrying words (after F), or one made
    empty before F and changed after it (chat.update, chat.appendStream), each within its bucket.

    The p95 of each list is taken as the measured figures are (`measure.percentile`): whatever a bot does,
    its k-th fastest reply is no faster than the k-th here, so its p95 is no lower. The answer's length does
    not enter: a reply's first words need one message, whatever follows them.
    """
    caps = capacities(limits)
    count = workload.replies
    alive = tuple(earliest(lambda t: shown_alive_by(caps, t), k) for k in range(1, count + 1))
    words = tuple(earliest(lambda t: shown_words_by(caps, t, first_token), k, start=first_token) - first_token
                  for k in range(1, count + 1))
    return Floor(alive, words)


@dataclass(frozen=True)
class LastAnswerFloor:
    """How soon the last of many questions, arriving over time, could show its whole answer (seconds from
    the first question): `messages_s` as Slack's message-creating buckets allow, `model_s` as the model
    writes it, `seconds` the later of the two."""

    messages_s: float
    model_s: float

    @property
    def seconds(self) -> float:
        return max(self.messages_s, self.model_s)


def last_answer_floor(limits: Iterable[Limit], arrivals: list[float], words: int,
                      first_token: float = FIRST_TOKEN_SECONDS) -> LastAnswerFloor:
    """Lower bound on when the last of the questions can show its whole answer: question i asked at
    `arrivals[i]` (seconds), each in a channel of its own, answered with `workload.answer(i, words)`.

    Every answer needs a message of its own, created by chat.postMessage or chat.startStream after its
    question came. The questions from the j-th on (n − j + 1 of them, sorted by arrival) all get their
    messages between the j-th's arrival a_j and the last message, and in any stretch of L seconds the two
    buckets allow at most post.by(L) + start.by(L) calls; so the last message comes no sooner than

        max over j of  a_j + M(n − j + 1),   M(m) the earliest L with post.by(L) + start.by(L) ≥ m.

    The last answer is also whole no sooner than its question, plus the model's first token, plus the time
    it takes to write the rest (`workload.DELTA_SECONDS` between deltas). With all questions at once and
    no bursts this is the plain n / (posts a minute + starts a minute).
    """
    caps = capacities(limits)
    ordered = sorted(arrivals)
    count = len(ordered)
    makes = [earliest(lambda t: caps[POST].by(t) + caps[START].by(t), m) for m in range(1, count + 1)]
    messages = max((at + makes[count - 1 - j] for j, at in enumerate(ordered)), default=0.0)
    written = max((at + first_token + DELTA_SECONDS * (len(answer(index, words).deltas) - 1)
                   for index, at in enumerate(arrivals)), default=0.0)
    return LastAnswerFloor(messages, written)
