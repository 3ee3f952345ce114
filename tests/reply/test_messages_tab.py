"""The bot's messages tab, end to end with the real `python -m bot`: a new thread gets a greeting and Slack's
suggested prompts; after the first answer the thread is titled after its question."""

from __future__ import annotations

from bot.reply.greeting import DEFAULT_GREETING, DEFAULT_PROMPTS
from bot.settings import Settings, SettingsError
from standins.bedrock import Reply
from standins.events import direct_message


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
