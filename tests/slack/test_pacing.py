"""Slack's budgets, with the time passed in: who goes, in what order, how the pace and the burst adapt, and
the turn a call holds from asking to Slack's answer."""

from __future__ import annotations



import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.shared.base import Lesson
from bot.slack.methods import Limit, MethodLimits
from bot.slack.pacing import Budget, Pacer, Priority

URGENT, ROUTINE = Priority.URGENT, Priority.ROUTINE


def Fixed(per_minute, *, burst: float = 10, **kwargs) -> Budget:
    """A budget whose burst does not grow by probing."""
    return Budget(per_minute, burst=burst, largest_burst=burst, **kwargs)


def take(budget: Budget, key, priority: Priority, now: float) -> float:
    """Ask for a turn; one that may go is granted (a token spent, the call in flight)."""
    wait = budget.request(key, priority, now)
    if wait == 0.0:
        budget.grant(key, now)
    return wait


def go(budget: Budget, key, priority: Priority, now: float) -> float:
    """Ask for a turn; a call that gets one is made, and Slack answers it at once."""
    wait = take(budget, key, priority, now)
    if wait == 0.0:
        budget.landed(key, now)
    return wait


def drain(budget: Budget, now: float, priority: Priority = URGENT) -> int:
    """How many distinct callers get a turn at `now`."""
    granted = 0
    while go(budget, ("drain", now, granted), priority, now) == 0.0:
        granted += 1
    budget.withdraw(("drain", now, granted))
    return granted


def test_a_burst_then_the_rate():
    budget = Fixed(60, burst=10, reserve=0)
    assert drain(budget, 0.0) == 10
    assert drain(budget, 0.5) == 0
    assert drain(budget, 1.0) == 1
    assert drain(budget, 4.0) == 3


def test_the_wait_says_when_the_next_token_comes():
    budget = Fixed(60, burst=1, reserve=0)
    assert go(budget, "a", URGENT, 0.0) == 0.0
    assert go(budget, "b", URGENT, 0.0) == pytest.approx(1.0)
    assert go(budget, "b", URGENT, 0.4) == pytest.approx(0.6)
    assert go(budget, "b", URGENT, 1.0) == 0.0


def test_routine_edits_leave_a_reserve_for_urgent_ones():
    budget = Fixed(60, burst=5, reserve=2)
    assert drain(budget, 0.0, ROUTINE) == 3
    assert drain(budget, 0.0, URGENT) == 2  # first words and final texts still go at once


def test_urgent_goes_before_routine_that_asked_earlier():
    budget = Fixed(60, burst=1, reserve=0, now=0.0)
    go(budget, "first", URGENT, 0.0)  # spends the burst
    assert go(budget, "edit", ROUTINE, 0.1) > 0
    assert go(budget, "final", URGENT, 0.2) > 0
    assert go(budget, "edit", ROUTINE, 1.0) > 0  # a token came, but the final text is ahead
    assert go(budget, "final", URGENT, 1.0) == 0.0
    assert go(budget, "edit", ROUTINE, 2.0) == 0.0


def test_replies_streaming_together_share_the_budget_evenly():
    budget = Fixed(60, burst=3, reserve=0)
    turns = {name: 0 for name in "abcdef"}
    now = 0.0
    while now < 60.0:
        for name in turns:  # every reply always wants an edit; each asks again as soon as it had its turn
            if go(budget, name, ROUTINE, now) == 0.0:
                turns[name] += 1
        now += 0.05
    assert sum(turns.values()) <= 3 + 60 + 1
    assert max(turns.values()) - min(turns.values()) <= 1


def test_a_waiter_that_was_upgraded_keeps_its_place_among_urgent_ones():
    budget = Fixed(60, burst=1, reserve=0)
    go(budget, "x", URGENT, 0.0)
    go(budget, "a", ROUTINE, 0.1)  # a's stream then ends: its edit becomes the final one
    go(budget, "b", URGENT, 0.2)
    go(budget, "a", URGENT, 0.3)
    assert go(budget, "b", URGENT, 1.0) > 0
    assert go(budget, "a", URGENT, 1.0) == 0.0


