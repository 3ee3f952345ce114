"""The stream sink on the shared layout, driven by hand with an injected clock against a Slack that keeps the
streamed text: first words start a stream at once, appends are paced and carry only new text, the end goes
out with the buttons, long answers roll over, and Slack's refusals (an ended stream, a message too long, a
person's Stop, a refused start) lose nothing and repeat nothing."""

from __future__ import annotations

import re

import pytest

from hypothesis import example, given, settings, strategies as st

from bot import notes
from bot.layout.layout import Layout
from bot.layout.markdown import for_stream
from bot.sinks.base import Call, Place, Unlimited
from bot.sinks.cadence import Every
from bot.sinks.stream import APPEND, CALL_LIMIT, START, STOP, UPDATE, StreamSink
from bot.slack.kinds import Gone, NotAllowed, NotStreaming, RateLimited, Refused, TooLong, Unavailable
from bot.slack.pacing import Priority

PLACE = Place("C1", "100.1", "U1", "T1")


class StopBudget(Unlimited):
    """Budgets in which a stop may or may not go at once."""

    def __init__(self, stop_ready: bool) -> None:
        self.stop_ready = stop_ready

    def ready(self, method: str) -> bool:
        return self.stop_ready or method != STOP
BUTTONS = {"type": "context_actions", "elements": []}


