"""Prompt caching: where the cache points go (pure), which models get them, the setting, the Bedrock stand-in's
cache, and end to end through the real bot: a thread's follow-up carries them and the next one reads what it
wrote, `off` and unknown models send none, a model that refuses them still answers (and is not sent them again),
and the reply's log line has the cache's token counts."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bot import notes
from bot.conversation.build import Identity, build_conversation
from bot.model.caching import CACHE_POINT, MAX_CACHE_POINTS, prompt_cache_wanted, supports_prompt_cache
from bot.model.caching import with_cache_points
from bot.model.errors import may_refuse_cache_points
from bot.model.bedrock import DEFAULT_SYSTEM_PROMPT
from bot.settings import Settings, SettingsError
from standins.bedrock import CACHE_REFUSAL, Reply, exception
from tests.helpers import ask

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
    assert Settings.from_env(MINIMAL).model.prompt_cache == "auto"
    assert Settings.from_env({**MINIMAL, "BEDROCK_PROMPT_CACHE": " Off "}).model.prompt_cache == "off"


def test_a_bad_setting_says_what_the_choices_mean():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**MINIMAL, "BEDROCK_PROMPT_CACHE": "yes"})
    assert "BEDROCK_PROMPT_CACHE must be auto (on for the models known to take prompt caching), on" in str(caught.value)
    assert "not 'yes'" in str(caught.value)


# -- which refusals the cache points may explain -------------------------------------------------------


def client_error(status: int, code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "ConverseStream")


@pytest.mark.parametrize("error, blamed", [
    (client_error(400, "ValidationException", CACHE_REFUSAL), True),
    (client_error(400, "ValidationException", "Cache point cannot be inserted after reasoning block."), True),
    (client_error(400, "ValidationException", "messages.0.content.2.type: Field required"), True),  # unknown
    (client_error(403, "AccessDeniedException", CACHE_REFUSAL), True),  # some report it as a 403
    (client_error(400, "ValidationException", "Input is too long for requested model."), False),
    (client_error(400, "ValidationException", "Invocation of model ID x with on-demand throughput isn't supported."),
     False),
    (client_error(403, "AccessDeniedException", "You don't have access to the model"), False),
    (client_error(429, "ThrottlingException", "Too many requests"), False),
    (client_error(400, "400", "<html>Bad Request</html>"), False),  # not AWS's answer
    (ConnectionResetError(), False),
], ids=["refusal", "placement", "unknown-validation", "refusal-403", "too-long", "needs-profile", "no-access",
        "throttled", "not-aws", "network"])
def test_only_a_refusal_the_cache_points_may_explain_is_tried_again_without_them(error, blamed):
    assert may_refuse_cache_points(error) is blamed


# -- the stand-in, through real boto3 -------------------------------------------------------------------


@pytest.fixture
def runtime(bedrock):
    return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=bedrock.endpoint_url,
                        aws_access_key_id="AKIDLOCAL", aws_secret_access_key="local",
                        config=Config(retries={"total_max_attempts": 1}))


def usage_of(runtime, system: list[dict], messages: list[dict], model="us.anthropic.claude-sonnet-4-20250514-v1:0"):
    response = runtime.converse_stream(modelId=model, system=system, messages=messages)
    return next(e["metadata"]["usage"] for e in response["stream"] if "metadata" in e)


LONG = "All work and no play. " * 250  # about 1,400 tokens at 4 characters a token


@pytest.mark.parametrize("system, says", [
    ([CACHE_POINT, {"text": LONG}], "must follow the content it caches; system.0"),
    ([{"text": LONG}, CACHE_POINT, CACHE_POINT], "system.2 follows none"),
    ([{"text": LONG}, {"cachePoint": {"type": "ephemeral"}}],
     "Value 'ephemeral' at 'system.2.member.cachePoint.type' failed to satisfy constraint"),
    ([{"text": LONG}, {"cachePoint": {"type": "default", "ttl": "1d"}}], "enum value set: [5m, 1h]"),
    ([block for text in "abcde" for block in ({"text": text}, CACHE_POINT)],
     "A maximum of 4 blocks with cache_control may be provided. Found 5."),
], ids=["first", "twice", "type", "ttl", "five"])
def test_the_stand_in_refuses_cache_points_bedrock_would_refuse(bedrock, runtime, system, says):
    bedrock.script(Reply.text("never sent"))
    with pytest.raises(ClientError) as caught:
        usage_of(runtime, system, turns("hi"))
    assert caught.value.response["Error"]["Code"] == "ValidationException" and says in str(caught.value)
    assert bedrock.replies  # the scripted reply is still there for the next request


def test_the_stand_in_reads_back_a_prefix_seen_before_and_writes_what_is_new(bedrock, runtime):
    first = usage_of(runtime, [{"text": LONG}, CACHE_POINT], turns("hi"))
    again = usage_of(runtime, [{"text": LONG}, CACHE_POINT], turns("hi"))
    assert first["cacheReadInputTokens"] == 0 and first["cacheWriteInputTokens"] > 1024
    assert again["cacheReadInputTokens"] == first["cacheWriteInputTokens"] and again["cacheWriteInputTokens"] == 0
    assert bedrock.requests[0].cache_points == ["system.1"]
    short = usage_of(runtime, [{"text": "short"}, CACHE_POINT], turns("hi"))  # under the model's minimum
    assert (short["cacheReadInputTokens"], short["cacheWriteInputTokens"]) == (0, 0)
    assert "cacheReadInputTokens" not in usage_of(runtime, [{"text": LONG}], turns("hi"))


def test_the_stand_in_forgets_after_five_minutes_from_the_last_use(bedrock, runtime):
    now = [1000.0]
    bedrock.clock = lambda: now[0]
    usage_of(runtime, [{"text": LONG}, CACHE_POINT], turns("hi"))
    now[0] += 299
    assert usage_of(runtime, [{"text": LONG}, CACHE_POINT], turns("hi"))["cacheReadInputTokens"] > 0
    now[0] += 299  # five minutes from the first use, not from the last
    assert usage_of(runtime, [{"text": LONG}, CACHE_POINT], turns("hi"))["cacheReadInputTokens"] > 0
    now[0] += 301
    assert usage_of(runtime, [{"text": LONG}, CACHE_POINT], turns("hi"))["cacheReadInputTokens"] == 0


def test_a_stand_in_model_that_does_not_take_cache_points_refuses_them_as_bedrock_does(bedrock, runtime):
    bedrock.refuses_cache_points = True
    with pytest.raises(ClientError) as caught:
        usage_of(runtime, [{"text": LONG}, CACHE_POINT], turns("hi"), model="us.meta.llama3-3-70b-instruct-v1:0")
    assert caught.value.response["Error"] == {"Code": "ValidationException", "Message": CACHE_REFUSAL}
    assert usage_of(runtime, [{"text": LONG}], turns("hi"))["inputTokens"] > 0  # and answers without them


# -- end to end, through the real bot ------------------------------------------------------------------


FAST_RETRIES = {"BEDROCK_RETRY_BASE_SECONDS": "0.05", "BEDROCK_RETRY_ATTEMPTS": "3"}


def answered(slack, needle: str, channel: str = "C1") -> None:
    slack.wait_until(lambda: any(needle in m.text for m in slack.bot_messages(channel)), what=f"{needle!r} in Slack")


def reply_lines(caplog) -> list[dict[str, str]]:
    return [dict(part.split("=", 1) for part in record.getMessage().split()[1:])
            for record in caplog.records if record.getMessage().startswith("reply event=")]


def test_a_thread_follow_up_carries_cache_points_and_the_next_one_reads_what_it_wrote(slack, bedrock, start_bot,
                                                                                     caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot()  # the default model, Claude Haiku 4.5, takes cache points
    bedrock.cache_min_tokens = 100
    root = slack.add_message("C1", "<@UBOT> review this design: " + "the queue feeds the workers. " * 40, user="U1")
    slack.add_message("C1", "It holds up; watch the retries.", thread_ts=root.ts, bot=True)
    bedrock.script(Reply.text("Cap them at three."), Reply.text("Then alert on the dead letters."))

    ask(slack, "<@UBOT> how many retries?", thread_ts=root.ts)
    answered(slack, "Cap them at three.")
    slack.wait_until(lambda: len(reply_lines(caplog)) == 1, what="the first reply's log line")
    ask(slack, "<@UBOT> and after that?", thread_ts=root.ts)
    answered(slack, "dead letters")
    slack.wait_until(lambda: len(reply_lines(caplog)) == 2, what="the second reply's log line")

    first, second = bedrock.requests
    assert first.body["system"] == [{"text": DEFAULT_SYSTEM_PROMPT}, CACHE_POINT]
    assert first.cache_points == ["system.1", "messages.0.content.1", "messages.2.content.1"]
    assert [m["role"] for m in second.messages] == ["user", "assistant", "user", "assistant", "user"]
    assert second.cache_points == ["system.1", "messages.2.content.1", "messages.4.content.1"]
    assert first.cache_read == 0 and first.cache_write > 100
    assert second.cache_read == first.cache_write + first.cache_read > 0  # all of the first one's prefix
    logged = reply_lines(caplog)
    assert (logged[0]["cache_read_tokens"], logged[0]["cache_write_tokens"]) == ("0", str(first.cache_write))
    assert (logged[1]["cache_read_tokens"], logged[1]["cache_write_tokens"]) == (str(second.cache_read),
                                                                                 str(second.cache_write))


@pytest.mark.parametrize("setting, model_id, sent", [
    ("off", "global.anthropic.claude-haiku-4-5-20251001-v1:0", False),
    ("auto", "us.meta.llama3-3-70b-instruct-v1:0", False),
    ("auto", "anthropic.claude-3-5-sonnet-20240620-v1:0", False),
    ("auto", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0", True),
    ("on", "us.meta.llama3-3-70b-instruct-v1:0", True),
])
def test_cache_points_go_only_where_the_setting_and_the_model_say(slack, bedrock, start_bot, setting, model_id, sent):
    start_bot(BEDROCK_PROMPT_CACHE=setting, BEDROCK_MODEL_ID=model_id)
    root = slack.add_message("C1", "<@UBOT> what is S3?", user="U1")
    slack.add_message("C1", "Object storage.", thread_ts=root.ts, bot=True)
    ask(slack, "<@UBOT> and EBS?", thread_ts=root.ts)
    answered(slack, "Hello from the model.")

    [request] = bedrock.requests
    assert bool(request.cache_points) is sent
    if not sent:
        assert "cachePoint" not in json.dumps(request.body)


def test_a_model_that_refuses_cache_points_still_answers_and_is_not_sent_them_again(slack, bedrock, start_bot,
                                                                                   caplog):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot(**FAST_RETRIES)
    bedrock.refuses_cache_points = True
    bedrock.script(Reply.text("Answered without the cache."), Reply.text("And again."))
    ask(slack, "<@UBOT> first question")
    answered(slack, "Answered without the cache.")
    ask(slack, "<@UBOT> second question", channel="C2")
    answered(slack, "And again.", channel="C2")

    refused, retried, later = bedrock.requests
    assert refused.cache_points and not retried.cache_points and not later.cache_points
    said = [r.getMessage() for r in caplog.records if r.name == "bot.model.bedrock"]
    assert any("trying it once without them" in line for line in said)  # at once, not after a backoff
    assert not any("trying again (attempt" in line for line in said)
    assert [m.text for m in slack.bot_messages("C1")] == ["Answered without the cache."]  # nothing else to see
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "bot.model.bedrock"]
    assert len(warnings) == 1 and "BEDROCK_PROMPT_CACHE=off" in warnings[0] and CACHE_REFUSAL in warnings[0]
    slack.wait_until(lambda: len(reply_lines(caplog)) == 2, what="both log lines")
    assert [line["model_attempts"] for line in reply_lines(caplog)] == ["2", "1"]


def test_the_try_without_cache_points_does_not_count_against_the_retry_bound(slack, bedrock, start_bot):
    start_bot(BEDROCK_RETRY_ATTEMPTS="1")
    bedrock.refuses_cache_points = True
    ask(slack, "<@UBOT> a question")
    answered(slack, "Hello from the model.")
    assert [bool(r.cache_points) for r in bedrock.requests] == [True, False]


@pytest.mark.parametrize("failure", [
    Reply.error(400, "ValidationException", "messages.0.content.0.text: must not be blank"),
    Reply.text("x").cut(0, exception("validationException", "bad input")),
], ids=["before-the-stream", "in-the-stream"])
def test_an_error_that_comes_back_without_the_cache_points_is_not_blamed_on_them(slack, bedrock, start_bot, caplog,
                                                                                 failure):
    caplog.set_level(logging.INFO, logger="bot")
    start_bot(**FAST_RETRIES)
    bedrock.script(failure, failure)
    ask(slack, "<@UBOT> a question")
    slack.wait_until(lambda: any(notes.FAILED in m.text for m in slack.bot_messages("C1")), what="the failure note")
    ask(slack, "<@UBOT> another", channel="C2")
    answered(slack, "Hello from the model.", channel="C2")

    assert [bool(r.cache_points) for r in bedrock.requests] == [True, False, True]  # still sent afterwards
    assert not [r for r in caplog.records if "BEDROCK_PROMPT_CACHE" in r.getMessage()]
