"""`python -m bot doctor` against the local stand-ins: all good passes; each misconfiguration fails with
its own message saying what to fix, and a non-zero exit."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from bot import doctor
from standins.bedrock import Reply
from tests.reply.test_startup import clean_env, closed_port_url


@pytest.fixture
def env(slack, aws_env):
    return {**aws_env, "SLACK_BOT_TOKEN": "xoxb-good", "SLACK_APP_TOKEN": "xapp-good", "SLACK_API_URL": slack.api_url}


def check(env) -> tuple[int, str]:
    out = io.StringIO()
    return doctor.run(env, out), out.getvalue()


def test_a_good_set_up_passes_every_check(env, bedrock, slack):
    status, report = check(env)
    assert status == 0, report
    assert report.count("✓") == 8 and "✗" not in report and "!" not in report
    assert "✓ Native streaming: Slack offers chat.startStream to this app" in report
    assert "✓ Slack search: off: the app has no search:read scope" in report
    assert not slack.bot_messages()  # the probe posted nothing
    assert bedrock.requests[0].body["inferenceConfig"]["maxTokens"] == 5  # a cheap call


def test_an_app_slack_will_not_let_stream_gets_a_warning_that_says_how_to_enable_it(env, bedrock, slack):
    slack.refuse_streams = "feature_not_enabled"
    status, report = check(env)
    assert status == 0, report  # the bot works without it: replies are edited messages
    assert "! Native streaming: Slack refused chat.startStream (feature_not_enabled)" in report
    assert "Agents & AI Apps" in report and "reinstall" in report


def test_a_bad_bot_token_is_named_with_where_to_get_a_good_one(env, slack):
    slack.fail("auth.test", "invalid_auth")
    status, report = check(env)
    assert status == 1
    assert "✗ Slack bot token: Slack did not accept SLACK_BOT_TOKEN (invalid_auth)" in report
    assert "OAuth & Permissions" in report


def test_a_missing_scope_is_named(env, slack):
    slack.scopes.discard("users:read")
    status, report = check(env)
    assert status == 1 and "✗ Slack scopes: missing users:read" in report


def test_a_token_of_the_wrong_kind_is_named(env):
    status, report = check({**env, "SLACK_APP_TOKEN": "xoxb-wrong-kind"})
    assert status == 1 and "✗ Settings" in report and "SLACK_APP_TOKEN should start with 'xapp-'" in report


def test_an_app_token_slack_refuses_is_named(env, slack):
    slack.fail("apps.connections.open", "invalid_auth")
    status, report = check(env)
    assert status == 1 and "✗ Slack app token: Slack did not accept SLACK_APP_TOKEN (invalid_auth)" in report
    assert "connections:write" in report


def test_slack_out_of_reach_is_said_as_such_not_blamed_on_the_tokens(env, bedrock):
    url = closed_port_url()
    status, report = check({**env, "SLACK_API_URL": url})
    assert status == 1
    assert f"✗ Slack bot token: Slack could not be reached at {url}" in report
    assert f"✗ Slack app token: Slack could not be reached at {url}" in report
    assert "Copy the" not in report and "Make an app-level token" not in report


def test_a_rate_limited_token_check_is_not_blamed_on_the_token(env, bedrock, slack):
    slack.fail("auth.test", "ratelimited", retry_after=30)
    status, report = check(env)
    assert status == 1
    assert "✗ Slack bot token: Slack is limiting how often the app may call it right now" in report
    assert "(auth.test answered 429)" in report
    assert "Copy the" not in report


def test_a_model_not_in_the_region_names_the_settings_as_they_are_spelt(env, bedrock):
    bedrock.script(Reply.error(404, "ResourceNotFoundException", "no such model"))
    status, report = check(env)
    assert status == 1 and "check BEDROCK_MODEL_ID and AWS_REGION." in report


@pytest.mark.parametrize("reply, says", [
    (Reply.error(403, "AccessDeniedException", "You don't have access to the model"), "Model access"),
    (Reply.error(400, "ValidationException",
                 "Invocation of model ID x with on-demand throughput isn't supported."), "inference profile"),
])
def test_model_problems_are_named(env, bedrock, reply, says):
    bedrock.script(reply)
    status, report = check(env)
    assert status == 1 and says in report and "✗ Bedrock model" in report


def test_doctor_runs_as_a_command_without_a_traceback(tmp_path, slack, bedrock, env):
    slack.scopes.discard("chat:write")
    result = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, env=clean_env(**env),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "missing chat:write" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_doctor_for_http_mode_needs_the_signing_secret_instead_of_the_app_token(env, bedrock):
    http_env = {key: value for key, value in env.items() if key != "SLACK_APP_TOKEN"}
    status, report = check_mode(http_env, "http")
    assert status == 1 and "SLACK_SIGNING_SECRET is missing" in report
    status, report = check_mode({**http_env, "SLACK_SIGNING_SECRET": "s"}, "http")
    assert status == 0 and "✓ Slack signing secret" in report and "app token" not in report


def check_mode(env, mode: str) -> tuple[int, str]:
    out = io.StringIO()
    return doctor.run(env, out, mode=mode), out.getvalue()


def test_the_redis_instances_share_is_checked_when_redis_url_is_set(env, bedrock, redis_server):
    status, report = check({**env, "REDIS_URL": redis_server.url})
    assert status == 0, report
    assert f"✓ Redis: instances share their state at 127.0.0.1:{redis_server.port}/0 (Redis " in report


def test_a_redis_that_does_not_answer_is_named_with_what_to_do(env, bedrock, redis_server):
    redis_server.stop()
    status, report = check({**env, "REDIS_URL": redis_server.url})
    assert status == 1
    assert f"✗ Redis: cannot reach 127.0.0.1:{redis_server.port}/0 (ConnectionError" in report
    assert "Start Redis or fix REDIS_URL" in report


def test_a_redis_url_that_is_not_one_is_named_without_its_password(env):
    status, report = check({**env, "REDIS_URL": "http://user:secret@redis.internal:6379"})
    assert status == 1 and "REDIS_URL must be a Redis URL such as redis://localhost:6379/0" in report
    assert "secret" not in report


def test_each_knowledge_base_is_checked_with_a_search(env, bedrock, slack, knowledge):
    from standins.knowledge import Passage, web
    knowledge.add("ABCDE12345", Passage("test passage", web("https://wiki.example/x")))
    status, report = check({**env, "BEDROCK_KNOWLEDGE_BASE_IDS": "ABCDE12345=the handbook|FGHIJ67890=the wiki"})
    assert status == 1, report
    assert "✓ Knowledge base ABCDE12345 (the handbook): answers a search" in report
    assert "✗ Knowledge base FGHIJ67890 (the wiki): the knowledge base was not found" in report
    assert knowledge.retrievals[0].body["retrievalConfiguration"]["vectorSearchConfiguration"]["numberOfResults"] == 1


def test_the_search_scopes_the_app_has_are_named(env, bedrock, slack):
    slack.scopes |= {"search:read.public", "search:read.im"}
    status, report = check(env)
    assert "✓ Slack search: the model may search Slack as the asker (search:read.im, search:read.public)" in report


def test_each_mcp_server_is_checked_and_its_tools_named(env, bedrock, slack, tmp_path):
    import json
    import sys
    from pathlib import Path

    server = str(Path(__file__).resolve().parent.parent / "standins" / "mcp_server.py")
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {
        "tickets": {"command": sys.executable, "args": [server], "tools": ["get_ticket", "close_ticket"],
                    "approval": ["close_ticket"]},
        "gone": {"command": sys.executable, "args": ["-c", "raise SystemExit(1)"], "tools": "*"}}}))
    status, report = check({**env, "MCP_SERVERS_FILE": str(config)})
    assert status == 1, report
    assert "✓ MCP server tickets: offers get_ticket, close_ticket; asks first for close_ticket" in report
    assert "✗ MCP server gone: could not connect" in report


def test_each_channel_a_profile_names_is_printed_with_the_profile_it_gets(env, bedrock, slack, knowledge, tmp_path):
    from standins.knowledge import Passage, web
    knowledge.add("RUNBOOKS01", Passage("test passage", web("https://wiki.example/x")))  # checked too
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.support]\nchannels = ["C0SUPPORT", "dm"]\nmodel = "support-model"\nmax_tokens = 512\n'
                    'knowledge_bases = ["RUNBOOKS01"]\ntools = []\npeople = ["S0ONCALL"]\nfollow_ups = "off"\n')
    code, out = check({**env, "PROFILES_FILE": str(path), "BEDROCK_MODEL_ID": "env-model"})
    assert code == 0, out
    assert (f"✓ Profiles ({path}):\n"
            "    C0SUPPORT → support: model support-model, up to 512 tokens; knowledge bases RUNBOOKS01; no other tool; "
            "who may ask: S0ONCALL; follow-ups: off\n"
            "    DMs → support: model support-model") in out
    assert "every other channel → not answered (no default profile)" in out


def test_each_profiles_model_is_checked_and_the_group_scope_only_where_a_profile_names_a_group(env, bedrock, slack,
                                                                                            tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.default]\n\n[profiles.legal]\nchannels = ["C0LEGAL"]\nmodel = "eu.no-such-model"\n')
    bedrock.answer = lambda request: (Reply.error(400, "ValidationException", "The provided model identifier is invalid.")
                                      if request.model_id == "eu.no-such-model" else Reply.text("pong"))
    slack.scopes.discard("usergroups:read")
    code, out = check({**env, "PROFILES_FILE": str(path)})
    assert code == 1 and "✗ Bedrock model eu.no-such-model:" in out and "✓ Slack scopes" in out
    path.write_text('[profiles.default]\npeople = ["S0STAFF"]\n')
    code, out = check({**env, "PROFILES_FILE": str(path)})
    assert code == 1 and "✗ Slack scopes: missing usergroups:read" in out


def test_doctor_prints_its_checklist_alone_and_checks_aws_even_when_settings_fail(tmp_path, slack, bedrock, env):
    result = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, env=clean_env(**env),
                            capture_output=True, text=True, timeout=60)
    assert "failed: channel_not_found" not in result.stdout + result.stderr  # the probe meant to fail
    broken = {**env, "SLACK_BOT_TOKEN": "xoxb-..."}  # .env.example's placeholder
    result = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, env=clean_env(**broken),
                            capture_output=True, text=True, timeout=60)
    assert "✗ Settings:\n    SLACK_BOT_TOKEN is missing: it is the Bot User OAuth Token" in result.stdout
    assert "✓ AWS: credentials found" in result.stdout  # checked anyway


def test_chat_without_credentials_says_what_to_set_on_stderr(tmp_path, aws_env):
    env = {**aws_env, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    result = subprocess.run([sys.executable, "-m", "bot", "chat", "hello"], cwd=tmp_path, env=clean_env(**env),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "No AWS credentials were found. Set AWS_PROFILE" in result.stderr
    assert "NoCredentialsError" in result.stderr and "admin" not in result.stdout + result.stderr


def test_the_console_script_calls_itself_by_its_name():
    script = [sys.executable, "-c", "import sys; sys.argv[0] = 'bedrock-slack-bot'; from bot.__main__ import main; "
                                    "sys.exit(main(['--help']))"]
    result = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert "bedrock-slack-bot doctor [http]" in result.stderr and "python -m bot" not in result.stderr
