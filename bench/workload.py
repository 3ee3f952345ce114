"""What the benchmark asks and what the model answers: the same answers for every strategy, made from a seed.

Each answer is Markdown (paragraphs, a list, bold, inline code, a heading) of a given number of words, each
of them numbered (`w17`), so that the moment a word first shows in Slack can be found in any message,
whatever the formatting did around it. The model stand-in streams it the way Claude does on Bedrock: a
short wait before the first token, then deltas of one to three words, about 350 characters a second (some
85 tokens a second).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

from standins.bedrock import Reply

FIRST_TOKEN_SECONDS = 0.4  # the model's time to first token
DELTA_SECONDS = 0.025  # between two deltas
TAG = re.compile(r"\bw(\d+)\b")


@dataclass(frozen=True)
class Workload:
    """`replies` mentions at once, each in a channel of its own, answered with about `words` words."""

    replies: int
    words: int

    @property
    def name(self) -> str:
        return f"{self.replies} × {self.words} words"


WORKLOADS = {1: Workload(1, 200), 20: Workload(20, 200), 100: Workload(100, 80)}
SMOKE = {1: Workload(1, 30), 3: Workload(3, 30)}


@dataclass(frozen=True)
class Answer:
    markdown: str
    deltas: tuple[str, ...]

    @property
    def tags(self) -> tuple[str, ...]:
        """The answer's numbered words, in order."""
        return tuple(TAG.findall(self.markdown))


def question(index: int, words: int) -> str:
    return f"benchmark question {index} of {words} words"


def asked(request) -> tuple[int, int]:
    """The question number and answer length a model request asks for (see `question`)."""
    parts = request.body["messages"][-1]["content"][0]["text"].split()
    return int(parts[-4]), int(parts[-2])


@lru_cache(maxsize=None)
def answer(index: int, words: int) -> Answer:
    rng = random.Random(index * 1000 + words)
    counter = iter(range(1_000_000))

    def numbered(count: int) -> list[str]:
        return [f"w{next(counter)}" for _ in range(count)]

    def sentence(count: int) -> str:
        parts = numbered(count)
        if count > 3 and rng.random() < 0.3:
            at = rng.randrange(len(parts) - 1)
            parts[at], parts[at + 1] = f"**{parts[at]}", f"{parts[at + 1]}**"
        if rng.random() < 0.2:
            at = rng.randrange(len(parts))
            parts[at] = f"`{parts[at]}`"
        return " ".join(parts) + "."

    blocks, left = [], words
    while left > 0:
        kind = rng.random()
        if not blocks or kind < 0.6:
            size = min(left, rng.randint(15, 40))
            blocks.append(sentence(size))
        elif kind < 0.85:
            items = [min(left, rng.randint(3, 8)) for _ in range(rng.randint(2, 4))]
            items = [n for n in items if n > 0]
            size = 0
            lines = []
            for n in items:
                if size + n > left:
                    break
                lines.append(f"- {' '.join(numbered(n))}")
                size += n
            if not lines:
                continue
            blocks.append("\n".join(lines))
        else:
            size = min(left, rng.randint(2, 4))
            blocks.append(f"## {' '.join(numbered(size))}")
        left -= size
    markdown = "\n\n".join(blocks)
    tokens = re.findall(r"\S+\s*", markdown)
    deltas, at = [], 0
    while at < len(tokens):
        size = rng.randint(1, 3)
        deltas.append("".join(tokens[at:at + size]))
        at += size
    assert "".join(deltas) == markdown
    return Answer(markdown, tuple(deltas))


def reply_for(request) -> Reply:
    """The model stand-in's answer to a request: the one its question names."""
    return Reply.deltas(list(answer(*asked(request)).deltas), delay=DELTA_SECONDS, first_delay=FIRST_TOKEN_SECONDS)