def refused(budget: Budget, now: float, retry_after: float) -> None:
    """A call granted at `now` is answered 429 at once."""
    assert take(budget, ("refused", now), URGENT, now) == 0.0
    budget.rate_limited(("refused", now), retry_after, now)


def test_a_429_at_the_pace_of_the_rate_pauses_the_method_and_halves_the_rate():
    budget = Fixed(60, burst=10, reserve=0)
    assert drain(budget, 0.0) == 10
    refused(budget, 1.0, retry_after=3.0)  # its token came from the rate: the rate is too high
    assert take(budget, "a", URGENT, 2.0) == pytest.approx(2.0)
    assert take(budget, "a", URGENT, 3.999) > 0
    assert budget.rate == pytest.approx(0.5) and budget.burst == pytest.approx(10)
    assert go(budget, "a", URGENT, 4.0) == 0.0  # the one call Slack said it would take
    assert take(budget, "b", URGENT, 4.0) > 0  # Slack had refilled just the one call it said it would take
    assert take(budget, "b", URGENT, 6.0) == 0.0  # one token per 2 s now


def test_a_429_while_spending_the_burst_teaches_slacks_burst_what_it_took_less_what_it_refilled():
    budget = Budget(60, burst=10, reserve=0, largest_burst=20)
    for n in range(6):
        assert go(budget, ("burst", n), URGENT, 0.4 * n) == 0.0  # Slack takes six from a full bucket in 2 s
    refused(budget, 2.4, retry_after=1.0)  # tokens to spare, and Slack still said no: its burst is smaller
    assert budget.burst == pytest.approx(6 - 2.4) and budget.rate == pytest.approx(1.0)  # it refilled 2.4
    assert budget.learning.max_burst == budget.burst  # no probing past what Slack showed


def test_a_burst_is_never_learned_below_half_of_what_slack_took_nor_from_nothing():
    budget = Budget(60, burst=30, reserve=0)
    for n in range(10):
        go(budget, ("slow", n), URGENT, 0.8 * n)  # a slow network: ten calls in over seven seconds
    refused(budget, 7.5, retry_after=1.0)  # the refill's estimate (10 - 7.5) would leave too little
    assert budget.burst == pytest.approx(5)
    other = Budget(60, burst=10, reserve=0)
    refused(other, 0.0, retry_after=1.0)  # its first call: someone else spent Slack's burst
    assert other.burst == pytest.approx(5)


def test_429s_from_calls_already_in_flight_halve_the_pace_only_once():
    budget = Fixed(60, burst=10)
    budget.rate_limited(None, 1.0, 0.0)
    budget.rate_limited(None, 1.0, 0.01)
    budget.rate_limited(None, 1.0, 0.02)
    assert budget.rate == pytest.approx(0.5)
    assert budget.paused_until == pytest.approx(1.02)


def test_the_pace_recovers_step_by_step_after_a_429():
    budget = Fixed(60, burst=10)
    budget.rate_limited(None, 1.0, 0.0)
    assert budget.rate == pytest.approx(0.5)
    for step in range(100):
        budget.landed(None, 10.0 + step)
    assert budget.rate == pytest.approx(1.0)  # back at the ceiling, never above it
    rates = []
    assert budget.request("next", URGENT, 200.0) == 0.0  # its bucket filled up meanwhile: it was idle
    budget.rate_limited(None, 1.0, 200.0)
    for step in range(3):
        budget.landed(None, 210.0 + step)
        rates.append(budget.rate)
    assert rates == pytest.approx([0.55, 0.6, 0.65])


def test_a_second_429_at_the_pace_of_the_rate_teaches_slacks_pace_for_a_while():
    budget = Fixed(60, burst=10, reserve=0)
    budget.rate_limited(None, 1.0, 0.0)  # nothing to compare it with: the rate halves
    for step in range(4):
        budget.landed(None, 2.0 + 2 * step)  # Slack took four more by t=8
    budget.rate_limited(None, 1.0, 10.0)  # and said no at t=10: it gives at most five in ten seconds
    assert budget.rate == pytest.approx(0.9 * 5 / 10)
    for step in range(100):
        budget.landed(None, 20.0 + step)
    assert budget.rate == pytest.approx(0.45)  # it climbs back no higher than what Slack showed ...
    for step in range(20):
        budget.landed(None, 700.0 + step)
    assert budget.rate == pytest.approx(1.0)  # ... for ten minutes: then back to what it started from


