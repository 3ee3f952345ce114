"""The reply's steps as task cards and as a line: only what changed goes, plain text only, links only to web
addresses."""

from __future__ import annotations

import pytest

from bot.layout.layout import Layout
from bot.layout.steps import Steps


def test_only_the_cards_that_changed_go_and_each_in_its_newest_state():
    steps = Steps()
    steps.update("a", "Searching A", "pending")
    steps.update("b", "Searching B", "pending")
    chunks, marks = steps.chunks()
    steps.sent(marks)
    steps.update("a", "Searching A", "in_progress")
    steps.update("a", "Searching A", "complete")
    chunks, marks = steps.chunks()
    assert chunks == [{"type": "task_update", "id": "a", "title": "Searching A", "status": "complete"}]
    steps.sent(marks)
    assert not steps.pending


def test_a_change_made_while_a_call_was_in_flight_still_goes():
    steps = Steps()
    steps.update("a", "Searching", "in_progress")
    _, marks = steps.chunks()  # the call carrying it is in flight ...
    steps.update("a", "Searching", "complete")  # ... when the search ends
    steps.sent(marks)
    assert steps.pending and steps.chunks()[0][0]["status"] == "complete"


def test_text_from_outside_is_made_plain_and_only_web_addresses_become_sources():
    steps = Steps()
    steps.update("a", "Searching <!channel> for\n<@U123>", "error", details="x" * 500,
                 sources=(("ok", "https://a.example/x"), ("bad", "javascript:alert(1)"), ("s3", None),
                          ("<b|c>", "https://b.example/<x>")))
    [chunk], _ = steps.chunks()
    assert "<" not in chunk["title"] and ">" not in chunk["title"] and "\n" not in chunk["title"]
    assert len(chunk["details"]) <= 120
    assert chunk["sources"] == [{"type": "url", "url": "https://a.example/x", "text": "ok"}]


def test_an_unknown_status_is_a_bug_not_a_card():
    with pytest.raises(ValueError):
        Steps().update("a", "x", "done")


def test_without_cards_the_steps_are_one_line_before_the_closing_note():
    layout = Layout()
    layout.steps.update("a", "Searching the handbook", "complete")
    layout.steps.update("b", "Searching the wiki", "error")
    layout.feed("Answer.")
    layout.finish(":warning: _note_")
    assert layout.closing_note(0, blank=False, shown_anything=True) == (
        "Steps: Searching the handbook ✓ · Searching the wiki ✗\n:warning: _note_")
    layout.steps.as_cards = True  # a stream showed them as cards
    assert layout.closing_note(0, blank=False, shown_anything=True) == ":warning: _note_"


def test_a_source_named_like_another_address_is_named_by_its_own():
    steps = Steps()
    steps.update("a", "Using get_page (wiki)", "complete",
                 sources=(("https://intranet.corp/login", "https://evil.example/x"), ("Leave policy", "https://w.example/l")))
    [chunk], _ = steps.chunks()
    assert [source["text"] for source in chunk["sources"]] == ["https://evil.example/x", "Leave policy"]
