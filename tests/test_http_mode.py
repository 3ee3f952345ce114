"""HTTP mode: the Events API with request signatures. A correctly signed event is answered; a bad or stale
signature is rejected with 401 and not answered; the health endpoint answers; `python -m bot http` serves.
A body over the limit is refused by its announced length (413) before it is read; malformed bodies and
timestamps get 400 or 401, never a 500 or a traceback."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from bot.app import create_bot
from bot.http_mode import MAX_BODY_BYTES, http_server, screen
from bot.settings import Settings
from standins.slack import VERIFICATION_TOKEN
from standins.events import mention
from tests.conftest import clean_env, serve, stop_replies

SECRET = "local-signing-secret"


@pytest.fixture
def server(slack, bedrock, aws_env):
    settings = Settings.from_env({**os.environ, "SLACK_BOT_TOKEN": "xoxb-local", "SLACK_SIGNING_SECRET": SECRET,
                                  "SLACK_API_URL": slack.api_url, "HOST": "127.0.0.1"}, mode="http")
    bot = create_bot(settings)
    server = http_server(bot, settings, port=0)
    serve(server)
    yield f"http://127.0.0.1:{server.effective_port}"
    stop_replies(bot)
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
    return json.dumps({"token": VERIFICATION_TOKEN, "team_id": slack.team_id, "api_app_id": "A1", "event": event,
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
        assert response.status == 200 and json.loads(response.read()) == {"ok": True, "shared_state": "local"}


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


@pytest.mark.e2e  # starts `python -m bot http`
def test_http_mode_needs_the_signing_secret_not_the_app_token(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot", "http"], cwd=tmp_path,
                            env=clean_env(SLACK_BOT_TOKEN="xoxb-1"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is missing" in result.stderr and "SLACK_APP_TOKEN" not in result.stderr


@pytest.fixture
def http_process(tmp_path, slack, aws_env):
    """`python -m bot http` against the Slack stand-in: (its base URL, its output so far)."""
    env = clean_env(SLACK_BOT_TOKEN="xoxb-local", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.api_url,
                    HOST="127.0.0.1", PORT="0", **aws_env)
    process = subprocess.Popen([sys.executable, "-m", "bot", "http"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    line = ""
    while "serving the Events API" not in line:
        line = process.stdout.readline()
        assert line, "the process ended before serving"
        output.append(line)
    threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True).start()
    yield line.split(" at ", 1)[1].split("/slack/events")[0], output
    process.kill()
    process.wait(10)


def raw_post(url: str, body: bytes, *, timestamp: str | None = None, sign: bool = True,
             content_type: str = "application/json") -> int:
    """POST `body` as Slack would (signed with the secret, unless not `sign`); the status that comes back."""
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("POST", "/slack/events", body=body, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature if sign else "v0=" + "0" * 64})
    return connection.getresponse().status


def announce(url: str, length: int) -> bytes:
    """Send only the head of a POST whose body would be `length` bytes; the status line that comes back."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % length)
        return connection.recv(200).split(b"\r\n", 1)[0]  # no waiting for a body: the length alone decides


def test_a_body_over_the_limit_is_refused_by_its_length_before_it_is_read_and_one_at_it_is_answered(slack,
                                                                                                    http_process):
    url, _ = http_process
    assert announce(url, 400_000_000).startswith(b"HTTP/1.1 413 ")
    assert announce(url, MAX_BODY_BYTES + 1).startswith(b"HTTP/1.1 413 ")

    event, _ = mention(slack, "<@UBOT> a big one")
    body = event_body(slack, event)
    at_limit = body[:-1] + b', "padding": "' + b"x" * (MAX_BODY_BYTES - len(body) - 15) + b'"}'
    assert len(at_limit) == MAX_BODY_BYTES
    assert raw_post(url, at_limit) == 200
    slack.wait_until(lambda: any(m.text == "Hello from the model." for m in slack.bot_messages()), what="the answer")