def test_a_budget_busy_since_its_last_429_measures_slacks_pace_however_long_ago_that_was():
    budget = Fixed(600, burst=100, reserve=0)
    budget.rate_limited(None, 1.0, 0.0)
    for step in range(700):  # busy all along: ten calls a second for seventy seconds, never full again
        budget.landed(None, 1.0 + step / 10)
        budget.bucket.tokens = 0.0
    budget.rate_limited(None, 1.0, 71.0)  # Slack gave 701 calls in 71 s: about its pace, not half of it
    assert budget.rate == pytest.approx(0.9 * 701 / 71)


def test_what_a_429_teaches_the_other_instances_is_slacks_pace_not_this_instances_halving():
    budget = Fixed(60, burst=10, reserve=0)
    budget.rate_limited(None, 1.0, 0.0)  # nothing to compare it with: this instance halves its rate ...
    assert budget.rate == pytest.approx(0.5)
    assert budget.lesson("chat.update").per_second == pytest.approx(1.0)  # ... and teaches no slower pace
    other = Fixed(60, burst=10, reserve=0)
    other.learning.take_lesson(Lesson(1, budget.lesson("chat.update").per_second, budget.burst))
    assert other.rate == pytest.approx(1.0) and other.ceiling == pytest.approx(1.0)
    for step in range(4):
        budget.landed(None, 2.0 + 2 * step)
    budget.rate_limited(None, 1.0, 10.0)  # a second 429: Slack's pace, measured
    assert budget.lesson("chat.update").per_second == pytest.approx(0.45)


def test_the_pace_never_drops_below_its_floor():
    budget = Fixed(60, burst=10)
    for step in range(20):
        budget.rate_limited(None, 1.0, step * 10.0)
    assert budget.rate == pytest.approx(0.1)


def test_without_a_budget_only_retry_after_holds_calls_back():
    budget = Fixed(None)
    assert all(take(budget, n, ROUTINE, 0.0) == 0.0 for n in range(1000))
    budget.rate_limited(None, 2.0, 0.0)
    assert take(budget, "a", URGENT, 1.5) == pytest.approx(0.5)
    assert take(budget, "a", URGENT, 2.0) == 0.0
    assert budget.rate is None


def test_a_waiter_that_left_does_not_hold_up_the_queue():
    budget = Fixed(60, burst=1, reserve=0)
    go(budget, "x", URGENT, 0.0)
    go(budget, "gone", URGENT, 0.1)
    go(budget, "next", URGENT, 0.2)
    budget.withdraw("gone")
    assert go(budget, "next", URGENT, 1.0) == 0.0


def test_a_waiter_that_never_came_back_is_dropped():
    budget = Fixed(60, burst=1, reserve=0)
    go(budget, "x", URGENT, 0.0)
    go(budget, "crashed", URGENT, 0.1)  # told to ask again at 1.0, and never does
    assert go(budget, "next", URGENT, 1.5) > 0
    assert go(budget, "next", URGENT, 7.0) == 0.0


def test_a_refunded_turn_goes_to_the_next_caller():
    budget = Fixed(60, burst=1, reserve=0)
    assert take(budget, "a", URGENT, 0.0) == 0.0
    budget.unused("a", 0.0)
    assert take(budget, "b", URGENT, 0.0) == 0.0


def test_two_calls_in_flight_at_most_beyond_what_slack_has_shown_so_a_smaller_burst_costs_two_429s():
    budget = Fixed(60, burst=10, reserve=0)
    assert take(budget, "a", URGENT, 0.0) == 0.0
    assert take(budget, "b", URGENT, 0.0) == 0.0  # beside it: Slack's round trip would otherwise pace the budget
    assert 0 < take(budget, "c", URGENT, 0.0) <= 0.01  # its token is there: it looks again very soon
    budget.rate_limited("a", 1.0, 0.05)  # a was refused: c, still waiting, is not sent into it
    assert take(budget, "c", URGENT, 0.06) == pytest.approx(0.99)
    assert take(budget, "c", URGENT, 3.1) == 0.0


