"""Profiles, read and chosen: which profile a conversation gets, what a profile leaves to the environment, every
problem of a file in one message, and a file changed while the bot runs (an injected clock: no waiting)."""

from __future__ import annotations

import pytest

from bot.profiles.parse import parse
from bot.profiles.profile import Profile, ProfileTable
from bot.profiles.watch import ProfileSettings, Profiles
from bot.settings import Settings, SettingsError

FILE = """
[profiles.default]
system_prompt = "You answer for Example Corp."

[profiles.support]
channels = ["C0SUPPORT", "dm"]
model = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
max_tokens = 4096
knowledge_bases = ["ABCDE12345=the support runbooks", "FGHIJ67890"]
tools = ["search_slack", "tickets__*"]
people = ["U0ALICE", "S0ONCALL"]
follow_ups = "anyone"
greeting = "Hi! Ask me about a ticket."
suggested_prompts = ["Open tickets=Which tickets are open?", {title = "On call", message = "Who is on call?"}]
"""

BASE = Profile("default", system_prompt="env prompt", model_id="env-model", max_tokens=2048, knowledge_bases=(),
               tools=None, people=None, follow_ups="asker", greeting="Hi!", suggested_prompts=())


def table(text: str = FILE) -> ProfileTable:
    parsed, problems = parse(text, "profiles.toml")
    assert problems == []
    return parsed


def test_a_channel_gets_its_profile_and_every_other_conversation_the_default():
    profiles = table()
    support = profiles.for_conversation("C0SUPPORT", is_dm=False).over(BASE)
    assert support.name == "support" and support.model_id.startswith("eu.anthropic") and support.max_tokens == 4096
    assert support.knowledge_bases == (("ABCDE12345", "the support runbooks"), ("FGHIJ67890", "knowledge base FGHIJ67890"))
    assert support.suggested_prompts == (("Open tickets", "Which tickets are open?"), ("On call", "Who is on call?"))
    assert support.system_prompt == "env prompt"  # left out: the environment's
    assert profiles.for_conversation("D0ANY", is_dm=True).name == "support"  # `dm`
    other = profiles.for_conversation("C0OTHER", is_dm=False).over(BASE)
    assert (other.name, other.system_prompt, other.model_id) == ("default", "You answer for Example Corp.", "env-model")


def test_without_a_default_profile_the_bot_answers_only_where_a_profile_names():
    profiles = table('[profiles.eng]\nchannels = ["C0ENG"]\n')
    assert profiles.for_conversation("C0ENG", is_dm=False).name == "eng"
    assert profiles.for_conversation("C0OTHER", is_dm=False) is None
    assert profiles.for_conversation("D0ANY", is_dm=True) is None
    assert ProfileTable().for_conversation("C0OTHER", is_dm=False).name == "default"  # no file: everywhere


def test_tools_are_named_with_patterns_and_an_empty_list_allows_none():
    support = table().for_conversation("C0SUPPORT", is_dm=False)
    assert support.may_use("search_slack") and support.may_use("tickets__close_ticket")
    assert not support.may_use("wiki__search")
    assert not Profile("x", tools=()).may_use("search_slack")
    assert Profile("x").may_use("anything")  # not said: every tool
    assert support.groups == {"S0ONCALL"}


def test_every_problem_of_a_file_is_named_at_once():
    text = """
[profiles.support]
channels = ["C0SUPPORT", "general"]
model = ""
max_tokens = 0
follow_ups = "everyone"
suggested_prompts = ["a", "b", "c", "d", "e"]
colour = "blue"
people = ["alice"]
knowledge_bases = ["short"]

[profiles.sales]
channels = ["C0SUPPORT"]

[profiles.empty]
"""
    _, problems = parse(text, "profiles.toml")
    said = "\n".join(problems)
    for expected in ("general is not", 'model must be a text that is not empty',
                     "max_tokens must be a whole number from 1 to 200,000", "follow_ups must be asker, anyone or off",
                     "suggested_prompts may hold at most 4", "colour is not a profile setting",
                     "people must list people (U0123ABCD) and user groups", "short is not one",
                     'C0SUPPORT is already in profile "support"', 'profile "empty" names no channel'):
        assert expected in said, expected
    assert all(problem.startswith("profiles.toml: profile") for problem in problems)
    _, problems = parse("[profiles.default\n", "profiles.toml")
    assert problems and "is not valid TOML" in problems[0]


