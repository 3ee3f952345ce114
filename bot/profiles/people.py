"""Who may ask where a profile names people: the people themselves, and the members of the user groups it names
(`usergroups.users.list`, kept for a few minutes). A group that cannot be read admits no one through it (the
log says what to fix): a profile that limits who may ask never opens by accident."""

from __future__ import annotations

import logging
import threading

from cachetools import TTLCache

from bot.profiles.profile import Profile
from bot.slack import methods
from bot.slack.calls import SlackCalls
from bot.slack.kinds import SlackError

log = logging.getLogger(__name__)

FRESH_SECONDS = 300.0  # a group's members are read again after this long
RETRY_SECONDS = 30.0  # a group that could not be read is asked again after this long
READ_SECONDS = 5.0  # one read of a group, its retries included


class People:
    def __init__(self, calls: SlackCalls) -> None:
        self._calls = calls
        self._members: TTLCache[str, frozenset[str]] = TTLCache(maxsize=1_000, ttl=FRESH_SECONDS)
        self._unread: TTLCache[str, bool] = TTLCache(maxsize=1_000, ttl=RETRY_SECONDS)
        self._lock = threading.Lock()

    def admits(self, profile: Profile, user: str) -> bool:
        """Whether `user` may ask in a conversation of `profile`."""
        if profile.people is None or user in profile.people:
            return True
        return any(user in self._members_of(group) for group in sorted(profile.groups))

    def _members_of(self, group: str) -> frozenset[str]:
        with self._lock:
            if group in self._members:
                return self._members[group]
            if group in self._unread:
                return frozenset()
        try:
            response = self._calls.call(methods.GROUP_MEMBERS, deadline=self._calls.clock() + READ_SECONDS,
                                        usergroup=group)
        except SlackError as error:
            log.error("cannot read who is in user group %s (%s), so no one may ask through it: the app needs the "
                      "usergroups:read scope (see manifest.yml), and the group must exist", group, error.code)
            with self._lock:
                self._unread[group] = True
            return frozenset()
        members = frozenset(user for user in response.get("users") or () if isinstance(user, str))
        with self._lock:
            self._members[group] = members
        return members
