"""Which Slack events get an answer, and where (`bot.intake.requests`).

Covers `request_from_event`: a person's mention in a channel or new message in a DM with the bot is a
request; edits, deletions, joins, bots (including the bot itself) and channel chatter are not.
Covers `Request.reply_thread_ts` (where the answer is posted) and `SeenEvents` (a redelivered event or
the same message is answered once).
"""

from __future__ import annotations

import pytest

from bot.conversation.build import Identity
from bot.intake.requests import SeenEvents, request_from_event
from bot.request import Request
from bot.shared.local import LocalState

BOT = Identity(user_id="UBOT", bot_id="BBOT")


def mention(**overrides):
    event = {"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@UBOT> hi", "ts": "100.1", "team": "T1"}
    event.update(overrides)
    return event


def dm(**overrides):
    event = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U1", "text": "hi", "ts": "200.2"}
    event.update(overrides)
    return event


# --- channel mentions --------------------------------------------------------------------------------


def test_mention_in_a_channel_is_a_request_with_the_message_details():
    request = request_from_event(mention(), "Ev1", BOT)
    assert request == Request(
        event_id="Ev1", channel="C1", user="U1", text="<@UBOT> hi", ts="100.1", thread_ts=None, is_dm=False, team="T1"
    )


def test_top_level_mention_is_answered_in_a_new_thread_under_it():
    assert request_from_event(mention(), "Ev1", BOT).reply_thread_ts == "100.1"


def test_mention_inside_a_thread_is_answered_in_that_thread():
    request = request_from_event(mention(ts="100.5", thread_ts="100.1"), "Ev1", BOT)
    assert request.reply_thread_ts == "100.1"


def test_mention_in_a_dm_channel_is_ignored_because_the_dm_message_is_answered():
    assert request_from_event(mention(channel="D1"), "Ev1", BOT) is None


@pytest.mark.parametrize("channel_type", ["channel", "group", "mpim", None])
def test_plain_messages_outside_a_dm_are_ignored(channel_type):
    assert request_from_event(dm(channel="C1", channel_type=channel_type), "Ev1", BOT) is None


def test_the_question_as_a_slack_message_has_its_ts_user_and_text():
    request = request_from_event(mention(), "Ev1", BOT)
    assert request.message == {"ts": "100.1", "user": "U1", "text": "<@UBOT> hi"}


def test_missing_event_id_falls_back_to_channel_and_ts():
    assert request_from_event(mention(), None, BOT).event_id == "C1:100.1"


# --- direct messages ---------------------------------------------------------------------------------


def test_direct_message_is_a_request():
    request = request_from_event(dm(), "Ev2", BOT)
    assert request is not None
    assert (request.channel, request.user, request.text, request.is_dm) == ("D1", "U1", "hi", True)


def test_top_level_dm_is_answered_in_line_not_in_a_thread():
    assert request_from_event(dm(), "Ev2", BOT).reply_thread_ts is None


def test_dm_inside_a_thread_is_answered_in_that_thread():
    request = request_from_event(dm(ts="200.9", thread_ts="200.2"), "Ev2", BOT)
    assert request.reply_thread_ts == "200.2"


# --- what is not a question --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subtype", ["message_changed", "message_deleted", "bot_message", "channel_join", "channel_topic"]
)
def test_non_person_subtypes_are_ignored(subtype):
    assert request_from_event(dm(subtype=subtype), "Ev3", BOT) is None
    assert request_from_event(mention(subtype=subtype), "Ev3", BOT) is None


@pytest.mark.parametrize("subtype", ["file_share", "thread_broadcast"])
def test_file_shares_and_thread_broadcasts_are_still_questions(subtype):
    assert request_from_event(dm(subtype=subtype), "Ev4", BOT) is not None
    assert request_from_event(mention(subtype=subtype), "Ev4", BOT) is not None


def test_messages_from_any_bot_are_ignored():
    assert request_from_event(dm(bot_id="BOTHER"), "Ev5", BOT) is None
    assert request_from_event(mention(bot_id="BOTHER"), "Ev5", BOT) is None
    assert request_from_event(mention(bot_profile={"id": "BOTHER"}), "Ev5", BOT) is None


def test_the_bots_own_messages_are_ignored():
    assert request_from_event(dm(user="UBOT"), "Ev6", BOT) is None
    assert request_from_event(mention(user="UBOT"), "Ev6", BOT) is None


@pytest.mark.parametrize("missing", ["user", "ts", "channel"])
def test_events_missing_essential_fields_are_ignored(missing):
    event = mention()
    del event[missing]
    assert request_from_event(event, "Ev7", BOT) is None


