"""What the benchmark asks and what the model answers: the same answers for every pacer, made from a seed.

Each answer is Markdown (paragraphs, a list, bold, inline code, a heading; every tenth answer is long
enough to roll over into a second message), and each of its words is numbered (`w17`), so that the
moment a word first shows in Slack can be found in any edit, whatever the formatting did around it. The
model stand-in streams it the way Claude does on Bedrock: a short wait before the first token, then
deltas of one to three words, about 350 characters a second (some 85 tokens a second).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from bot.layout.mrkdwn import to_mrkdwn

from standins.bedrock import Reply

FIRST_TOKEN_SECONDS = 0.4  # the model's time to first token
DELTA_SECONDS = 0.025  # between two deltas
TAG = re.compile(r"\bw(\d+)\b")


@dataclass(frozen=True)
class Answer:
    markdown: str
    deltas: tuple[str, ...]

    @cached_property
    def shown_words(self) -> tuple[str, ...]:
        """The answer as Slack should show it in the end (mrkdwn), word by word."""
        return tuple(to_mrkdwn(self.markdown).split())


def question(index: int) -> str:
    return f"benchmark question {index}"


def index_of(request) -> int:
    """The number of the question a model request asks (see `question`)."""
    return int(request.body["messages"][-1]["content"][0]["text"].rsplit(" ", 1)[-1])


@lru_cache(maxsize=None)
def answer(index: int, *, short: bool = False) -> Answer:
    rng = random.Random(index)
    counter = iter(range(1_000_000))

    def words(count: int) -> list[str]:
        return [f"w{next(counter)}" for _ in range(count)]

    def sentence() -> str:
        parts = words(rng.randint(5, 14))
        if rng.random() < 0.3:
            at = rng.randrange(len(parts) - 1)
            parts[at], parts[at + 1] = f"**{parts[at]}", f"{parts[at + 1]}**"
        if rng.random() < 0.2:
            at = rng.randrange(len(parts))
            parts[at] = f"`{parts[at]}`"
        return " ".join(parts) + "."

    blocks = []
    count = 2 if short else (40 if index % 10 == 9 else rng.randint(4, 9))
    for number in range(count):
        kind = rng.random()
        if number == 0 or kind < 0.6:
            blocks.append(" ".join(sentence() for _ in range(rng.randint(2, 4))))
        elif kind < 0.85:
            blocks.append("\n".join(f"- {' '.join(words(rng.randint(3, 8)))}" for _ in range(rng.randint(2, 4))))
        else:
            blocks.append(f"## {' '.join(words(rng.randint(2, 4)))}")
    markdown = "\n\n".join(blocks)
    tokens = re.findall(r"\S+\s*", markdown)
    deltas, at = [], 0
    while at < len(tokens):
        size = rng.randint(1, 3)
        deltas.append("".join(tokens[at:at + size]))
        at += size
    assert "".join(deltas) == markdown
    return Answer(markdown, tuple(deltas))


def reply_for(request, *, short: bool = False) -> Reply:
    """The model stand-in's answer to a request: the one numbered in its question."""
    return Reply.deltas(list(answer(index_of(request), short=short).deltas), delay=DELTA_SECONDS,
                        first_delay=FIRST_TOKEN_SECONDS)
