"""Which surface carries a reply, from plain values (how long each budget would make a call wait, what Slack
refused before), and refusals learned once."""

from __future__ import annotations

import logging

import pytest

from bot.sinks.base import Place
from bot.sinks.router import RELEARN_AFTER, Router, choose_sign_of_life, choose_surface
from bot.sinks.surfaces import EDIT, PLACEHOLDER, PREFERENCES, STATUS, STREAM
from bot.slack.kinds import NotAllowed, Refused, Unavailable
from bot.slack.methods import Limit, MethodLimits
from bot.slack.pacing import Pacer


def test_the_status_waits_for_its_turn_and_a_placeholder_goes_only_when_its_edit_can_follow():
    assert choose_sign_of_life([STATUS, PLACEHOLDER], ready=set()) is STATUS  # queues, holding nothing back
    assert choose_sign_of_life([PLACEHOLDER], ready={"placeholder"}) is PLACEHOLDER  # the status is not usable
    assert choose_sign_of_life([PLACEHOLDER], ready=set()) is None  # the first words will be the first sign
    assert choose_sign_of_life([], ready=set()) is None


@pytest.mark.parametrize("preference, usable, waits, chosen", [
    ("auto", {"stream", "edit"}, {"stream": 0.0, "edit": 0.0}, STREAM),  # both open now: a stream
    ("auto", {"stream", "edit"}, {"stream": 0.04, "edit": 0.0}, STREAM),  # a wait under SOON is none
    ("auto", {"stream", "edit"}, {"stream": 2.0, "edit": 0.0}, EDIT),  # the start would wait: post instead
    ("auto", {"stream", "edit"}, {"stream": 2.0, "edit": 5.0}, STREAM),  # ... unless posts would wait longer
    ("auto", {"stream", "edit"}, {"edit": 9.0}, EDIT),  # every stop is spoken for: no stream
    ("stream", {"stream", "edit"}, {}, STREAM),  # streams whatever the wait
    ("stream", {"edit"}, {}, EDIT),  # ... where Slack allows them
    ("edit", {"stream", "edit"}, {"edit": 0.0}, EDIT),
])
def test_the_answer_opens_where_it_opens_soonest_with_room_for_what_it_holds(preference, usable, waits, chosen):
    assert choose_surface(PREFERENCES[preference], usable=usable, waits=waits) is chosen


def router(**kwargs) -> tuple[Router, list[float]]:
    now = [0.0]
    limits = {"chat.startStream": MethodLimits(Limit(20, 2)), "chat.stopStream": MethodLimits(Limit(20, 2)),
              "chat.update": MethodLimits(Limit(50, 2))}
    kwargs.setdefault("signs_of_life", (STATUS, PLACEHOLDER))
    return Router(Pacer(limits, clock=lambda: now[0]), clock=lambda: now[0], **kwargs), now


def place(channel: str, thread_ts: str | None) -> Place:
    return Place(channel, thread_ts, "U1", "T1")


def test_open_streams_keep_their_stops():
    r, now = router()  # stops: 2 in the bucket, and one every 3 s
    assert r.answer_surface(place("C1", "1.0")) is STREAM
    r.hold("chat.stopStream", 82)
    assert r.answer_surface(place("C2", "2.0")) is EDIT  # the stops of the next four minutes are all spoken for
    r.hold("chat.stopStream", -1)
    assert r.answer_surface(place("C2", "2.0")) is STREAM


def test_a_reply_that_began_with_a_placeholder_is_edited():
    r, now = router()
    assert r.answer_surface(place("C1", "1.0"), began_with=PLACEHOLDER) is EDIT
    assert r.answer_surface(place("C1", "1.0"), began_with=STATUS) is STREAM


def test_a_reply_without_a_thread_never_streams_and_shows_no_status():
    r, now = router()
    assert r.answer_surface(place("D1", None)) is EDIT
    assert r.sign_of_life(place("D1", None)) is PLACEHOLDER


def test_a_refusal_of_the_app_is_learned_once_for_an_hour(caplog):
    caplog.set_level(logging.WARNING)
    r, now = router()
    for channel in ("C1", "C2", "C3"):
        r.refused(STREAM.name, STREAM.refused, NotAllowed("chat.startStream", "feature_not_enabled"), channel)
    assert r.answer_surface(place("C9", "9.0")) is EDIT
    assert len([m for m in caplog.messages if "chat.startStream" in m]) == 1  # said once, with the fix
    assert "Agents & AI Apps" in caplog.text and "doctor" in caplog.text
    now[0] = RELEARN_AFTER + 1
    assert r.answer_surface(place("C9", "9.0")) is STREAM  # an admin may have fixed it: try again


def test_a_refusal_of_one_conversation_is_learned_for_that_conversation():
    r, now = router()
    r.refused(STREAM.name, STREAM.refused, Refused("chat.startStream", "channel_type_not_supported"), "G1")
    assert r.answer_surface(place("G1", "1.0")) is EDIT
    assert r.answer_surface(place("C1", "1.0")) is STREAM


def test_a_passing_failure_is_not_learned():
    r, now = router()
    r.refused(STREAM.name, STREAM.refused, Unavailable("chat.startStream", "internal_error"), "C1")
    assert r.answer_surface(place("C1", "1.0")) is STREAM


def test_a_refused_status_falls_back_to_placeholders_and_is_remembered():
    r, now = router()
    assert r.sign_of_life(place("C1", "1.0")) is STATUS
    r.refused(STATUS.name, STATUS.refused, NotAllowed("assistant.threads.setStatus", "missing_scope"), "C1")
    assert r.sign_of_life(place("C2", "2.0")) is PLACEHOLDER


def test_the_status_can_be_turned_off():
    r, now = router(signs_of_life=(PLACEHOLDER,))
    assert r.sign_of_life(place("C1", "1.0")) is PLACEHOLDER


def test_a_placeholder_speaks_for_the_edit_that_will_replace_it():
    r, now = router(signs_of_life=(PLACEHOLDER,))  # edits: 2 in the bucket, and 8.3 more in the next 10 s
    r.hold("chat.update", 10)  # every one of them is spoken for (by placeholders, or messages still growing)
    assert r.sign_of_life(place("C1", "1.0")) is None  # the first words will be the first sign
    assert r.sign_of_life(place("D1", None)) is None
    r.hold("chat.update", -1)
    assert r.sign_of_life(place("C1", "1.0")) is PLACEHOLDER


def test_a_status_slack_refused_gives_way_to_the_next_sign_that_can_go():
    r, now = router()
    assert r.sign_of_life(place("C1", "1.0"), instead_of=STATUS) is PLACEHOLDER
    r.hold("chat.update", 20)
    assert r.sign_of_life(place("C1", "1.0"), instead_of=STATUS) is None


def test_replies_that_show_nothing_yet_count_until_they_show_something_or_for_ten_seconds():
    r, now = router()
    r.unseen("a")
    r.unseen("b")
    assert r.others_unseen("a")  # b shows nothing yet: a, whose status is up, lets it open first
    r.seen("b")
    assert not r.others_unseen("a")  # only a itself is left
    r.unseen("c")
    now[0] = 10.0
    assert not r.others_unseen("a")  # c's end went unreported: after ten seconds it holds nobody back
