"""The profiles as the file says now: re-read when it changes, without a restart.

The file is looked at (its size, time and inode: one `stat`) at most every `CHECK_EVERY` seconds, when a
conversation needs its profile; a change is read and checked whole. A file that no longer reads, or has a
problem, changes nothing: the bot keeps the profiles it read before and says why in the log, so an edit in
progress never leaves it without profiles.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bot.profiles.parse import parse
from bot.profiles.profile import Profile, ProfileTable

log = logging.getLogger(__name__)

CHECK_EVERY = 2.0  # seconds between two looks at the file


@dataclass(frozen=True)
class ProfileSettings:
    """Where the profiles come from (PROFILES_FILE), what it said at start, and which version of it that was."""

    path: str | None = None
    table: ProfileTable = field(default_factory=ProfileTable)
    stamp: tuple[int, int, int] | None = None


def load(path: str, where: str) -> tuple[ProfileSettings, list[str]]:
    """The profiles of the file at `path` as it is now, and its problems (each starting with `where`); a file
    that cannot be read, or is not UTF-8, is a problem like any other."""
    stamp = _stamp(path)  # before reading: a change made while it is read is seen at the next look
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as error:
        return ProfileSettings(path, stamp=stamp), [f"{where}: {path} cannot be read ({error.strerror or error})."]
    except UnicodeDecodeError as error:
        return ProfileSettings(path, stamp=stamp), [f"{where}: {path} is not UTF-8 text (byte {error.start}); save it "
                                                    "as UTF-8."]
    table, problems = parse(text, f"{where} ({path})")
    return ProfileSettings(path, table, stamp), problems


class Profiles:
    def __init__(self, base: Profile, settings: ProfileSettings = ProfileSettings(), *,
                 clock: Callable[[], float] = time.monotonic, check_every: float = CHECK_EVERY) -> None:
        """`base`: the profile the environment's settings make, which fills in what a profile leaves out."""
        self.base = base
        self._path = settings.path
        self._table = settings.table
        self._clock = clock
        self._check_every = check_every
        self._stamp = settings.stamp
        self._next_check = clock() + check_every
        self._lock = threading.Lock()

    def for_conversation(self, channel: str, *, is_dm: bool) -> Profile | None:
        """The profile of a conversation, filled in; None: the bot does not answer there."""
        profile = self.table().for_conversation(channel, is_dm=is_dm)
        return None if profile is None else profile.over(self.base)

    def table(self) -> ProfileTable:
        if self._path is not None and self._clock() >= self._next_check:
            with self._lock:
                if self._clock() >= self._next_check:
                    self._next_check = self._clock() + self._check_every
                    self._reload()
        return self._table

    def _reload(self) -> None:
        if self._path is None or _stamp(self._path) == self._stamp:
            return
        loaded, problems = load(self._path, "PROFILES_FILE")
        self._stamp = loaded.stamp
        if problems:
            log.error("the changed PROFILES_FILE has problems, so the profiles read before still apply: %s",
                      " ".join(problems))
            return
        table = self._table = loaded.table
        log.info("profiles read again from %s: %s", self._path,
                 ", ".join(profile.name for profile in table.profiles) or "none")


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    """What changes when the file does (a ConfigMap's swapped link included); None if it is not there."""
    if path is None:
        return None
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino
