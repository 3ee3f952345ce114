"""The streaming renderer, driven by hand with an injected clock: pacing, coalescing, one call in flight,
rollover into new messages, the final edit, and what happens when Slack refuses an edit."""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from bot.renderer import EMPTY_ANSWER_NOTE, SLACK_TEXT_LIMIT, Edit, ReplyRenderer

PLACEHOLDER = "_Thinking…_"


def renderer(**kwargs) -> ReplyRenderer:
    return ReplyRenderer(placeholder=PLACEHOLDER, interval=kwargs.pop("interval", 1.0), **kwargs)


def send(r: ReplyRenderer, now: float, ok: bool = True, retry_after: float | None = None) -> Edit:
    edit = r.next_edit(now)
    assert edit is not None, f"expected an edit at t={now}"
    r.sent(edit, now, ok=ok, retry_after=retry_after)
    return edit


def drain(r: ReplyRenderer, now: float) -> tuple[list[Edit], float]:
    """Make every call the renderer asks for, at the times it asks, until it is done."""
    edits = []
    while not r.done:
        due = r.wake_at()
        assert due is not None, "the renderer is stuck: not done, and wants no call"
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
    assert [e.text for e in edits] == [EMPTY_ANSWER_NOTE]


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


def test_no_call_before_slack_retry_after_has_elapsed():
    r = renderer(interval=1.0)
    r.feed("one")
    send(r, 0.0, ok=False, retry_after=7.5)
    r.feed(" two")
    r.finish()
    assert r.next_edit(7.4) is None
    assert r.wake_at() == 7.5
    edit = send(r, 7.5)
    assert edit.final and edit.text == "one two"


def test_a_refused_final_edit_is_retried_then_given_up():
    r = renderer(interval=1.0)
    r.feed("text")
    r.finish()
    now = 0.0
    for _ in range(5):
        now = max(now, r.wake_at())
        send(r, now, ok=False)
    assert now >= 4.0  # each retry waited the interval
    assert r.done and r.gave_up


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
)
def test_whatever_arrives_and_fails_the_messages_end_up_holding_exactly_the_answer(chunks, gaps, failures, limit):
    r = renderer(interval=0.5, limit=limit)
    now, outcomes, blocked_until, calls = 0.0, iter(failures), -1.0, 0
    shown: dict[int, str] = {}

    def call(edit: Edit, at: float) -> None:
        nonlocal blocked_until, calls
        calls += 1
        assert at >= blocked_until, "a call went out before Slack's Retry-After elapsed"
        assert len(edit.text) <= limit and edit.text.strip()
        assert not _CONTROL.search(edit.text), "a broadcast or mention token reached Slack"
        outcome = next(outcomes, None) if not edit.final or calls < 150 else None
        if outcome == "limited":
            blocked_until = at + 2.0
            r.sent(edit, at, ok=False, retry_after=2.0)
        else:
            r.sent(edit, at, ok=outcome is None)
            if outcome is None:
                shown[edit.index] = edit.text

    for chunk, gap in zip(chunks, gaps):
        now += gap
        r.feed(chunk)
        while (edit := r.next_edit(now)) is not None:
            call(edit, now)
    r.finish()
    while not r.done:
        now = max(now, r.wake_at())
        if (edit := r.next_edit(now)) is not None:
            call(edit, now)

    assert "".join(r.bodies) == "".join(chunks)
    if not r.gave_up:  # every message with text in it ends up shown in Slack
        assert {i for i, body in enumerate(r.bodies) if body.strip()} <= set(shown)
