"""`python -m bot` as a person runs it: settings from the environment and `.env`, a clear stop when they
are wrong, and a live answer when they are right (over the local Slack and Bedrock stand-ins)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot import notes
from standins.events import mention
from standins.bedrock import STALL, Reply
from standins.slack import VERIFICATION_TOKEN
from tests.conftest import clean_env

pytestmark = pytest.mark.e2e  # each test starts `python -m bot`


def run_bot(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def test_missing_settings_stop_start_up_with_one_clear_message(tmp_path):
    result = run_bot(tmp_path, clean_env())
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is missing" in result.stderr
    assert "SLACK_APP_TOKEN is missing" in result.stderr
    assert "OAuth & Permissions" in result.stderr and "App-Level Tokens" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_dot_env_file_fills_in_and_the_real_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xapp-wrong-kind\nBEDROCK_TEMPERATURE=7\n")
    result = run_bot(tmp_path, clean_env(SLACK_BOT_TOKEN="xoxb-from-the-environment"))
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" not in result.stderr  # the environment's good value won over .env's bad one
    assert "BEDROCK_TEMPERATURE" in result.stderr  # .env was read
    assert "SLACK_APP_TOKEN is missing" in result.stderr
    assert "xoxb-from-the-environment" not in result.stderr + result.stdout


def test_a_missing_aws_region_is_named(tmp_path, slack):
    env = clean_env(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1", SLACK_API_URL=slack.api_url,
                    AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    result = run_bot(tmp_path, env)
    assert result.returncode == 2
    assert "AWS_REGION" in result.stderr and "Traceback" not in result.stderr


def closed_port_url() -> str:
    """A Slack API URL where nothing listens: Slack out of reach."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


def start_env(slack_api_url: str, aws_env: dict) -> dict[str, str]:
    return clean_env(SLACK_BOT_TOKEN="xoxb-local-standin", SLACK_APP_TOKEN="xapp-local-standin",
                     SLACK_API_URL=slack_api_url, **aws_env)


def test_an_app_token_slack_refuses_stops_start_up_with_how_to_make_one(tmp_path, slack, aws_env):
    slack.fail("apps.connections.open", "invalid_auth")
    result = run_bot(tmp_path, start_env(slack.api_url, aws_env))
    assert result.returncode == 2
    assert "Slack did not accept SLACK_APP_TOKEN (invalid_auth)" in result.stderr
    assert "App-Level Tokens" in result.stderr and "connections:write" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "xapp-local-standin" not in result.stdout + result.stderr


def test_slack_out_of_reach_at_start_is_said_as_such_not_blamed_on_a_token(tmp_path, aws_env):
    url = closed_port_url()
    result = run_bot(tmp_path, start_env(url, aws_env))
    assert result.returncode == 1  # nothing to fix in the set-up: start it again later
    assert f"Slack could not be reached at {url}" in result.stderr and "SLACK_API_URL" in result.stderr
    assert "Copy the" not in result.stderr and "Traceback" not in result.stdout + result.stderr


def test_a_rate_limited_token_check_at_start_is_not_blamed_on_the_token(tmp_path, slack, aws_env):
    slack.fail("auth.test", "ratelimited", retry_after=30)
    result = run_bot(tmp_path, start_env(slack.api_url, aws_env))
    assert result.returncode == 1
    assert "auth.test answered 429" in result.stderr and "try again" in result.stderr
    assert "did not accept" not in result.stderr and "Copy the" not in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_python_m_bot_connects_and_answers_a_mention(slack, bedrock, bot_process):
    bot_process()
    assert [c.token for c in slack.calls_of("auth.test")] == ["xoxb-local-standin"]
    assert [c.token for c in slack.calls_of("apps.connections.open")] == ["xapp-local-standin"]

    bedrock.script(Reply.text("Answered from a real process.", chunk=6, delay=0.02))
    event_, question = mention(slack, "<@UBOT> are you there?")
    slack.send_event(event_)
    slack.wait_until(lambda: any(m.text == "Answered from a real process." for m in slack.bot_messages()),
                     what="the answer")
    assert slack.bot_messages()[0].thread_ts == question.ts
    assert bedrock.requests[0].model_id == "global.anthropic.claude-haiku-4-5-20251001-v1:0"


def start_a_reply(slack, bedrock, reply: Reply) -> None:
    bedrock.script(reply)
    event_, _ = mention(slack, "<@UBOT> a long one please")
    slack.send_event(event_)
    slack.wait_until(lambda: any(m.edits for m in slack.bot_messages()), what="the first words")


def test_sigterm_lets_a_reply_in_flight_finish_then_exits_0(slack, bedrock, bot_process):
    process = bot_process(SHUTDOWN_GRACE_SECONDS="20")
    start_a_reply(slack, bedrock, Reply.text("All of this answer arrives.", chunk=3, delay=0.1))
    process.send_signal(signal.SIGTERM)

    assert process.wait(30) == 0
    [reply] = slack.bot_messages()
    assert reply.text == "All of this answer arrives."


def test_sigterm_past_the_grace_period_marks_the_reply_interrupted_and_exits_0(slack, bedrock, bot_process):
    process = bot_process(SHUTDOWN_GRACE_SECONDS="0.5")
    start_a_reply(slack, bedrock, Reply.text("word " * 100, chunk=5, delay=0.1))  # about 10 s
    process.send_signal(signal.SIGTERM)

    assert process.wait(30) == 0
    [reply] = slack.bot_messages()
    assert reply.text.startswith("word word") and reply.text.endswith(notes.SHUTTING_DOWN)
    assert reply.format == "markdown" and not reply.streaming  # the native stream was ended with its note
    [request] = bedrock.requests
    slack.wait_until(lambda: request.ended_at is not None, what="the model stream to be closed")
    assert request.disconnected and request.ended_at - request.at < 8  # not the 10 s the model would take


