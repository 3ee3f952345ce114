"""Where a long answer breaks into the next Slack message.

The answer is cut into consecutive pieces that, joined, are exactly the answer. A piece ends at a paragraph
break if one leaves the message at least half full, else at a line break, else at a space, else wherever
the limit falls. A piece that ends inside a code fence is closed by the formatter (it renders an unclosed
fence as a closed block), and the next piece is shown with the fence's opening line in front, so code
stays code on both sides of the break.
"""

from __future__ import annotations

import re
from typing import Callable

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
    for boundary in _BOUNDARIES:
        at = text.rfind(boundary, max(longest // 2, floor), longest)
        if at != -1:
            return at + len(boundary)
    return longest


def open_fence(text: str) -> str | None:
    """The opening line of the code fence still open at the end of `text` (marker and info), or None."""
    opener: str | None = None
    closer = ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if not match:
            continue
        marker, rest = match.groups()
        if opener is None:
            if marker[0] == "`" and "`" in rest:
                continue  # not a fence: a backtick fence's info string holds no backtick
            info = rest.strip()
            opener, closer = marker + (info if len(info) <= _MAX_INFO else ""), marker
        elif marker[0] == closer[0] and len(marker) >= len(closer) and not rest.strip():
            opener = None
    return opener
