"""The edit sink on the shared layout, driven by hand with an injected clock: pacing, coalescing, one call in
flight, rollover into new messages, the final edit, and what happens when Slack refuses an edit."""

from __future__ import annotations

import re
from typing import NamedTuple

from hypothesis import example, given, settings, strategies as st

from bot import notes
from bot.layout.layout import Layout
from bot.layout.mrkdwn import to_mrkdwn
from bot.sinks.base import Call, Due, Place, Unlimited
from bot.sinks.cadence import Every
from bot.sinks.edit import NOTE_ROOM, SLACK_TEXT_LIMIT, EditSink
from bot.slack.kinds import TooLong, Unavailable
from bot.slack.pacing import Budget, Priority

PLACEHOLDER = "_Thinking…_"
POST, UPDATE = "chat.postMessage", "chat.update"


class Edit(NamedTuple):
    index: int
    text: str
    post: bool
    final: bool


class Renderer:
    """An edit sink and its layout, as the writer drives them: the placeholder is message 0."""

    def __init__(self, interval: float = 1.0, **kwargs) -> None:
        self.layout = Layout()
        self.sink = EditSink(self.layout, Place("C1", "1.0", "U1"), cadence=Every(interval),
                             placeholder=("0.1", PLACEHOLDER), **kwargs)
        self._calls: dict[Edit, Call] = {}
        self._posted = 0
        self.budgets = Unlimited()  # what the sink sees of Slack's budgets

    def feed(self, text: str) -> bool:
        return self.layout.feed(text)

    def finish(self, note: str | None = None) -> None:
        self.layout.finish(note)

    def due(self, now: float) -> Due | None:
        return self.sink.due(now, self.budgets)

    def next_edit(self, now: float) -> Edit | None:
        due = self.sink.due(now, self.budgets)
        call = self.sink.make(due, now) if due is not None else None
        if call is None:
            return None
        edit = Edit(call.index, call.params["text"], call.method == POST, call.final)
        self._calls[edit] = call
        return edit

    def sent(self, edit: Edit, now: float, ok: bool = True, too_long: bool = False) -> None:
        call = self._calls.pop(edit)
        self._posted += 1
        error = None if ok else (TooLong(call.method, "msg_too_long") if too_long else Unavailable(call.method, "x"))
        self.sink.answered(call, now, {"ts": f"2.{self._posted}"} if ok else None, error)

    def wake_at(self) -> float | None:
        return self.sink.wake_at()

    def abandon(self) -> None:
        self.sink.abandon()

    @property
    def done(self) -> bool:
        return self.sink.done

    @property
    def bodies(self) -> list[str]:
        return self.layout.bodies

    @property
    def abandoned(self) -> bool:
        return self.layout.abandoned

    @property
    def lost_messages(self) -> int:
        return self.layout.lost


def renderer(**kwargs) -> Renderer:
    return Renderer(interval=kwargs.pop("interval", 1.0), **kwargs)


def send(r: Renderer, now: float, ok: bool = True) -> Edit:
    edit = r.next_edit(now)
    assert edit is not None, f"expected an edit at t={now}"
    r.sent(edit, now, ok=ok)
    return edit


def drain(r: Renderer, now: float) -> tuple[list[Edit], float]:
    """Make every call the sink asks for, at the times it asks, until it is done."""
    edits = []
    while not r.done:
        due = r.wake_at()
        assert due is not None, "the sink is stuck: not done, and wants no call"
        now = max(now, due)
        edit = r.next_edit(now)  # None when the due edit turned out to change nothing
        if edit is not None:
            r.sent(edit, now)
            edits.append(edit)
    return edits, now


def test_first_words_replace_the_placeholder_at_once():
    r = renderer()
    assert r.next_edit(0.0) is None  # nothing to show yet: the placeholder stays
    r.feed("Hello")
    edit = r.next_edit(0.0)
    assert edit == Edit(index=0, text="Hello", post=False, final=False)


