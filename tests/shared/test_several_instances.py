"""Several instances of the bot serving one workspace, sharing their state through a real Redis: each
`python -m bot` here is a process of its own with its own Socket Mode connection to the one Slack stand-in,
as a deploy with two or three instances runs.

- A redelivered event that reaches the other instance is answered once.
- Slack's budgets are the workspace's: two instances under a Slack whose limits fit one bot's budget get no
  429 (without Redis they do), and a 429 one of them hears holds the other back too.
- Redis stopped mid-run: replies go on (each instance on its own state, with a warning); Redis back: the
  instances share again.
- A killed instance's answers in flight stop counting against their person once its leases expire.
"""

from __future__ import annotations

import signal
import time

import pytest
import redis

from standins.bedrock import Reply
from standins.events import mention

LIMITS = "chat.update=30/3"  # the bot's budget for edits: a burst of 3, then one every 2 s (a burst it knows:
# no probing beyond it)


def refused(slack, method: str) -> list:
    """The calls of `method` Slack answered 429."""
    return [call for call, status, _ in slack.responses if status == 429 and call.method == method]


def started(bot_process, count: int, **settings: str) -> list:
    return [bot_process(SLACK_REPLY_SURFACE="edit", SLACK_STATUS="off", SLACK_FEEDBACK_BUTTONS="off", **settings)
            for _ in range(count)]


def answers_in(slack, thread_ts: str) -> list:
    """The bot's answers in a thread (a placeholder or posted answer each; edits change them in place)."""
    return [m for m in slack.bot_messages() if m.thread_ts == thread_ts]


def test_a_redelivery_that_reaches_the_other_instance_is_answered_once(slack, bedrock, bot_process, redis_server):
    for _ in range(2):  # the status as the sign of life: the thread holds no message of the bot before its answer
        bot_process(SLACK_REPLY_SURFACE="edit", REDIS_URL=redis_server.url)
    bedrock.answer = lambda request: Reply.text("Answered once.", chunk=4, delay=0.05, first_delay=0.5)

    event, question = mention(slack, "<@UBOT> hello from one of two instances")
    event_id = slack.send_event(event, connection=0)
    slack.send_event(event, event_id=event_id, retry_attempt=1, connection=1)  # Slack did not hear the ack in time

    slack.wait_until(lambda: [m.text for m in answers_in(slack, question.ts)] == ["Answered once."], timeout=20,
                     what="the answer")
    time.sleep(1.0)  # the other instance had time to answer too, had it not known
    assert len(bedrock.requests) == 1
    assert [m.text for m in answers_in(slack, question.ts)] == ["Answered once."]


def ask_many(slack, bedrock, instances: int, count: int) -> dict[str, str]:
    """`count` mentions in channels of their own, spread over the instances' connections; each answer needs
    several edits. Returns each thread's whole answer."""
    bedrock.answer = lambda request: Reply.text(
        "Words " + request.body["messages"][-1]["content"][0]["text"].split()[-1] + " " + "more words " * 12,
        chunk=8, delay=0.05)
    expected = {}
    for n in range(count):
        event, question = mention(slack, f"<@UBOT> question q{n}", user=f"U{n}", channel=f"C{n}")
        expected[question.ts] = f"Words q{n} " + "more words " * 12
        slack.send_event(event, connection=n % instances)
    return expected


def wait_for_whole_answers(slack, expected: dict[str, str]) -> None:
    def whole() -> bool:
        texts = {m.thread_ts: m.text for m in slack.bot_messages()}
        return all(texts.get(ts, "").strip() == text.strip() for ts, text in expected.items())

    slack.wait_until(whole, timeout=90, what="every whole answer")


