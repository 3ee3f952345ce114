"""Links that could mislead (`bot.layout.links`) and the Markdown a native stream is sent (`bot.layout.markdown`).

A link whose text names another host than its target shows the target beside the text, on the stream path as
on the mrkdwn path (`tests/layout/test_mrkdwn.py`); a link to the host its text names stays a link. What a stream
is sent in pieces reads exactly as the whole would: a link or code span still open waits for its end.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings, strategies as st

from bot.layout.links import INCOMPLETE, Link, find_link, misleading
from bot.layout.markdown import for_stream

# --- misleading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, target", [
    ("https://bank.example", "https://evil.example"),
    ("https://bank.example/login", "https://evil.example/login"),
    ("bank.example", "https://evil.example"),
    ("www.bank.example", "https://evil.example"),
    ("**bank.example**", "https://evil.example"),
    ("`bank.example`", "https://evil.example"),
    ("bank\\.example", "https://evil.example"),
    ("Log in at bank.example now", "https://evil.example"),
    ("bank.example", "https://bank.example@evil.example/"),
    ("pay@bank.example", "mailto:pay@evil.example"),
    ("bank.example:8443", "https://evil.example"),
    ("bаnk.example", "https://bank.example"),  # a Cyrillic "а"
    ("bank.example", "/relative/path"),
    ("github.zip", "https://evil.example"),
])
def test_text_that_names_another_host_is_misleading(text, target):
    assert misleading(text, target)


@pytest.mark.parametrize("text, target", [
    ("the docs", "https://evil.example"),
    ("https://bank.example/a", "https://bank.example/b"),
    ("bank.example", "https://BANK.example/login"),
    ("example.com", "https://www.example.com/"),
    ("www.example.com", "https://example.com"),
    ("https://evil.example", "https://evil.example"),
    ("mail me", "mailto:a@b.example"),
    ("a@b.example", "mailto:a@b.example"),
    ("Node.js", "https://nodejs.org"),
    ("setup.py", "https://github.com/org/repo/blob/main/setup.py"),
    ("version 1.2.3", "https://example.com/releases"),
    ("e.g. this", "https://example.com"),
    ("münchen.de", "https://xn--mnchen-3ya.de/"),
    ("", "https://evil.example"),
])
def test_text_that_names_the_same_host_or_none_is_not(text, target):
    assert not misleading(text, target)


# --- find_link ---------------------------------------------------------------------------------------


def test_a_complete_link_is_read_with_its_text_and_target():
    text = 'see [the **docs**](https://x.example/a_(b) "Title") now'
    link = find_link(text, 4)
    assert link == Link(4, text.index(" now"), "the **docs**", "https://x.example/a_(b)")


def test_an_image_starts_at_its_bang_and_a_pointy_target_loses_its_brackets():
    assert find_link("![alt](<https://x.example/a b>)", 1) == Link(0, 31, "alt", "https://x.example/a b")


@pytest.mark.parametrize("text", ["[a", "[a]", "[a](", "[a](https://x.example", "[a](https://x.example ",
                                  '[a](https://x.example "ti', "[a [b] c", "[a\\"])
def test_a_link_the_text_has_not_finished_yet_is_undecided(text):
    assert find_link(text, 0) == INCOMPLETE


@pytest.mark.parametrize("text", ["[a] b", "[a]: x", "[a](x y)", "[a\n\nb](x)", "[a](x\n\ny)"])
def test_what_cannot_become_a_link_is_not_one(text):
    assert find_link(text, 0) is None


# --- for_stream --------------------------------------------------------------------------------------


def test_a_misleading_link_is_sent_as_its_text_then_its_target():
    answer = "Pay at [https://bank.example](https://evil.example)."
    assert for_stream(answer) == ("Pay at https://bank.example (https://evil.example).", len(answer))


def test_a_misleading_link_inside_another_links_text_is_seen():
    """Links hold no links (CommonMark): the inner one is the link Slack renders, so it is the one to check."""
    answer = "[x[bank.example](https://evil.example)y](https://ev.example)"
    assert for_stream(answer)[0] == "\\[xbank.example (https://evil.example)y](https://ev.example)"  # no link at all
    image = "![a [bank.example](https://evil.example)](https://x.example/a.png)"
    assert "[bank.example](https://evil.example)" not in for_stream(image)[0]


def test_a_link_to_the_host_it_names_is_sent_as_written():
    text = "See [bank.example](https://bank.example/login) and [the docs](https://docs.example)."
    assert for_stream(text) == (text, len(text))


def test_an_image_that_misleads_is_sent_as_its_text_and_target():
    assert for_stream("![bank.example](https://evil.example/x.png)")[0] == "bank.example (https://evil.example/x.png)"


def test_angle_brackets_are_still_sent_as_slacks_escape():
    assert for_stream("<!here> [<!channel> bank.example](https://evil.example)")[0] == (
        "&lt;!here> &lt;!channel> bank.example (https://evil.example)")


@pytest.mark.parametrize("text", [
    "`[bank.example](https://evil.example)`",
    "```\n[bank.example](https://evil.example)\n```",
    "~~~md\n[bank.example](https://evil.example)\n",
])
def test_code_is_sent_as_written(text):
    assert for_stream(text)[0] == text


def test_a_reference_definition_is_shown_as_text_so_no_reference_link_can_mislead():
    assert for_stream("[bank.example][1]\n\n[1]: https://evil.example")[0] == (
        "[bank.example][1]\n\n\\[1]: https://evil.example")


@pytest.mark.parametrize("text, sendable", [
    ("Pay at [https://bank.example](https://ev", "Pay at "),
    ("Pay at ![bank.example](https://ev", "Pay at "),
    ("Pay at [https://bank.example]", "Pay at "),
    ("Run `rm -rf", "Run "),
    ("Done. [a] b [c](https://x.example) and [d", "Done. [a] b [c](https://x.example) and "),
    ("a `b` c", "a `b` c"),
    ("[never closed\n\nnext paragraph", "[never closed\n\nnext paragraph"),
])
def test_text_still_undecided_waits(text, sendable):
    assert for_stream(text, final=False) == (sendable, len(sendable))
    assert for_stream(text, final=True)[1] == len(text)  # at the end, everything goes as it stands


def test_sending_starts_where_the_stream_stopped():
    text = "Pay at [https://bank.example](https://evil.example) or <here>"
    assert for_stream(text, 7) == ("https://bank.example (https://evil.example) or &lt;here>", len(text))


PIECES = st.lists(st.sampled_from([
    "[", "]", "(", ")", "!", "`", "```", "\n", "\n\n", " ", "a", "b", "<", "\\", '"', "*",
    "https://bank.example", "https://evil.example", "bank.example", "[x]: ", "](", "```py\n",
]), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(PIECES, st.lists(st.integers(min_value=0, max_value=200), max_size=12))
# two backticks that looked like the end of a code span, and became three (so that nothing was code, and the
# line after was a link reference definition, escaped)
@example("[[](](\\```py\n[x]: [[[[[[](```py\n", [28])
def test_sent_in_pieces_an_answer_reads_exactly_as_sent_whole(answer, arrivals):
    """However the answer arrives, what a stream sends as it goes (only what is decided) then at the end
    adds up to the whole answer's rendering, and never shows a misleading link."""
    sent, committed = "", 0
    for arrived in sorted(arrivals):
        text, committed = for_stream(answer[:arrived], committed, final=False)
        sent += text
    sent += for_stream(answer, committed, final=True)[0]
    assert sent == for_stream(answer)[0]
    assert "[https://bank.example](https://evil.example)" not in sent