def test_within_the_burst_slack_has_shown_eight_calls_go_at_once():
    budget = Fixed(60, burst=10, reserve=0)
    assert drain(budget, 0.0) == 10  # Slack took ten from a full bucket (answering each at once)
    for key in range(12):
        take(budget, key, URGENT, 20.0)  # full again: ten shown, so eight may be in flight together
    assert [key for key in range(12) if key in budget._flight] == list(range(8))
    for key in range(8):
        budget.landed(key, 20.05)
    assert take(budget, 8, URGENT, 20.06) == 0.0  # the ninth and tenth: still within what Slack took before
    assert take(budget, 9, URGENT, 20.06) == 0.0
    assert take(budget, 10, URGENT, 20.06) > 0  # no token left


def test_a_call_that_hangs_stops_holding_the_others_back():
    budget = Fixed(60, burst=10, reserve=0)
    assert take(budget, "a", URGENT, 0.0) == 0.0  # no answer comes
    assert take(budget, "a2", URGENT, 0.0) == 0.0  # nor here
    assert take(budget, "b", URGENT, 1.9) > 0
    assert take(budget, "b", URGENT, 2.0) == 0.0
    assert take(budget, "b2", URGENT, 2.0) == 0.0
    budget.landed("a", 2.4)  # a's answer comes at last: b and b2 are still on the wire, so c waits
    assert take(budget, "c", URGENT, 2.45) > 0
    budget.failed("b", 2.5)
    assert take(budget, "c", URGENT, 2.5) == 0.0


def test_places_in_flight_go_in_order_of_rank_not_to_whoever_asks_first():
    budget = Fixed(60, burst=10, reserve=0)
    assert take(budget, "a", URGENT, 0.0) == 0.0
    assert take(budget, "a2", URGENT, 0.0) == 0.0
    take(budget, "final", URGENT, 0.01)  # both have tokens enough, and wait for a place
    take(budget, "edit", ROUTINE, 0.02)
    budget.landed("a", 0.05)
    assert take(budget, "edit", ROUTINE, 0.06) > 0  # asks first, but the final text is ahead of it
    assert take(budget, "final", URGENT, 0.07) == 0.0


def test_a_waiter_asks_again_at_least_once_a_second():
    budget = Fixed(6, burst=1, reserve=0)  # one token every 10 s
    go(budget, "x", URGENT, 0.0)
    assert go(budget, "a", URGENT, 0.0) == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(
    asks=st.lists(
        st.tuples(st.floats(0, 0.5), st.integers(0, 5), st.sampled_from([URGENT, ROUTINE]),
                  st.sampled_from(["ask", "429", "ok"])),
        max_size=200,
    )
)
def test_never_more_calls_than_the_burst_plus_the_rate_allows(asks):
    """Whatever the order of asks and outcomes: over any stretch of time, the budget grants no more
    than its burst plus its ceiling rate times the stretch, and nothing while a Retry-After runs."""
    budget = Fixed(30, burst=4)
    now, grants, pauses = 0.0, [], []
    for gap, key, priority, what in asks:
        now += gap
        if what == "429":
            budget.rate_limited(None, 1.5, now)
            pauses.append((len(grants), now + 1.5))
        elif what == "ok":
            budget.landed(None, now)
        elif take(budget, key, priority, now) == 0.0:
            grants.append(now)
            budget.failed(key, now)  # answered at once (how does not matter here)
    for i, start in enumerate(grants):
        for end in grants[i:]:
            count = sum(1 for t in grants if start <= t <= end)
            assert count <= 4 + (end - start) * 0.5 + 1e-9
    for granted_before, end in pauses:
        assert not any(t < end for t in grants[granted_before:])


def test_a_burst_learned_from_slack_stays_what_slack_showed():
    budget = Fixed(60, burst=20)
    for n in range(8):
        go(budget, ("burst", n), URGENT, 0.0)
    refused(budget, 0.0, retry_after=1.0)
    assert budget.burst == pytest.approx(8)
    for step in range(100):
        budget.landed(None, 10.0 + step)
    assert budget.burst == pytest.approx(8)  # calls that land do not grow it past what Slack showed


