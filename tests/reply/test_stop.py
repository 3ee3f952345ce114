"""Slack's native Stop button (agent sessions), end to end with the real `python -m bot`: the thread's session is
`processing` while the bot works and `active` once it is done, however the reply ends; a person's Stop ends the
answer at once with "_Stopped._", whichever instance holds the reply (with Redis)."""

from __future__ import annotations

import time

from bot import notes
from standins.bedrock import Reply
from standins.events import mention
from tests.helpers import ask, stalled


def sessions_of(slack, asked) -> list[str]:
    return slack.sessions.get(("C1", asked.question.ts), [])


def wait_for_words(slack, word: str = "Thinking") -> None:
    slack.wait_until(lambda: any(word in m.text for m in slack.bot_messages("C1")), what="the first words")


def test_the_session_is_processing_while_the_bot_works_and_active_after(slack, bedrock, bot_process):
    bedrock.script(Reply.text("All done here.", chunk=3, delay=0.05))
    bot_process()
    asked = ask(slack)
    slack.wait_until(lambda: sessions_of(slack, asked)[-1:] == ["active"], what="the session to end")
    assert sessions_of(slack, asked) == ["processing", "active"]
    [call] = [c for c in slack.calls_of("agents.sessions.setStatus") if c.params["status"] == "processing"]
    assert call.params["initiator_user_id"] == "U1"


def test_stop_ends_the_answer_at_once_and_the_session_goes_back_to_active(slack, bedrock, bot_process):
    bedrock.script(stalled(["Thinking about ", "it carefully"]))
    bot_process()
    asked = ask(slack)
    wait_for_words(slack)
    pressed = time.monotonic()
    slack.press_stop("C1", asked.question.ts, "U1")

    slack.wait_until(lambda: any(notes.STOPPED in m.text for m in slack.bot_messages("C1")), timeout=5,
                     what="the answer to end with Stopped")
    assert time.monotonic() - pressed < 1.0
    slack.wait_until(lambda: sessions_of(slack, asked)[-1:] == ["active"], what="the session to end")
    assert bedrock.requests[0].disconnected  # the model stream was closed: no more tokens paid for
    text = "\n".join(m.text for m in slack.bot_messages("C1"))
    assert "Thinking about" in text and notes.STOPPED in text


def test_a_stop_heard_by_another_instance_reaches_the_reply_through_redis(slack, bedrock, bot_process, redis_server):
    bedrock.script(stalled(["Thinking about ", "it carefully"]))
    bot_process(REDIS_URL=redis_server.url)
    bot_process(REDIS_URL=redis_server.url)
    event, question = mention(slack, "<@UBOT> a question")
    slack.send_event(event, connection=0)  # the oldest instance answers ...
    wait_for_words(slack)
    pressed = time.monotonic()
    slack.press_stop("C1", question.ts, "U1", connection=1)  # ... the newest hears the Stop

    slack.wait_until(lambda: any(notes.STOPPED in m.text for m in slack.bot_messages("C1")), timeout=5,
                     what="the answer to end with Stopped")
    assert time.monotonic() - pressed < 1.0
    slack.wait_until(lambda: slack.sessions.get(("C1", question.ts), [])[-1:] == ["active"], what="the session to end")


def test_an_app_that_may_not_use_sessions_answers_without_them_and_stops_asking(slack, bedrock, bot_process):
    slack.refuse_sessions = "missing_scope"
    bedrock.answer = lambda request: Reply.text("Fine.")
    process = bot_process()
    ask(slack)
    slack.wait_until(lambda: any(m.text == "Fine." for m in slack.bot_messages("C1")), what="the first answer")
    slack.wait_until(lambda: any(c.method == "agents.sessions.setStatus" for c, _, _ in slack.responses),
                     what="Slack's refusal to reach the bot")
    time.sleep(0.2)  # the refusal is read (the answer may show before it: the session goes on a thread of its own)
    ask(slack, "<@UBOT> again")
    slack.wait_until(lambda: sum(m.text == "Fine." for m in slack.bot_messages("C1")) == 2, what="the second")
    assert len(slack.calls_of("agents.sessions.setStatus")) == 1  # refused once: not asked again
    process.kill()
    assert "declare the app as an agent" in process.stdout.read()


def test_a_reply_cut_by_its_deadline_leaves_the_session_active(slack, bedrock, bot_process):
    bedrock.script(stalled(["Thinking about "]))
    bot_process(REPLY_DEADLINE_SECONDS="1")
    asked = ask(slack)
    slack.wait_until(lambda: sessions_of(slack, asked)[-1:] == ["active"], timeout=10, what="the session to end")
    assert sessions_of(slack, asked) == ["processing", "active"]


def test_a_reply_cut_by_sigterm_leaves_the_session_active(slack, bedrock, bot_process):
    import signal

    bedrock.script(stalled(["Thinking about "]))
    process = bot_process(SHUTDOWN_GRACE_SECONDS="0.5")
    asked = ask(slack)
    wait_for_words(slack)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert sessions_of(slack, asked) == ["processing", "active"]
