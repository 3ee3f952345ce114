"""A question answered from a Knowledge Base, end to end: the real `python -m bot` against the Slack, Bedrock
and Knowledge Bases stand-ins. What a person sees: the status says what the bot does, the search is a task
card in the native stream with the source it found, and the answer cites that source as a link; what the
model got: the passage, as the result of the tool it asked for."""

from __future__ import annotations

from standins.bedrock import Reply, tool_use
from standins.knowledge import Passage, s3, web
from tests.helpers import ask

HANDBOOK = "KBHANDBOOK"
SEARCH = f"search_knowledge_base_{HANDBOOK}"
PASSAGE = "Parents get 20 weeks of paid parental leave."


def model_that_searches(request) -> Reply:
    """The model asks the handbook first, then answers from what it found, citing it."""
    if not request.tool_results:
        return tool_use([("tooluse_1", SEARCH, {"query": "parental leave policy"})])
    return Reply.text("Parents get 20 weeks of paid leave [1].", chunk=8)


def finished(slack):
    return slack.wait_until(
        lambda: [m for m in slack.bot_messages("C1") if not m.streaming and "Sources" in m.text],
        what="the streamed answer to end with its sources")


def test_a_knowledge_base_answer_shows_its_search_as_a_task_card_and_cites_the_source(
        slack, bedrock, knowledge, bot_process):
    knowledge.add(HANDBOOK, Passage(PASSAGE, web("https://wiki.example/hr/leave")),
                  Passage("Parental leave can be split.", s3("s3://hr/handbook.pdf")))
    knowledge.delay = 0.5  # a search takes a moment: the card shows it under way
    bedrock.answer = model_that_searches
    bot_process(BEDROCK_KNOWLEDGE_BASE_IDS=f"{HANDBOOK}=the HR handbook",
                AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME=knowledge.endpoint_url)
    ask(slack, "<@UBOT> what is our parental leave policy?")

    [answer] = finished(slack)
    [retrieval] = knowledge.retrievals
    (shown_at, first), *_ = answer.task_updates
    assert first["status"] in ("pending", "in_progress") and shown_at < retrieval.ended_at  # while it searched
    assert answer.posted_text == ""  # the card opened the stream: no words yet
    assert [status.status for status in slack.statuses] == ["is thinking…"]  # the card, not a status, says it
    assert answer.format == "markdown" and answer.task_display_mode == "timeline"
    assert answer.text.startswith("Parents get 20 weeks of paid leave [1].")
    assert "*Sources:* [1] [leave](https://wiki.example/hr/leave)" in answer.text
    [card] = answer.tasks.values()
    assert card["status"] == "complete" and "the HR handbook" in card["title"]
    assert {"type": "url", "url": "https://wiki.example/hr/leave", "text": "leave"} in card["sources"]
    assert retrieval.query == "parental leave policy"
    first, second = bedrock.requests
    [result] = second.tool_results
    assert result["toolUseId"] == "tooluse_1" and PASSAGE in result["content"][0]["text"]
    assert first.tools == [SEARCH]


def test_a_search_that_fails_ends_in_a_note_and_the_model_answers_without_it(slack, bedrock, knowledge,
                                                                            bot_process):
    bedrock.answer = model_that_searches  # the stand-in has no such knowledge base: Retrieve answers 404
    bot_process(BEDROCK_KNOWLEDGE_BASE_IDS=f"{HANDBOOK}=the HR handbook",
                AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME=knowledge.endpoint_url, SLACK_REPLY_SURFACE="edit")
    ask(slack, "<@UBOT> what is our parental leave policy?")

    text = slack.wait_until(lambda: [m.text for m in slack.bot_messages("C1") if "was not found" in m.text],
                            what="the note of the failed search")[0]
    assert "Parents get 20 weeks" in text  # the model went on without the search
    assert "Steps: Searching the HR handbook" in text and "✗" in text  # the edit path's line for the steps
    assert "is searching the HR handbook…" in [status.status for status in slack.statuses]  # while it searched
    assert bedrock.requests[1].tool_results[0]["status"] == "error"