def test_a_bad_file_stops_the_start_with_the_settings_message(tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.support]\nchannels = ["C0SUPPORT"]\nfollow_ups = "everyone"\n')
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "PROFILES_FILE": str(path), "FOLLOW_UPS": "x"}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    message = str(raised.value)
    assert message.startswith("The bot cannot start") and "FOLLOW_UPS must be" in message
    assert f"PROFILES_FILE ({path}): profile \"support\": follow_ups must be asker, anyone or off" in message
    with pytest.raises(SettingsError, match="cannot be read"):
        Settings.from_env({**env, "FOLLOW_UPS": "off", "PROFILES_FILE": str(tmp_path / "missing.toml")})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_changed_file_is_read_again_and_a_broken_change_keeps_the_profiles_before(tmp_path, caplog):
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.default]\nmodel = "first"\n')
    clock = Clock()
    profiles = Profiles(BASE, ProfileSettings(str(path), table(path.read_text())), clock=clock, check_every=2.0)
    assert profiles.for_conversation("C1", is_dm=False).model_id == "first"

    path.write_text('[profiles.default]\nmodel = "second"\n')
    clock.now = 1.0
    assert profiles.for_conversation("C1", is_dm=False).model_id == "first"  # not looked at yet
    clock.now = 2.0
    assert profiles.for_conversation("C1", is_dm=False).model_id == "second"

    path.write_text('[profiles.default]\nmodel = "third"\nfollow_ups = "sometimes"\n')  # an edit with a mistake
    clock.now = 4.0
    assert profiles.for_conversation("C1", is_dm=False).model_id == "second"
    assert "follow_ups must be asker, anyone or off" in caplog.text and "read before still apply" in caplog.text

    path.unlink()  # gone (a ConfigMap between two versions): the profiles stay
    clock.now = 6.0
    assert profiles.for_conversation("C1", is_dm=False).model_id == "second"
    path.write_text('[profiles.eng]\nchannels = ["C0ENG"]\n')
    clock.now = 8.0
    assert profiles.for_conversation("C1", is_dm=False) is None
    assert profiles.for_conversation("C0ENG", is_dm=False).model_id == "env-model"


def test_the_example_file_reads_without_a_problem():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "profiles.example.toml"
    parsed = table(example.read_text())
    assert [profile.name for profile in parsed.profiles] == ["default", "support", "direct"]


def test_a_file_that_is_not_utf8_is_a_problem_at_start_and_changes_nothing_on_reload(tmp_path, caplog):
    path = tmp_path / "profiles.toml"
    path.write_bytes('[profiles.default]\nsystem_prompt = "Réponds en français."\n'.encode("latin-1"))
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "PROFILES_FILE": str(path)}
    with pytest.raises(SettingsError, match="is not UTF-8 text"):
        Settings.from_env(env)
    path.write_text('[profiles.default]\nmodel = "first"\n')
    clock = Clock()
    profiles = Profiles(BASE, Settings.from_env(env).profiles, clock=clock)
    path.write_bytes('[profiles.default]\nmodel = "sécond"\n'.encode("latin-1"))
    clock.now = 10.0
    assert profiles.for_conversation("C1", is_dm=False).model_id == "first"
    assert "is not UTF-8 text" in caplog.text


def test_a_dm_id_is_refused_with_what_to_write_instead():
    _, problems = parse('[profiles.x]\nchannels = ["D0123ABCD"]\n', "profiles.toml")
    assert problems and "D0123ABCD is not" in problems[0] and "or dm" in problems[0]
