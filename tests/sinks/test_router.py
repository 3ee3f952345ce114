"""Which surface carries a reply, from plain values (how long each budget would make a call wait, what Slack
refused before), and refusals learned once."""

from __future__ import annotations

import logging

import pytest

from bot.sinks.router import (RELEARN_AFTER, Router, SignOfLife, Surface, choose_answer_surface,
                              choose_sign_of_life)
from bot.slack.kinds import NotAllowed, Refused, Unavailable
from bot.slack.pacing import Limit, MethodLimits, Pacer

STATUS, PLACEHOLDER = SignOfLife.STATUS, SignOfLife.PLACEHOLDER


def test_the_status_is_the_sign_of_life_unless_a_placeholder_would_go_sooner():
    assert choose_sign_of_life(status_usable=True, status_wait=0, placeholder_wait=0) is STATUS
    assert choose_sign_of_life(status_usable=True, status_wait=2.0, placeholder_wait=0) is PLACEHOLDER
    assert choose_sign_of_life(status_usable=False, status_wait=0, placeholder_wait=5.0) is PLACEHOLDER


@pytest.mark.parametrize("surface, usable, start_wait, stop_room, chosen", [
    (Surface.AUTO, True, 0.0, 1, Surface.STREAM),  # a start now, and room to stop it
    (Surface.AUTO, True, 2.0, 5, Surface.EDIT),  # the start would wait: post the first words instead
    (Surface.AUTO, True, 0.0, 0, Surface.EDIT),  # every stop is spoken for: streams open would wait to end
    (Surface.STREAM, True, 30.0, 0, Surface.STREAM),  # streams whatever the wait
    (Surface.STREAM, False, 0.0, 5, Surface.EDIT),  # ... where Slack allows them
    (Surface.EDIT, True, 0.0, 5, Surface.EDIT),
])
def test_the_answer_streams_when_the_start_budget_has_room_and_a_stop_is_kept_for_it(surface, usable, start_wait,
                                                                                 stop_room, chosen):
    assert choose_answer_surface(surface=surface, stream_usable=usable, start_wait=start_wait,
                                 stop_room=stop_room) is chosen


def router(**kwargs) -> tuple[Router, list[float]]:
    now = [0.0]
    limits = {"chat.startStream": MethodLimits(Limit(20, 2)), "chat.stopStream": MethodLimits(Limit(20, 2))}
    return Router(Pacer(limits, clock=lambda: now[0]), clock=lambda: now[0], **kwargs), now


def test_open_streams_keep_their_stops():
    r, now = router()  # stops: 2 in the bucket, and one every 3 s
    assert r.answer_surface("C1", "1.0") is Surface.STREAM
    r.streams_open(5)
    assert r.answer_surface("C2", "2.0") is Surface.EDIT  # the stops of the next 10 s are all spoken for
    r.streams_open(-1)
    assert r.answer_surface("C2", "2.0") is Surface.STREAM


def test_a_reply_without_a_thread_never_streams_and_shows_no_status():
    r, now = router()
    assert r.answer_surface("D1", None) is Surface.EDIT
    assert r.sign_of_life("D1", None) is PLACEHOLDER


def test_a_refusal_of_the_app_is_learned_once_for_an_hour(caplog):
    caplog.set_level(logging.WARNING)
    r, now = router()
    for channel in ("C1", "C2", "C3"):
        r.stream_refused(NotAllowed("chat.startStream", "feature_not_enabled"), channel)
    assert r.answer_surface("C9", "9.0") is Surface.EDIT
    assert len([m for m in caplog.messages if "chat.startStream" in m]) == 1  # said once, with the fix
    assert "Agents & AI Apps" in caplog.text and "doctor" in caplog.text
    now[0] = RELEARN_AFTER + 1
    assert r.answer_surface("C9", "9.0") is Surface.STREAM  # an admin may have fixed it: try again


def test_a_refusal_of_one_conversation_is_learned_for_that_conversation():
    r, now = router()
    r.stream_refused(Refused("chat.startStream", "channel_type_not_supported"), "G1")
    assert r.answer_surface("G1", "1.0") is Surface.EDIT
    assert r.answer_surface("C1", "1.0") is Surface.STREAM


def test_a_passing_failure_is_not_learned():
    r, now = router()
    r.stream_refused(Unavailable("chat.startStream", "internal_error"), "C1")
    assert r.answer_surface("C1", "1.0") is Surface.STREAM


def test_a_refused_status_falls_back_to_placeholders_and_is_remembered():
    r, now = router()
    assert r.sign_of_life("C1", "1.0") is STATUS
    r.status_refused(NotAllowed("assistant.threads.setStatus", "missing_scope"), "C1")
    assert r.sign_of_life("C2", "2.0") is PLACEHOLDER


def test_the_status_can_be_turned_off():
    r, now = router(status=False)
    assert r.sign_of_life("C1", "1.0") is PLACEHOLDER