def test_edits_are_paced_by_time_not_by_chunks():
    r = renderer(interval=1.0)
    r.feed("a")
    send(r, 0.0)
    for i, t in enumerate([0.1, 0.2, 0.5, 0.9]):
        r.feed(f" {i}")
        assert r.next_edit(t) is None
    assert r.wake_at() == 1.0
    edit = send(r, 1.0)
    assert edit.text == "a 0 1 2 3"  # everything that arrived meanwhile, coalesced into one edit


def test_no_call_while_one_is_in_flight():
    r = renderer(interval=0.0)
    r.feed("one")
    first = r.next_edit(0.0)
    r.feed(" two")
    assert r.next_edit(5.0) is None and r.wake_at() is None
    r.sent(first, 5.0)
    assert r.next_edit(5.0).text == "one two"


def test_nothing_is_sent_when_nothing_changed():
    r = renderer()
    r.feed("same")
    send(r, 0.0)
    assert r.wake_at() is None
    assert r.next_edit(10.0) is None


def test_the_final_text_lands_at_once_when_the_stream_ends():
    r = renderer(interval=1.0)
    r.feed("Hello")
    send(r, 0.0)
    r.feed(" world")
    r.finish()
    edit = r.next_edit(0.1)  # well inside the interval
    assert edit.text == "Hello world" and edit.final
    r.sent(edit, 0.1)
    assert r.done


def test_the_closing_note_ends_the_last_message():
    r = renderer()
    r.feed("Partial answer")
    r.finish(note="_cut short_")
    edits, _ = drain(r, 0.0)
    assert edits[-1].text == "Partial answer\n\n_cut short_"


def test_an_empty_answer_never_leaves_the_placeholder():
    r = renderer()
    r.feed("\n\n  ")
    assert r.next_edit(0.0) is None  # blank text is never sent (Slack answers no_text)
    r.finish()
    edits, _ = drain(r, 0.0)
    assert [e.text for e in edits] == [notes.EMPTY_ANSWER]


def test_markdown_is_shown_as_slack_mrkdwn_while_streaming():
    r = renderer()
    r.feed("**Bold** and a fence:\n```python\nx = 1")
    edit = r.next_edit(0.0)
    assert edit.text == "*Bold* and a fence:\n\n```\nx = 1\n```"  # the open fence is shown closed


def test_a_long_answer_rolls_over_at_a_paragraph_break_and_nothing_is_lost():
    paragraphs = [f"Paragraph {i}: " + "word " * 15 for i in range(12)]
    answer = "\n\n".join(paragraphs)
    r = renderer(limit=300)
    for start in range(0, len(answer), 7):
        r.feed(answer[start:start + 7])
    r.finish()
    edits, _ = drain(r, 0.0)
    assert "".join(r.bodies) == answer
    assert len(r.bodies) > 3
    for body in r.bodies[:-1]:
        assert body.endswith("\n\n")  # each message ends where a paragraph does
    assert all(len(e.text) <= 300 for e in edits)
    posts = [e.index for e in edits if e.post]
    assert posts == list(range(1, len(r.bodies)))  # every new message is posted once, in order
    finals = [e.index for e in edits if e.final]
    assert sorted(finals) == list(range(len(r.bodies)))


def test_a_code_fence_cut_by_the_split_is_closed_and_reopened():
    code = "\n".join(f"line_{i} = {i}" for i in range(40))
    answer = f"Here is the code:\n\n```python\n{code}\n```\n\nDone."
    r = renderer(limit=250)
    r.feed(answer)
    r.finish()
    edits, _ = drain(r, 0.0)
    finals = {e.index: e.text for e in edits if e.final}
    texts = [finals[i] for i in sorted(finals)]
    assert len(texts) >= 3
    for text in texts[1:-1]:
        assert text.startswith("```") and text.endswith("```")  # middle messages are all code
    for text in texts:
        assert text.count("```") % 2 == 0
    assert "".join(r.bodies) == answer


