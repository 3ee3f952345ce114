"""Slack search as a tool, through the bot's Slack calls against the Slack stand-in (Real-time Search: only with
the asker's action token and a search:read scope), and end to end with the real `python -m bot`."""

from __future__ import annotations

import pytest

from bot.slack.calls import SlackCalls
from bot.slack.http import PooledWebClient
from bot.tools.base import Source, ToolFailed
from bot.tools.slack_search import SlackSearch
from standins.bedrock import Reply, tool_use
from tests.helpers import ask

DECISION = "We decided to ship the mobile app on Friday."


@pytest.fixture
def searchable(slack):
    slack.scopes |= {"search:read.public", "search:read.private"}
    slack.channel_names["C9"] = "mobile"
    slack.names["U7"] = "Dana"
    slack.add_message("C9", DECISION, user="U7")
    slack.add_message("C9", "Lunch is at noon.", user="U7")
    return slack


def calls_for(slack) -> SlackCalls:
    return SlackCalls(PooledWebClient(token="xoxb-test", base_url=slack.api_url, retry_handlers=[]))


def test_a_search_as_the_asker_gives_messages_with_their_permalinks(searchable):
    searchable.action_tokens["tok-1"] = "1.0"
    output = SlackSearch(calls_for(searchable), "tok-1", results=5).run({"query": "when do we ship mobile"}, 5)
    [passage] = output.passages
    assert passage.text == DECISION
    assert passage.source == Source("#mobile, Dana", passage.source.url) and passage.source.url.startswith(
        "https://standin.slack.com/archives/C9/p")
    [search] = searchable.searches
    assert search["action_token"] == "tok-1" and search["limit"] == "5"
    assert search["channel_types"] == "public_channel"  # the answer is read in a channel: public results only


def test_in_a_dm_with_the_bot_the_askers_private_conversations_are_searched_too(searchable):
    searchable.action_tokens["tok-1"] = "1.0"
    SlackSearch(calls_for(searchable), "tok-1", private=True).run({"query": "ship"}, 5)
    [search] = searchable.searches
    assert search["channel_types"] == "public_channel,private_channel,mpim,im"


@pytest.mark.parametrize("scopes, token, reason", [
    (set(), "tok-1", "needs a search:read scope"),
    ({"search:read.public"}, "forged", "has run out"),
])
def test_a_refused_search_is_a_plain_reason(slack, scopes, token, reason):
    slack.scopes |= scopes
    slack.action_tokens["tok-1"] = "1.0"
    with pytest.raises(ToolFailed, match=reason):
        SlackSearch(calls_for(slack), token).run({"query": "x"}, 5)


def test_a_question_answered_from_slack_cites_the_message(searchable, bedrock, bot_process):
    def model(request) -> Reply:
        if not request.tool_results:
            return tool_use([("tooluse_s", "search_slack", {"query": "ship mobile app"})])
        return Reply.text("The team ships on Friday [1].")

    bedrock.answer = model
    bot_process()  # SLACK_SEARCH=auto: the token has a search:read scope
    ask(searchable, "<@UBOT> when do we ship the mobile app?", action_token=True)

    [answer] = searchable.wait_until(
        lambda: [m for m in searchable.bot_messages("C1") if not m.streaming and "Sources" in m.text],
        what="the answer with its sources")
    [search] = searchable.searches
    assert search["action_token"].endswith(".action")  # the asker's token, from the event
    assert "*Sources:* [1] [#mobile, Dana](https://standin.slack.com/archives/C9/p" in answer.text
    [card] = answer.tasks.values()
    assert card["status"] == "complete" and card["title"] == "Searching Slack for “ship mobile app”"
    assert DECISION in bedrock.requests[1].tool_results[0]["content"][0]["text"]
    assert len(searchable.calls_of("auth.test")) == 2  # at start, and once to learn the app may search


def test_without_a_search_scope_the_model_is_not_offered_slack_search(slack, bedrock, bot_process):
    bedrock.script(Reply.text("Hello."))
    bot_process()
    ask(slack, "<@UBOT> hi", action_token=True)
    slack.wait_until(lambda: bedrock.requests, what="the model to be asked")
    assert "toolConfig" not in bedrock.requests[0].body
