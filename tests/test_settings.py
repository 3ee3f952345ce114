"""Settings read from the environment at start (`bot.settings.Settings.from_env`).

Covers the defaults of a minimal valid environment, the single error that names every missing or
malformed variable (and where to get the Slack tokens), URL normalisation, and that tokens never show
up in `repr` or in error messages.
"""

from __future__ import annotations

import pytest

from bot.settings import Settings, SettingsError

BOT_TOKEN = "xoxb-1111-2222-SECRETbot"
APP_TOKEN = "xapp-1-A111-SECRETapp"
MINIMAL = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}


def error_for(env) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return str(caught.value)


# --- valid environments ------------------------------------------------------------------------------


def test_minimal_environment_gives_working_defaults():
    settings = Settings.from_env(MINIMAL)
    assert settings.slack.bot_token == "xoxb-1"
    assert settings.slack.app_token == "xapp-1"
    assert settings.model.model_id.startswith("global.anthropic.claude-haiku")
    assert settings.delivery.update_interval_seconds == 0.3
    assert (settings.delivery.reply_surface, settings.delivery.status, settings.delivery.feedback_buttons) == ("auto", True, True)
    assert settings.slack.api_url == "https://slack.com/api/"
    assert settings.log_level == "INFO"


def test_values_from_the_environment_override_defaults():
    env = {
        **MINIMAL,
        "BEDROCK_MODEL_ID": "my-model",
        "BEDROCK_MAX_TOKENS": "512",
        "BEDROCK_TEMPERATURE": "0",
        "SLACK_UPDATE_INTERVAL_SECONDS": "2.5",
        "LOG_LEVEL": "debug",
    }
    settings = Settings.from_env(env)
    assert (settings.model.model_id, settings.model.max_tokens, settings.model.temperature) == ("my-model", 512, 0.0)
    assert settings.delivery.update_interval_seconds == 2.5
    assert settings.log_level == "DEBUG"


def test_blank_values_count_as_unset():
    settings = Settings.from_env({**MINIMAL, "BEDROCK_MODEL_ID": "  ", "BEDROCK_MAX_TOKENS": ""})
    assert settings.model.model_id.startswith("global.anthropic.claude-haiku")
    assert settings.model.max_tokens == 2048


def test_tokens_are_trimmed():
    settings = Settings.from_env({"SLACK_BOT_TOKEN": " xoxb-1\n", "SLACK_APP_TOKEN": "xapp-1 "})
    assert (settings.slack.bot_token, settings.slack.app_token) == ("xoxb-1", "xapp-1")


def test_api_url_without_a_trailing_slash_gets_one():
    settings = Settings.from_env({**MINIMAL, "SLACK_API_URL": "http://localhost:8080/api"})
    assert settings.slack.api_url == "http://localhost:8080/api/"


def test_api_url_with_a_trailing_slash_is_kept_as_is():
    settings = Settings.from_env({**MINIMAL, "SLACK_API_URL": "https://slack.example/api/"})
    assert settings.slack.api_url == "https://slack.example/api/"


# --- errors ------------------------------------------------------------------------------------------


def test_empty_environment_names_both_tokens_and_where_to_get_them():
    message = error_for({})
    assert "SLACK_BOT_TOKEN" in message
    assert "SLACK_APP_TOKEN" in message
    assert "OAuth & Permissions" in message
    assert "App-Level Tokens" in message


def test_error_lists_each_problem_separately():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({})
    assert len(caught.value.problems) == 2


def test_swapped_tokens_are_reported_by_variable_name():
    message = error_for({"SLACK_BOT_TOKEN": "xapp-1", "SLACK_APP_TOKEN": "xoxb-1"})
    assert "SLACK_BOT_TOKEN should start with 'xoxb-'" in message
    assert "SLACK_APP_TOKEN should start with 'xapp-'" in message


def test_a_wrong_kind_of_bot_token_is_an_error():
    message = error_for({**MINIMAL, "SLACK_BOT_TOKEN": "xoxp-user-token"})
    assert "SLACK_BOT_TOKEN" in message
    assert "SLACK_APP_TOKEN" not in message


