"""Profiles end to end, with the real `python -m bot` and the stand-ins: each channel's model, prompt, length,
knowledge bases, tools and people; the bot only where a profile names; follow-ups and the messages tab's
greeting by profile; and a profile file changed while the bot runs, taken without a restart."""

from __future__ import annotations

import time

from bot import notes
from standins.bedrock import Reply
from standins.events import thread_message
from tests.helpers import ask

PROFILES = """
[profiles.default]
system_prompt = "You answer for Example Corp."

[profiles.support]
channels = ["C0SUPPORT"]
model = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
max_tokens = 512
system_prompt = "You answer support questions."
knowledge_bases = ["RUNBOOKS01=the support runbooks"]
follow_ups = "off"

[profiles.oncall]
channels = ["C0ONCALL"]
people = ["U0LEAD", "S0ONCALL"]
"""


def answers(slack, channel: str, count: int = 1) -> list[str]:
    """The bot's messages in `channel` once there are `count` of them, each whole (no placeholder, no open
    stream)."""
    def whole():
        messages = slack.bot_messages(channel)
        return (len(messages) >= count and all(m.text != notes.PLACEHOLDER and not m.streaming for m in messages)
                and [m.text for m in messages])
    return slack.wait_until(whole, what=f"{count} answer(s) in {channel}")


def test_each_channel_asks_its_profiles_model_with_its_prompt_length_and_knowledge(slack, bedrock, bot_process,
                                                                                 tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES)
    bedrock.answer = lambda request: Reply.text("Answered.")
    bot_process(PROFILES_FILE=str(path), BEDROCK_MODEL_ID="env-model", BEDROCK_MAX_TOKENS="2048")
    ask(slack, "<@UBOT> how do I reset a password?", channel="C0SUPPORT")
    answers(slack, "C0SUPPORT")
    ask(slack, "<@UBOT> what is for lunch?", channel="C0GENERAL")
    answers(slack, "C0GENERAL")

    support, general = bedrock.requests
    assert support.model_id == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert support.body["inferenceConfig"]["maxTokens"] == 512
    assert support.system == [{"text": "You answer support questions."}]
    assert support.tools == ["search_knowledge_base_RUNBOOKS01"]
    assert general.model_id == "env-model" and general.body["inferenceConfig"]["maxTokens"] == 2048
    assert general.system == [{"text": "You answer for Example Corp."}] and general.tools == []


def test_only_the_people_and_groups_a_profile_names_are_answered(slack, bedrock, bot_process, tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES)
    slack.user_groups["S0ONCALL"] = ["U0BOB"]
    bot_process(PROFILES_FILE=str(path))
    ask(slack, "<@UBOT> who is paged?", channel="C0ONCALL", user="U0LEAD")
    ask(slack, "<@UBOT> who is paged?", channel="C0ONCALL", user="U0BOB")  # through the group
    ask(slack, "<@UBOT> who is paged?", channel="C0ONCALL", user="U0EVE")
    texts = answers(slack, "C0ONCALL", 3)
    assert sorted(texts) == sorted(["Hello from the model.", "Hello from the model.", notes.NOT_ALLOWED_FOR_YOU])
    assert len(bedrock.requests) == 2


def test_without_a_default_profile_other_channels_are_told_the_bot_is_not_set_up_there(slack, bedrock, bot_process,
                                                                                      tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES.replace("[profiles.default]", "[profiles.general]\nchannels = [\"C0GENERAL\"]"))
    bot_process(PROFILES_FILE=str(path))
    ask(slack, "<@UBOT> hello?", channel="C0RANDOM")
    assert answers(slack, "C0RANDOM") == [notes.NOT_ALLOWED_HERE]
    assert bedrock.requests == []


def test_follow_ups_follow_the_profile_of_the_channel(slack, bedrock, bot_process, tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES)
    bedrock.answer = lambda request: Reply.text("Answered.")
    bot_process(PROFILES_FILE=str(path), BEDROCK_KNOWLEDGE_BASE_IDS="")
    for channel in ("C0SUPPORT", "C0GENERAL"):  # support: follow_ups = "off"; the default: the asker's
        _, question = ask(slack, "<@UBOT> a first question", channel=channel)[:2]
        answers(slack, channel)
        slack.send_event(thread_message(slack, "and a second one?", thread_ts=question.ts, channel=channel)[0])
    answers(slack, "C0GENERAL", 2)
    ask(slack, "<@UBOT> a later question", channel="C0SUPPORT")  # after the follow-up's turn
    assert answers(slack, "C0SUPPORT", 2) == ["Answered.", "Answered."]
    assert [request.messages[-1]["content"][-1]["text"] for request in bedrock.requests].count("and a second one?") == 1


