"""The model's rounds of tool use, through real boto3 against the Bedrock stand-in (which checks every turn as
Bedrock does): what reaches the model, in what order the steps show, and what a failing, slow or unknown
tool does to the answer."""

from __future__ import annotations

import threading
import time

import pytest

from bot.model.bedrock import BedrockModel, Finished, ModelSettings, TextDelta, Usage
from bot.tools.base import Passage, Source, ToolFailed, ToolOutput
from bot.tools.rounds import COMPLETE, ERROR, IN_PROGRESS, PENDING, TOOL_ROUNDS, Rounds, Step
from standins.bedrock import Reply, tool_use

QUESTION = [{"role": "user", "content": [{"text": "What is our parental leave policy?"}]}]


class Handbook:
    """A tool for the tests: answers from a fixed passage, or as told (slowly, with a failure)."""

    name = "search_handbook"

    def __init__(self, *, seconds: float = 0.0, failure: Exception | None = None) -> None:
        self.seconds, self.failure, self.inputs = seconds, failure, []
        self.running = threading.Event()

    @property
    def spec(self) -> dict:
        return {"name": self.name, "description": "Search the HR handbook.",
                "inputSchema": {"json": {"type": "object", "properties": {"query": {"type": "string"}}}}}

    def title(self, tool_input: dict) -> str:
        return f"Searching the HR handbook for “{tool_input.get('query', '')}”"

    def doing(self, tool_input: dict) -> str:
        return "is searching the HR handbook…"

    def run(self, tool_input: dict, timeout: float) -> ToolOutput:
        self.inputs.append(tool_input)
        self.running.set()
        time.sleep(self.seconds)
        if self.failure is not None:
            raise self.failure
        return ToolOutput("Passages:", (Passage("Parents get 20 weeks of paid leave.",
                                                Source("Leave policy", "https://wiki.example/leave")),))


@pytest.fixture
def model(aws_env) -> BedrockModel:
    return BedrockModel.from_settings(ModelSettings(aws_region="us-east-1", retry_base_seconds=0.01))


def asks(*calls: tuple[str, str, dict], text: str = "") -> Reply:
    return tool_use(list(calls), text=text)


def test_a_tool_result_reaches_the_model_by_its_id_and_the_answer_cites_its_source(model, bedrock):
    bedrock.script(asks(("tooluse_1", "search_handbook", {"query": "parental leave"}), text="Let me look."),
                   Reply.text("Parents get 20 weeks [1]."))
    rounds = Rounds(model, [Handbook()])
    events = list(rounds.run(QUESTION))

    first, second = bedrock.requests
    assert first.tools == ["search_handbook"] and second.tools == ["search_handbook"]
    assert second.messages[1] == {"role": "assistant", "content": [
        {"text": "Let me look."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "search_handbook", "input": {"query": "parental leave"}}}]}
    [result] = second.tool_results
    assert result["toolUseId"] == "tooluse_1" and result["status"] == "success"
    assert "[1] Leave policy\nParents get 20 weeks of paid leave." in result["content"][0]["text"]
    steps = [event for event in events if isinstance(event, Step)]
    assert [step.status for step in steps] == [PENDING, IN_PROGRESS, COMPLETE]
    assert steps[1].doing == "is searching the HR handbook…"
    assert steps[2].sources == (Source("Leave policy", "https://wiki.example/leave"),)
    # a new round starts a new paragraph: "Let me look.Parents get…" read as one sentence
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me look.\n\nParents get 20 weeks [1]."
    assert rounds.sources.cited(rounds.text) == [(1, Source("Leave policy", "https://wiki.example/leave"))]
    assert isinstance(events[-2], Finished) and events[-2].stop_reason == "end_turn"
    assert isinstance(events[-1], Usage) and events[-1].input_tokens == 22  # both rounds counted


def test_tools_asked_for_at_once_run_at_once(model, bedrock):
    bedrock.script(asks(("t1", "search_handbook", {"query": "a"}), ("t2", "search_handbook", {"query": "b"})),
                   Reply.text("Done."))
    started = time.monotonic()
    list(Rounds(model, [Handbook(seconds=0.5)]).run(QUESTION))
    assert time.monotonic() - started < 0.95  # two half-second searches, side by side
    assert [result["toolUseId"] for result in bedrock.requests[1].tool_results] == ["t1", "t2"]


def test_a_failing_tool_is_a_result_the_model_works_around_and_a_line_for_the_note(model, bedrock):
    bedrock.script(asks(("t1", "search_handbook", {"query": "a"})), Reply.text("I could not search."))
    rounds = Rounds(model, [Handbook(failure=ToolFailed("the knowledge base is busy"))])
    events = list(rounds.run(QUESTION))

    [result] = bedrock.requests[1].tool_results
    assert result["status"] == "error" and "the knowledge base is busy" in result["content"][0]["text"]
    assert [e.status for e in events if isinstance(e, Step)][-1] == ERROR
    assert rounds.failures == [("Searching the HR handbook for “a”", "the knowledge base is busy")]