@pytest.mark.parametrize("kind", ["reaction_added", "member_joined_channel", None])
def test_other_event_types_are_ignored(kind):
    assert request_from_event(mention(type=kind), "Ev8", BOT) is None


# --- SeenEvents --------------------------------------------------------------------------------------


class FakeClock:
    """A clock whose current time is the last value in a list; tests append to move it forward."""

    def __init__(self, start: float = 1000.0) -> None:
        self.times = [start]

    def __call__(self) -> float:
        return self.times[-1]

    def advance(self, seconds: float) -> None:
        self.times.append(self.times[-1] + seconds)


def request(event_id="Ev1", channel="C1", ts="100.1"):
    return Request(event_id=event_id, channel=channel, user="U1", text="hi", ts=ts, thread_ts=None, is_dm=False)


def test_first_delivery_is_answered_and_a_redelivery_is_not():
    seen = SeenEvents(LocalState())
    assert seen.first_time(request()) is True
    assert seen.first_time(request()) is False
    assert seen.first_time(request()) is False


def test_same_message_under_a_new_event_id_is_not_answered_twice():
    # Slack can deliver one message as both `message` (im) and `app_mention`, or retry with a new id.
    seen = SeenEvents(LocalState())
    assert seen.first_time(request(event_id="Ev1")) is True
    assert seen.first_time(request(event_id="Ev2")) is False


def test_same_event_id_for_a_different_message_is_not_answered_twice():
    seen = SeenEvents(LocalState())
    assert seen.first_time(request(event_id="Ev1", ts="1.0")) is True
    assert seen.first_time(request(event_id="Ev1", ts="2.0")) is False


def test_different_messages_are_each_answered():
    seen = SeenEvents(LocalState())
    assert seen.first_time(request(event_id="Ev1", ts="1.0")) is True
    assert seen.first_time(request(event_id="Ev2", ts="2.0")) is True
    assert seen.first_time(request(event_id="Ev3", channel="C2", ts="1.0")) is True


def test_events_are_remembered_within_the_ttl_and_forgotten_after_it():
    clock = FakeClock()
    seen = SeenEvents(LocalState(clock, memory=60.0))
    assert seen.first_time(request()) is True
    clock.advance(59.0)
    assert seen.first_time(request()) is False
    clock.advance(2.0)
    assert seen.first_time(request()) is True


def test_memory_is_bounded_by_capacity_so_old_events_are_forgotten():
    clock = FakeClock()
    seen = SeenEvents(LocalState(clock, memory=1e9, capacity=10))
    for i in range(100):
        assert seen.first_time(request(event_id=f"Ev{i}", ts=f"{i}.0")) is True
        clock.advance(1.0)
    assert seen.first_time(request(event_id="Ev99", ts="99.0")) is False  # the newest is still known
    assert seen.first_time(request(event_id="Ev0", ts="0.0")) is True  # the oldest was forgotten


def test_what_a_person_has_open_is_read_from_the_agent_context_most_relevant_first():
    from bot.intake.requests import viewing_from
    from bot.request import Viewed

    context = {"entities": [
        {"type": "slack#/types/message_context", "value": {"channel_id": "C0INC", "message_ts": "1700000000.000100"}},
        {"type": "slack#/types/channel_id", "value": "C0REL", "team_id": "T1"},
        {"type": "slack#/types/canvas_id", "value": "F0CANVAS"},  # not read
        {"type": "slack#/types/channel_id", "value": "D0SOMEONE"},  # another person's DM: the bot cannot read it
        {"type": "slack#/types/channel_id", "value": "C0REL"},  # said twice: once
        {"type": "slack#/types/channel_id", "value": {"nested": "C0X"}},
        "not an entity",
        {"type": "slack#/types/message_context", "value": {"channel_id": "C0INC", "message_ts": "x; DROP"}},
        {"type": "slack#/types/channel_id", "value": "G0OLD"},
        {"type": "slack#/types/channel_id", "value": "C0FOURTH"},
    ]}
    assert viewing_from(context) == (Viewed("C0INC", "1700000000.000100"), Viewed("C0REL"), Viewed("G0OLD"))
    assert viewing_from({"channel_id": "C0REL", "team_id": "T1"}) == (Viewed("C0REL"),)  # an assistant thread's
    assert viewing_from({}) == viewing_from(None) == viewing_from("C0REL") == ()


def test_a_button_value_nested_past_the_parsers_depth_is_not_a_click():
    from bot.feedback import read_vote
    from bot.reply.approval import read_click

    deep = "[" * 100_000 + "]" * 100_000
    assert read_vote(deep) is None
    body = {"actions": [{"value": deep}], "channel": {"id": "C1"}, "user": {"id": "U1"}, "message": {"ts": "1.1"}}
    assert read_click(body) is None
