"""Where a long answer breaks into the next Slack message.

The answer is cut into consecutive pieces that, joined, are exactly the answer. A piece ends at a paragraph
break if one leaves the message at least half full, else at a line break, else at a space, else wherever
the limit falls. A line break or a space inside an inline span (bold, italics, strike-through, a code span,
a link) is passed over for one outside, or for the start of the span, where the line has one: cut inside,
both messages would show raw `**` or half a link. A piece that ends inside a code fence is closed by the
formatter (it renders an unclosed fence as a closed block), and the next piece is shown with the fence's
opening line in front, so code stays code on both sides of the break.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator

from bot.layout.links import Link, bracket_pairs, find_link

_BOUNDARIES = ("\n\n", "\n", " ")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")
_MAX_INFO = 30  # a fence's info string longer than this is not worth repeating in the next message


def split_point(text: str, fits: Callable[[str], bool], floor: int = 0) -> int:
    """How many characters of `text` go into this message: at least `floor` (text that can no longer move).

    `fits(prefix)` says whether a prefix of `text` fits in one message; it must hold for the first `floor`
    characters and for short prefixes, and fail for `text` itself (the caller only splits what does not
    fit). The result is at least 1.
    """
    low, high = floor, len(text)  # fits(text[:low]) holds; text[:high + 1] is the first that might not
    while low < high:
        middle = (low + high + 1) // 2
        if fits(text[:middle]):
            low = middle
        else:
            high = middle - 1
    longest = max(low, floor, 1)
    lowest = max(longest // 2, floor)
    spans = inline_spans(text)

    def outside(cut: int) -> bool:
        return not any(start < cut < end for start, end in spans)

    for boundary in _BOUNDARIES:
        if (cut := _last_cut(text, boundary, lowest, longest, outside)) is not None:
            return cut
    before_a_span = [start for start, _ in spans if lowest <= start <= longest and start > 0 and outside(start)]
    if before_a_span:
        return max(before_a_span)
    if floor and text[floor - 1] in " \n":  # what can no longer move ends at a word: the rest goes on whole
        return floor
    for boundary in _BOUNDARIES:  # no way around a span: a break inside it is still better than a broken word
        if (cut := _last_cut(text, boundary, lowest, longest, lambda cut: True)) is not None:
            return cut
    return longest


def last_break(text: str, boundaries: tuple[str, ...] = ("\n",)) -> int:
    """Where `text` could be closed now so that what comes after is left for the next message: just after its
    last boundary (a line break, by default; try them in the order given) that has text before it and is
    outside inline spans. 0 if there is none."""
    spans = inline_spans(text)
    lowest = len(text) - len(text.lstrip())

    def allowed(cut: int) -> bool:
        return not any(start < cut < end for start, end in spans)

    for boundary in boundaries:
        if (cut := _last_cut(text, boundary, lowest + 1, len(text), allowed)) is not None:
            return cut
    return 0


def _last_cut(text: str, boundary: str, lowest: int, longest: int, allowed: Callable[[int], bool]) -> int | None:
    """The last cut just after `boundary` within text[lowest:longest] that is `allowed`."""
    end = longest
    while (at := text.rfind(boundary, lowest, end)) != -1:
        if allowed(at + len(boundary)):
            return at + len(boundary)
        end = at + len(boundary) - 1
    return None


_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(?:(?!\n\n)[^\x00])+?(?<!`)\1(?!`)")
_EMPHASIS = re.compile(
    r"(?<![*\\])\*\*(?=[^\s*])(?:(?!\n\n|\*\*)[^\x00])*?(?<=[^\s*\\])\*\*(?!\*)"
    r"|(?<![_\w\\])__(?=[^\s_])(?:(?!\n\n|__)[^\x00])*?(?<=[^\s_\\])__(?![_\w])"
    r"|(?<![~\\])~~(?=[^\s~])(?:(?!\n\n|~~)[^\x00])*?(?<=[^\s~\\])~~(?!~)"
    r"|(?<![*\\])\*(?=[^\s*])(?:(?!\n\n)[^*\x00])*?(?<=[^\s*\\])\*(?!\*)"
    r"|(?<![_\w\\])_(?=[^\s_])(?:(?!\n\n)[^_\x00])*?(?<=[^\s_\\])_(?![_\w])"
)


def inline_spans(text: str) -> list[tuple[int, int]]:
    """Where the inline spans of `text` outside code blocks stand, as (start, end): bold, italics,
    strike-through, code spans and links, each as written from its opening mark to its closing one."""
    prose = list(text)
    for start, end in fence_regions(text):  # code blocks are not searched
        prose[start:end] = "\x00" * (end - start)
    prose_text = "".join(prose)
    spans = [(match.start(), match.end())
             for pattern in (_CODE_SPAN, _EMPHASIS) for match in pattern.finditer(prose_text)]
    brackets = bracket_pairs(prose_text)
    i = prose_text.find("[")
    while i != -1:
        link = find_link(prose_text, i, brackets)
        if isinstance(link, Link):
            spans.append((link.start, link.end))
            i = prose_text.find("[", link.end)
        else:
            i = prose_text.find("[", i + 1)
    return sorted(spans)


def fence_regions(text: str) -> list[tuple[int, int]]:
    """Where the fenced code blocks of `text` stand, as (start, end), from the opening line to the end of the
    closing one (to the end of the text for a block still open)."""
    return [(start, len(text) if end is None else end) for start, end, _ in _fences(text)]


def open_fence(text: str) -> str | None:
    """The opening line of the code fence still open at the end of `text` (marker and info), or None."""
    last = None
    for last in _fences(text):
        pass
    return last[2] if last is not None and last[1] is None else None


def _fences(text: str) -> Iterator[tuple[int, int | None, str]]:
    """Each fenced code block: (start, end or None while still open, its opening line's marker and info)."""
    opener: str | None = None
    closer = ""
    start = offset = 0
    for line in text.split("\n"):
        line_start, offset = offset, offset + len(line) + 1
        match = _FENCE.match(line)
        if not match:
            continue
        marker, rest = match.groups()
        if opener is None:
            if marker[0] == "`" and "`" in rest:
                continue  # not a fence: a backtick fence's info string holds no backtick
            info = rest.strip()
            opener, closer, start = marker + (info if len(info) <= _MAX_INFO else ""), marker, line_start
        elif marker[0] == closer[0] and len(marker) >= len(closer) and not rest.strip():
            yield start, min(offset, len(text)), opener
            opener = None
    if opener is not None:
        yield start, None, opener
