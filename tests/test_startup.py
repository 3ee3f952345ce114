"""`python -m bot` as a person runs it: settings from the environment and `.env`, a clear stop when they
are wrong, and a live answer when they are right (over the local Slack and Bedrock stand-ins)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.events import mention
from tests.standins.bedrock import Reply

ROOT = Path(__file__).resolve().parent.parent
SETTING_NAMES = ("SLACK_", "BEDROCK_", "AWS_", "LOG_LEVEL", "CONTEXT_", "DM_", "MAX_CONCURRENT")


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_NAMES)}
    env["PYTHONPATH"] = str(ROOT)
    env.update(values)
    return env


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


@pytest.fixture
def bot_process(tmp_path, slack, bedrock, aws_env):
    env = clean_env(
        SLACK_BOT_TOKEN="xoxb-local-standin",
        SLACK_APP_TOKEN="xapp-local-standin",
        SLACK_API_URL=slack.api_url,
        SLACK_EDIT_INTERVAL_SECONDS="0.2",
        **aws_env,
    )
    process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process
    process.kill()
    process.wait(10)


def test_python_m_bot_connects_and_answers_a_mention(slack, bedrock, bot_process):
    slack.wait_until(lambda: slack.connected or bot_process.poll() is not None, timeout=30,
                     what="python -m bot to connect")
    assert bot_process.poll() is None, bot_process.stdout.read()
    assert [c.token for c in slack.calls_of("auth.test")] == ["xoxb-local-standin"]
    assert [c.token for c in slack.calls_of("apps.connections.open")] == ["xapp-local-standin"]

    bedrock.script(Reply.text("Answered from a real process.", chunk=6, delay=0.02))
    event_, question = mention(slack, "<@UBOT> are you there?")
    slack.send_event(event_)
    slack.wait_until(lambda: any(m.text == "Answered from a real process." for m in slack.bot_messages()),
                     what="the answer")
    assert slack.bot_messages()[0].thread_ts == question.ts
    assert bedrock.requests[0].model_id == "global.anthropic.claude-haiku-4-5-20251001-v1:0"
