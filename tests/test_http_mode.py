"""HTTP mode: the Events API with request signatures. A correctly signed event is answered; a bad or stale
signature is rejected with 401 and not answered; the health endpoint answers; `python -m bot http` serves."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from bot.app import create_bot
from bot.http_mode import http_server
from bot.settings import Settings
from standins.events import mention
from tests.test_startup import clean_env

SECRET = "local-signing-secret"


@pytest.fixture
def server(slack, bedrock, aws_env):
    settings = Settings.from_env({**os.environ, "SLACK_BOT_TOKEN": "xoxb-local", "SLACK_SIGNING_SECRET": SECRET,
                                  "SLACK_API_URL": slack.api_url, "HOST": "127.0.0.1"}, mode="http")
    server = http_server(create_bot(settings), settings, port=0)
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


def post(url: str, body: bytes, secret: str = SECRET, age: float = 0.0) -> int:
    timestamp = str(int(time.time() - age))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{url}/slack/events", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def event_body(slack, event: dict) -> bytes:
    return json.dumps({"token": "legacy", "team_id": slack.team_id, "api_app_id": "A1", "event": event,
                       "type": "event_callback", "event_id": f"Ev{time.time_ns()}", "event_time": int(time.time()),
                       "authorizations": [{"team_id": slack.team_id, "user_id": slack.bot_user_id, "is_bot": True}]
                       }).encode()


def test_a_correctly_signed_event_is_answered(slack, server):
    event, question = mention(slack, "<@UBOT> over http?")
    assert post(server, event_body(slack, event)) == 200
    slack.wait_until(lambda: any(m.text == "Hello from the model." for m in slack.bot_messages()), what="the answer")
    assert slack.bot_messages()[0].thread_ts == question.ts


@pytest.mark.parametrize("secret, age", [("not-the-secret", 0.0), (SECRET, 600.0)], ids=["bad", "stale"])
def test_a_bad_or_stale_signature_is_rejected_and_not_answered(slack, bedrock, server, secret, age):
    event, _ = mention(slack, "<@UBOT> forged")
    assert post(server, event_body(slack, event), secret=secret, age=age) == 401
    time.sleep(0.5)
    assert slack.bot_messages() == [] and bedrock.requests == []


def test_the_health_endpoint_answers(server):
    with urllib.request.urlopen(f"{server}/healthz", timeout=5) as response:
        assert response.status == 200 and json.loads(response.read()) == {"ok": True}


def test_python_m_bot_http_serves_and_stops_cleanly_on_sigterm(tmp_path, slack, aws_env):
    env = clean_env(SLACK_BOT_TOKEN="xoxb-local", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.api_url,
                    HOST="127.0.0.1", PORT="0", **aws_env)
    process = subprocess.Popen([sys.executable, "-m", "bot", "http"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        while "serving the Events API" not in line:
            line = process.stdout.readline()
            assert line, "the process ended before serving"
        url = line.split(" at ", 1)[1].split("/slack/events")[0]
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()


def test_http_mode_needs_the_signing_secret_not_the_app_token(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot", "http"], cwd=tmp_path,
                            env=clean_env(SLACK_BOT_TOKEN="xoxb-1"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is missing" in result.stderr and "SLACK_APP_TOKEN" not in result.stderr