class Slack:
    """What Slack shows of each streamed message, from the calls that landed."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.blocks: dict[str, list] = {}
        self.stopped: set[str] = set()
        self.cards: dict[str, dict] = {}  # task cards by id, as last updated

    def take(self, call: Call) -> dict:
        for chunk in call.params.get("chunks", []):
            if chunk["type"] == "task_update":
                self.cards[chunk["id"]] = chunk
        if call.method == START:
            ts = f"200.{len(self.texts) + 1}"
            self.texts[ts] = text_of(call)
            return {"ts": ts}
        ts = call.params["ts"]
        if call.method == UPDATE:
            assert ts in self.stopped, "an edit of a message that still streams"
            self.texts[ts] = call.params["markdown_text"]
            return {}
        assert ts not in self.stopped, "a call to a stream that was stopped"
        self.texts[ts] += text_of(call)
        if call.method == STOP:
            self.stopped.add(ts)
            self.blocks[ts] = call.params.get("blocks", [])
        return {}

    @property
    def shown(self) -> str:
        return "".join(self.texts.values())


def text_of(call: Call) -> str:
    """The Markdown a call carries: its `markdown_text`, or its markdown_text chunks."""
    return call.params.get("markdown_text", "") + "".join(
        chunk["text"] for chunk in call.params.get("chunks", []) if chunk["type"] == "markdown_text")


def setup(interval: float = 1.0, limit: int | None = None) -> tuple[Layout, StreamSink, Slack]:
    layout = Layout()
    kwargs = {} if limit is None else {"limit": limit}
    return layout, StreamSink(layout, PLACE, cadence=Every(interval), feedback=BUTTONS, **kwargs), Slack()


def started_then_ended(first: str, rest: str, note: str | None = None) -> tuple[Layout, StreamSink, Slack]:
    """A stream started with `first`; then the model wrote `rest` and ended (with `note`, if given)."""
    layout, sink, slack = setup()
    layout.feed(first)
    step(sink, slack, 0.0)
    layout.feed(rest)
    layout.finish(note)
    return layout, sink, slack


def step(sink: StreamSink, slack: Slack, now: float, *, stop_ready: bool = True, error=None) -> Call | None:
    """Make the call due at `now`, if any; Slack answers it (or fails it with `error`)."""
    due = sink.due(now, StopBudget(stop_ready))
    if due is None:
        return None
    call = sink.make(due, now)
    if call is None:
        return None
    if call.method == STOP and call.params["ts"] in slack.stopped:  # as Slack answers a stop to a stopped stream
        failure = NotStreaming(STOP, "message_not_in_streaming_state")
    else:
        failure = error(call) if callable(error) else error
    sink.answered(call, now, None if failure else slack.take(call), failure)
    return call


def drain(sink: StreamSink, slack: Slack, now: float = 0.0, **options) -> list[Call]:
    calls = []
    while not sink.done:
        at = sink.wake_at()
        assert at is not None, "the sink is stuck: not done, and wants no call"
        now = max(now, at)
        if (call := step(sink, slack, now, **options)) is not None:
            calls.append(call)
    return calls


def test_the_first_words_start_a_stream_at_once_addressed_to_the_person_who_asked():
    layout, sink, slack = setup()
    assert sink.due(0.0) is None
    layout.feed("Hello")
    due = sink.due(0.0)
    assert (due.method, due.priority) == (START, Priority.FIRST)
    call = sink.make(due, 0.0)
    assert call.params == {"channel": "C1", "thread_ts": "100.1", "recipient_user_id": "U1",
                           "recipient_team_id": "T1", "markdown_text": "Hello"}


def test_appends_are_paced_and_carry_only_the_new_text():
    layout, sink, slack = setup(interval=1.0)
    layout.feed("one")
    step(sink, slack, 0.0)
    for t, word in [(0.2, " two"), (0.5, " three")]:
        layout.feed(word)
        assert sink.due(t) is None  # inside the interval
    assert sink.wake_at() == 1.0
    call = step(sink, slack, 1.0)
    assert (call.method, call.params["markdown_text"]) == (APPEND, " two three")


def test_the_last_words_and_the_note_go_at_once_with_the_stop_and_its_buttons_when_the_stop_can_go():
    layout, sink, slack = started_then_ended("Partial", " answer", ":warning: _cut short_")
    last = step(sink, slack, 0.1)  # at once, whatever the interval: one call, not an append and a stop
    assert (last.method, last.params["markdown_text"]) == (STOP, " answer\n\n:warning: _cut short_")
    assert last.params["blocks"] == [BUTTONS]
    assert slack.shown == "Partial answer\n\n:warning: _cut short_" and sink.done


def test_when_the_stop_must_wait_the_final_words_go_first_by_an_append():
    layout, sink, slack = started_then_ended("Start", " and the end")
    first = step(sink, slack, 0.1, stop_ready=False)
    assert (first.method, first.params["markdown_text"]) == (APPEND, " and the end")
    assert sink.due(0.2, StopBudget(False)).method == STOP  # the stop is still due, and waits its turn
    last = step(sink, slack, 0.3)
    assert last.method == STOP and "markdown_text" not in last.params and slack.blocks[last.params["ts"]] == [BUTTONS]


def test_the_models_angle_brackets_reach_slack_as_its_escape():
    layout, sink, slack = setup()
    layout.feed("a < b, <!channel> and <@U123> and <https://x.example|click>")
    layout.finish()
    drain(sink, slack)
    assert "<" not in slack.shown
    assert slack.shown == "a &lt; b, &lt;!channel> and &lt;@U123> and &lt;https://x.example|click>"


def test_a_long_answer_rolls_over_into_a_new_stream_with_its_code_fence_closed_and_reopened():
    code = "\n".join(f"line_{i} = {i}" for i in range(60))
    answer = f"Here:\n\n```python\n{code}\n```\n\nDone."
    layout, sink, slack = setup(limit=300)
    for start in range(0, len(answer), 9):
        layout.feed(answer[start:start + 9])
    layout.finish()
    calls = drain(sink, slack)
    texts = list(slack.texts.values())
    assert len(texts) >= 3 and [c.method for c in calls].count(START) == len(texts)
    for text in texts[:-1]:
        assert text.count("```") % 2 == 0  # every message that ends inside the code closes it
    for text in texts[1:-1]:
        assert text.startswith("```python\n")
    assert "".join(layout.bodies) == answer
    assert all(len(text) <= 300 + 10 for text in texts)
    assert set(slack.stopped) == set(slack.texts) and slack.blocks[list(slack.texts)[-1]] == [BUTTONS]


def test_a_stream_slack_ended_keeps_what_it_took_and_the_answer_goes_on_in_a_new_one():
    layout, sink, slack = setup(interval=0.0)
    layout.feed("First part.")
    step(sink, slack, 0.0)
    layout.feed(" Second part.")
    step(sink, slack, 1.0, error=NotStreaming(APPEND, "message_not_in_streaming_state"))
    layout.feed(" Third.")
    layout.finish()
    drain(sink, slack, 1.0)
    assert list(slack.texts.values()) == ["First part.", " Second part. Third."]  # nothing lost, nothing twice


def test_a_message_slack_finds_too_long_ends_where_it_stands_and_the_rest_goes_on():
    layout, sink, slack = setup(interval=0.0)
    layout.feed("Kept text. ")
    step(sink, slack, 0.0)
    layout.feed("Refused text.")
    refused = step(sink, slack, 1.0, error=TooLong(APPEND, "msg_too_long"))
    assert refused.method == APPEND
    layout.finish()
    drain(sink, slack, 1.0)
    assert list(slack.texts.values()) == ["Kept text. ", "Refused text."]


def test_a_person_who_stops_the_stream_stops_the_answer():
    layout, sink, slack = setup(interval=0.0)
    layout.feed("Some")
    step(sink, slack, 0.0)
    layout.feed(" more")
    step(sink, slack, 1.0, error=NotStreaming(APPEND, "stopped_by_user"))
    assert sink.gone and layout.abandoned and sink.done


def test_a_refused_start_hands_the_reply_over_from_that_message():
    layout, sink, slack = setup()
    layout.feed("Hello")
    step(sink, slack, 0.0, error=NotAllowed(START, "feature_not_enabled"))
    assert sink.handover == 0 and sink.refusal.code == "feature_not_enabled" and sink.done
    assert layout.bodies == ["Hello"]  # the text is all still there for the other surface


def test_a_rate_limited_start_is_posted_instead_of_waiting():
    layout, sink, slack = setup()
    layout.feed("Hello")
    call = step(sink, slack, 0.0, error=RateLimited(START, "ratelimited", retry_after=3))
    assert not call.retry and sink.handover == 0


def test_a_stop_slack_will_not_take_leaves_the_words_shown_and_ends_the_reply():
    layout, sink, slack = started_then_ended("Words", " more")
    assert step(sink, slack, 0.1, stop_ready=False).method == APPEND
    stop = step(sink, slack, 0.2, error=RateLimited(STOP, "ratelimited", retry_after=3))
    assert stop.retry  # the call policy waited out its 429s first
    assert sink.done and slack.shown == "Words more"  # Slack ends the stream in a few minutes anyway


def test_a_stop_carrying_the_last_words_that_fails_leaves_them_to_an_append_and_a_plain_stop():
    layout, sink, slack = started_then_ended("Words", " more")
    failed = step(sink, slack, 0.1, error=RateLimited(STOP, "ratelimited", retry_after=3))
    assert failed.method == STOP and failed.params["markdown_text"] == " more"
    assert not failed.retry  # a 429 comes back to the sink, not retried behind every other reply's stop
    calls = drain(sink, slack, 0.1)
    assert [(c.method, c.params.get("markdown_text")) for c in calls] == [(APPEND, " more"), (STOP, None)]
    assert calls[0].retry and calls[-1].retry  # the final append and the plain stop must land
    assert slack.shown == "Words more" and slack.blocks[calls[-1].params["ts"]] == [BUTTONS]


@pytest.mark.parametrize("what", ["stream ended", "lost answer"])
def test_a_stop_carrying_the_last_words_that_slack_may_have_taken_rewrites_the_message_to_them(what):
    layout, sink, slack = started_then_ended("Words", " more")
    if what == "lost answer":  # Slack took the stop, and its answer was lost
        step(sink, slack, 0.1, error=lambda call: (slack.take(call), Unavailable(STOP, "http_503", sent=True))[1])
        again = step(sink, slack, 0.1)  # Slack: not streaming any more
        assert again.method == STOP and "markdown_text" not in again.params  # the words are not sent twice
    else:  # Slack had ended the stream itself: it answers the stop so
        slack.stopped.add(next(iter(slack.texts)))
        step(sink, slack, 0.1)
    calls = drain(sink, slack, 0.1)
    assert [c.method for c in calls] == [UPDATE] and slack.shown == "Words more" and sink.done


def test_an_append_whose_answer_never_came_is_not_sent_again_but_the_message_is_rewritten_to_what_it_must_show():
    layout, sink, slack = setup(interval=0.0)
    layout.feed("One.")
    step(sink, slack, 0.0)
    layout.feed(" Two.")
    slack_took_it = lambda call: (slack.take(call), Unavailable(APPEND, "http_503"))[1]  # noqa: E731
    step(sink, slack, 1.0, error=slack_took_it)  # Slack took it, but its answer was lost
    layout.feed(" Three.")
    layout.finish()
    calls = drain(sink, slack, 1.0)
    assert [c.method for c in calls][:2] == [STOP, UPDATE]
    assert list(slack.texts.values()) == ["One. Two.", " Three."]  # nothing twice; the rest in a new message


def test_a_deleted_reply_stops_everything():
    layout, sink, slack = setup(interval=0.0)
    layout.feed("text")
    step(sink, slack, 0.0)
    layout.feed(" more")
    step(sink, slack, 1.0, error=Gone(APPEND, "message_not_found"))
    assert sink.gone and sink.done and sink.due(5.0) is None


_LIVE = re.compile(r"<[!@#]|<[a-z]+:|<[^>\s]*\|")


@settings(max_examples=150, deadline=None)
@given(
    chunks=st.lists(st.text(alphabet="ab <>!@&*_`\n#-|[]()", min_size=1, max_size=40)
                    | st.sampled_from(["[bank.ex", "ample](https://ev", "il.example)", "[https://bank.example]"]),
                    min_size=1, max_size=60),
    gaps=st.lists(st.floats(min_value=0, max_value=0.7), min_size=60, max_size=60),
    failures=st.lists(st.sampled_from([None, None, None, "429", "ended", "too long", "error", "lost", "taken, lost"]),
                      min_size=300, max_size=300),
    limit=st.sampled_from([60, 200, 11_000]),
)
# the first line looked like a code fence until a backtick came in its info string, which made it none
@example(chunks=["```", "<", "[bank.ex", "ample](https://ev", ")`"], gaps=[0.0] * 60, failures=[None] * 300, limit=60)
# a stop carrying the last words taken and its answer lost; the plain stop after it answered the same way
@example(chunks=["<", "<"], gaps=[0.0] * 60, failures=[None, "taken, lost", "taken, lost"] + [None] * 297, limit=60)
# a call refused as too long, and a misleading link written across the appends that followed
@example(chunks=["<", "<", "[bank.ex", "[bank.ex", "ample](https://ev", "il.example)", "ample](https://ev", ")"],
         gaps=[0.0] * 5 + [0.5, 0.0, 0.5] + [0.0] * 52, failures=[None, None, "too long"] + [None] * 297, limit=60)
def test_whatever_arrives_and_fails_the_streams_show_exactly_the_answer_and_nothing_live(chunks, gaps, failures,
                                                                                          limit):
    """Slack here answers each call at random: fine, 429, the stream ended, too long, another error, or no
    answer at all (having taken the call, or not). The streams, read in order, show exactly what the model
    wrote (escaped, misleading links with their targets), or it is owned up to; no call carries a live Slack
    token, and none is over Slack's limit."""
    layout, sink, slack = setup(interval=0.5, limit=limit)
    outcomes = iter(failures)
    codes = {"429": RateLimited, "ended": NotStreaming, "too long": TooLong, "error": Refused,
             "lost": Unavailable, "taken, lost": Unavailable}

    def error(call: Call):
        assert not _LIVE.search(call.params.get("markdown_text", "")), "a live Slack token reached Slack"
        assert len(call.params.get("markdown_text", "")) <= CALL_LIMIT
        kind = next(outcomes, None)
        if kind is None or (call.method == START and kind != "too long"):
            return None  # a refused start hands over to the edit sink: that is another test
        if kind == "ended" and call.params.get("ts") is not None:
            slack.stopped.add(call.params["ts"])  # Slack ended it: it keeps what it took
        if kind == "taken, lost":
            slack.take(call)
        return codes[kind](call.method, "x")

    now = 0.0
    for chunk, gap in zip(chunks, gaps):
        now += gap
        layout.feed(chunk)
        while step(sink, slack, now, error=error) is not None:
            pass
    layout.finish()
    while not sink.done:
        wake_at = sink.wake_at()
        assert wake_at is not None, "the sink is stuck: not done, and wants no call"
        now = max(now, wake_at)
        step(sink, slack, now, error=error)

    answer = "".join(chunks)
    if sink.handover is not None:
        layout.absorb()  # the edit sink takes the rest from here, beginning with what waits
    assert "".join(layout.bodies) == answer  # the layout lost nothing
    if layout.lost:  # a part Slack never took is owned up to in the last message instead
        assert notes.PART_MISSING in list(slack.texts.values())[-1] or sink.handover is not None
        return
    started = {index: message.ts for index, message in enumerate(sink._messages) if message.ts}
    for index, part in enumerate(layout.parts):  # and each stream shows its part exactly, once
        if sink.handover is not None and index >= sink.handover:
            break  # the edit sink's to show
        if index not in started:
            assert not part.source.strip(), "a part with text never reached Slack"
            continue
        shown, expected = slack.texts[started[index]], for_stream(part.source)[0]
        if not part.source.strip():  # nothing but white space: it stands for the note (an empty answer says so)
            assert shown.strip() in (notes.EMPTY_ANSWER, notes.PART_MISSING)
            continue
        assert shown.startswith(expected)
        outside_code = re.sub(r"(`+)(.+?)\1", "", shown, flags=re.S)  # in code, link markup is only text
        assert "[bank.example](https://evil.example)" not in outside_code
        tail = re.sub(r"^\n(`{3,}|~{3,})", "", shown[len(expected):])  # the fence it closed, if any
        assert tail.strip() in ("", notes.PART_MISSING), f"more than the part was shown: {tail!r}"


