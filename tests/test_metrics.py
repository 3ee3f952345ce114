"""The metrics an operator scrapes: what a reply, a Slack 429, a feedback click and a Redis outage move, read
from the text format the bot serves (at /metrics in HTTP mode, on METRICS_PORT in Socket Mode), through the
real bot and the stand-ins. Metrics are process-wide, so each test reads what changed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import create_bot
from bot.http_mode import http_server
from bot.settings import Settings
from standins.bedrock import Reply
from standins.events import mention
from tests.conftest import clean_env, serve


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample at `url`, by name and labels."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    """How much a sample changed between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


def wait_for_reply_counted(slack, url: str, before: dict, outcome: str, timeout: float = 10.0) -> dict:
    """Scrape until one more reply of `outcome` is counted than `before`; that scrape."""
    slack.wait_until(lambda: moved(before, scrape(url), "slackbot_replies_total", outcome=outcome, profile="default") > 0,
                     timeout=timeout, what="the reply to be counted")
    return scrape(url)


@pytest.fixture
def metrics_url(slack, bedrock, aws_env):
    """/metrics as HTTP mode serves it (the metrics are the process's: the Socket Mode bot a test starts
    beside it is counted there too)."""
    settings = Settings.from_env({**os.environ, "SLACK_BOT_TOKEN": "xoxb-local", "SLACK_SIGNING_SECRET": "s",
                                  "SLACK_API_URL": slack.api_url, "HOST": "127.0.0.1"}, mode="http")
    server = http_server(create_bot(settings), settings, port=0)
    serve(server)
    yield f"http://127.0.0.1:{server.effective_port}/metrics"
    server.close()


def test_an_answer_moves_the_reply_token_timing_and_slack_call_metrics(slack, bedrock, start_bot, metrics_url):
    start_bot()
    before = scrape(metrics_url)
    bedrock.script(Reply.text("An answer of a few words.", chunk=5, delay=0.02))
    event, question = mention(slack, "<@UBOT> count me")
    slack.send_event(event)
    slack.wait_until(lambda: any(m.text == "An answer of a few words." for m in slack.bot_messages()),
                     what="the answer")
    after = wait_for_reply_counted(slack, metrics_url, before, "answered")

    assert moved(before, after, "slackbot_replies_total", outcome="answered", profile="default") == 1
    assert moved(before, after, "slackbot_first_token_seconds_count") == 1
    assert moved(before, after, "slackbot_first_words_seconds_count") == 1
    assert moved(before, after, "slackbot_model_tokens_total", kind="input", profile="default") == 11  # what the Bedrock stand-in reported
    assert moved(before, after, "slackbot_model_tokens_total", kind="output", profile="default") == len("An answer of a few words.") // 4
    assert moved(before, after, "slackbot_slack_calls_total", method="chat.postMessage", result="ok") >= 1
    assert moved(before, after, "slackbot_slack_budget_wait_seconds_count", method="chat.postMessage") >= 1


def test_a_reply_the_model_fails_counts_as_failed_and_its_note_is_not_first_words(slack, bedrock, start_bot,
                                                                                  metrics_url):
    start_bot()
    before = scrape(metrics_url)
    bedrock.script(Reply.error(403, "AccessDeniedException", "You don't have access to the model"))
    event, _ = mention(slack, "<@UBOT> anyone there?")
    slack.send_event(event)
    slack.wait_until(lambda: any("Model access" in (m.text or "") for m in slack.bot_messages()),
                     what="the note saying why")
    after = wait_for_reply_counted(slack, metrics_url, before, "failed")

    assert moved(before, after, "slackbot_replies_total", outcome="failed", profile="default") == 1
    assert moved(before, after, "slackbot_replies_total", outcome="answered", profile="default") == 0
    assert moved(before, after, "slackbot_first_token_seconds_count") == 0
    # the note is no answer: counted as first words, it would flatter the p95
    assert moved(before, after, "slackbot_first_words_seconds_count") == 0


def test_a_429_and_a_refusal_are_counted_by_method_and_result(slack, bedrock, start_bot, metrics_url):
    start_bot(MAX_REPLIES_PER_USER="1")
    before = scrape(metrics_url)
    slack.fail("chat.update", retry_after=0.2)
    bedrock.script(Reply.text("Slow enough to hold its slot " * 3, chunk=5, delay=0.05))
    event, _ = mention(slack, "<@UBOT> first")
    slack.send_event(event)
    slack.wait_until(lambda: bedrock.requests, what="the model to be asked")
    event, refused = mention(slack, "<@UBOT> second, at once")  # same person: one at a time
    slack.send_event(event)
    slack.wait_until(lambda: any(m.thread_ts == refused.ts for m in slack.bot_messages()), what="the refusal")
    after = wait_for_reply_counted(slack, metrics_url, before, "answered", timeout=20)
    assert moved(before, after, "slackbot_slack_calls_total", method="chat.update", result="rate_limited") == 1
    assert moved(before, after, "slackbot_replies_total", outcome="refused", profile="default") == 1