def test_a_failed_intermediate_edit_is_superseded_by_the_next_one():
    r = renderer(interval=1.0)
    r.feed("one")
    send(r, 0.0, ok=False)
    r.feed(" two")
    assert r.wake_at() == 1.0
    assert send(r, 1.0).text == "one two"


def test_due_says_which_edits_are_urgent_before_any_text_is_made():
    r = renderer(interval=1.0, limit=60)
    assert r.due(0.0) is None
    r.feed("first words")
    assert r.due(0.0) == Due(UPDATE, 0, Priority.WORDS)  # the first words replace the placeholder at once
    send(r, 0.0)
    r.feed(" and more")
    assert r.due(0.5) is None  # inside the interval
    assert r.due(1.0) == Due(UPDATE, 0, Priority.ROUTINE)
    send(r, 1.0)
    r.feed(" then a paragraph long enough to roll over\n\nthe next one")
    edit = send(r, 2.0)  # message 0 is closed by the rollover: its last text is final
    assert edit.final and r.due(2.0) == Due(POST, 1, Priority.URGENT)
    send(r, 2.0)
    r.finish()
    assert r.due(2.0) is None or r.due(2.0).priority is Priority.URGENT


def test_a_replys_first_words_go_before_the_rest_of_other_replies():
    layout = Layout()
    sink = EditSink(layout, Place("C1", "1.0", "U1"), cadence=Every(0.3), sign_shown=False)
    layout.feed("first words")
    assert sink.due(0.0) == Due(POST, 0, Priority.FIRST)  # nothing shows yet: first in every queue
    call = sink.make(sink.due(0.0), 0.0)
    sink.answered(call, 0.0, {"ts": "2.1"}, None)
    layout.feed(" and more")
    assert sink.due(1.0) == Due(UPDATE, 0, Priority.ROUTINE)
    other = Layout()
    shown = EditSink(other, Place("C2", "1.0", "U2"), cadence=Every(0.3), sign_shown=True)
    other.feed("first words")
    # its status stands: after words with nothing shown, before other replies' later messages
    assert shown.due(0.0) == Due(POST, 0, Priority.WORDS)

def test_a_feed_asks_for_a_look_only_when_it_may_make_an_edit_due_sooner():
    r = renderer(interval=1.0)
    assert r.feed("a") is True  # the driver may be asleep with nothing to do
    assert [r.feed(" b") for _ in range(50)] == [False] * 50  # the interval, not the text, decides when
    send(r, 0.0)
    assert r.feed(" c") is True


def test_a_failed_first_words_edit_is_tried_again_after_a_pause_not_in_a_loop():
    r = renderer(interval=0.1)
    r.feed("first")
    send(r, 0.0, ok=False)
    assert r.next_edit(0.5) is None and r.wake_at() == 1.0
    assert send(r, 1.0).text == "first"


def test_a_last_final_edit_that_still_fails_goes_on_in_a_new_message_not_retried_forever():
    r = renderer(interval=1.0)
    r.feed("text")
    r.finish()
    send(r, 0.0, ok=False)  # the placeholder still shows "Thinking…": Slack took no edit of it
    repost = send(r, 0.0)
    assert repost.post and repost.final and repost.text == f"text\n\n{notes.ANSWER_MOVED}"
    assert r.done and r.layout.moved == 1 and r.next_edit(10.0) is None


def test_the_new_message_after_a_failed_last_edit_starts_at_the_line_slack_shows_in_part():
    r = renderer(interval=1.0)
    r.feed("line one\nline tw")
    send(r, 0.0)  # Slack shows "line one\nline tw"
    r.feed("o\nline three")
    r.finish()
    send(r, 1.0, ok=False)
    repost = send(r, 1.0)
    assert repost.post and repost.text == f"line two\nline three\n\n{notes.ANSWER_MOVED}"
    assert r.done and r.bodies == ["line one\n", "line two\nline three"]