def test_a_start_that_cannot_go_soon_is_posted_instead_unless_told_to_wait():
    layout, sink, slack = setup()
    layout.feed("Hello")
    due = sink.due(0.0)
    assert sink.wait(due, 0.01)  # the one call slot is busy for a moment: worth waiting
    assert sink.wait(due, 0.2)  # the starts ahead of it go first: still worth waiting
    assert not sink.wait(due, 2.5)  # the start budget is spent: post instead
    assert sink.handover == 0 and sink.refusal is None and sink.done  # handed over, and nothing learned

    layout = Layout()
    rivalled = StreamSink(layout, PLACE, rival="chat.postMessage")
    layout.feed("Hello")

    class PostsWaitLonger(Unlimited):
        def estimate(self, method: str) -> float:
            return 9.0

    assert rivalled.wait(rivalled.due(0.0), 2.5, PostsWaitLonger())  # posting would be later still: wait
    assert not rivalled.wait(rivalled.due(0.0), 2.5, Unlimited()) and rivalled.handover == 0

    layout = Layout()
    waiting = StreamSink(layout, PLACE, wait_for_starts=True)  # SLACK_REPLY_SURFACE=stream
    layout.feed("Hello")
    assert waiting.wait(waiting.due(0.0), 30.0) and waiting.handover is None