def test_a_feedback_click_is_counted_by_vote(slack, bedrock, start_bot, metrics_url):
    start_bot(SLACK_STATUS="on", SLACK_REPLY_SURFACE="auto")
    bedrock.script(Reply.text("Helpful answer."))
    event, question = mention(slack, "<@UBOT> help")
    slack.send_event(event)
    [message] = slack.wait_until(lambda: [m for m in slack.bot_messages() if m.blocks], what="the buttons")
    buttons = message.blocks[0]["elements"][0]
    before = scrape(metrics_url)
    slack.click(message, "U7", {"action_id": buttons["action_id"], "value": buttons["positive_button"]["value"]})
    slack.wait_until(lambda: moved(before, scrape(metrics_url), "slackbot_feedback_total", vote="good") == 1,
                     what="the click to be counted")


def test_a_redis_outage_shows_in_the_metrics(slack, bedrock, start_bot, metrics_url, redis_server):
    start_bot(REDIS_URL=redis_server.url)
    assert value(scrape(metrics_url), "slackbot_shared_state_up") == 1
    before = scrape(metrics_url)
    redis_server.stop()
    bedrock.script(Reply.text("Still answering."))
    event, _ = mention(slack, "<@UBOT> and now?")
    slack.send_event(event)
    slack.wait_until(lambda: any(m.text == "Still answering." for m in slack.bot_messages()), what="the answer")
    after = scrape(metrics_url)
    assert value(after, "slackbot_shared_state_up") == 0
    assert moved(before, after, "slackbot_shared_state_fallbacks_total") == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_socket_mode_serves_the_metrics_on_metrics_port(slack, bedrock, bot_process):
    port = free_port()
    bot_process(METRICS_PORT=str(port), HOST="127.0.0.1")
    bedrock.script(Reply.text("Counted."))
    event, _ = mention(slack, "<@UBOT> hello")
    slack.send_event(event)
    slack.wait_until(lambda: any(m.text == "Counted." for m in slack.bot_messages()), what="the answer")
    url = f"http://127.0.0.1:{port}/metrics"
    slack.wait_until(lambda: value(scrape(url), "slackbot_replies_total", outcome="answered", profile="default") == 1,
                     what="the reply in the metrics of the bot's own process")


def test_without_redis_there_is_no_shared_state_gauge_to_alert_on(slack, bedrock, bot_process):
    port = free_port()
    bot_process(METRICS_PORT=str(port), HOST="127.0.0.1")  # no REDIS_URL: one instance, nothing shared
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert ("slackbot_shared_state_up", ()) not in samples  # a 0 would read as Redis down
    assert value(samples, "slackbot_shared_state_fallbacks_total") == 0


def test_a_metrics_port_in_use_stops_start_up_with_what_to_do(tmp_path, slack, aws_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, capture_output=True, text=True,
                                timeout=60, env=clean_env(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1",
                                                          SLACK_API_URL=slack.api_url, METRICS_PORT=str(port),
                                                          HOST="127.0.0.1", **aws_env))
    assert result.returncode == 2
    assert f"METRICS_PORT {port} cannot be listened on" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_healthz_says_when_an_instance_keeps_its_own_state_because_redis_does_not_answer(slack, bedrock, aws_env,
                                                                                        redis_server):
    settings = Settings.from_env({**os.environ, "SLACK_BOT_TOKEN": "xoxb-local", "SLACK_SIGNING_SECRET": "s",
                                  "SLACK_API_URL": slack.api_url, "HOST": "127.0.0.1", "REDIS_URL": redis_server.url},
                                 mode="http")
    server = http_server(create_bot(settings), settings, port=0)
    serve(server)
    health = f"http://127.0.0.1:{server.effective_port}/healthz"
    try:
        with urllib.request.urlopen(health, timeout=5) as response:
            assert json.loads(response.read()) == {"ok": True, "shared_state": "redis"}
        redis_server.stop()
        slack.wait_until(lambda: "local: Redis is not answering" in urllib.request.urlopen(health, timeout=5).read()
                         .decode(), what="/healthz to say the instance keeps its own state")  # the budgets' exchange saw it
        with urllib.request.urlopen(health, timeout=5) as response:
            assert response.status == 200  # still answering: the load balancer keeps it
            assert "6379" not in response.read().decode()  # where Redis is: in the log, not for anyone who asks
    finally:
        server.close()