def test_a_new_message_that_cannot_be_posted_ends_the_reply_at_the_message_before_with_a_note():
    r = renderer(limit=60)
    r.feed("first paragraph that is long enough\n\nsecond paragraph that is long enough")
    now = 0.0
    while (edit := r.next_edit(now)) is not None and not edit.post:
        r.sent(edit, now)
    r.sent(edit, now, ok=False)  # the post of message 1 failed, after the Slack policy's retries
    r.feed(" and more text for the open message")
    assert r.abandoned  # the model can stop: nothing more can be shown
    edits, _ = drain(r, now)
    assert r.done and [edit.index for edit in edits] == [0]  # message 0 ends the reply, saying so
    assert edits[0].final and edits[0].text.endswith(notes.PART_MISSING)


def test_intermediate_edits_that_keep_failing_never_lose_the_final_text():
    r = renderer(interval=1.0)
    now = 0.0
    for i in range(8):  # 429s or errors on every intermediate edit
        r.feed(f" {i}")
        now = max(now, r.wake_at())
        send(r, now, ok=False)
    r.finish()
    edits, _ = drain(r, now)
    assert not r.abandoned and edits[-1].final and edits[-1].text == "0 1 2 3 4 5 6 7"


def test_a_lost_final_edit_is_owned_up_to_in_the_last_message():
    r = renderer(limit=60)
    r.feed("first paragraph that is long enough\n\nsecond paragraph that is long enough")
    r.finish()
    now, lost = 0.0, False
    while not r.done:
        now = max(now, r.wake_at())
        if (edit := r.next_edit(now)) is None:
            continue
        fail = edit.final and edit.index == 0 and not lost
        lost = lost or fail
        r.sent(edit, now, ok=not fail)
        last = edit
    assert last.text.endswith(notes.PART_MISSING)


def test_msg_too_long_at_the_smallest_limit_is_not_resent_in_a_loop():
    r = renderer(limit=500)
    r.feed("x " * 200)
    r.finish()
    edit = r.next_edit(0.0)
    r.sent(edit, 0.0, ok=False, too_long=True)
    assert r.done and r.lost_messages == 1


def test_a_message_slack_finds_too_long_is_split_again_and_nothing_is_lost():
    answer = "\n".join(f"line {i} " + "é" * 30 for i in range(40))
    r = renderer(limit=1500)
    r.feed(answer)
    r.finish()
    now, refused = 0.0, 0
    while not r.done:
        now = max(now, r.wake_at())
        edit = r.next_edit(now)
        if edit is None:
            continue
        if len(edit.text) > 1000:  # this Slack counts more strictly than the renderer expected
            refused += 1
            r.sent(edit, now, ok=False, too_long=True)
        else:
            r.sent(edit, now)
    assert refused >= 1
    assert "".join(r.bodies) == answer
    assert r.lost_messages == 0 and len(r.bodies) >= 2


def test_a_reply_abandoned_while_an_edit_is_in_flight_is_done():
    r = renderer()
    r.feed("text")
    r.next_edit(0.0)  # Slack answers this one with message_not_found
    r.abandon()
    assert r.done


def test_an_abandoned_reply_makes_no_more_calls():
    r = renderer()
    r.feed("text")
    send(r, 0.0)
    r.abandon()
    r.feed(" more")
    assert r.done and r.next_edit(5.0) is None and r.wake_at() is None


def test_posts_stay_in_order_when_one_fails():
    r = renderer(limit=60)
    r.feed("first paragraph that is long enough\n\nsecond paragraph that is long\n\nthird one here also")
    r.finish()
    now = 0.0
    edits = []
    while not r.done:
        now = max(now, r.wake_at())
        edit = r.next_edit(now)
        fail = edit.post and edit.index == 1 and not any(e.index == 1 and e.post for e in edits)
        edits.append(edit)
        r.sent(edit, now, ok=not fail)
    posts = [e.index for e in edits if e.post]
    assert posts == sorted(posts)  # message 2 never goes out before message 1


_CONTROL = re.compile(r"<[!@#]")


@settings(max_examples=150, deadline=None)
@given(
    chunks=st.lists(st.text(alphabet="ab <>!&*_`\n#-", min_size=1, max_size=40), min_size=1, max_size=60),
    gaps=st.lists(st.floats(min_value=0, max_value=0.7), min_size=60, max_size=60),
    failures=st.lists(st.sampled_from([None, "fail", "limited"]), min_size=200, max_size=200),
    limit=st.sampled_from([80, 200, SLACK_TEXT_LIMIT - 200]),
    edits_spent=st.booleans(),
)
@example(chunks=[" "], gaps=[0.0] * 60, failures=["fail"] + [None] * 199, limit=80, edits_spent=False)
@example(chunks=["<"] * 20 + ["#"], gaps=[0.0] * 60, failures=[None] * 200, limit=80, edits_spent=False)
def test_whatever_arrives_and_fails_the_messages_end_up_holding_exactly_the_answer(chunks, gaps, failures, limit,
                                                                                    edits_spent):
    """Slack here answers each call at random: fine, failed, or 429. The sink is driven as the bot
    drives it, each call waiting for its turn from a budget first. Intermediate edits take the outcome as it
    is; posts and final edits go through the Slack call policy, which waits out a 429 and retries, so a 429
    only delays them, and a failure means the policy gave up. With `edits_spent`, every edit is spoken for,
    so posts carry whole lines and are closed."""
    r = renderer(interval=0.5, limit=limit, hold=1.0 if edits_spent else 0.0)
    if edits_spent:
        r.budgets = EditRoom(0)
    budget = Budget(None)  # no budget of its own: only Slack's Retry-After holds calls back
    now, outcomes, blocked_until = 0.0, iter(failures), -1.0
    shown: dict[int, str] = {}

    def next_call(at: float) -> Edit | None:
        due = r.due(at)
        if due is None or budget.request("reply", due.priority, at) > 0:
            return None
        budget.grant("reply", at)
        return r.next_edit(at)

    def call(edit: Edit, at: float) -> float:
        """Make the call; returns the time after it."""
        nonlocal blocked_until
        assert at >= blocked_until, "a call went out before Slack's Retry-After elapsed"
        assert len(edit.text) <= limit + NOTE_ROOM and edit.text.strip()
        assert not _CONTROL.search(edit.text), "a broadcast or mention token reached Slack"
        outcome = next(outcomes, None)
        if outcome == "limited":
            blocked_until = at + 2.0
            budget.rate_limited("reply", 2.0, at)
            if edit.post or edit.final:  # the policy waits the Retry-After, then the call lands
                at = blocked_until
                outcome = None
            else:
                r.sent(edit, at, ok=False)
                return at
        r.sent(edit, at, ok=outcome is None)
        if outcome is None:
            shown[edit.index] = edit.text
        return at

    for chunk, gap in zip(chunks, gaps):
        now += gap
        r.feed(chunk)
        while (edit := next_call(now)) is not None:
            now = call(edit, now)
    r.finish()
    while not r.done:
        now = max(now, r.wake_at(), budget.paused_until)
        if (edit := next_call(now)) is not None:
            now = call(edit, now)

    if not r.abandoned:  # nothing the model wrote is lost
        assert "".join(r.bodies) == "".join(chunks)
    if not r.abandoned and not r.lost_messages:  # and every message with something to show is shown (a body
        # such as a lone "#", an empty heading, shows nothing in Slack and is never posted)
        assert {i for i, body in enumerate(r.bodies) if to_mrkdwn(body).strip()} <= set(shown)