def test_a_small_burst_still_lets_routine_calls_through():
    budget = Fixed(60, burst=20, reserve=2)
    for at in range(6):
        refused(budget, at * 60.0, retry_after=1.0)
    assert budget.burst < 2
    assert go(budget, "edit", ROUTINE, 1000.0) == 0.0  # the reserve never takes the whole burst


def test_the_estimate_says_how_long_a_new_caller_would_wait_without_queuing_it():
    budget = Fixed(60, burst=2, reserve=0)
    assert budget.estimate(URGENT, 0.0) == 0.0
    go(budget, "a", URGENT, 0.0)
    go(budget, "b", URGENT, 0.0)
    assert budget.estimate(URGENT, 0.0) == pytest.approx(1.0)
    assert budget.waiting == 0
    budget.rate_limited(None, 5.0, 0.5)
    assert budget.estimate(URGENT, 1.0) == pytest.approx(4.5)


def clocked(limits: dict, start: float = 0.0) -> tuple[Pacer, list[float]]:
    now = [start]
    return Pacer(limits, clock=lambda: now[0]), now


def test_a_turn_is_granted_once_and_its_answer_reaches_every_budget_it_took():
    pacer, now = clocked({"chat.postMessage": MethodLimits(Limit(600, 2), per_channel=Limit(60, 1))})
    with pacer.turn("chat.postMessage", channel="C1") as turn:
        assert turn.ask() == 0.0 and turn.ask() == 0.0  # granted once, however often it asks
        turn.rate_limited(3.0)
    assert pacer.budget("chat.postMessage", "C1").paused_until == pytest.approx(3.0)
    assert pacer.budget("chat.postMessage").paused_until == pytest.approx(3.0)  # the workspace's too
    assert pacer.estimate("chat.postMessage", channel="C2") == pytest.approx(3.0)


def test_per_channel_budgets_do_not_hold_up_other_channels():
    pacer, now = clocked({"chat.postMessage": MethodLimits(per_channel=Limit(60, 1, largest_burst=1))})
    with pacer.turn("chat.postMessage", channel="C1") as first:
        first.wait()
        first.landed()
    with pacer.turn("chat.postMessage", channel="C1") as same:
        assert same.ask() == pytest.approx(1.0)  # one a second in a channel
        with pacer.turn("chat.postMessage", channel="C2") as other:
            assert other.ask() == 0.0  # another channel goes at once
            other.landed()


def test_a_retry_keeps_the_priority_and_the_place_its_call_first_had():
    pacer, now = clocked({"chat.postMessage": MethodLimits(Limit(60, 1, largest_burst=1))})
    with pacer.turn("chat.postMessage", Priority.FIRST) as first_words:
        first_words.wait()
        now[0] = 0.1
        later = pacer.turn("chat.postMessage", Priority.FIRST)  # another reply's first words, asked after
        assert later.ask() > 0
        first_words.rate_limited(1.0)
    retry = first_words.again()
    now[0] = 0.5
    assert retry.ask() > 0 and retry.priority == Priority.FIRST  # Slack's Retry-After runs
    now[0] = 2.0
    assert later.ask() > 0  # the retry goes first: its call asked before this one
    assert retry.ask() == 0.0
    retry.landed()
    later.close()


def test_leaving_a_turn_withdraws_it_or_counts_it_as_failed():
    pacer, now = clocked({"chat.update": MethodLimits(Limit(60, 1, largest_burst=1))})
    with pacer.turn("chat.update") as holder:
        holder.wait()
        with pacer.turn("chat.update") as waiter:
            assert waiter.ask() > 0
        assert pacer.budget("chat.update").waiting == 0  # the waiter left the queue
    now[0] = 1.0  # the holder left without an outcome: its call no longer holds the slot
    with pacer.turn("chat.update") as later:
        assert later.ask() == 0.0


def test_an_unused_turn_gives_its_token_back():
    pacer, now = clocked({"chat.update": MethodLimits(Limit(60, 1))})
    with pacer.turn("chat.update") as turn:
        turn.wait()
        turn.unused()
    with pacer.turn("chat.update") as next_one:
        assert next_one.ask() == 0.0


