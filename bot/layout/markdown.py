"""The model's Markdown as sent to Slack's native streams (`markdown_text`), which Slack renders itself.

Slack still reads its own `<…>` tokens inside that text: `<!channel>`, `<!here>`, `<@U…>`, `<!subteam^…>` and
`<https://x|y>` would become live. `<` is the only character that opens one, so every `<` the model wrote is
sent as Slack's escape `&lt;`, and nothing else is changed: `>` still starts a quote, `&` and everything else
reach Slack as written. Escaping works character by character, so any split of the answer into appends is
escaped the same as the whole.
"""

from __future__ import annotations


def escape(markdown: str) -> str:
    return markdown.replace("<", "&lt;")