def test_malformed_requests_get_400_or_401_never_a_500_or_a_traceback(slack, http_process):
    url, output = http_process
    answers = {
        "malformed JSON, signed": raw_post(url, b'{"type": "event_callback", '),
        "a JSON array, signed": raw_post(url, b"[1, 2]"),
        "JSON that is not an object, signed": raw_post(url, b"null"),
        "a form whose payload is not JSON, signed": raw_post(url, b"payload=%7Bnot-json",
                                                             content_type="application/x-www-form-urlencoded"),
        "malformed JSON, unsigned": raw_post(url, b"{not json", sign=False),
        "a non-numeric timestamp": raw_post(url, b"{}", timestamp="soon"),
        "a non-numeric timestamp, unsigned": raw_post(url, b"[1]", timestamp="1e9", sign=False),
    }
    assert answers == {
        "malformed JSON, signed": 400, "a JSON array, signed": 400, "JSON that is not an object, signed": 400,
        "a form whose payload is not JSON, signed": 400, "malformed JSON, unsigned": 401,
        "a non-numeric timestamp": 401, "a non-numeric timestamp, unsigned": 401}
    event, _ = mention(slack, "<@UBOT> still there?")  # and the bot goes on answering
    assert raw_post(url, event_body(slack, event)) == 200
    slack.wait_until(lambda: any(m.text == "Hello from the model." for m in slack.bot_messages()), what="the answer")
    assert "Traceback" not in "".join(output)


DEEP = b'{"type": "event_callback", "event": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
DEEP_FORM = b"%7B%22a%22%3A" + b"%5B" * 50_000 + b"%5D" * 50_000 + b"%7D"


def signed(body: bytes, timestamp: str = "1700000000", content_type: str = "application/json") -> dict:
    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature, "content-type": content_type}


@pytest.mark.parametrize("body, headers, status", [
    (b'{"type": "event_callback"}', signed(b'{"type": "event_callback"}'), None),
    (b"payload=%7B%7D", signed(b"payload=%7B%7D", content_type="application/x-www-form-urlencoded"), None),
    (b"", signed(b""), None),
    (b"{}", {**signed(b"{}"), "x-slack-signature": "v0=" + "0" * 64}, 401),
    (b"{}", {"content-type": "application/json"}, 401),
    (b"{}", signed(b"{}", timestamp="soon"), 401),
    (b"{}", signed(b"{}", timestamp="１７００００００００"), 401),  # digits, but not ASCII ones
    (b"{}", signed(b"{}", timestamp="1699999000"), 401),  # stale
    (b"[1, 2]", signed(b"[1, 2]"), 400),
    (b"{not json", signed(b"{not json"), 400),
    (b"\xff{}", signed(b"\xff{}"), 400),
    (b"payload=%5B%5D", signed(b"payload=%5B%5D", content_type="application/x-www-form-urlencoded"), 400),
    (DEEP, signed(DEEP), 400),  # nested past the JSON parser's depth: a RecursionError, not a ValueError
    (b"payload=" + DEEP_FORM, signed(b"payload=" + DEEP_FORM, content_type="application/x-www-form-urlencoded"), 400),
])
def test_screen_refuses_unsigned_stale_and_unreadable_requests(body, headers, status):
    assert screen(body, headers, SECRET, now=1_700_000_010) == status


def test_healthz_never_shows_where_redis_is_or_its_error():
    """Issue 22, item 13: /healthz answers anyone."""
    from bot.http_mode import public_status

    inner = "local: Redis at 10.0.3.7:6379/0 has not answered for 12 s (ConnectionError: Error 111 connecting)"
    assert public_status(inner) == "local: Redis is not answering (see the log)"
    assert public_status("redis") == "redis" and public_status("local") == "local"


def test_hundreds_of_idle_half_sent_connections_do_not_stop_health_checks_or_events(slack, bedrock, http_process):
    """Waitress's defaults stopped accepting at 100 connections: 110 that sent half a request each made /healthz
    and signed events time out for two minutes."""
    url, output = http_process
    host, port = url.removeprefix("http://").split(":")
    idle = []
    try:
        for _ in range(400):
            connection = socket.create_connection((host, int(port)), timeout=5)
            connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 100\r\n")  # no end
            idle.append(connection)
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            assert response.status == 200
        event, _ = mention(slack, "<@UBOT> still there?")
        assert raw_post(url, event_body(slack, event)) == 200
        slack.wait_until(lambda: any(m.text == "Hello from the model." for m in slack.bot_messages()),
                         what="the answer")
    finally:
        for connection in idle:
            connection.close()
    assert "Traceback" not in "".join(output)
