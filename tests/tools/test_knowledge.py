"""A knowledge base as a search tool, through real boto3 against the Knowledge Bases stand-in: the passages and
where they came from, and each failure as a plain reason."""

from __future__ import annotations

import time

import pytest

from bot.tools.base import Source, ToolFailed
from bot.tools.knowledge import KnowledgeBase, create_client, source_of
from standins.knowledge import Passage, confluence, s3, web


@pytest.fixture
def handbook(aws_env, knowledge) -> KnowledgeBase:
    knowledge.add("KB12345678",
                  Passage("Parents get 20 weeks of paid parental leave.", web("https://wiki.example/leave")),
                  Passage("Expenses are paid monthly.", s3("s3://hr-docs/policies/expenses%202026.pdf")),
                  Passage("Leave must be requested two weeks ahead.", confluence("https://acme.atlassian.net/wiki/x"),
                          metadata={"title": "Requesting leave"}))
    return KnowledgeBase(create_client("us-east-1", 5.0), "KB12345678", "the HR handbook", results=2)


def test_a_search_gives_the_best_passages_with_their_sources(handbook, knowledge):
    output = handbook.run({"query": "parental leave weeks"}, timeout=5)
    assert [passage.text for passage in output.passages][0] == "Parents get 20 weeks of paid parental leave."
    assert output.passages[0].source == Source("leave", "https://wiki.example/leave")
    assert len(output.passages) == 2  # the number of results asked for
    [retrieval] = knowledge.retrievals
    assert retrieval.knowledge_base_id == "KB12345678" and retrieval.query == "parental leave weeks"
    assert retrieval.body["retrievalConfiguration"] == {"vectorSearchConfiguration": {"numberOfResults": 2}}


def test_a_location_becomes_a_link_where_it_has_a_web_address_and_a_name_otherwise():
    assert source_of({"location": s3("s3://hr-docs/policies/expenses%202026.pdf")}) == Source("expenses 2026.pdf")
    assert source_of({"location": confluence("https://acme.atlassian.net/wiki/x"),
                      "metadata": {"title": "Requesting leave"}}) == Source("Requesting leave",
                                                                            "https://acme.atlassian.net/wiki/x")
    assert source_of({"location": web("javascript:alert(1)")}).url is None


def test_nothing_found_says_so(handbook):
    output = handbook.run({"query": "zebras"}, timeout=5)
    assert output.passages == () and "Nothing in the HR handbook matches" in output.text


def test_throttling_is_tried_again_within_the_tools_time(handbook, knowledge):
    knowledge.fail("ThrottlingException", 429, times=2)
    assert handbook.run({"query": "leave"}, timeout=5).passages
    assert len(knowledge.retrievals) == 3


@pytest.mark.parametrize("code, status, reason, fix", [
    ("ResourceNotFoundException", 404, "was not found", "check BEDROCK_KNOWLEDGE_BASE_IDS"),
    ("AccessDeniedException", 403, "not allowed to search", "grant bedrock:Retrieve"),
])
def test_a_refusal_is_a_plain_reason_and_the_log_says_what_to_fix(handbook, knowledge, caplog, code, status, reason,
                                                                  fix):
    knowledge.fail(code, status)
    with pytest.raises(ToolFailed) as failed:
        handbook.run({"query": "leave"}, timeout=5)
    assert reason in failed.value.reason and len(knowledge.retrievals) == 1
    assert fix in caplog.text


def test_an_unknown_knowledge_base_is_named_as_such(aws_env, knowledge):
    tool = KnowledgeBase(create_client("us-east-1", 5.0), "KBMISSING1", "the wiki")
    with pytest.raises(ToolFailed, match="not found"):
        tool.run({"query": "x"}, timeout=5)


def test_a_search_slower_than_the_tools_time_fails_as_too_long(aws_env, knowledge):
    knowledge.add("KBSLOW0001", Passage("x", web("https://x.example")))
    knowledge.delay = 3
    tool = KnowledgeBase(create_client("us-east-1", 0.5), "KBSLOW0001", "the wiki")
    started = time.monotonic()
    with pytest.raises(ToolFailed, match="too long"):
        tool.run({"query": "x"}, timeout=0.5)
    assert time.monotonic() - started < 2.5