def test_a_turn_moves_up_when_someone_starts_waiting_on_it():
    pacer, now = clocked({"chat.update": MethodLimits(Limit(60, 1, largest_burst=1))})
    with pacer.turn("chat.update") as holder:
        holder.wait()
        holder.landed()
    edit = pacer.turn("chat.update", ROUTINE)
    final = pacer.turn("chat.update", URGENT)
    edit.ask()
    final.ask()
    edit.upgrade(URGENT)  # the answer ended: this edit now carries the final text
    now[0] = 1.0
    assert final.ask() > 0 and edit.ask() == 0.0  # it kept its place, now among the urgent ones
    edit.close()
    final.close()


def test_methods_without_limits_only_honour_retry_after():
    pacer, now = clocked({})
    with pacer.turn("conversations.replies") as turn:
        turn.wait()
        turn.rate_limited(2.0)
    now[0] = 1.5
    assert pacer.estimate("conversations.replies") == pytest.approx(0.5)
    assert pacer.estimate("users.info") == 0.0  # Retry-After is per method


def test_probing_learns_that_slack_allows_a_larger_burst():
    budget = Budget(60, burst=2, reserve=0, largest_burst=10)
    for n in range(6):  # Slack takes every one of them
        assert go(budget, ("burst", n), URGENT, 0.0) == 0.0
    assert budget.burst >= 6  # one more for each probe that landed (and a little for every call that did)
    assert take(budget, "routine", ROUTINE, 0.0) > 0  # only urgent calls probe


def test_a_refused_probe_keeps_the_burst_and_stops_probing_for_a_while():
    budget = Budget(60, burst=2, reserve=0, largest_burst=10)
    go(budget, "a", URGENT, 0.0)
    go(budget, "b", URGENT, 0.0)
    assert take(budget, "probe", URGENT, 0.0) == 0.0
    budget.rate_limited("probe", 1.0, 0.0)  # Slack's burst is what the bucket held
    assert budget.learning.max_burst == budget.burst < 3 and budget.rate == pytest.approx(1.0)
    assert go(budget, "c", URGENT, 1.0) == 0.0  # the one call after the pause
    assert take(budget, "d", URGENT, 1.0) > 0  # no probing now
    budget.withdraw("d")
    assert budget.estimate(URGENT, 30.0) == 0.0  # tokens came back at the rate
    go(budget, "e", URGENT, 30.0)
    go(budget, "f", URGENT, 30.0)
    assert take(budget, "g", URGENT, 30.0) > 0
    budget.withdraw("g")
    assert budget.estimate(URGENT, 62.0) == 0.0


def test_a_probe_goes_beside_one_call_at_most_and_never_inside_a_retry_after():
    budget = Budget(60, burst=1, reserve=0, largest_burst=10)
    assert take(budget, "a", URGENT, 0.0) == 0.0  # in flight
    assert take(budget, "b", URGENT, 0.0) == 0.0  # beyond the bucket, beside it
    assert take(budget, "c", URGENT, 0.0) > 0  # two in flight beyond what Slack has shown: the next one waits
    budget.rate_limited("a", 5.0, 0.1)
    budget.rate_limited("b", 5.0, 0.1)
    assert take(budget, "c", URGENT, 0.2) == pytest.approx(4.9)


def test_a_429_to_a_channels_first_post_is_about_the_workspaces_ceiling():
    """Slack does not say which limit refused a call: a channel's first post from a full channel budget
    cannot have passed that channel's limit, so the workspace's budget learns from it."""
    pacer, now = clocked({"chat.postMessage": MethodLimits(Limit(600, 100), per_channel=Limit(60, 1, largest_burst=1))})
    for n in range(30):  # thirty channels, one post each, and Slack took them all
        with pacer.turn("chat.postMessage", channel=f"C{n}") as turn:
            assert turn.ask() == 0.0
            turn.landed()
    with pacer.turn("chat.postMessage", channel="C30") as turn:
        assert turn.ask() == 0.0
        turn.rate_limited(2.0)
    workspace = pacer.budget("chat.postMessage")
    assert workspace.burst == pytest.approx(30) and workspace.paused_until == pytest.approx(2.0)
    assert pacer.budget("chat.postMessage", "C31").burst == 1  # the channels learned nothing
    assert pacer.estimate("chat.postMessage", channel="C31") == pytest.approx(2.0)  # every call waits it out


