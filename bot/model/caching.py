"""Prompt caching: which models take Bedrock cache points, and where a request's points go.

Pure: no SDK, no I/O. A cache point (`{"cachePoint": {"type": "default"}}`) after a block asks Bedrock to keep
the model's work on everything before it (system, then messages, in order) for 5 minutes from its last use;
a later request that starts with exactly the same bytes up to one of its own points reads it back instead of
paying for it again. A point before the model's minimum prefix (1,024 to 4,096 tokens) is accepted and not
cached, so points are placed without counting tokens.

Where the points go, and why. Two consecutive follow-ups in one thread look like this:

    reply n:      system | u1 a1 … u(n-1) a(n-1) [un]
    reply n + 1:  system | u1 a1 … u(n-1) a(n-1)  un  a(n) [u(n+1)]

What stays byte-identical between them is the system prompt and every turn up to and including the question
reply n answered (`un`): the bot's answer `a(n)` did not exist when reply n asked, so no earlier request ever
ended with it, and a point right after it could only ever be written, never read. So a request carries:

1. one after the system prompt (shared by every conversation);
2. one at the end of its newest turn, the question: written now, for the next follow-up to read;
3. one at the end of the user turn before the latest answer (`messages[-3]`): where the previous reply's
   point 2 was, so this request reads what that one wrote.

That is three of Bedrock's four. The prefix holds only as long as the conversation is rebuilt the same way:
a thread cut to its budget (oldest turns dropped), a new person who makes every turn say who spoke, or an
edited message changes it, and that reply simply writes afresh.
"""

from __future__ import annotations

import re

MAX_CACHE_POINTS = 4  # Bedrock's limit, across system, messages and tools
CACHE_POINT = {"cachePoint": {"type": "default"}}
PROMPT_CACHE_CHOICES = ("auto", "on", "off")

# Families AWS documents as taking cache points: Claude 3.5 Haiku, 3.7 Sonnet and 4.x, and Nova. Matched after
# the provider name, so a bare id, an inference profile (`us.`, `eu.`, `apac.`, `global.`, …) and an ARN that
# names either all match; an application inference profile or a provisioned model's ARN (an opaque id) does not.
_SUPPORTED = re.compile(
    r"(?:^|[./])(?:anthropic\.claude-(?:3-5-haiku|3-7-sonnet|(?:opus|sonnet|haiku)-4)"
    r"|amazon\.nova-(?:micro|lite|pro|premier|2-))",
    re.IGNORECASE,
)


def supports_prompt_cache(model_id: str) -> bool:
    """The model id names a family known to take cache points."""
    return bool(_SUPPORTED.search(model_id))


def prompt_cache_wanted(setting: str, model_id: str) -> bool:
    """`BEDROCK_PROMPT_CACHE`: `on`, `off`, or `auto` (on for the families known to take cache points)."""
    if setting == "auto":
        return supports_prompt_cache(model_id)
    return setting == "on"


def with_cache_points(system: list[dict], messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """`system` and `messages` with cache points where a follow-up will share the prefix (see the module's
    notes). The arguments are not changed; never more than `MAX_CACHE_POINTS` in all, counting any already
    there."""
    room = MAX_CACHE_POINTS - _points_in(system) - sum(_points_in(m.get("content", [])) for m in messages)
    system = list(system)
    messages = list(messages)
    wanted: list[int] = []  # message indexes, most useful first: a read now before a write for later
    if len(messages) >= 3 and messages[-3].get("role") == "user":
        wanted.append(len(messages) - 3)  # where the previous reply's newest turn ended: read back now
    if messages:
        wanted.append(len(messages) - 1)  # the newest turn: for the next follow-up
    if room > 0 and _takes_point(system):
        system.append(dict(CACHE_POINT))
        room -= 1
    for index in wanted:
        if room <= 0:
            break
        content = messages[index].get("content", [])
        if _takes_point(content):
            messages[index] = {**messages[index], "content": [*content, dict(CACHE_POINT)]}
            room -= 1
    return system, messages


def _points_in(blocks: list[dict]) -> int:
    return sum(1 for block in blocks if "cachePoint" in block)


def _takes_point(blocks: list[dict]) -> bool:
    """A point must follow content, and one point after the same content is enough."""
    return bool(blocks) and "cachePoint" not in blocks[-1]
