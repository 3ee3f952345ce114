"""The layout shared by both sinks: text gathered until taken, messages closed where they stop fitting (never
before what a stream already sent), code fences carried over, and the closing note on the last message."""

from __future__ import annotations

from bot import notes
from bot.layout.layout import Layout


def fits_under(limit: int):
    return lambda source: len(source) <= limit


def test_text_waits_until_a_sink_takes_it_into_the_last_message():
    layout = Layout()
    assert layout.feed("Hello") is True  # the first text waiting: a sink may want to look
    assert layout.feed(", world") is False
    assert layout.bodies == [""] and layout.pending
    assert layout.absorb() is True
    assert layout.bodies == ["Hello, world"] and not layout.pending
    assert layout.absorb() is False


def test_a_message_that_stops_fitting_closes_at_a_paragraph_break():
    layout = Layout()
    layout.feed("First paragraph here.\n\nSecond paragraph, long enough to push past the limit.")
    layout.absorb()
    assert layout.fit(0, fits_under(40)) is True
    assert layout.bodies == ["First paragraph here.\n\n", "Second paragraph, long enough to push past the limit."]
    assert layout.parts[0].closed and layout.is_final(0) and not layout.is_final(1)


def test_a_split_never_takes_back_what_a_stream_already_sent():
    text = "A" * 22 + "\n\n" + "word " * 10
    free, streamed = Layout(), Layout()
    for layout in (free, streamed):
        layout.feed(text)
        layout.absorb()
    free.fit(0, fits_under(40))
    assert free.bodies[0] == "A" * 22 + "\n\n"  # left alone, it splits at the paragraph break
    streamed.fit(0, fits_under(40), floor=30)  # 30 characters were appended already
    assert 30 <= len(streamed.bodies[0]) <= 40 and streamed.bodies[0].endswith(" ")
    assert "".join(streamed.bodies) == text


def test_a_code_fence_cut_by_a_split_is_reopened_and_can_be_closed():
    layout = Layout()
    layout.feed("Code:\n\n```python\nline_1 = 1\nline_2 = 2\nline_3 = 3\nline_4 = 4\n```\n")
    layout.absorb()
    layout.fit(0, fits_under(45))
    first, second = layout.parts[0], layout.parts[1]
    assert second.prefix == "```python\n"  # the next message is code from its first line
    assert layout.closer(0) == "\n```"  # a surface that does not close fences itself ends with this
    assert layout.closer(1) == ""  # the last message is not closed yet
    assert first.body + second.body == "Code:\n\n```python\nline_1 = 1\nline_2 = 2\nline_3 = 3\nline_4 = 4\n```\n"


def test_a_cut_at_an_exact_point_moves_the_rest_to_a_new_message():
    layout = Layout()
    layout.feed("abcdef")
    layout.absorb()
    layout.cut(0, 4)
    assert layout.bodies == ["abcd", "ef"]
    layout.cut(1, 2)  # nothing left to move: the next message starts empty, for what comes later
    layout.feed("gh")
    layout.absorb()
    assert layout.bodies == ["abcd", "ef", "gh"]


def test_the_closing_note_ends_only_the_last_message_once_the_stream_ended():
    layout = Layout()
    layout.feed("text")
    layout.absorb()
    assert layout.closing_note(0, blank=False, shown_anything=False) is None
    layout.finish(":warning: _cut short_")
    assert layout.closing_note(0, blank=False, shown_anything=True) == ":warning: _cut short_"


def test_an_empty_answer_says_so_and_a_lost_message_is_owned_up_to():
    layout = Layout()
    layout.finish()
    assert layout.closing_note(0, blank=True, shown_anything=False) == notes.EMPTY_ANSWER
    layout.lost = 1
    assert layout.closing_note(0, blank=False, shown_anything=True) == notes.PART_MISSING


def test_nothing_is_taken_after_the_layout_stops_growing():
    layout = Layout()
    layout.feed("kept")
    layout.stop_growing()
    assert layout.abandoned and layout.finished and not layout.pending
    assert layout.feed("more") is False