def test_a_channel_refusing_a_call_that_spent_its_burst_teaches_every_channel_not_the_workspace():
    """A channel posting a second time at once (its own burst, not the workspace's ceiling): every channel,
    including ones not seen yet, learns the smaller burst; the workspace's budget learns nothing."""
    pacer, now = clocked({"chat.postMessage": MethodLimits(Limit(600, 100),
                                                           per_channel=Limit(60, 4, largest_burst=4))})

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pacer.turn("chat.postMessage", channel="C1") as turn:
        turn.wait(sleep)
        turn.landed()
    with pacer.turn("chat.postMessage", channel="C1") as turn:
        turn.wait(sleep)
        turn.rate_limited(1.0)
    assert pacer.budget("chat.postMessage", "C1").burst == 1  # what Slack took in that channel
    assert pacer.budget("chat.postMessage", "C2").burst == 1  # a channel first seen later starts from it
    workspace = pacer.budget("chat.postMessage")
    assert workspace.burst == 100 and workspace.learning.max_burst == 3000 and workspace.learning.ceiling == 10


def test_routine_calls_leave_room_for_the_calls_spoken_for():
    budget = Fixed(60, burst=10, reserve=2)
    budget.spoken_for = 5  # five open messages will each need a final edit
    assert drain(budget, 0.0, ROUTINE) == 5  # ten tokens, five kept for them (more than the usual two)
    assert budget.room(0.0) == pytest.approx(0)  # nothing to spare beyond them
    assert drain(budget, 0.0, URGENT) == 5  # the final edits themselves may use every token


def test_room_counts_the_tokens_that_will_come_within_a_horizon():
    budget = Fixed(20, burst=2, reserve=0)  # one token every 3 s
    budget.spoken_for = 2
    assert budget.room(0.0) == pytest.approx(0)
    assert budget.room(0.0, within=9.0) == pytest.approx(3)


def test_a_reply_s_first_words_go_before_other_urgent_calls():
    FIRST = Priority.FIRST
    budget = Fixed(60, burst=1, reserve=0)
    go(budget, "spend", URGENT, 0.0)
    assert take(budget, "final edit", URGENT, 0.0) > 0  # waiting since 0.0
    assert take(budget, "first words", FIRST, 0.5) > 0  # came later, but someone sees nothing yet
    assert take(budget, "final edit", URGENT, 1.0) > 0
    assert take(budget, "first words", FIRST, 1.0) == 0.0


def test_first_words_under_a_sign_of_life_go_after_words_with_none_and_before_later_messages():
    budget = Fixed(60, burst=1, reserve=0)
    go(budget, "spend", URGENT, 0.0)
    assert take(budget, "a later message", URGENT, 0.0) > 0
    assert take(budget, "words under a status", Priority.WORDS, 0.2) > 0
    assert take(budget, "words with nothing shown", Priority.FIRST, 0.4) > 0
    order = []
    for now in (1.0, 2.0, 3.0):
        for key, priority in (("a later message", URGENT), ("words under a status", Priority.WORDS),
                              ("words with nothing shown", Priority.FIRST)):
            if key not in order and go(budget, key, priority, now) == 0.0:
                order.append(key)
    assert order == ["words with nothing shown", "words under a status", "a later message"]


def test_a_stand_in_for_words_goes_to_the_newest_waiter_first():
    """A status stands in for first words, which go oldest first: the newest question waits longest for its
    words, so its status goes first."""
    budget = Fixed(60, burst=1, reserve=0)
    go(budget, "spend", URGENT, 0.0)
    for n, at in enumerate((0.1, 0.2, 0.3)):
        assert budget.request(("status", n), Priority.FIRST, at, newest_first=True) > 0
    assert budget.request(("status", 0), Priority.FIRST, 1.0, newest_first=True) > 0
    assert budget.request(("status", 2), Priority.FIRST, 1.0, newest_first=True) == 0.0