@pytest.mark.parametrize("shared", [True, False], ids=["through Redis", "each on its own"])
def test_two_instances_share_the_workspaces_edit_budget(slack, bedrock, bot_process, redis_server, shared):
    slack.limit("chat.update", burst=4, per_second=0.6)  # one bot's budget fits, with room for network jitter
    settings = {"SLACK_RATE_LIMITS": LIMITS, **({"REDIS_URL": redis_server.url} if shared else {})}
    started(bot_process, 2, **settings)

    expected = ask_many(slack, bedrock, instances=2, count=6)
    wait_for_whole_answers(slack, expected)

    if shared:  # one bot alone gets none under these limits, and two sharing one budget get none either
        assert refused(slack, "chat.update") == []
        assert slack.early_calls == []
    else:  # each spends the whole budget as its own: Slack refuses what the two spend beyond it
        assert refused(slack, "chat.update")


def test_a_429_one_instance_hears_holds_the_other_back(slack, bedrock, bot_process, redis_server):
    started(bot_process, 2, REDIS_URL=redis_server.url, SLACK_RATE_LIMITS=LIMITS)
    slack.fail("chat.update", retry_after=2.0)  # the first edit, whichever instance makes it

    expected = ask_many(slack, bedrock, instances=2, count=4)
    wait_for_whole_answers(slack, expected)

    assert len(refused(slack, "chat.update")) == 1
    assert slack.early_calls == []  # neither instance called inside the Retry-After


def test_replies_go_on_while_redis_is_down_and_sharing_resumes_when_it_is_back(slack, bedrock, bot_process,
                                                                               redis_server):
    first, second = started(bot_process, 2, REDIS_URL=redis_server.url, LOG_LEVEL="INFO")
    bedrock.answer = lambda request: Reply.text("An answer.", chunk=4, delay=0.02)

    redis_server.stop()
    asked = []
    for n in range(4):  # both instances answer, each on its own state
        event, question = mention(slack, f"<@UBOT> while Redis is down {n}", channel=f"C{n}")
        slack.send_event(event, connection=n % 2)
        asked.append(question.ts)
    slack.wait_until(lambda: all([m.text for m in answers_in(slack, ts)] == ["An answer."] for ts in asked),
                     timeout=20, what="the answers while Redis is down")

    redis_server.start()
    time.sleep(1.5)  # each instance asks Redis again within a second of its last try
    event, question = mention(slack, "<@UBOT> Redis is back")
    event_id = slack.send_event(event, connection=0)
    slack.send_event(event, event_id=event_id, retry_attempt=1, connection=1)
    slack.wait_until(lambda: [m.text for m in answers_in(slack, question.ts)] == ["An answer."], timeout=20,
                     what="the answer once Redis is back")
    time.sleep(1.0)
    assert len(answers_in(slack, question.ts)) == 1  # shared again: the redelivery was recognised
    assert len(bedrock.requests) == 5

    for process in (first, second):
        process.send_signal(signal.SIGTERM)
        log = process.communicate(timeout=30)[0]
        assert log.count("does not answer") == 1, log  # one warning (a minute), not one per call
        assert "answers again" in log, log


def test_a_killed_instances_answers_stop_counting_once_its_leases_expire(slack, bedrock, bot_process, redis_server):
    settings = dict(REDIS_URL=redis_server.url, REDIS_LEASE_SECONDS="2", MAX_REPLIES_PER_USER="1")
    [doomed] = started(bot_process, 1, **settings)
    bedrock.answer = lambda request: Reply.text("A very slow answer " * 50, chunk=4, delay=0.5)
    event, _ = mention(slack, "<@UBOT> a long question", user="U7", channel="C1")
    slack.send_event(event)
    slack.wait_until(lambda: bedrock.requests, what="the first instance to ask the model")
    held = redis.Redis.from_url(redis_server.url)
    assert held.zcard("bedrock-slack-bot:T1:BBOT:replies:U7") == 1  # U7 has one answer in flight

    doomed.send_signal(signal.SIGKILL)  # no shutdown: its answer stays counted until the lease expires
    doomed.wait(10)
    slack.wait_until(lambda: slack.connection_count == 0, what="Slack to see its connection drop")
    started(bot_process, 1, **settings)
    bedrock.answer = lambda request: Reply.text("The second answer.", chunk=4)

    event, turned_away = mention(slack, "<@UBOT> another question", user="U7", channel="C2")
    slack.send_event(event)
    slack.wait_until(lambda: answers_in(slack, turned_away.ts), what="the second instance to say no")
    assert "still working on 1 of your questions" in answers_in(slack, turned_away.ts)[0].text

    slack.wait_until(lambda: held.zcard("bedrock-slack-bot:T1:BBOT:replies:U7") == 0, timeout=10,
                     what="the dead instance's lease to expire")
    event, asked = mention(slack, "<@UBOT> and now?", user="U7", channel="C3")
    slack.send_event(event)
    slack.wait_until(lambda: [m.text for m in answers_in(slack, asked.ts)] == ["The second answer."], timeout=20,
                     what="the answer after the lease expired")


