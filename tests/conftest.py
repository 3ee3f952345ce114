"""Fixtures: the local Slack and Bedrock stand-ins, and the real bot connected to them."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.app import Bot, create_bot, socket_mode_handler
from bot.settings import Settings
from standins.bedrock import FakeBedrock
from standins.knowledge import FakeKnowledgeBases
from standins.redis_server import RedisServer
from standins.slack import FakeSlack


ROOT = Path(__file__).resolve().parent.parent
STANDINS = {"slack", "bedrock", "knowledge", "redis_server"}  # a test that uses one (or a fixture that does) is end to end
SETTING_NAMES = ("SLACK_", "BEDROCK_", "AWS_", "LOG_LEVEL", "CONTEXT_", "DM_", "MAX_CONCURRENT", "REDIS_", "METRICS_",
                 "TOOL_")


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any of the bot's settings, with `values`, for a `python -m bot` of a test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_NAMES)}
    env["PYTHONPATH"] = str(ROOT)
    env.update(values)
    return env


def pytest_xdist_auto_num_workers(config) -> int | None:
    """How many test processes `-n auto` (pyproject's addopts) starts: six, as the end-to-end tests mostly wait
    on sockets and sleeps; one a core for the unit tests alone (`-m "not e2e"`), which keep the cores busy."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own answer reads it
    return (os.cpu_count() or 1) if config.getoption("markexpr") == "not e2e" else 6


def pytest_collection_modifyitems(items):
    """Mark `e2e` every test that drives a stand-in server through its fixtures (`start_bot` and `bot_process`
    use `slack`); the few that start one another way carry the mark themselves."""
    for item in items:
        if STANDINS.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def slack():
    standin = FakeSlack().start()
    yield standin
    standin.stop()


@pytest.fixture
def bedrock():
    standin = FakeBedrock().start()
    yield standin
    standin.stop()


@pytest.fixture
def knowledge(monkeypatch):
    """Bedrock Knowledge Bases' runtime (`Retrieve`), where boto3's standard chain finds it."""
    standin = FakeKnowledgeBases().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", standin.endpoint_url)
    yield standin
    standin.stop()


@pytest.fixture
def redis_server():
    """A real redis-server on a free local port, empty (a test that needs one fails if it is not installed)."""
    try:
        server = RedisServer().start()
    except FileNotFoundError as missing:
        pytest.fail(str(missing), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, bedrock, tmp_path):
    """boto3's standard chain, pointed at the Bedrock stand-in and at nothing else on this machine."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "AWS_ACCESS_KEY_ID": "AKIDLOCALSTANDIN",
        "AWS_SECRET_ACCESS_KEY": "local-standin-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.endpoint_url,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def bot_env(slack):
    return {
        "SLACK_BOT_TOKEN": "xoxb-local-standin",
        "SLACK_APP_TOKEN": "xapp-local-standin",
        "SLACK_API_URL": slack.api_url,
        "SLACK_UPDATE_INTERVAL_SECONDS": "0.2",
        # Today's path unless a test asks for Slack's AI surfaces: a placeholder, then edited messages.
        "SLACK_STATUS": "off",
        "SLACK_REPLY_SURFACE": "edit",
    }


def serve(server) -> None:
    """Run an HTTP mode server (`bot.http_mode.http_server`) in a thread of its own until `server.close()`."""
    def run() -> None:
        try:
            server.run()
        except OSError as error:  # closed from another thread while it waited on the socket: that is its end
            if error.errno != errno.EBADF:
                raise

    threading.Thread(target=run, daemon=True).start()


def stop_replies(bot: Bot) -> None:
    """End the bot's replies still in flight, with their note, while the stand-ins still answer: one left running
    goes on against stand-ins that have stopped (or a later test's, on the same port) for minutes, in this
    process, and the interpreter waits for it at exit."""
    bot.replier.shutdown(grace=0, final_edit_timeout=5)


@pytest.fixture
def start_bot(slack, bot_env, aws_env):
    """Start the real Bolt app over real Socket Mode; returns its settings."""
    bots, handlers = [], []

    def start(**overrides: str) -> Settings:
        settings = Settings.from_env({**os.environ, **bot_env, **overrides})  # as `python -m bot` reads it
        start.bot = create_bot(settings)  # the last bot started, for a test that looks at its budgets
        bots.append(start.bot)
        handler = socket_mode_handler(start.bot.app, settings)
        handler.connect()
        handlers.append(handler)
        slack.wait_until(lambda: slack.connected, what="the bot to connect over Socket Mode")
        return settings

    yield start
    for bot in bots:
        stop_replies(bot)
    for handler in handlers:
        handler.client.auto_reconnect_enabled = False
    slack.drop_connections()  # unblocks the client's read at once, so closing takes no 3 s receive timeout
    for handler in handlers:
        # let the client see the drop first: closing while it tears the socket down races inside slack_sdk
        # (a client that was already replaced by a newer one may never notice: it is closed all the same)
        deadline = time.monotonic() + 5
        while handler.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        handler.close()


@pytest.fixture
def bot_process(tmp_path, slack, bedrock, aws_env):
    """Start `python -m bot` against the stand-ins, with extra settings; waits until it is connected (each
    process started opens a Socket Mode connection of its own, as several instances of the bot do)."""
    processes = []

    def start(**settings: str) -> subprocess.Popen:
        env = clean_env(
            SLACK_BOT_TOKEN="xoxb-local-standin",
            SLACK_APP_TOKEN="xapp-local-standin",
            SLACK_API_URL=slack.api_url,
            SLACK_UPDATE_INTERVAL_SECONDS="0.2",
            **aws_env,
            **settings,
        )
        before = slack.connection_count
        process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        slack.wait_until(lambda: slack.connection_count > before or process.poll() is not None, timeout=30,
                         what="python -m bot to connect")
        assert process.poll() is None, process.stdout.read()
        return process

    yield start
    for process in processes:
        process.kill()
        process.wait(10)
