"""Who may ask where a profile names people: the people themselves, and the members of the user groups it names
(`usergroups.users.list`). A group's members are kept for a few minutes; past that they are still used while
one read (one at a time per group, whatever the replies asking) fetches them again, so a question never waits
on Slack for a group it has seen. A group that cannot be read admits no one through it (the log says what to fix,
once until it reads again): a profile that limits who may ask never opens by accident."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from dataclasses import dataclass
from typing import Callable

from bot.profiles.profile import Profile
from bot.slack import methods
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError

log = logging.getLogger(__name__)

FRESH_SECONDS = 300.0  # a group's members are read again after this long
RETRY_SECONDS = 30.0  # a group that could not be read is asked again after this long
READ_SECONDS = 5.0  # one read of a group, its retries included


@dataclass(frozen=True)
class _Read:
    members: frozenset[str]
    fresh_until: float


class People:
    def __init__(self, calls: SlackCalls, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._calls = calls
        self._clock = clock
        self._groups: dict[str, _Read] = {}
        self._reading: dict[str, Future[frozenset[str]]] = {}
        self._failing: set[str] = set()
        self._lock = threading.Lock()
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="group-read")

    def admits(self, profile: Profile, user: str) -> bool:
        """Whether `user` may ask in a conversation of `profile`."""
        if profile.people is None or user in profile.people:
            return True
        return any(user in self._members_of(group) for group in sorted(profile.groups))

    def _members_of(self, group: str) -> frozenset[str]:
        with self._lock:
            known = self._groups.get(group)
            if known is not None and self._clock() < known.fresh_until:
                return known.members
            reading = self._reading.get(group)
            if reading is None:
                reading = self._reading[group] = self._readers.submit(self._read, group)
        if known is not None:  # stale: used while it is read again
            return known.members
        try:
            return reading.result(timeout=READ_SECONDS + 1)
        except Late:
            return frozenset()

    def _read(self, group: str) -> frozenset[str]:
        try:
            response = self._calls.call(methods.GROUP_MEMBERS, deadline=self._calls.clock() + READ_SECONDS,
                                        usergroup=group)
        except SlackError as error:
            with self._lock:
                if group not in self._failing:
                    log.error("cannot read who is in user group %s (%s), so no one may ask through it: the app "
                              "needs the usergroups:read scope (see manifest.yml), and the group must exist", group,
                              error.code)
                self._failing.add(group)
                self._groups[group] = _Read(frozenset(), self._clock() + RETRY_SECONDS)
                del self._reading[group]
            return frozenset()
        members = frozenset(user for user in response.get("users") or () if isinstance(user, str))
        with self._lock:
            self._failing.discard(group)
            self._groups[group] = _Read(members, self._clock() + FRESH_SECONDS)
            del self._reading[group]
        return members
