"""Prompt caching: where the cache points go (pure), which models get them, and the setting."""

from __future__ import annotations

import json

import pytest

from bot.conversation.build import Identity, build_conversation
from bot.model.caching import CACHE_POINT, MAX_CACHE_POINTS, prompt_cache_wanted, supports_prompt_cache
from bot.model.caching import with_cache_points
from bot.settings import Settings, SettingsError

BOT = Identity("UBOT", "BBOT")
SYSTEM = [{"text": "Be helpful."}]
MINIMAL = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}


def turns(*texts: str) -> list[dict]:
    """Alternating user/assistant messages, a user's first."""
    return [{"role": ("user", "assistant")[i % 2], "content": [{"text": text}]} for i, text in enumerate(texts)]


def points_in(system: list[dict], messages: list[dict]) -> list[str]:
    places = [f"system.{i}" for i, block in enumerate(system) if "cachePoint" in block]
    places += [f"messages.{m}.content.{c}" for m, message in enumerate(messages)
               for c, block in enumerate(message["content"]) if "cachePoint" in block]
    return places


def prefixes(system: list[dict], messages: list[dict]) -> list[str]:
    """What precedes each cache point, as bytes the model would see (the points themselves aside)."""
    seen: list = []
    found = []
    for block in system:
        if "cachePoint" in block:
            found.append(json.dumps(seen))
        else:
            seen.append(("system", block))
    for message in messages:
        for block in message["content"]:
            if "cachePoint" in block:
                found.append(json.dumps(seen))
            else:
                seen.append((message["role"], block))
    return found


# -- where the points go -------------------------------------------------------------------------------


def test_a_first_question_gets_a_point_after_the_system_prompt_and_one_after_itself():
    system, messages = with_cache_points(SYSTEM, turns("what is S3?"))
    assert system == [*SYSTEM, CACHE_POINT]
    assert messages == [{"role": "user", "content": [{"text": "what is S3?"}, CACHE_POINT]}]


def test_a_follow_up_reads_at_the_question_answered_last_and_writes_at_its_own():
    system, messages = with_cache_points(SYSTEM, turns("what is S3?", "Storage.", "and EBS?", "Disks.", "and EFS?"))
    assert points_in(system, messages) == ["system.1", "messages.2.content.1", "messages.4.content.1"]
    assert all(CACHE_POINT not in m["content"] for m in messages if m["role"] == "assistant")


def test_two_consecutive_follow_ups_share_the_prefix_up_to_a_point():
    """What reply n wrote at its newest turn is exactly what reply n + 1 reads, built as the bot builds them."""
    thread = [
        {"ts": "1.0", "user": "U1", "text": "<@UBOT> which database for sessions?"},
        {"ts": "2.0", "user": "UBOT", "bot_id": "BBOT", "text": "*Redis*, for its expiry."},
        {"ts": "3.0", "user": "U2", "text": "and <@U1> asked about durability"},
        {"ts": "4.0", "user": "UBOT", "bot_id": "BBOT", "text": "Use AOF persistence."},
    ]
    names = {"U1": "Ana", "U2": "Ben"}
    first_q = {"ts": "5.0", "user": "U1", "text": "<@UBOT> how much memory?"}
    second_q = {"ts": "7.0", "user": "U2", "text": "<@UBOT> and for a million users?"}
    answer = {"ts": "6.0", "user": "UBOT", "bot_id": "BBOT", "text": "About 1 KB a session."}
    reply_n = with_cache_points(SYSTEM, build_conversation(thread, first_q, bot=BOT, names=names, keep_first=True))
    reply_next = with_cache_points(SYSTEM, build_conversation([*thread, first_q, answer], second_q, bot=BOT,
                                                              names=names, keep_first=True))
    written, read = prefixes(*reply_n)[-1], prefixes(*reply_next)
    assert written in read and read.index(written) == len(read) - 2  # the point before the newest one
    assert prefixes(*reply_n)[0] == read[0]  # and the system prompt's


def test_the_arguments_are_left_as_they_were():
    system, messages = list(SYSTEM), turns("a", "b", "c")
    before = json.dumps([system, messages])
    with_cache_points(system, messages)
    assert json.dumps([system, messages]) == before


def test_never_more_than_four_points_counting_those_already_there():
    messages = turns("a", "b", "c")
    messages[1] = {**messages[1], "content": [{"text": "b"}, CACHE_POINT]}
    system = [{"text": "x"}, CACHE_POINT, {"text": "y"}, CACHE_POINT]
    system, messages = with_cache_points(system, messages)
    assert len(points_in(system, messages)) == MAX_CACHE_POINTS
    assert points_in(system, messages) == ["system.1", "system.3", "messages.0.content.1", "messages.1.content.1"]


def test_no_point_where_there_is_nothing_to_cache():
    assert with_cache_points([], []) == ([], [])
    system, messages = with_cache_points(SYSTEM, [{"role": "user", "content": []}])
    assert points_in(system, messages) == ["system.1"]


# -- which models, and the setting ------------------------------------------------------------------------


@pytest.mark.parametrize("model_id, supported", [
    ("global.anthropic.claude-haiku-4-5-20251001-v1:0", True),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", True),
    ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
    ("anthropic.claude-opus-4-1-20250805-v1:0", True),
    ("apac.anthropic.claude-3-7-sonnet-20250219-v1:0", True),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", True),
    ("us.amazon.nova-pro-v1:0", True),
    ("amazon.nova-micro-v1:0", True),
    ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0", True),
    ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-20250514-v1:0", True),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", False),
    ("anthropic.claude-3-haiku-20240307-v1:0", False),
    ("us.meta.llama3-3-70b-instruct-v1:0", False),
    ("mistral.mistral-large-2402-v1:0", False),
    ("amazon.titan-text-premier-v1:0", False),
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6", False),
    ("my-model", False),
])
def test_the_families_known_to_take_cache_points_are_recognised_in_every_spelling(model_id, supported):
    assert supports_prompt_cache(model_id) is supported


def test_auto_follows_the_model_and_on_and_off_do_not():
    assert prompt_cache_wanted("auto", "us.anthropic.claude-sonnet-4-20250514-v1:0")
    assert not prompt_cache_wanted("auto", "us.meta.llama3-3-70b-instruct-v1:0")
    assert prompt_cache_wanted("on", "us.meta.llama3-3-70b-instruct-v1:0")
    assert not prompt_cache_wanted("off", "us.anthropic.claude-sonnet-4-20250514-v1:0")


def test_the_setting_defaults_to_auto_and_reads_any_case():
    assert Settings.from_env(MINIMAL).prompt_cache == "auto"
    assert Settings.from_env({**MINIMAL, "BEDROCK_PROMPT_CACHE": " Off "}).prompt_cache == "off"


def test_a_bad_setting_says_what_the_choices_mean():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**MINIMAL, "BEDROCK_PROMPT_CACHE": "yes"})
    assert "BEDROCK_PROMPT_CACHE must be auto (on for the models known to take prompt caching), on" in str(caught.value)
    assert "not 'yes'" in str(caught.value)
