"""Where a long answer breaks into the next Slack message (`bot.layout.splitting`).

Covers `split_point`: a piece ends at a paragraph break if that leaves it at least half full, else at a
line break, else at a space, else exactly at the limit; it never exceeds the limit and is never empty.
Covers `open_fence`: which code fence (if any) is still open at the end of a piece, so the next message
can reopen it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.layout.splitting import last_break, open_fence, split_point


def at_most(n: int):
    return lambda piece: len(piece) <= n


# --- split_point -------------------------------------------------------------------------------------


def test_breaks_after_a_paragraph_break_in_the_second_half():
    text = "a" * 30 + "\n\n" + "b" * 30
    assert split_point(text, at_most(40)) == 32
    assert text[:32].endswith("\n\n")


def test_prefers_a_paragraph_break_over_a_later_line_break_or_space():
    text = "a" * 25 + "\n\n" + "b" * 5 + "\n" + "c c" + "d" * 30
    assert split_point(text, at_most(40)) == 27


def test_ignores_a_paragraph_break_that_would_leave_the_piece_less_than_half_full():
    text = "a" * 10 + "\n\n" + "b" * 15 + "\n" + "c" * 30
    cut = split_point(text, at_most(40))
    assert cut == 28
    assert text[:cut].endswith("b\n")


def test_falls_back_to_a_line_break():
    text = "a" * 30 + "\n" + "b" * 30
    assert split_point(text, at_most(40)) == 31


def test_falls_back_to_a_space():
    text = "a" * 30 + " " + "b" * 30
    assert split_point(text, at_most(40)) == 31


def test_prefers_a_line_break_over_a_later_space():
    text = "a" * 25 + "\n" + "b" * 5 + " " + "c" * 30
    assert split_point(text, at_most(40)) == 26


def test_cuts_at_the_limit_when_there_is_nowhere_nice_to_break():
    assert split_point("x" * 100, at_most(40)) == 40


def test_a_space_in_the_first_half_is_not_used():
    text = "a" * 5 + " " + "b" * 100
    assert split_point(text, at_most(40)) == 40


def test_takes_at_least_one_character_even_if_nothing_fits():
    assert split_point("hello world", at_most(0)) == 1


def test_limit_can_be_any_predicate_not_just_length():
    # e.g. a limit on the rendered size: here every "&" costs five characters.
    text = "&" * 50 + " tail"
    cut = split_point(text, lambda piece: len(piece.replace("&", "&amp;")) <= 40)
    assert cut == 8


SENTENCE = "Some words come first, then **a bold phrase** and more words after it, to the end."


def test_a_space_inside_bold_is_passed_over_for_one_outside():
    cut = split_point(SENTENCE, at_most(SENTENCE.index("phrase") + 3))
    assert SENTENCE[:cut] == "Some words come first, then "


@pytest.mark.parametrize("span", ["*an italic phrase*", "_an italic phrase_", "~~a struck phrase~~",
                                  "`a code span`", "[a link](https://x.example)"])
def test_a_line_is_not_cut_inside_an_inline_span_when_it_has_a_space_outside(span):
    text = f"Some words come first, then {span} and more words after it, to the end."
    cut = split_point(text, at_most(text.index(span) + len(span) - 3))
    assert text[:cut] == "Some words come first, then "


def test_a_span_with_no_space_before_it_in_reach_is_cut_right_before_it():
    text = "Words,words,words,then[a link here](https://x.example) and on."
    cut = split_point(text, at_most(text.index("here")))
    assert text[:cut] == "Words,words,words,then"


def test_a_line_break_inside_bold_is_passed_over_for_a_space_outside():
    text = "A few words and then **bold that\ngoes on** over the line."
    assert text[:split_point(text, at_most(text.index("goes")))] == "A few words and then "


TOKENS = st.lists(st.sampled_from(["word", "longerword", "**bold words**", "*it is*", "`code span`",
                                   "[a link](https://x.example/p)", "~~gone now~~", "_under line_"]),
                  min_size=2, max_size=30)


@settings(max_examples=300, deadline=None)
@given(TOKENS, st.data())
def test_a_line_of_words_and_spans_is_cut_between_them_where_it_can_be(tokens, data):
    """One line of words and inline spans joined by spaces: whenever a space between two of them lies in the
    second half of what fits, the cut is right after such a space, never inside a span."""
    text = " ".join(tokens)
    n = data.draw(st.integers(min_value=2, max_value=len(text) - 1))
    between, at = [], -1
    for token in tokens[:-1]:
        at += len(token) + 1
        between.append(at)  # the index of each space between two tokens
    cut = split_point(text, at_most(n))
    if any(n // 2 <= space < n for space in between):
        assert cut - 1 in between, text[:cut]


TEXT = st.text(alphabet=st.sampled_from(list("ab \n`~x")) | st.characters(), min_size=2, max_size=300)


@settings(max_examples=400, deadline=None)
@given(TEXT, st.data())
def test_pieces_rejoin_exactly_and_always_fit(text, data):
    n = data.draw(st.integers(min_value=1, max_value=len(text) - 1))
    fits = at_most(n)
    cut = split_point(text, fits)
    assert 1 <= cut <= n
    assert fits(text[:cut])
    assert text[:cut] + text[cut:] == text


@settings(max_examples=200, deadline=None)
@given(TEXT, st.integers(min_value=1, max_value=50))
def test_splitting_repeatedly_covers_the_whole_text_in_fitting_pieces(text, n):
    fits = at_most(n)
    pieces, rest = [], text
    while not fits(rest):
        cut = split_point(rest, fits)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    assert "".join(pieces) == text
    assert all(fits(piece) and piece for piece in pieces[:-1])


# --- open_fence --------------------------------------------------------------------------------------


def test_no_fence_outside_code():
    assert open_fence("just some text\nand more") is None


def test_open_python_fence_is_returned_with_its_language():
    assert open_fence("intro\n```python\nx = 1\n") == "```python"


def test_fence_is_no_longer_open_after_it_closes():
    assert open_fence("```python\nx = 1\n```\nafter") is None


def test_second_fence_after_a_closed_one_is_reported():
    assert open_fence("```\na\n```\ntext\n```sh\nls") == "```sh"


def test_tilde_fences_are_recognised():
    assert open_fence("~~~ruby\nputs 1") == "~~~ruby"
    assert open_fence("~~~ruby\nputs 1\n~~~") is None


def test_closing_fence_must_use_the_same_character():
    assert open_fence("```\ncode\n~~~") == "```"
    assert open_fence("~~~\ncode\n```") == "~~~"


def test_closing_fence_must_be_at_least_as_long_as_the_opener():
    assert open_fence("````\ncode\n```") == "````"
    assert open_fence("````\ncode\n`````") is None


def test_a_fence_line_with_text_after_it_does_not_close():
    assert open_fence("```\ncode\n```python") == "```"


def test_backticks_in_the_info_string_mean_it_is_not_a_fence():
    assert open_fence("```not `a` fence\ntext") is None


def test_opener_with_a_very_long_info_string_is_returned_as_the_bare_marker():
    opener = "```" + "x" * 200
    assert open_fence(opener + "\ncode") == "```"


def test_opener_info_is_trimmed():
    assert open_fence("```   bash   \necho hi") == "```bash"


def test_the_last_break_a_message_may_end_at_now():
    assert last_break("One line.\nAnother li") == len("One line.\n")
    assert last_break("\n\nNo whole line yet") == 0  # a break with nothing before it ends nothing
    assert last_break("Some **bold\nacross** a line") == 0  # never inside a span
    assert last_break("Half a li", (" ",)) == len("Half a ")
    assert last_break("Word") == 0