def test_sigterm_while_the_model_is_silent_ends_within_the_grace_with_the_note(slack, bedrock, bot_process):
    process = bot_process(SHUTDOWN_GRACE_SECONDS="1")  # the read timeout stays at its 60 s
    bedrock.script(Reply.text("word " * 20, chunk=5).cut(4, STALL))  # four words, then silence
    slack.send_event(mention(slack, "<@UBOT> a long one please")[0])
    slack.wait_until(lambda: any("word word word word" in m.text for m in slack.bot_messages()), what="the words")
    process.send_signal(signal.SIGTERM)

    assert process.wait(15) == 0  # an orchestrator's SIGKILL would come long before 60 s
    [reply] = slack.bot_messages()
    assert reply.text.startswith("word word") and reply.text.endswith(notes.SHUTTING_DOWN)
    assert not reply.streaming  # the native stream was ended with its note
    [request] = bedrock.requests
    slack.wait_until(lambda: request.disconnected, what="the model stream to be closed")


def test_a_clean_start_and_stop_log_no_warning(slack, bedrock, bot_process):
    process = bot_process()
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    log = process.stdout.read()
    assert "connecting to Slack over Socket Mode" in log
    assert "will be unused" not in log and " WARNING " not in log, log


def test_no_token_reaches_the_log_even_at_debug_level(slack, bedrock, bot_process):
    process = bot_process(LOG_LEVEL="DEBUG")
    start_a_reply(slack, bedrock, Reply.text("Logged answer.", chunk=100))
    slack.wait_until(lambda: any(m.text == "Logged answer." for m in slack.bot_messages()), what="the answer")
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0

    log = process.stdout.read()
    assert "DEBUG" in log and "Logged answer" in log  # the log did talk about this reply
    for secret in ("xoxb-local-standin", "xapp-local-standin", "local-standin-secret", VERIFICATION_TOKEN):
        assert secret not in log


SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQCsecretSESSIONtoken+part/2Q=="


def test_no_aws_session_token_or_credential_reaches_the_log_at_debug_level(slack, bedrock, bot_process, aws_env):
    process = bot_process(LOG_LEVEL="DEBUG", AWS_SESSION_TOKEN=SESSION_TOKEN)  # temporary credentials, as a role's
    start_a_reply(slack, bedrock, Reply.text("Signed answer.", chunk=100))
    slack.wait_until(lambda: any(m.text == "Signed answer." for m in slack.bot_messages()), what="the answer")
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0

    log = process.stdout.read()
    assert "X-Amz-Security-Token" in log and "Authorization" in log  # botocore did log the signed request
    for secret in (SESSION_TOKEN, "secretSESSIONtoken", aws_env["AWS_ACCESS_KEY_ID"], aws_env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in log
    assert not re.search(r"Signature[=:]\s*[0-9a-f]{64}", log)  # nor a request's signature


def chat_env(aws_env, **values: str) -> dict[str, str]:
    return clean_env(BEDROCK_RETRY_BASE_SECONDS="0.05", **aws_env, **values)


def test_chat_streams_an_answer_to_the_terminal_without_slack(tmp_path, bedrock, aws_env):
    bedrock.script(Reply.text("**Rotate** keys often.", chunk=4))
    result = subprocess.run([sys.executable, "-m", "bot", "chat", "how", "do I rotate?"], cwd=tmp_path,
                            env=chat_env(aws_env, BEDROCK_SYSTEM_PROMPT="Be brief."), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "**Rotate** keys often.\n"
    [request] = bedrock.requests
    assert request.messages == [{"role": "user", "content": [{"text": "how do I rotate?"}]}]
    assert request.system == [{"text": "Be brief."}]


def test_chat_says_what_to_fix_when_the_model_refuses(tmp_path, bedrock, aws_env):
    bedrock.script(Reply.error(403, "AccessDeniedException", "no access"))
    result = subprocess.run([sys.executable, "-m", "bot", "chat", "hello"], cwd=tmp_path, env=chat_env(aws_env),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Model access" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_chat_names_the_settings_to_check_as_they_are_spelt(tmp_path, bedrock, aws_env):
    bedrock.script(Reply.error(404, "ResourceNotFoundException", "no such model"))
    result = subprocess.run([sys.executable, "-m", "bot", "chat", "hello"], cwd=tmp_path, env=chat_env(aws_env),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "check BEDROCK_MODEL_ID and AWS_REGION." in result.stdout


@pytest.mark.parametrize("url, says", [
    ("redis://127.0.0.1:6379/0?decode_responses=True", "the option(s) decode_responses are not taken"),
    ("redis://127.0.0.1:99999/0", "Port out of range"),
    ("redis://127.0.0.1:6379/zero", "the database after the host must be a number"),
    ("redis://:s3cret@127.0.0.1:6379/0?socket_timeout=9", "the option(s) socket_timeout are not taken"),
])
def test_a_redis_url_the_client_would_misread_stops_the_start_with_the_settings_message(tmp_path, url, says):
    result = run_bot(tmp_path, clean_env(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1", REDIS_URL=url))
    assert result.returncode == 2, result.stderr
    assert "The bot cannot start" in result.stderr and f"REDIS_URL: {says}" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