def test_two_bots_sharing_one_redis_each_answer_their_own_events(slack, bedrock, aws_env, redis_server):
    """Two apps (two bots of one workspace, or of two) on one Redis, with no key prefix set: each has keys of its
    own, so an event id or a message both receive is taken by each, not swallowed by the first."""
    import os

    from bot.app import create_bot
    from bot.conversation.build import Identity
    from bot.intake.requests import SeenEvents, request_from_event
    from bot.settings import Settings
    from standins.slack import FakeSlack

    other = FakeSlack(bot_user_id="UOTHER", bot_id="BOTHER").start()
    try:
        states = []
        for api in (slack, other):
            settings = Settings.from_env({**os.environ, "SLACK_BOT_TOKEN": "xoxb-local", "SLACK_APP_TOKEN": "xapp-1",
                                          "SLACK_API_URL": api.api_url, "REDIS_URL": redis_server.url})
            states.append(create_bot(settings).state)
        event = {"type": "app_mention", "user": "U1", "text": "<@UBOT> <@UOTHER> hello", "ts": "1700000000.000100",
                 "channel": "C1"}
        question = request_from_event(event, "Ev1", Identity("UBOT"))
        assert [SeenEvents(state).first_time(question) for state in states] == [True, True]
        assert [SeenEvents(state).first_time(question) for state in states] == [False, False]  # each once
        keys = {key.decode().split(":event:", 1)[0] for key in redis.Redis.from_url(redis_server.url).keys("*:event:*")}
        assert keys == {"bedrock-slack-bot:T1:BBOT", "bedrock-slack-bot:T1:BOTHER"}
    finally:
        for state in states:
            state.close()
        other.stop()


def test_without_redis_a_redelivery_to_the_other_instance_sees_the_open_stream_and_is_not_answered_again(
        slack, bedrock, bot_process):
    """Each instance keeps its own state: the one a redelivery reaches looks in the thread, where the first
    instance's answer is a stream still open (untagged until it stops)."""
    bot_process(SLACK_REPLY_SURFACE="stream")
    second = bot_process(SLACK_REPLY_SURFACE="stream")
    bedrock.answer = lambda request: Reply.text("Streamed once, slowly, to the end.", chunk=4, delay=0.15)
    event, question = mention(slack, "<@UBOT> hello")
    event_id = slack.send_event(event, connection=0)
    slack.wait_until(lambda: [m for m in answers_in(slack, question.ts) if m.streaming], what="the open stream")
    slack.send_event(event, event_id=event_id, retry_attempt=1, connection=1)  # Slack did not hear the ack in time
    slack.wait_until(lambda: [m.text for m in answers_in(slack, question.ts) if not m.streaming]
                     == ["Streamed once, slowly, to the end."], timeout=20, what="the answer")
    second.send_signal(signal.SIGTERM)
    log = second.communicate(timeout=30)[0]
    assert f"ignoring a redelivery of event {event_id}" in log
    assert len(bedrock.requests) == 1 and len(answers_in(slack, question.ts)) == 1
