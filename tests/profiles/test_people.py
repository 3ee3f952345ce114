"""Who a profile's user groups let ask, read through the real Slack client from the Slack stand-in
(`usergroups.users.list`): one read per group however many ask at once, members kept and used while they are
read again, and a group that cannot be read letting no one in (said once in the log)."""

from __future__ import annotations

import threading

from bot.profiles.people import FRESH_SECONDS, People
from bot.profiles.profile import Profile
from bot.slack.calls import SlackCalls
from bot.slack.http import PooledWebClient

ONCALL = Profile("oncall", people=frozenset({"U0LEAD", "S0ONCALL"}))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def people(slack, clock) -> People:
    return People(SlackCalls(PooledWebClient(token="xoxb-test", base_url=slack.api_url, retry_handlers=[])),
                  clock=clock)


def reads(slack) -> int:
    return len(slack.calls_of("usergroups.users.list"))


def test_many_questions_at_once_read_a_group_once_and_a_stale_group_serves_while_it_is_read_again(slack):
    slack.user_groups["S0ONCALL"] = ["U0BOB"]
    slack.delays["usergroups.users.list"] = 0.3
    clock = Clock()
    group = people(slack, clock)
    answers = []
    askers = [threading.Thread(target=lambda: answers.append(group.admits(ONCALL, "U0BOB"))) for _ in range(8)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()
    assert answers == [True] * 8 and reads(slack) == 1
    assert group.admits(ONCALL, "U0LEAD") and not group.admits(ONCALL, "U0EVE")  # named, and not in the group

    slack.user_groups["S0ONCALL"] = ["U0EVE"]  # the group changed; its members are stale
    clock.now = FRESH_SECONDS + 1
    assert group.admits(ONCALL, "U0BOB")  # served at once from what was read before, while it is read again
    slack.wait_until(lambda: reads(slack) == 2, what="the group to be read again")
    slack.wait_until(lambda: group.admits(ONCALL, "U0EVE"), what="the new members")
    assert not group.admits(ONCALL, "U0BOB")


def test_a_group_that_cannot_be_read_admits_no_one_and_is_said_once(slack, caplog):
    slack.scopes.discard("usergroups:read")
    clock = Clock()
    group = people(slack, clock)
    assert not group.admits(ONCALL, "U0BOB")
    clock.now = 31.0  # asked again after a while: still not readable
    group.admits(ONCALL, "U0BOB")
    slack.wait_until(lambda: reads(slack) == 2, what="the second read")
    assert caplog.text.count("cannot read who is in user group S0ONCALL (missing_scope)") == 1
    assert group.admits(ONCALL, "U0LEAD")  # named himself: no group needed
