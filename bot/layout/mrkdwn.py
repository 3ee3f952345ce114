"""Markdown from the model becomes Slack mrkdwn.

Why mrkdwn and not Slack's `markdown` block: Slack defines exactly how `text` is escaped (`&`, `<`, `>`
and nothing else), so escaping every character the model wrote makes `<!channel>`, `<!here>`, `<@U…>`
and `<!subteam^…>` inert by construction; the only `<` this module emits opens a link whose URL it
checked itself. Escaped characters also read correctly inside code, where a CommonMark code span would
show `&lt;` literally.

A link whose text names another host than its target (`[https://bank.example](https://evil.example)`, see
`links`) shows its target after the text, `https://bank.example (<https://evil.example>)`, so nobody is
sent somewhere other than the link says.

The converter is streaming-safe: it is called on a prefix of the answer, and an unclosed code fence in
that prefix is rendered as a closed code block, so half an answer never turns the rest of the message
into code.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from bot.layout.links import misleading

_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

_SAFE_LINK_SCHEMES = ("http://", "https://", "mailto:")
_BULLETS = ("•", "◦", "▪")
_INDENT = "    "
_RULE = "──────────"


def escape(text: str) -> str:
    """Escape Slack's three control characters, and only those."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Convert (a prefix of) a Markdown answer into Slack mrkdwn."""
    tree = SyntaxTreeNode(_PARSER.parse(markdown))
    return _blocks(tree.children, depth=0).strip()


def _blocks(nodes: list[SyntaxTreeNode], depth: int) -> str:
    parts = [_block(node, depth) for node in nodes]
    return "\n\n".join(part for part in parts if part)


def _block(node: SyntaxTreeNode, depth: int) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline(node.children[0]) if node.children else ""
    if kind == "heading":
        title = _inline(node.children[0], plain_emphasis=True) if node.children else ""
        return f"*{title}*" if title else ""
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, depth)
    if kind == "blockquote":
        body = _blocks(node.children, depth)
        return "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))
    if kind in ("fence", "code_block"):
        return _code_block(node.content)
    if kind == "hr":
        return _RULE
    if kind == "table":
        return _table(node)
    # html_block cannot occur with html disabled; anything unknown is shown as the text it holds.
    return escape(node.content.rstrip("\n"))


def _code_block(content: str) -> str:
    # mrkdwn cannot nest fences: a ``` inside the code would end the block, so a zero-width space breaks it.
    code = escape(content.rstrip("\n")).replace("```", "``\u200b`")
    return "```\n" + code + "\n```"


def _list(node: SyntaxTreeNode, depth: int) -> str:
    ordered = node.type == "ordered_list"
    start = int(node.attrs.get("start", 1)) if ordered else 1
    items = []
    for number, item in enumerate(node.children, start=start):
        marker = f"{number}." if ordered else _BULLETS[min(depth, len(_BULLETS) - 1)]
        items.append(_list_item(item, marker, depth))
    return "\n".join(items)


def _list_item(item: SyntaxTreeNode, marker: str, depth: int) -> str:
    indent = _INDENT * depth
    continuation = _INDENT * (depth + 1)
    lines: list[str] = []
    for child in item.children:
        body = _block(child, depth + 1)
        if not body:
            continue
        if child.type in ("fence", "code_block", "table", "bullet_list", "ordered_list"):
            # Code keeps its own left edge (indenting it would change the code); lists indent themselves.
            lines.append(body)
        else:
            lines.extend(continuation + line if line else line for line in body.split("\n"))
    if not lines:
        return f"{indent}{marker}"
    if lines[0].startswith(continuation):
        return "\n".join([f"{indent}{marker} {lines[0][len(continuation):]}", *lines[1:]])
    return "\n".join([f"{indent}{marker}", *lines])


def _table(node: SyntaxTreeNode) -> str:
    rows = [
        [_plain(cell) for cell in row.children]
        for section in node.children
        for row in section.children
    ]
    if not rows:
        return ""
    columns = max(len(row) for row in rows)
    widths = [max((len(row[i]) for row in rows if i < len(row)), default=0) for i in range(columns)]
    lines = [" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return _code_block("\n".join(lines))


def _plain(node: SyntaxTreeNode) -> str:
    """The text of an inline node without any markup (for table cells)."""
    if node.type in ("text", "code_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    return "".join(_plain(child) for child in node.children)


def _inline(node: SyntaxTreeNode, plain_emphasis: bool = False) -> str:
    out: list[str] = []
    for child in node.children:
        kind = child.type
        if kind == "text":
            out.append(escape(child.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "code_inline":
            out.append(f"`{escape(child.content)}`")
        elif kind in ("strong", "em", "s"):
            inner = _inline(child, plain_emphasis)
            mark = "" if plain_emphasis else {"strong": "*", "em": "_", "s": "~"}[kind]
            out.append(f"{mark}{inner}{mark}" if inner.strip() else inner)
        elif kind == "link":
            out.append(_link(str(child.attrs.get("href", "")), _inline(child, plain_emphasis), _plain(child)))
        elif kind == "image":
            alt = escape(_plain(child)) or "image"
            out.append(_link(str(child.attrs.get("src", "")), alt, _plain(child)))
        else:
            out.append(escape(child.content))
    return "".join(out)


def _link(href: str, label: str, text: str) -> str:
    """A link to `href` reading `label` (mrkdwn; `text` is the same without markup). A label that names
    another host than the link's is shown with the target after it, as a link that reads as itself."""
    if not href.lower().startswith(_SAFE_LINK_SCHEMES):
        return label  # never emit `<…>` with a target we did not check: `<!channel>` is one
    url = escape(href.replace("|", "%7C"))
    if not label or label == url:
        return f"<{url}>"
    if misleading(text, href):
        return f"{label} (<{url}>)"
    return f"<{url}|{label.replace('|', '¦')}>"