def test_a_start_too_long_even_at_the_smallest_limit_is_posted_instead():
    layout, sink, slack = setup(limit=600)
    layout.feed("x" * 550)
    step(sink, slack, 0.0, error=TooLong(START, "msg_too_long"))
    assert sink.handover is None and sink._limit == 500  # shrunk, and tried again
    again = step(sink, slack, 0.0, error=TooLong(START, "msg_too_long"))
    assert len(again.params["markdown_text"]) <= 500 and sink.handover == 0


class NoAppendRoom(Unlimited):
    """Every append the workspace can make is spoken for (by other streams' last words)."""

    def room(self, method: str) -> float:
        return 0.0 if method == APPEND else float("inf")


def test_while_appends_are_spoken_for_the_first_start_holds_to_carry_the_whole_answer():
    layout = Layout()
    sink = StreamSink(layout, PLACE, hold=1.5, text_since=0.0)
    layout.feed("The first words")
    assert sink.due(0.1, NoAppendRoom()) is None  # it holds: an append for the rest would wait
    assert sink.due(0.1, Unlimited()) is not None  # with room for appends, the words go at once
    layout.feed(", and the rest.")
    layout.finish()
    due = sink.due(0.8, NoAppendRoom())  # the answer is complete: it goes whole, with nothing left to append
    assert due.method == START
    call = sink.make(due, 0.8)
    assert call.params["markdown_text"] == "The first words, and the rest."
    sink.answered(call, 0.8, {"ts": "2.1"}, None)
    assert sink.due(0.8, NoAppendRoom()).method == STOP  # only its stop is left


