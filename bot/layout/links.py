"""Links whose text could mislead: `[https://bank.example](https://evil.example)` reads bank.example and opens
evil.example. Pure: no thread, clock or network.

`misleading(text, target)` says whether a link's text names a place (a URL, a domain, an e-mail address)
other than where the link goes; both sinks then show the target beside the text. Text that names the
target's own host (`www.` aside), or no host at all, keeps its link. A word shaped like a file name
(`setup.py`, `Node.js`) is not taken for a domain, unless it says otherwise (a scheme, `www.`, a path).

`find_link` reads a CommonMark inline link or image (`[text](destination "title")`) where it starts, the way
the layout needs on text that is still arriving: a link, not a link, or not decided until more text comes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+(?:[^\W\d_]{{2,63}}|xn--[a-z0-9-]+)\.?$", re.IGNORECASE)
_PORT = re.compile(r":\d+$")
_AROUND = "\"'()[]{}<>,;:!?.*_~`"  # what may wrap a host in a sentence or in Markdown
# Endings of file names that an answer names often; a word ending so is a file, not a host, unless it has a
# scheme, `www.` or a path. (.zip and .mov are left out on purpose: they are domains people are fooled by.)
_FILE_ENDINGS = frozenset("""
    py js mjs cjs ts jsx tsx md rst json yaml yml toml txt sh bash zsh rs go java kt rb php pl cc cpp hpp cs swift
    html htm css scss xml csv ini cfg conf log lock env sql tf lua ps1 bat exe dll so dylib jar gz tgz bz2 xz tar
    png jpg jpeg gif svg webp pdf doc docx xls xlsx ipynb vue proto gradle mk
""".split())


def misleading(text: str, target: str) -> bool:
    """True if the link text `text` names a host (in a URL, a domain or an e-mail address) that is not the host
    of `target`, where the link goes."""
    text = text.replace("\\", "").strip()
    if not text or text == target.strip():
        return False
    goes_to = _normal(_target_host(target))
    return any(_normal(host) != goes_to for host in _named_hosts(text))


def _named_hosts(text: str) -> list[str]:
    hosts = []
    for word in text.split():
        word = word.strip(_AROUND)
        if not word:
            continue
        if "://" in word and _SCHEME.match(word):
            host = _hostname(word)
        elif word.lower().startswith("mailto:") or ("@" in word and "/" not in word):
            host = word.rsplit("@", 1)[-1] if "@" in word else None
        else:
            head = re.split(r"[/?#]", word, maxsplit=1)[0]
            host = _PORT.sub("", head)
            looks_like_file = (host.rsplit(".", 1)[-1].lower() in _FILE_ENDINGS and head == word
                               and not host.lower().startswith("www."))
            if looks_like_file:
                host = None
        if host and (_DOMAIN.match(host) or "://" in word):
            hosts.append(host)
    return hosts


def _target_host(target: str) -> str:
    target = target.strip()
    if target.lower().startswith("mailto:"):
        return target[len("mailto:"):].split("?", 1)[0].rsplit("@", 1)[-1]
    return _hostname(target) or ""


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:  # a malformed port or IPv6 address
        return None


def _normal(host: str) -> str:
    host = host.lower().rstrip(".")
    host = host[4:] if host.startswith("www.") else host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


# -- reading links in Markdown that is still arriving ---------------------------------------------------------


@dataclass(frozen=True)
class Link:
    start: int  # where the link begins (its `!` for an image)
    end: int  # just after its closing `)`
    text: str  # the link text as written (Markdown)
    target: str  # the destination, without `<…>`


INCOMPLETE = "incomplete"  # what `find_link` says when the text so far could still become a link
_MAX_NESTING = 32  # parentheses nested in a destination, as cmark allows: deeper, it is not a link


def find_link(text: str, at: int, brackets: Mapping[int, int | str | None] | None = None) -> Link | str | None:
    """The inline link or image whose `[` is at `at` (an image's `!` just before it is part of it), None if
    what is there is not one, or INCOMPLETE if the text ends before that is decided. `brackets`: the
    `bracket_pairs` of `text`, for a caller that reads many links in one text."""
    start = at - 1 if at > 0 and text[at - 1] == "!" else at
    close = (brackets if brackets is not None else bracket_pairs(text)).get(at)
    if not isinstance(close, int):  # None (no link), or INCOMPLETE
        return close
    label = text[at + 1:close]
    if close + 1 == len(text):
        return INCOMPLETE
    if text[close + 1] != "(":
        return None
    found = _destination(text, close + 2)
    if not isinstance(found, tuple):  # None (no link), or INCOMPLETE
        return found
    target, end = found
    return Link(start, end, label, target)


def bracket_pairs(text: str) -> dict[int, int | str | None]:
    """For each unescaped `[` of `text`: the index of the `]` that closes it, None if the paragraph ends
    first (a link cannot cross a blank line), or INCOMPLETE if the text ends first. One pass."""
    pairs: dict[int, int | str | None] = {}
    open_at: list[int] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "\n" and text[i + 1:i + 2] == "\n":
            pairs.update(dict.fromkeys(open_at))
            open_at.clear()
        elif char == "[":
            open_at.append(i)
        elif char == "]" and open_at:
            pairs[open_at.pop()] = i
        i += 1
    pairs.update(dict.fromkeys(open_at, INCOMPLETE))
    return pairs


def _destination(text: str, i: int) -> tuple[str, int] | str | None:
    """The destination (and optional title) after `](`, up to and including `)`."""
    n = len(text)
    i = _spaces(text, i)
    if i >= n:
        return INCOMPLETE
    if text[i] == "<":
        end = i + 1
        while end < n and text[end] not in "<>\n":
            end += 2 if text[end] == "\\" else 1
        if end >= n:
            return INCOMPLETE
        if text[end] != ">":
            return None
        target, i = text[i + 1:end], end + 1
    else:
        depth, begin = 0, i
        while i < n:
            char = text[i]
            if char == "\\":
                i += 2
                continue
            if char.isspace() or ord(char) < 32:
                break
            if char == "(":
                depth += 1
                if depth > _MAX_NESTING:
                    return None
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        if i >= n:
            return INCOMPLETE
        target = text[begin:i]
    spaced = _spaces(text, i)
    if spaced >= n:
        return INCOMPLETE
    if spaced > i and text[spaced] in "\"'(":
        closer = ")" if text[spaced] == "(" else text[spaced]
        end = spaced + 1
        while end < n and text[end] != closer:
            if text.startswith("\n\n", end) or (closer == ")" and text[end] == "("):
                return None
            end += 2 if text[end] == "\\" else 1
        if end >= n:
            return INCOMPLETE
        spaced = _spaces(text, end + 1)
        if spaced >= n:
            return INCOMPLETE
    if text[spaced] != ")":
        return None
    return target, spaced + 1


def _spaces(text: str, i: int) -> int:
    """Past the spaces and tabs at `i`, and at most one line break among them."""
    newline = False
    while i < len(text) and text[i] in " \t\n":
        if text[i] == "\n":
            if newline:
                break
            newline = True
        i += 1
    return i