def test_the_longest_closing_notes_fit_the_room_kept_for_them():
    longest_stop = max([*notes.STOP_NOTES.values(), notes.INTERRUPTED, notes.TOOK_TOO_LONG, notes.SHUTTING_DOWN,
                        notes.FAILED, notes.UNEXPECTED_STOP], key=len)
    worst = "\n\n" + "\n".join([longest_stop, notes.QUESTION_CUT.format(limit=1_000_000), notes.PART_MISSING])
    assert len(worst) <= NOTE_ROOM


class EditRoom(Unlimited):
    """Budgets in which the edit budget has `room` calls to spare beyond those spoken for."""

    def __init__(self, room: float) -> None:
        self.edit_room = room

    def room(self, method: str) -> float:
        return self.edit_room


def held(hold: float = 1.5) -> tuple[Layout, EditSink]:
    layout = Layout()  # no placeholder: the reply showed the thinking status
    return layout, EditSink(layout, Place("C1", "1.0", "U1"), cadence=Every(0.3), hold=hold, text_since=0.0)


def test_first_words_are_posted_at_once_while_the_edit_budget_has_room():
    layout, sink = held()
    layout.feed("First words")
    assert sink.due(0.0, EditRoom(1)).method == POST


def test_while_every_edit_is_spoken_for_the_first_post_waits_to_carry_more():
    layout, sink = held(hold=1.5)
    layout.feed("First words")
    assert sink.due(0.0, EditRoom(0)) is None and sink.wake_at() <= 0.25  # it looks again for room soon
    assert sink.due(1.0, EditRoom(1)).method == POST  # room appeared


def test_a_held_post_goes_when_the_answer_is_complete_with_all_of_it():
    layout, sink = held(hold=1.5)
    layout.feed("First words")
    assert sink.due(0.5, EditRoom(0)) is None
    layout.feed(", and the rest.")
    layout.finish()
    due = sink.due(0.6, EditRoom(0))
    call = sink.make(due, 0.6)
    assert call.method == POST and call.final and call.params["text"] == "First words, and the rest."


def test_a_held_post_goes_when_the_hold_is_over_whatever_the_budget():
    layout, sink = held(hold=1.5)
    layout.feed("First words")
    assert sink.due(1.4, EditRoom(0)) is None
    assert sink.due(1.5, EditRoom(0)).method == POST


def test_a_reply_that_began_with_a_placeholder_never_holds():
    r = renderer()
    r.feed("First words")
    assert r.sink.due(0.0, EditRoom(0)).method == UPDATE


# -- while every edit is spoken for, an answer goes up as posts of whole lines ---------------------------


def spent(hold: float = 1.5, feedback: dict | None = None) -> tuple[Layout, EditSink]:
    layout = Layout()
    return layout, EditSink(layout, Place("C1", "1.0", "U1"), cadence=Every(0.3), hold=hold, text_since=0.0,
                            feedback=feedback)


def post(sink: EditSink, now: float, budgets=EditRoom(0), ts: str = "2.1") -> Call:
    due = sink.due(now, budgets)
    assert due is not None and due.method == POST, f"expected a post at t={now}, not {due}"
    call = sink.make(due, now)
    sink.answered(call, now, {"ts": ts}, None)
    return call


def test_while_every_edit_is_spoken_for_posts_carry_the_whole_lines_of_each_hold_and_are_never_edited():
    layout, sink = spent(hold=1.5)
    layout.feed("The first line ends here.\n\nThe second")
    assert sink.due(1.4, EditRoom(0)) is None  # it holds, to carry more
    call = post(sink, 1.5)
    assert call.final and call.params["text"] == "The first line ends here."  # whole lines only, and final
    assert sink.holding() == 0  # no edit will ever be needed for it
    layout.feed(" paragraph.\n- an item\n- and another")
    assert sink.due(2.9, EditRoom(0)) is None  # the next post holds too, from the last one
    call = post(sink, 3.0, ts="2.2")
    assert call.final and call.params["text"].startswith("The second paragraph.") and "another" not in call.params["text"]
    layout.feed(" one.")
    layout.finish()
    call = post(sink, 3.1, ts="2.3")  # the end goes at once
    assert call.final and "and another one." in call.params["text"]
    assert sink.done and "".join(layout.bodies) == ("The first line ends here.\n\nThe second paragraph.\n"
                                                   "- an item\n- and another one.")