def test_a_changed_profile_file_applies_to_the_next_question_without_a_restart(slack, bedrock, bot_process,
                                                                              tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES)
    bot_process(PROFILES_FILE=str(path))
    ask(slack, "<@UBOT> first", channel="C0GENERAL")
    answers(slack, "C0GENERAL")
    path.write_text(PROFILES.replace('"You answer for Example Corp."', '"You answer for Example Ltd."'))

    deadline = time.monotonic() + 30  # the file is looked at every 2 s: a question or a few later, the new prompt
    while bedrock.requests[-1].system != [{"text": "You answer for Example Ltd."}]:
        assert time.monotonic() < deadline, "the changed profile was not taken"
        asked = len(bedrock.requests)
        ask(slack, "<@UBOT> again", channel="C0GENERAL")
        answers(slack, "C0GENERAL", asked + 1)


def test_a_follow_up_from_someone_the_profile_does_not_name_gets_no_public_refusal(slack, bedrock, bot_process,
                                                                                   tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.oncall]\nchannels = ["C0ONCALL"]\npeople = ["U0LEAD"]\nfollow_ups = "anyone"\n')
    bedrock.answer = lambda request: Reply.text("Answered.")
    bot_process(PROFILES_FILE=str(path))
    _, question, _ = ask(slack, "<@UBOT> who is paged?", channel="C0ONCALL", user="U0LEAD")
    answers(slack, "C0ONCALL")
    slack.send_event(thread_message(slack, "I can take it", thread_ts=question.ts, channel="C0ONCALL",
                                    user="U0EVE")[0])  # a person talking to the team, not to the bot
    slack.send_event(thread_message(slack, "and after that?", thread_ts=question.ts, channel="C0ONCALL",
                                    user="U0LEAD")[0])
    assert answers(slack, "C0ONCALL", 2) == ["Answered.", "Answered."]  # the lead's follow-up, and no refusal


def test_the_messages_tab_does_not_greet_someone_the_bot_would_not_answer(slack, bedrock, bot_process, tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.direct]\nchannels = ["dm"]\npeople = ["U0LEAD"]\ngreeting = "Hi!"\n')
    bot_process(PROFILES_FILE=str(path))
    slack.start_assistant_thread(user="U0EVE", channel="D0EVE")
    lead = slack.start_assistant_thread(user="U0LEAD", channel="D0LEAD")
    slack.wait_until(lambda: [m.text for m in slack.bot_messages("D0LEAD")] == ["Hi!"], what="the lead's greeting")
    assert slack.bot_messages("D0EVE") == [] and ("D0LEAD", lead.ts) in slack.suggested_prompts
    assert [key for key in slack.suggested_prompts if key[0] == "D0EVE"] == []


def test_what_the_person_has_open_is_read_only_where_the_bot_would_answer_them(slack, bedrock, bot_process, tmp_path):
    from standins.events import channel_entity, direct_message

    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.default]\n\n[profiles.legal]\nchannels = ["C0LEGAL"]\npeople = ["U0LAWYER"]\n')
    slack.add_message("C0LEGAL", "Settlement figure: 4.2M", user="U7")
    slack.add_message("C0RELEASE", "The release moves to Friday.", user="U7")
    bot_process(PROFILES_FILE=str(path))
    event, _ = direct_message(slack, "What is new?", user="U1",
                              context=[channel_entity("C0LEGAL", slack), channel_entity("C0RELEASE", slack)])
    slack.send_event(event)
    slack.wait_until(lambda: bedrock.requests and slack.bot_messages("D1") and not slack.bot_messages("D1")[-1].streaming
                     and slack.bot_messages("D1")[-1].text == "Hello from the model.", what="the answer")
    given = "\n".join(block.get("text", "") for block in bedrock.requests[-1].messages[-1]["content"])
    assert "The release moves to Friday." in given and "Settlement" not in given and "C0LEGAL" not in given
    read = {call.params["channel"] for call in slack.calls_of("conversations.history")}
    assert read == {"D1", "C0RELEASE"}  # the DM's history, and what may be read: the legal channel is not even read