def test_a_start_holds_no_longer_than_the_hold():
    layout = Layout()
    sink = StreamSink(layout, PLACE, hold=1.5, text_since=0.0)
    layout.feed("The first words")
    assert sink.due(1.4, NoAppendRoom()) is None
    assert sink.due(1.5, NoAppendRoom()).method == START


# -- task cards (the reply's tool calls) --------------------------------------------------------------------


def test_a_step_goes_as_a_task_card_before_the_text_of_the_call_it_rides_with():
    layout, sink, slack = setup(interval=1.0)
    layout.steps.update("t1", "Searching the handbook", "complete",
                        sources=(("Leave policy", "https://wiki.example/leave"), ("a.pdf", None)))
    layout.feed("Parents get")
    call = step(sink, slack, 0.0)
    assert call.method == START and call.params["task_display_mode"] == "timeline"
    assert "markdown_text" not in call.params
    assert call.params["chunks"] == [
        {"type": "task_update", "id": "t1", "title": "Searching the handbook", "status": "complete",
         "sources": [{"type": "url", "url": "https://wiki.example/leave", "text": "Leave policy"}]},
        {"type": "markdown_text", "text": "Parents get"}]
    layout.feed(" 20 weeks.")
    assert "chunks" not in step(sink, slack, 1.0).params  # nothing changed in the cards: plain text again


