"""The words of `bot.notes` that are built from parts: notes for a terminal, and what to do when Slack
cannot be used at start or in `doctor` (only a token Slack refused is to be copied again)."""

from __future__ import annotations

import pytest

from bot import notes
from bot.model.kinds import ModelErrorKind
from bot.slack.kinds import NotAllowed, RateLimited, Refused, Unavailable

API = "https://slack.com/api/"


def test_a_note_for_the_terminal_loses_its_markup_but_not_the_underscores_of_names():
    assert notes.plain(notes.model_failure_note(ModelErrorKind.NOT_FOUND)) == (
        "The model set for this bot doesn't exist in its AWS region. An admin should check BEDROCK_MODEL_ID "
        "and AWS_REGION.")
    assert notes.plain(":warning: _Cut _short_ here._") == "Cut short here."


@pytest.mark.parametrize("error, says, not_says", [
    (NotAllowed("auth.test", "invalid_auth"), "Slack did not accept SLACK_BOT_TOKEN (invalid_auth). Copy the", None),
    (RateLimited("auth.test", "ratelimited", status=429), "auth.test answered 429", "Copy"),
    (Unavailable("auth.test", "URLError", sent=False), f"Slack could not be reached at {API}", "Copy"),
    (Unavailable("auth.test", "internal_error", status=500), "slack-status.com", "Copy"),
    (Refused("auth.test", "http_404", status=404), "Check SLACK_API_URL", "Copy"),
])
def test_only_a_token_slack_refused_is_to_be_copied_again(error, says, not_says):
    text = notes.slack_unusable(error, setting="SLACK_BOT_TOKEN", api_url=API)
    assert says in text and (not_says is None or not_says not in text)


def test_a_dm_that_asks_nothing_is_not_told_about_a_mention():
    assert "mention" not in notes.empty_question(in_dm=True)
    assert "mention" in notes.empty_question(in_dm=False)


def test_a_tools_failure_from_outside_cannot_ping_or_break_the_note():
    note = notes.tool_failures([("Using get_ticket (tickets)", "Error: <!channel> see <https://evil.example|bank>\n_x_")])
    assert "<" not in note and ">" not in note and "\n" not in note
    assert note.startswith(":warning: _Using get ticket (tickets) failed: Error: !channel see") and note.endswith("._")


def test_a_file_name_or_a_tools_error_cannot_plant_a_link_in_a_note():
    """Issue 22, item 2: a native stream renders its closing note as Markdown."""
    from bot.layout.markdown import for_stream

    named = "[https://bank.example/login](https://evil.example/phish).zip"
    for note in (notes.files_note([(named, "unreadable", "document", None)]),
                 notes.tool_failures([("Using get_page (wiki)", f"see {named}")])):
        assert "](" not in note
        shown, _ = for_stream(note, 0, final=True)
        assert "[https://bank.example/login](" not in shown
