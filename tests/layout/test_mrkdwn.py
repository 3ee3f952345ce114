"""Model Markdown becomes Slack mrkdwn (`bot.layout.mrkdwn`).

Covers what a Slack user sees: emphasis, headings, links, lists, code, quotes, tables and rules render
as mrkdwn; a half-streamed answer with an unclosed code fence still renders as a closed code block; and
nothing the model writes can ever become a live `@channel`/`@here`/user/channel/group mention.
`escape` escapes Slack's three control characters and nothing else.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.layout.mrkdwn import escape, to_mrkdwn

# --- inline markup -----------------------------------------------------------------------------------


@pytest.mark.parametrize("markdown", ["**bold**", "__bold__"])
def test_bold_becomes_single_asterisks(markdown):
    assert to_mrkdwn(markdown) == "*bold*"


@pytest.mark.parametrize("markdown", ["*it*", "_it_"])
def test_italic_becomes_underscores(markdown):
    assert to_mrkdwn(markdown) == "_it_"


def test_strikethrough_becomes_single_tildes():
    assert to_mrkdwn("~~gone~~") == "~gone~"


def test_emphasis_inside_a_sentence_keeps_the_surrounding_text():
    assert to_mrkdwn("a **b** c _d_ e") == "a *b* c _d_ e"


@pytest.mark.parametrize("markdown", ["# Title", "## Title", "### Title", "Title\n====="])
def test_heading_becomes_a_bold_line(markdown):
    assert to_mrkdwn(markdown) == "*Title*"


def test_heading_with_emphasis_is_one_bold_line_without_nested_markers():
    assert to_mrkdwn("# Big **news**\n\nbody") == "*Big news*\n\nbody"


def test_link_becomes_slack_link_with_label():
    assert to_mrkdwn("[the docs](https://example.com/docs)") == "<https://example.com/docs|the docs>"


def test_ampersand_in_link_url_is_escaped():
    assert to_mrkdwn("[q](https://x.com/?a=1&b=2)") == "<https://x.com/?a=1&amp;b=2|q>"


def test_autolink_becomes_bare_slack_link():
    assert to_mrkdwn("<https://example.com>") == "<https://example.com>"


def test_mailto_link_is_kept_as_a_link():
    assert to_mrkdwn("[mail me](mailto:a@b.example)") == "<mailto:a@b.example|mail me>"


def test_only_a_link_whose_text_names_another_host_shows_where_it_goes():
    shown = {markdown: to_mrkdwn(markdown) for markdown in [
        "[https://bank.example](https://evil.example)",
        "[bank.example](https://evil.example/login)",
        "[**www.bank.example**](https://evil.example)",
        "[pay@bank.example](mailto:pay@evil.example)",
        "![bank.example](https://evil.example/logo.png)",
        "[https://example.com/docs](https://example.com/other)",
        "[example.com](https://www.example.com/)",
        "[Node.js](https://nodejs.org)",
        "[https://example.com](https://example.com)",
    ]}
    assert shown == {
        "[https://bank.example](https://evil.example)": "https://bank.example (<https://evil.example>)",
        "[bank.example](https://evil.example/login)": "bank.example (<https://evil.example/login>)",
        "[**www.bank.example**](https://evil.example)": "*www.bank.example* (<https://evil.example>)",
        "[pay@bank.example](mailto:pay@evil.example)": "pay@bank.example (<mailto:pay@evil.example>)",
        "![bank.example](https://evil.example/logo.png)": "bank.example (<https://evil.example/logo.png>)",
        # the same host, or the target itself, stays a link
        "[https://example.com/docs](https://example.com/other)": "<https://example.com/other|https://example.com/docs>",
        "[example.com](https://www.example.com/)": "<https://www.example.com/|example.com>",
        "[Node.js](https://nodejs.org)": "<https://nodejs.org|Node.js>",
        "[https://example.com](https://example.com)": "<https://example.com>",
    }


def test_inline_code_keeps_its_content_and_backticks():
    assert to_mrkdwn("run `ls **/*.py`") == "run `ls **/*.py`"


# --- blocks ------------------------------------------------------------------------------------------


def test_bullet_list_uses_bullets():
    assert to_mrkdwn("- one\n- two") == "• one\n• two"


def test_nested_bullet_list_is_indented_with_hollow_bullets():
    assert to_mrkdwn("- one\n  - inner\n- two") == "• one\n    ◦ inner\n• two"


def test_ordered_list_keeps_its_numbers():
    assert to_mrkdwn("1. first\n2. second\n3. third") == "1. first\n2. second\n3. third"


def test_ordered_list_starting_elsewhere_keeps_its_start():
    assert to_mrkdwn("4. four\n5. five") == "4. four\n5. five"


def test_fenced_code_keeps_content_and_drops_language():
    assert to_mrkdwn("```python\ndef f():\n    return 1\n```") == "```\ndef f():\n    return 1\n```"


def test_markup_inside_fenced_code_stays_literal():
    out = to_mrkdwn("```\n**not bold** _nor this_ [x](https://y)\n```")
    assert out == "```\n**not bold** _nor this_ [x](https://y)\n```"


def test_blockquote_lines_start_with_quote_marker():
    assert to_mrkdwn("> first\n> second") == "> first\n> second"


def test_blockquote_with_two_paragraphs_keeps_the_blank_line_quoted():
    assert to_mrkdwn("> one\n>\n> two") == "> one\n>\n> two"


def test_table_becomes_an_aligned_code_block():
    table = "| name | qty |\n|---|---|\n| apple | 3 |\n| kiwi | 12 |"
    assert to_mrkdwn(table) == "```\nname  | qty\n------+----\napple | 3\nkiwi  | 12\n```"


def test_horizontal_rule_becomes_a_line():
    out = to_mrkdwn("above\n\n---\n\nbelow")
    above, rule, below = out.split("\n\n")
    assert (above, below) == ("above", "below")
    assert rule and set(rule) == {"─"}


def test_paragraphs_stay_separated_by_a_blank_line():
    assert to_mrkdwn("one\n\n\n\ntwo") == "one\n\ntwo"


# --- streaming safety --------------------------------------------------------------------------------


def test_unclosed_fence_renders_as_closed_code_block():
    out = to_mrkdwn("text\n```python\nx = 1")
    assert out == "text\n\n```\nx = 1\n```"


@pytest.mark.parametrize(
    "prefix",
    ["```", "```py", "```py\n", "intro\n```py\nline 1\n", "- item\n\n  ```\n  code", "~~~\na\n"],
)
def test_any_prefix_with_an_open_fence_has_balanced_fences(prefix):
    out = to_mrkdwn(prefix)
    assert out.endswith("```")
    assert out.count("```") % 2 == 0


# --- broadcast safety --------------------------------------------------------------------------------

DANGEROUS = ["<!channel>", "<!here>", "<!everyone>", "<!subteam^S123>", "<@U123>", "<#C1|x>"]
PLACES = [
    "{}",
    "hi {} there",
    "`{}`",
    "```\n{}\n```",
    "```\n{}",
    "[{}](https://example.com)",
    "**{}**",
    "# {}",
    "- {}",
    "> {}",
    "| a |\n|---|\n| {} |",
    "[x]({})",
    "[x](<{}>)",
    "![{}](https://example.com/a.png)",
]
LIVE_TOKEN = re.compile(r"<[!@#]")


@pytest.mark.parametrize("token", DANGEROUS)
@pytest.mark.parametrize("place", PLACES)
def test_mentions_written_by_the_model_are_never_live(token, place):
    out = to_mrkdwn(place.format(token))
    assert not LIVE_TOKEN.search(out), out


@pytest.mark.parametrize("target", ["!channel", "<!here>", "@U123", "#C1", "ftp://example.com", "slack://channel?id=C1"])
def test_link_to_an_unsafe_target_shows_only_its_label(target):
    assert to_mrkdwn(f"[label]({target})") == "label"


def test_html_entities_for_angle_brackets_do_not_make_a_live_mention():
    out = to_mrkdwn("&lt;!channel&gt; &#60;!here&#62;")
    assert not LIVE_TOKEN.search(out)


def _unsafe_angle(out: str) -> bool:
    """True if some `<` in `out` does not open an http(s)/mailto link."""
    return any(
        not out[i:].lower().startswith(("<http://", "<https://", "<mailto:"))
        for i, char in enumerate(out)
        if char == "<"
    )


CHARACTERS = st.text(alphabet=st.sampled_from(list("<>!@#&|*_~`\n[]()^:/ .-abU1;")) | st.characters(), max_size=120)
FRAGMENTS = st.lists(
    st.sampled_from(
        ["<", ">", "!", "@", "#", "&", "|", "*", "_", "~", "`", "```", "\n", "\n\n", "[", "]", "(", ")", " ",
         "https://x.io/", "http://", "mailto:", "channel", "here", "U123", "&lt;", "&gt;", "&#60;", "- ", "1. ",
         "> ", "# ", "| a |\n|---|\n", "![", "<!channel>", "<@U1>", "%3C"]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(CHARACTERS | FRAGMENTS)
def test_no_markdown_produces_a_live_mention_or_unchecked_angle_bracket(markdown):
    out = to_mrkdwn(markdown)
    assert not LIVE_TOKEN.search(out)
    assert not _unsafe_angle(out)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(DANGEROUS),
    st.sampled_from(PLACES),
    st.text(alphabet="*_~`[]()<>!\n ", max_size=20),
)
def test_dangerous_tokens_stay_inert_next_to_arbitrary_markup(token, place, noise):
    out = to_mrkdwn(noise + place.format(token) + noise)
    assert not LIVE_TOKEN.search(out)
    assert not _unsafe_angle(out)


# --- escape ------------------------------------------------------------------------------------------


def test_escape_escapes_ampersand_and_angle_brackets():
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"


def test_escape_leaves_other_characters_alone():
    text = "*_~`|!@#\"'()[]{} ünïcode ✓"
    assert escape(text) == text


def test_escape_escapes_an_existing_entity_so_it_shows_literally():
    assert escape("&lt;") == "&amp;lt;"


def test_a_code_block_showing_a_fence_stays_one_block_in_slack():
    text = to_mrkdwn("````markdown\n```python\nx\n```\n````")
    assert text.count("```") == 2 and text.startswith("```\n") and text.endswith("\n```")
    assert "x" in text