def test_a_card_that_changes_while_nothing_new_is_written_goes_alone_and_its_changes_merge():
    layout, sink, slack = setup(interval=1.0)
    layout.feed("Let me look.")
    step(sink, slack, 0.0)
    layout.steps.update("t1", "Searching", "pending")
    layout.steps.update("t1", "Searching", "in_progress")  # two changes before the next call: one chunk
    assert sink.due(0.5) is None and sink.wake_at() == 1.0  # at the cadence's pace, like any append
    call = step(sink, slack, 1.0)
    assert call.method == APPEND and call.params["chunks"] == [
        {"type": "task_update", "id": "t1", "title": "Searching", "status": "in_progress"}]
    assert sink.due(5.0) is None  # sent: nothing more to say


def test_a_card_whose_call_failed_goes_again_with_the_next_call():
    layout, sink, slack = setup(interval=1.0)
    layout.feed("Let me look.")
    step(sink, slack, 0.0)
    layout.steps.update("t1", "Searching", "error", details="it <took> too long")
    step(sink, slack, 1.0, error=RateLimited(APPEND, "ratelimited", retry_after=1.0))
    assert slack.cards == {}
    layout.finish()
    drain(sink, slack, 3.0)
    assert slack.cards["t1"]["status"] == "error" and slack.cards["t1"]["details"] == "it took too long"
    assert slack.shown == "Let me look."


def test_steps_of_a_reply_whose_stream_slack_refused_are_a_line_under_the_answer():
    layout, sink, slack = setup()
    layout.steps.update("t1", "Searching the handbook", "complete")
    layout.feed("Parents get")
    step(sink, slack, 0.0, error=Refused(START, "not_allowed"))  # the reply goes on by posts and edits
    assert sink.handover == 0 and not layout.steps.as_cards
    layout.finish()
    assert "Steps: Searching the handbook ✓" in layout.closing_note(0, blank=False, shown_anything=False)


@pytest.mark.parametrize("chunk", [3, 5, 7, 11])
def test_a_stream_that_rolls_over_never_cuts_a_word_in_two(chunk):
    """What a stream took stays: near a message's end it sends only whole words, so that the rollover finds a
    word's end to cut at ("… w26 w2" / "7 w28 …" was the cut before)."""
    layout, sink, slack = setup(interval=0.0, limit=100)
    answer = " ".join(f"w{n}" for n in range(120))
    for number, start in enumerate(range(0, len(answer), chunk)):
        layout.feed(answer[start:start + chunk])
        step(sink, slack, float(number))
    layout.finish()
    drain(sink, slack, 1_000.0)
    texts = list(slack.texts.values())
    assert len(texts) >= 4 and "".join(texts) == answer
    for before, after in zip(texts, texts[1:]):
        assert before[-1:].isspace() or after[:1].isspace(), (before[-8:], after[:8])