def test_a_tool_that_breaks_is_reported_without_its_exception(model, bedrock):
    bedrock.script(asks(("t1", "search_handbook", {"query": "a"})), Reply.text("Sorry."))
    rounds = Rounds(model, [Handbook(failure=KeyError("secret detail"))])
    list(rounds.run(QUESTION))
    [result] = bedrock.requests[1].tool_results
    assert result["status"] == "error" and "secret detail" not in result["content"][0]["text"]


def test_a_slow_tool_is_given_up_after_its_time_and_the_answer_goes_on(model, bedrock):
    bedrock.script(asks(("t1", "search_handbook", {"query": "a"})), Reply.text("Without it."))
    started = time.monotonic()
    rounds = Rounds(model, [Handbook(seconds=5)], timeout=0.3)
    events = list(rounds.run(QUESTION))
    assert time.monotonic() - started < 2
    assert "took too long" in bedrock.requests[1].tool_results[0]["content"][0]["text"]
    assert rounds.failures == [("Searching the HR handbook for “a”", "it took too long")]
    assert events[-2] == Finished("end_turn")


def test_an_unknown_tool_or_input_that_is_not_json_is_answered_with_an_error(model, bedrock):
    bedrock.script(asks(("t1", "delete_everything", {"all": True}), ("t2", "search_handbook", '{"query": "cut')),
                   Reply.text("Fine."))
    handbook = Handbook()
    rounds = Rounds(model, [handbook])
    list(rounds.run(QUESTION))
    unknown, broken = bedrock.requests[1].tool_results
    assert unknown["status"] == "error" and "no tool named delete_everything" in unknown["content"][0]["text"]
    assert broken["status"] == "error" and "not a JSON object" in broken["content"][0]["text"]
    assert handbook.inputs == []  # neither ran


def test_a_model_that_keeps_asking_is_told_no_more_then_stopped(model, bedrock):
    bedrock.script(*[asks((f"t{n}", "search_handbook", {"query": str(n)})) for n in range(4)])
    handbook = Handbook()
    rounds = Rounds(model, [handbook], rounds=2)
    events = list(rounds.run(QUESTION))
    assert len(handbook.inputs) == 2  # two rounds of tools ran
    assert "No more tool calls" in bedrock.requests[3].tool_results[0]["content"][0]["text"]
    assert len(bedrock.requests) == 4 and events[-2] == Finished(TOOL_ROUNDS)
    steps = {}
    for event in events:
        if isinstance(event, Step):
            steps[event.id] = event.status
    assert steps == {"t0": COMPLETE, "t1": COMPLETE, "t2": ERROR, "t3": ERROR}  # no card left pending
    assert [why for _, why in rounds.failures] == ["it was not run: the answer had taken too many steps"] * 2


def test_a_stopped_reply_leaves_its_running_tools(model, bedrock):
    bedrock.script(asks(("t1", "search_handbook", {"query": "a"})), Reply.text("never asked"))
    handbook = Handbook(seconds=5)
    stopped = threading.Event()
    threading.Thread(target=lambda: (handbook.running.wait(5), stopped.set()), daemon=True).start()
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        list(Rounds(model, [handbook]).run(QUESTION, stopped=stopped.is_set))
    assert type(raised.value).__name__ == "StreamClosed" and time.monotonic() - started < 1.5
    assert len(bedrock.requests) == 1  # the model was not asked again


def test_without_tools_the_request_carries_no_tool_config(model, bedrock):
    bedrock.script(Reply.text("Hi."))
    list(Rounds(model, []).run(QUESTION))
    assert "toolConfig" not in bedrock.requests[0].body


def test_past_its_token_budget_an_answer_runs_no_more_tools(model, bedrock):
    bedrock.script(asks(("t1", "search_handbook", {"query": "a"})), asks(("t2", "search_handbook", {"query": "b"})),
                   Reply.text("Done."))
    handbook = Handbook()
    rounds = Rounds(model, [handbook], max_tokens=25)  # each round of the stand-in reports 20 tokens
    events = list(rounds.run(QUESTION))
    assert len(handbook.inputs) == 1  # the second round would pass the budget
    assert "used 40 of its 25 tokens" in bedrock.requests[2].tool_results[0]["content"][0]["text"]
    assert events[-2] == Finished("end_turn")


def test_a_round_runs_at_most_eight_tools_and_tells_the_model_to_ask_for_fewer(model, bedrock):
    bedrock.script(asks(*[(f"t{n}", "search_handbook", {"query": str(n)}) for n in range(9)]), Reply.text("Done."))
    handbook = Handbook()
    list(Rounds(model, [handbook]).run(QUESTION))
    results = bedrock.requests[1].tool_results
    assert len(handbook.inputs) == 8 and len(results) == 9  # every call answered, as Bedrock requires
    assert results[8]["status"] == "error" and "too many tool calls at once" in results[8]["content"][0]["text"]
