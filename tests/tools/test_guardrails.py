"""A Bedrock guardrail on the answers and on tool results (which the stream's guardrail does not check), end to
end with the real bot against the stand-ins: an intervention ends with a plain note; a withheld tool result is
a result the model answers around."""

from __future__ import annotations

from bot.settings import Settings, SettingsError
from standins.bedrock import GUARDRAIL_MESSAGE, Reply, tool_use
from standins.knowledge import Passage, web
from tests.helpers import ask, final_text

GUARDRAIL = {"BEDROCK_GUARDRAIL_ID": "gr123abc", "BEDROCK_GUARDRAIL_VERSION": "3"}


def test_a_guardrail_that_stops_the_question_ends_the_answer_with_a_plain_note(slack, bedrock, start_bot):
    bedrock.guardrail_blocks = {"forbidden"}
    start_bot(**GUARDRAIL)
    ask(slack, "<@UBOT> tell me the forbidden thing")

    text = final_text(slack, contains="guardrail")
    assert GUARDRAIL_MESSAGE in text and "A guardrail stopped the answer" in text
    assert bedrock.requests[0].body["guardrailConfig"] == {"guardrailIdentifier": "gr123abc", "guardrailVersion": "3",
                                                           "streamProcessingMode": "sync"}


def test_a_tool_result_the_guardrail_withholds_never_reaches_the_model(slack, bedrock, knowledge, start_bot):
    knowledge.add("KBHANDBOOK", Passage("The forbidden recipe is ...", web("https://wiki.example/recipe")))
    bedrock.guardrail_blocks = {"forbidden recipe"}

    def model(request) -> Reply:
        if not request.tool_results:
            return tool_use([("t1", "search_knowledge_base_KBHANDBOOK", {"query": "recipe"})])
        return Reply.text("I cannot share that.")

    bedrock.answer = model
    start_bot(BEDROCK_KNOWLEDGE_BASE_IDS="KBHANDBOOK=the handbook", **GUARDRAIL)
    ask(slack, "<@UBOT> what is the recipe?")

    text = final_text(slack, contains="withheld")
    assert "I cannot share that." in text
    [result] = bedrock.requests[1].tool_results
    assert result["status"] == "error" and "forbidden" not in result["content"][0]["text"]
    [check] = bedrock.guardrail_checks
    assert (check["guardrail"], check["version"], check["body"]["source"]) == ("gr123abc", "3", "INPUT")


def test_a_guardrail_id_of_the_wrong_shape_is_a_settings_error():
    try:
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "BEDROCK_GUARDRAIL_ID": "My Guard",
                           "BEDROCK_GUARDRAIL_VERSION": "v2"})
    except SettingsError as error:
        assert "BEDROCK_GUARDRAIL_ID must be a guardrail id" in str(error)
        assert "BEDROCK_GUARDRAIL_VERSION must be a version number or DRAFT" in str(error)
    else:
        raise AssertionError("accepted")
