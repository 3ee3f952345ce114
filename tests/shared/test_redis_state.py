"""The state instances share (`bot.shared.RedisState`) against a real Redis: what two instances agree on,
and what one does when Redis stops answering. Each `RedisState` here stands for one instance."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from bot.shared.base import Bucket
from bot.shared.local import LocalState
from bot.shared.redis_state import RedisState
from bot.slack.methods import Limit, MethodLimits
from bot.slack.pacing import Pacer, Priority


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def instances(redis_server):
    made = []

    def make(count: int = 2, **options) -> list[RedisState]:
        made.extend(RedisState(redis_server.url, timeout=0.2, **options) for _ in range(count))
        return made[-count:]

    yield make
    for state in made:
        state.close()


def test_an_event_is_claimed_by_one_instance_only(instances):
    first, second = instances()
    assert first.claim(["event:Ev1", "message:C1:1.0"]) is True
    assert second.claim(["event:Ev1", "message:C1:1.0"]) is False  # a redelivery that reached the other one
    assert second.claim(["event:Ev2", "message:C1:1.0"]) is False  # the same message in another event
    assert second.claim(["event:Ev3", "message:C1:2.0"]) is True


def test_concurrent_claims_of_one_event_make_one_winner(instances):
    states = instances(4)
    wins = []
    barrier = threading.Barrier(len(states))

    def claim(state):
        barrier.wait()
        wins.append(state.claim(["event:EvRace", "message:C1:9.0"]))

    threads = [threading.Thread(target=claim, args=(state,)) for state in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False, False, False, True]


def test_two_instances_never_spend_more_than_the_burst_between_them(instances):
    states = instances(2)
    bucket = Bucket("chat.update", per_second=0.01, burst=5)  # hardly refills within the test
    granted = []

    def spend(state):
        for _ in range(10):
            if state.take([bucket]).wait == 0.0:
                granted.append(state)

    threads = [threading.Thread(target=spend, args=(state,)) for state in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 5
    assert states[0].take([bucket]).wait == pytest.approx(100.0, rel=0.05)  # the next token, at 0.01 a second


def test_a_call_takes_from_every_budget_or_from_none(instances):
    [state] = instances(1)
    channel, workspace = Bucket("chat.postMessage@C1", 1.0, 1), Bucket("chat.postMessage", 0.01, 1)
    assert state.take([Bucket("chat.postMessage", 0.01, 1)]).wait == 0.0  # the workspace's only token
    assert state.take([channel, workspace]).wait > 0  # the channel's token is there, the workspace's is not
    assert state.take([channel]).wait == 0.0  # ... so the channel's was not spent


def test_a_routine_call_leaves_the_reserve_to_urgent_ones(instances):
    [state] = instances(1)
    assert state.take([Bucket("chat.update", 0.01, 3, needs=3)]).wait == 0.0  # 3 there: one goes
    assert state.take([Bucket("chat.update", 0.01, 3, needs=3)]).wait > 0  # 2 left: a routine call needing 3 waits
    assert state.take([Bucket("chat.update", 0.01, 3, needs=1)]).wait == 0.0  # an urgent one goes


def test_a_pause_one_instance_hears_holds_every_instance(instances):
    first, second = instances()
    first.pause([Bucket("chat.update", 10.0, 10)], 3.0)
    wait = second.take([Bucket("chat.update", 10.0, 10)]).wait
    assert 2.5 < wait <= 3.0
    assert second.take([Bucket("chat.postMessage", 10.0, 10)]).wait == 0.0  # other methods go on


def test_one_instance_probes_a_budget_at_a_time_and_none_after_a_429(instances):
    first, second = instances()
    empty = Bucket("chat.update", 0.001, 1, places=2)
    assert first.take([empty], call="a").wait == 0.0  # the last token
    first.answered(["chat.update"], call="a")
    assert first.take([empty], probe=True, call="b").wait == 0.0  # beyond the bucket, to learn a larger burst
    assert second.take([empty], probe=True, call="d").wait > 0  # one instance probes at a time (a place is free)
    assert first.take([empty], probe=True, call="c").wait == 0.0  # its own next probe goes beside its first
    first.answered(["chat.update"], call="b")
    first.answered(["chat.update"], call="c")
    assert second.take([empty], probe=True, call="d").wait == 0.0  # the first one's probes are answered
    start = Bucket("chat.startStream", 0.001, 1)
    assert first.take([start]).wait == 0.0
    first.pause([start], 0.01)  # Slack said 429
    time.sleep(0.05)
    assert second.take([start], probe=True).wait > 0  # so nobody probes that budget for a while


def test_no_more_calls_of_a_budget_are_in_flight_across_instances_than_its_places(instances):
    first, second = instances()
    two = Bucket("chat.update", 10.0, 10, places=2)
    assert first.take([two], call="a").wait == 0.0
    assert first.take([two], call="b").wait == 0.0  # two places: the same instance's second call goes beside it
    assert second.take([two], call="c").wait > 0  # both places are taken by calls with no answer yet
    assert second.take([Bucket("chat.postMessage", 10.0, 10)], call="c").wait == 0.0  # another budget is free
    first.answered(["chat.update"], call="a")
    assert second.take([two], call="c").wait == 0.0
    assert first.take([two], call="d").wait > 0  # b and c are in flight
    second.pause([two], 0.0, call="c")  # refused: its place is free too (the pause holds the others)
    assert first.take([two], call="d").wait == 0.0
    alone = Bucket("chat.update", 10.0, 10, places=1)  # a probe goes alone
    assert second.take([alone], call="e").wait > 0  # b and d are in flight


def test_a_persons_leases_are_counted_across_instances(instances):
    first, second = instances()
    one = first.lease("U1", 2)
    two = second.lease("U1", 2)
    assert one is not None and two is not None
    assert first.lease("U1", 2) is None and second.lease("U1", 2) is None
    assert second.lease("U2", 2) is not None  # another person
    one.release()
    assert second.lease("U1", 2) is not None


def test_leases_are_renewed_while_held_and_expire_when_their_instance_is_gone(instances, redis_server):
    living, dying = instances(2, lease_seconds=1.0)
    kept = living.lease("U1", 2)
    lost = dying.lease("U1", 2)
    assert kept is not None and lost is not None
    dying.close()  # it stops renewing, as a killed instance does
    time.sleep(2.0)  # twice the lease: only a renewed one is still held
    assert living.lease("U1", 2) is not None  # the dead instance's lease expired; the living one's did not
    assert living.lease("U1", 2) is None


def test_without_redis_an_instance_answers_from_its_own_state_and_warns_once_a_minute(redis_server, caplog):
    clock = Clock()
    state = RedisState(redis_server.url, timeout=0.2, clock=clock)
    assert state.claim(["event:Ev1"]) is True and state.status == "redis"
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="bot.shared.redis_state"):
        assert state.claim(["event:Ev2"]) is True  # from its own memory
        assert state.claim(["event:Ev2"]) is False
        assert state.claim(["event:Ev1"]) is False  # it remembers what it saw while Redis answered
        assert state.take([Bucket("chat.update", 0.01, 1)]).wait == 0.0  # its own budgets alone decide
        assert state.lease("U1", 1) is not None and state.lease("U1", 1) is None  # counted here
        assert state.status.startswith("local: Redis at 127.0.0.1:")
        clock.now += 1.5  # tried again a second later: still down, and no second warning
        state.claim(["event:Ev3"])
        assert len([r for r in caplog.records if "does not answer" in r.message]) == 1
        clock.now += 60
        state.claim(["event:Ev4"])
        assert len([r for r in caplog.records if "does not answer" in r.message]) == 2
    state.close()


def test_a_hung_redis_holds_a_call_no_longer_than_the_timeout_and_sharing_resumes_after(redis_server):
    clock = Clock()
    state = RedisState(redis_server.url, timeout=0.2, clock=clock)
    other = RedisState(redis_server.url, timeout=0.2)
    redis_server.freeze()  # accepts connections, answers nothing
    started = time.monotonic()
    assert state.take([Bucket("chat.update", 1.0, 1)]).wait == 0.0
    assert time.monotonic() - started < 2.0  # the timeout (0.2 s), not a hang
    started = time.monotonic()
    state.take([Bucket("chat.update", 1.0, 1)])  # within the second: not even asked
    assert time.monotonic() - started < 0.05
    redis_server.thaw()
    clock.now += 1.5
    assert state.claim(["event:EvBack"]) is True and state.status == "redis"
    assert other.claim(["event:EvBack"]) is False  # shared again
    state.close()
    other.close()


def test_two_pacers_sharing_redis_grant_no_more_than_one_budget_between_them(instances):
    limits = {"chat.update": MethodLimits(Limit(6, 2, largest_burst=2))}  # a known burst of 2: no probing
    pacers = [Pacer(limits, shared=state) for state in instances(2)]
    granted = []
    for pacer in pacers * 3:
        with pacer.turn("chat.update", Priority.URGENT) as turn:
            if turn.ask() == 0.0:
                granted.append(pacer)
                turn.landed()
    assert len(granted) == 2  # each pacer alone would have let 2 go
    late = pacers[1]  # and it sees what the other spent: no room, a wait, where its own budget was full
    assert late.room("chat.update") < 1 and late.estimate("chat.update") > 0


def test_a_pacer_of_its_own_is_not_held_back_by_another(instances):
    limits = {"chat.update": MethodLimits(Limit(6, 2, largest_burst=2))}
    pacers = [Pacer(limits, shared=LocalState()) for _ in range(2)]
    granted = 0
    for pacer in pacers * 3:
        with pacer.turn("chat.update", Priority.URGENT) as turn:
            if turn.ask() == 0.0:
                granted += 1
                turn.landed()
    assert granted == 4  # one instance alone: its own budget is the whole story


def test_what_a_429_taught_one_instance_every_instance_takes(instances):
    limits = {"chat.update": MethodLimits(Limit(60, 8, largest_burst=8))}
    taught, other = (Pacer(limits, shared=state) for state in instances(2))
    with taught.turn("chat.update") as turn:
        assert turn.ask() == 0.0
        turn.rate_limited(0.5)  # spending burst: Slack's burst is smaller than 8
    assert taught.budget("chat.update").burst == 4
    with other.turn("chat.update") as turn:
        assert turn.ask() > 0  # paused with the other instance
    assert other.budget("chat.update").burst == 4  # and no longer spends the burst Slack refused


def test_a_pace_measured_between_two_429s_counts_every_instances_calls(instances):
    limits = {"chat.update": MethodLimits(Limit(600, 2, largest_burst=2))}
    taught, other = (Pacer(limits, shared=state) for state in instances(2))

    def call(pacer: Pacer, refused: bool = False) -> None:
        with pacer.turn("chat.update") as turn:
            while (wait := turn.ask()) > 0:
                time.sleep(wait)
            turn.rate_limited(0.05) if refused else turn.landed()

    call(taught, refused=True)
    started = time.monotonic()
    for _ in range(6):
        call(other)  # Slack took six calls between the two 429s, all of them from the other instance
    call(taught, refused=True)
    since = time.monotonic() - started
    # at least 0.9 × 7 / (a little more than `since`): counting only its own calls would give 0.9 × 1 / since
    assert taught.budget("chat.update").ceiling > 0.9 * 5 / since


def wait_for(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_instances_plan_with_their_share_of_a_budget_and_count_what_the_others_spoke_for(instances):
    first, second = (Pacer(shared=state) for state in instances(2))  # chat.update: a burst of 8 to start
    wait_for(lambda: first.budget("chat.update").others == 1 and second.budget("chat.update").others == 1)
    assert first.room("chat.update") == pytest.approx(4.0, abs=0.1)  # half each: a burst of questions spread
    assert second.room("chat.update") == pytest.approx(4.0, abs=0.1)  # over both is not planned for twice
    first.speak_for("chat.update", 3)  # three final edits it will certainly make
    wait_for(lambda: second.room("chat.update") < 3)
    assert second.room("chat.update") == pytest.approx(2.5, abs=0.1)  # (8 - 3) / 2


def test_an_instance_alone_plans_with_the_whole_budget(instances):
    [state] = instances(1)
    alone = Pacer(shared=state)
    time.sleep(0.6)  # a few exchanges: nobody else follows the budget
    assert alone.budget("chat.update").others == 0 and alone.room("chat.update") == pytest.approx(8.0, abs=0.1)


def test_a_value_one_instance_keeps_is_read_by_another_until_it_expires(instances):
    first, second = instances()
    first.put("approval:abc", "approved", 0.5)
    assert second.get("approval:abc") == "approved"  # the click reached one instance; the reply waits on the other
    assert second.get("approval:other") is None
    time.sleep(0.6)
    assert second.get("approval:abc") is None
