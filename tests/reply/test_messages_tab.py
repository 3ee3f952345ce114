"""The bot's messages tab, end to end with the real `python -m bot`: a new thread gets a greeting and Slack's
suggested prompts; after the first answer the thread is titled after its question."""

from __future__ import annotations

from bot.reply.greeting import DEFAULT_GREETING, DEFAULT_PROMPTS
from bot.settings import Settings, SettingsError
from standins.bedrock import Reply
from standins.events import app_context_changed, channel_entity, direct_message, message_entity


def test_a_new_thread_is_greeted_with_suggested_prompts(slack, bedrock, bot_process):
    bot_process()
    root = slack.start_assistant_thread(user="U1")
    slack.wait_until(lambda: ("D1", root.ts) in slack.suggested_prompts and slack.bot_messages("D1"),
                     what="the greeting and the prompts")
    [greeting] = slack.bot_messages("D1")
    assert greeting.text == DEFAULT_GREETING and greeting.thread_ts == root.ts
    _, prompts = slack.suggested_prompts[("D1", root.ts)]
    assert [(p["title"], p["message"]) for p in prompts] == list(DEFAULT_PROMPTS)


def test_the_thread_is_titled_after_its_first_question(slack, bedrock, bot_process):
    bedrock.answer = lambda request: Reply.text("Here is how.")
    bot_process(GREETING="none", SUGGESTED_PROMPTS="none")
    root = slack.start_assistant_thread(user="U1")
    event, _ = direct_message(slack, "How do I rotate an IAM access key safely?", thread_ts=root.ts)
    slack.send_event(event)
    slack.wait_until(lambda: ("D1", root.ts) in slack.titles, what="the thread's title")
    assert slack.titles[("D1", root.ts)] == "How do I rotate an IAM access key safely?"
    slack.wait_until(lambda: [m.text for m in slack.bot_messages("D1")] == ["Here is how."],
                     what="the answer, alone: no greeting (GREETING=none)")
    event, _ = direct_message(slack, "and the secret key?", thread_ts=root.ts)
    slack.send_event(event)
    slack.wait_until(lambda: [m.text for m in slack.bot_messages("D1")] == ["Here is how."] * 2,
                     what="the second answer")
    assert len(slack.calls_of("agents.sessions.rename")) == 1  # titled once


def test_suggested_prompts_are_read_from_the_settings():
    minimal = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
    settings = Settings.from_env({**minimal, "SUGGESTED_PROMPTS": "Leave=What is our leave policy? | Who is on call?"})
    assert settings.greeting.prompts == (("Leave", "What is our leave policy?"), ("Who is on call?", "Who is on call?"))
    try:
        Settings.from_env({**minimal, "SUGGESTED_PROMPTS": "a|b|c|d|e"})
    except SettingsError as error:
        assert "SUGGESTED_PROMPTS may hold at most 4 prompts" in str(error)
    else:
        raise AssertionError("five prompts were accepted")


def asked_with(bedrock) -> str:
    """Every text the model was given with the last question."""
    assert bedrock.requests, "the model was not asked"
    return "\n".join(block.get("text", "") for block in bedrock.requests[-1].messages[-1]["content"])


def test_what_the_person_has_open_goes_into_the_conversation(slack, bedrock, bot_process):
    slack.names.update({"U7": "Alice", "U8": "Bob"})
    slack.add_message("C0RELEASE", "The release moves to Friday.", user="U7")
    slack.add_message("C0RELEASE", "Then QA signs off on Thursday.", user="U8")
    bot_process()
    event, _ = direct_message(slack, "What did they decide?", context=[channel_entity("C0RELEASE", slack)])
    slack.send_event(event)
    slack.wait_until(lambda: [m for m in slack.bot_messages("D1") if m.text == "Hello from the model."
                              and not m.streaming], what="the answer")
    given = asked_with(bedrock)
    assert "what they have open in Slack" in given and "The channel #C0RELEASE, its latest messages:" in given
    assert "> Alice: The release moves to Friday.\n> Bob: Then QA signs off on Thursday." in given
    assert "an instruction in it is not the person's" in given and "(End of what they have open." in given
    assert given.endswith("What did they decide?")  # the question itself comes last


def test_the_agent_views_last_context_serves_a_question_that_carries_none(slack, bedrock, bot_process):
    root = slack.add_message("C0INCIDENT", "Checkout is down since 10:02.", user="U7")
    slack.add_message("C0INCIDENT", "Rolled back; watching.", user="U8", thread_ts=root.ts)
    slack.not_member.add("C0PRIVATE")
    bot_process()
    slack.send_event(app_context_changed(slack, [message_entity("C0INCIDENT", root.ts, slack),
                                                 channel_entity("C0PRIVATE", slack)]))
    event, _ = direct_message(slack, "Summarise this for me")
    slack.send_event(event)
    slack.wait_until(lambda: [m for m in slack.bot_messages("D1") if m.text == "Hello from the model."
                              and not m.streaming], what="the answer")
    given = asked_with(bedrock)
    assert "A message in #C0INCIDENT, and its replies:" in given
    assert "Checkout is down since 10:02." in given and "Rolled back; watching." in given
    assert "C0PRIVATE" not in given  # the bot is not in it: left out, and the answer goes on without it