def test_a_guessed_rate_is_probed_past_the_burst_until_slack_refuses():
    budget = Budget(60, burst=2, reserve=0, largest_burst=2, published=False)  # the burst is known: 2
    go(budget, "a", URGENT, 0.0)
    go(budget, "b", URGENT, 0.0)
    for n in range(4):  # the bucket is empty, but the rate is a guess: Slack may take more
        assert go(budget, ("rate probe", n), URGENT, 0.1 * (n + 1)) == 0.0
    assert take(budget, "routine", ROUTINE, 0.45) > 0  # only calls someone waits on probe
    budget.withdraw("routine")
    assert take(budget, "refused", URGENT, 0.5) == 0.0
    budget.rate_limited("refused", 1.0, 0.5)  # Slack said no: nothing to compare it with, the rate halves
    assert budget.rate == pytest.approx(0.5) and budget.burst == 2  # a rate probe says nothing of the burst
    assert go(budget, "after", URGENT, 1.5) == 0.0  # the call Slack said it would take
    assert take(budget, "next", URGENT, 1.6) > 0  # and no more probing for a while


def test_a_published_rate_is_not_probed_once_the_burst_is_known():
    budget = Budget(60, burst=2, reserve=0, largest_burst=2)
    go(budget, "a", URGENT, 0.0)
    go(budget, "b", URGENT, 0.0)
    assert take(budget, "c", URGENT, 0.1) > 0


def test_a_429_leaves_the_one_call_slack_said_it_would_take_and_the_bucket_refills_during_the_pause():
    budget = Fixed(60, burst=10, reserve=0)
    refused(budget, 0.0, retry_after=4.0)  # Slack's bucket is empty now, and refills at its pace meanwhile
    assert take(budget, "too soon", URGENT, 3.9) > 0
    budget.withdraw("too soon")
    assert budget.estimate(URGENT, 4.0) == 0.0
    assert drain(budget, 4.0) == 4  # four seconds of refill at one a second (within the burst, halved to 5)


def test_after_a_429_at_a_guessed_pace_one_call_at_a_time_until_the_pace_is_learned():
    budget = Fixed(600, burst=10, reserve=0, published=False)  # ten a second guessed
    for key in range(10):
        assert go(budget, ("first", key), URGENT, 0.0) == 0.0  # Slack took ten from a full bucket
    take(budget, "more", URGENT, 0.5)  # five tokens came back, at the pace guessed
    budget.rate_limited("more", 1.0, 0.51)  # but Slack's pace is slower
    for key in range(3):
        take(budget, key, URGENT, 1.6)  # full again at the guessed pace, which Slack has just refused
    assert [key for key in range(3) if key in budget._flight] == [0]  # so each 429 that teaches it comes alone
    published = Fixed(600, burst=10, reserve=0)  # the same with a pace Slack documents: full again is full
    assert drain(published, 0.0) == 10
    take(published, "more", URGENT, 0.5)
    published.rate_limited("more", 1.0, 0.51)
    for key in range(5):
        take(published, key, URGENT, 1.6)
    assert [key for key in range(5) if key in published._flight] == list(range(5))


def test_a_bucket_full_again_at_a_guessed_pace_slack_refused_teaches_that_pace_at_the_next_429_not_a_burst():
    budget = Fixed(600, burst=10, reserve=0, published=False)
    for key in range(10):
        go(budget, ("first", key), URGENT, 0.0)
    take(budget, "over", URGENT, 0.0)
    budget.rate_limited("over", 1.0, 0.0)  # the burst: Slack took ten
    now = 1.0
    for key in range(4):  # full again at the guessed ten a second; Slack's pace is four
        now += 0.01
        go(budget, key, URGENT, now)
    take(budget, "refused", URGENT, now)
    budget.rate_limited("refused", 1.0, now)
    assert budget.burst == pytest.approx(10)  # not a smaller burst ...
    assert budget.ceiling == pytest.approx(0.9 * 5 / now)  # ... but Slack's pace, at most five in that time


def test_the_calls_in_flight_count_what_slack_took_since_full_with_no_refill_a_guessed_pace_may_overstate():
    budget = Fixed(600, burst=100, reserve=0, published=False)  # ten a second guessed
    for step in range(100):
        go(budget, ("first", step), URGENT, 0.0)  # Slack took a burst of 100 from full
    for key in range(4):  # five seconds on: fifty back at the guessed pace, perhaps ten at Slack's
        take(budget, key, URGENT, 5.0)
    assert [key for key in range(4) if key in budget._flight] == [0, 1]  # beyond what it has shown: two at a time
