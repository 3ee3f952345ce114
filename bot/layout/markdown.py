"""The model's Markdown as sent to Slack's native streams (`markdown_text`), which Slack renders itself.

Slack still reads its own `<…>` tokens inside that text: `<!channel>`, `<!here>`, `<@U…>`, `<!subteam^…>` and
`<https://x|y>` would become live. `<` is the only character that opens one, so every `<` the model wrote is
sent as Slack's escape `&lt;`; `>` still starts a quote, `&` and everything else reach Slack as written.

A link whose text names another host than its target (`[https://bank.example](https://evil.example)`, see
`links`) is sent as its text followed by its target, `https://bank.example (https://evil.example)`, so
nobody is sent somewhere other than the link says. Code (spans and fenced blocks) is left as written.

What a stream has taken cannot be changed, so text goes out only once it is decided: a link or a code span
still open at the end of the text waits for the rest (`for_stream` says how far it is safe to send). Sent in
such pieces, an answer reads exactly as it would sent whole.
"""

from __future__ import annotations

import re

from bot.layout.links import INCOMPLETE, Link, bracket_pairs, find_link, misleading
from bot.layout.splitting import fence_regions


def escape(markdown: str) -> str:
    return markdown.replace("<", "&lt;")


def for_stream(source: str, start: int = 0, *, final: bool = True) -> tuple[str, int]:
    """`source[start:end]` as sent to a native stream, and `end`: all of it when `final`, else up to where a
    link or code span still undecided begins."""
    pieces: list[str] = []
    copied, end = start, len(source)
    for at, until, replacement in _changes(source, final):
        if replacement is None:  # undecided from `at` on
            if at >= start:
                end = at
                break
            continue
        if at < start:
            continue
        pieces += [escape(source[copied:at]), escape(replacement)]
        copied = until
    pieces.append(escape(source[copied:end]))
    return "".join(pieces), end


def _changes(source: str, final: bool):
    """(start, end, replacement) for each misleading link outside code, in order; (start, None, None) where the
    text stops being decided (only when not final)."""
    fences = iter(fence_regions(source))
    brackets = bracket_pairs(source)
    fence = next(fences, None)
    i, n = 0, len(source)
    while i < n:
        if fence is not None and i >= fence[0]:
            if not final and "\n" not in source[fence[0]:]:  # its opening line is not all in: a backtick still
                yield fence[0], None, None  # to come in its info string would make it no fence at all
                return
            i = max(i, fence[1])
            fence = next(fences, None)
            continue
        char = source[i]
        if char == "\\":
            i += 2
        elif char == "`":
            run = _run_length(source, i)
            closing = _closing_run(source, i + run, run, fence[0] if fence else n)
            if closing is not None and not final and closing + run == n:
                yield i, None, None  # the run that would close it may be longer still, and then it does not
                return
            if closing is None:
                if not final and "\n\n" not in source[i:]:
                    yield i, None, None  # the span may close in text still to come
                    return
                i += run  # never closed: the backticks are plain text
            else:
                i = closing + run
        elif char == "[":
            found = find_link(source, i, brackets)
            if isinstance(found, Link) and _holds_link(source, found, brackets):
                # links hold no links: the inner one links, and this `[` is text, kept so once the inner one
                # is rewritten (else the outer brackets would become a link, its text naming another host)
                yield i, i + 1, "\\["
                i += 1
            elif isinstance(found, Link):
                if misleading(found.text, found.target):
                    yield found.start, found.end, f"{found.text} ({found.target})"
                i = found.end
            elif found == INCOMPLETE and not final:
                yield (i - 1 if i > 0 and source[i - 1] == "!" else i), None, None
                return
            else:
                if _definition(source, i):  # `[label]: url` would let `[text][label]` link anywhere
                    yield i, i + 1, "\\["
                i += 1
        else:
            i += 1


def _holds_link(source: str, link: Link, brackets) -> bool:
    """The text of `link` holds a link of its own: then, as CommonMark reads it, the outer brackets are text
    and only the inner one links (an image's text is taken as text here too, so that its link is seen)."""
    text_start = source.index("[", link.start) + 1
    text_end = text_start + len(link.text)
    return any(source[j] == "[" and isinstance(inner := find_link(source, j, brackets), Link) and inner.end <= text_end
               for j in range(text_start, text_end))


def _run_length(source: str, i: int) -> int:
    end = i
    while end < len(source) and source[end] == "`":
        end += 1
    return end - i


def _closing_run(source: str, i: int, run: int, limit: int) -> int | None:
    """Where a backtick run as long as `run` closes the code span opened before `i` (None: not in this paragraph)."""
    paragraph_end = source.find("\n\n", i)
    limit = min(limit, paragraph_end if paragraph_end != -1 else len(source))
    for match in re.finditer(r"`+", source[i:limit]):
        if len(match.group()) == run:
            return i + match.start()
    return None


def _definition(source: str, i: int) -> bool:
    """A link reference definition's `[` (up to three spaces into a line, `]:` after its label)."""
    line_start = source.rfind("\n", 0, i) + 1
    if i - line_start > 3 or source[line_start:i].strip(" "):
        return False
    close = re.match(r"\[(?:[^\[\]\\\n]|\\.)+\]:", source[i:])
    return close is not None