def test_all_malformed_numbers_are_reported_in_one_error():
    env = {
        **MINIMAL,
        "BEDROCK_TEMPERATURE": "2",
        "SLACK_UPDATE_INTERVAL_SECONDS": "abc",
        "BEDROCK_MAX_TOKENS": "0",
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert len(caught.value.problems) == 3
    for name, value in [("BEDROCK_TEMPERATURE", "'2'"), ("SLACK_UPDATE_INTERVAL_SECONDS", "'abc'"), ("BEDROCK_MAX_TOKENS", "'0'")]:
        assert name in message
        assert value in message


@pytest.mark.parametrize(
    "name, value",
    [
        ("BEDROCK_MAX_TOKENS", "2.5"),
        ("BEDROCK_MAX_TOKENS", "-1"),
        ("BEDROCK_TEMPERATURE", "-0.1"),
        ("BEDROCK_TEMPERATURE", "nan"),
        ("SLACK_UPDATE_INTERVAL_SECONDS", "0"),
        ("SLACK_UPDATE_INTERVAL_SECONDS", "inf"),
        ("CONTEXT_MAX_CHARS", "10"),
        ("MAX_CONCURRENT_REPLIES", "many"),
        ("LOG_LEVEL", "verbose"),
        ("METRICS_PORT", "0"),
        ("METRICS_PORT", "9100/metrics"),
    ],
)
def test_out_of_range_or_malformed_values_are_errors(name, value):
    assert name in error_for({**MINIMAL, name: value})


def test_missing_token_and_bad_number_are_reported_together():
    message = error_for({"SLACK_APP_TOKEN": "xapp-1", "BEDROCK_TEMPERATURE": "hot"})
    assert "SLACK_BOT_TOKEN" in message
    assert "BEDROCK_TEMPERATURE" in message


@pytest.mark.parametrize("url", ["ftp://slack.com/api/", "slack.com/api", "https://", "not a url"])
def test_a_non_http_api_url_is_an_error(url):
    assert "SLACK_API_URL" in error_for({**MINIMAL, "SLACK_API_URL": url})


# --- secrets -----------------------------------------------------------------------------------------


def test_repr_never_shows_the_tokens():
    settings = Settings.from_env({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN})
    for shown in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert "SECRET" not in shown
        assert BOT_TOKEN not in shown and APP_TOKEN not in shown


def test_an_error_about_a_malformed_token_does_not_show_the_token():
    message = error_for({"SLACK_BOT_TOKEN": APP_TOKEN, "SLACK_APP_TOKEN": BOT_TOKEN})
    assert "SECRET" not in message


def test_the_budgets_for_reading_the_conversation_and_names_are_settable_and_bounded():
    defaults = Settings.from_env(MINIMAL)
    assert (defaults.context.read_seconds, defaults.context.name_lookup_seconds) == (10.0, 3.0)
    settings = Settings.from_env({**MINIMAL, "CONTEXT_READ_SECONDS": "2.5", "NAME_LOOKUP_SECONDS": "0"})
    assert (settings.context.read_seconds, settings.context.name_lookup_seconds) == (2.5, 0.0)
    message = error_for({**MINIMAL, "CONTEXT_READ_SECONDS": "0", "NAME_LOOKUP_SECONDS": "soon"})
    assert "CONTEXT_READ_SECONDS must be a number from 0.5 to 600" in message
    assert "NAME_LOOKUP_SECONDS must be a number from 0 to 600" in message


# --- tools and knowledge -------------------------------------------------------------------------------


def test_knowledge_bases_are_listed_with_what_each_holds():
    settings = Settings.from_env({**MINIMAL, "BEDROCK_KNOWLEDGE_BASE_IDS": "ABCDE12345=the HR handbook, 2026 | FGHIJ67890",
                                  "TOOL_ROUNDS": "3", "TOOL_TIMEOUT_SECONDS": "7.5"})
    assert settings.tools.knowledge_bases == (("ABCDE12345", "the HR handbook, 2026"),
                                              ("FGHIJ67890", "knowledge base FGHIJ67890"))
    assert (settings.tools.rounds, settings.tools.timeout_seconds) == (3, 7.5)
    assert Settings.from_env(MINIMAL).tools.knowledge_bases == ()


def test_a_malformed_knowledge_base_id_is_named_in_the_one_start_up_message():
    message = error_for({**MINIMAL, "BEDROCK_KNOWLEDGE_BASE_IDS": "ABCDE12345,FGHIJ67890", "TOOL_ROUNDS": "0"})
    assert "BEDROCK_KNOWLEDGE_BASE_IDS must list knowledge base ids" in message and "separated by |" in message
    assert "TOOL_ROUNDS must be" in message


def test_redis_is_an_extra_the_bot_needs_only_with_redis_url():
    import subprocess
    import sys

    blocked = ("import sys; sys.modules['redis'] = None  # as if not installed\n"
               "import bot.app, bot.doctor\n"
               "from bot.settings import Settings, SettingsError\n"
               "env = {'SLACK_BOT_TOKEN': 'xoxb-1', 'SLACK_APP_TOKEN': 'xapp-1'}\n"
               "Settings.from_env(env)\n"
               "try:\n"
               "    Settings.from_env({**env, 'REDIS_URL': 'redis://localhost:6379/0'})\n"
               "except SettingsError as error:\n"
               "    print(error)\n")
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "REDIS_URL: set, but the Redis client is not installed: pip install '.[redis]'" in result.stdout