def test_a_line_that_does_not_end_within_the_hold_goes_up_to_its_last_word():
    layout, sink = spent(hold=1.5)
    layout.feed("A very long paragraph that goes on")
    assert sink.due(1.4, EditRoom(0)) is None
    layout.feed(" and o")
    call = post(sink, 1.5)
    assert call.final and call.params["text"] == "A very long paragraph that goes on and"  # no half word
    layout.feed("n.")
    layout.finish()
    call = post(sink, 2.6, ts="2.2")
    assert call.params["text"] == "on."
    assert "".join(layout.bodies) == "A very long paragraph that goes on and on."


def test_an_answer_that_ends_just_after_a_closed_post_gets_its_note_and_buttons_by_one_edit_of_it():
    buttons = {"type": "actions", "elements": []}
    layout, sink = spent(feedback=buttons)
    layout.feed("Line one.\n")
    post(sink, 1.5)
    layout.finish(note="_Stopped._")
    due = sink.due(1.6, EditRoom(0))
    assert due.method == UPDATE and due.index == 0  # no message that would hold nothing but the note
    call = sink.make(due, 1.6)
    assert call.final and call.params["text"] == "Line one.\n\n_Stopped._" and call.params["blocks"][-1] == buttons
    sink.answered(call, 1.6, {"ts": "2.1"}, None)
    assert sink.done and len(layout.parts) == 1


def test_an_answer_whose_whole_text_is_shown_before_it_ends_still_gets_its_buttons():
    """The last edit showed every word before the model said it was done: the final edit, with the same text,
    is still made, for the buttons."""
    buttons = {"type": "actions", "elements": []}
    layout = Layout()
    sink = EditSink(layout, Place("C1", "1.0", "U1"), cadence=Every(0.3), feedback=buttons)
    layout.feed("The whole answer.")
    call = sink.make(sink.due(0.0), 0.0)
    sink.answered(call, 0.0, {"ts": "2.1"}, None)
    layout.finish()
    due = sink.due(0.1)
    assert due is not None and due.method == UPDATE
    call = sink.make(due, 0.1)
    assert call.final and call.params["text"] == "The whole answer." and call.params["blocks"][-1] == buttons
    sink.answered(call, 0.1, {"ts": "2.1"}, None)
    assert sink.done


def test_with_room_in_the_edit_budget_or_no_hold_posts_are_edited_as_before():
    for budgets, hold in ((EditRoom(1), 1.5), (EditRoom(0), 0.0)):
        layout, sink = spent(hold=hold)
        layout.feed("Half a li")
        call = post(sink, 0.0, budgets)
        assert not call.final and sink.holding() == 1  # it will be edited as the answer grows


def test_first_words_stuck_behind_a_long_post_queue_go_to_the_rivals_shorter_one():
    class StartsAreFree(Unlimited):
        def estimate(self, method: str) -> float:
            return 0.0 if method == "chat.startStream" else 30.0

    layout = Layout()
    sink = EditSink(layout, Place("C1", "1.0", "U1"), cadence=Every(0.3), rival="chat.startStream")
    layout.feed("First words")
    due = sink.due(0.0)
    assert sink.wait(due, 0.2, StartsAreFree())  # a short wait: it keeps its place
    assert not sink.wait(due, 30.0, StartsAreFree())  # the post budget is paused for half a minute: switch
    assert sink.handover == 0 and sink.done and sink.holding() == 0 and layout.bodies == [""]

    stays = EditSink(Layout(), Place("C1", "1.0", "U1"), cadence=Every(0.3))  # no rival: a switch was made once
    stays._layout.feed("First words")
    assert stays.wait(stays.due(0.0), 30.0, StartsAreFree())
