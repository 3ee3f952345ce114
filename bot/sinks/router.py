"""Which surface carries each reply: ranks the records of `surfaces` by what Slack allows now.

The choices take plain values from the pacer (how long a call would wait, the room a budget has beyond what
is spoken for) and what Slack refused before:

- Sign of life: the first usable record (the status needs a thread and a setting that allows it) that waits
  for its turn holding nothing back (the status, on a budget of its own: the first words, if they come
  first, make it unneeded), or that can go now with room for what it holds (a placeholder speaks for the
  edit that will replace it, as an open stream speaks for its stop); else none until the first words, which
  usually come within a second, rather than a placeholder the reply could not afford to edit.
- The answer: of the preference's usable surfaces whose held calls have room (each budget in `room_for` has
  room for one more within the record's `room_within` beyond the calls spoken for: every open stream speaks
  for its stop, so every stream is stopped well before Slack ends it), the one whose opening call would go
  soonest, waits under `SOON` counting as none (the preference's order breaks ties: a stream before posts);
  else the last resort at the end of the fallbacks (posts and edits). With both congested, replies spread
  over both budgets, and each reply's first words take the shorter queue. A preference that waits
  (SLACK_REPLY_SURFACE=stream) takes its first usable surface and waits for its turn. A sign of life that
  must be carried on by one surface (a placeholder, which is edited into the answer) decides it.
- Who goes first: a reply whose sign of life is up lets the replies that show nothing yet open their answers
  before it, for a moment (`YIELD_SECONDS`): when a hundred questions come at once and only some can have a
  status, the statuses go to the first to ask, whose words also come first; without this they would take the
  first messages and streams too, and the rest would show nothing until Slack's budgets refill.
- A refusal that will repeat is learned once, as far as it reaches (see `kinds.SlackError.applies_to`): a
  refusal of the app (a scope, a feature, a method Slack does not offer it) for the whole process, for an
  hour; a refusal of one conversation (`channel_type_not_supported`, …) for that conversation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Callable, Container, Hashable, Mapping, Sequence

from bot.sinks.base import SOON, Place
from bot.sinks.surfaces import PREFERENCES, SURFACES, Preference, SignOfLife, Surface
from bot.slack.kinds import APP, CONVERSATION, SlackError
from bot.slack.pacing import Pacer, Priority

log = logging.getLogger(__name__)

RELEARN_AFTER = 3600.0  # seconds before a refusal of the whole app is tried again (an admin may have fixed it)
SIGN_HORIZON = 10.0  # seconds within which the call a sign of life holds (a placeholder's edit) should find a token
YIELD_SECONDS = 1.0  # the longest a reply whose sign of life is up lets replies that show nothing open first
_REMEMBERED_CONVERSATIONS = 10_000


def choose_sign_of_life(signs: Sequence[SignOfLife], *, ready: Container[str]) -> SignOfLife | None:
    """Of the usable `signs` (best first), the first that waits for its turn without holding anything back, or
    that is `ready` (by name: it can go now, and what it holds has room); None: nothing now, the first words
    will be the first sign."""
    return next((sign for sign in signs if sign.queues or sign.name in ready), None)


def choose_surface(preference: Preference, *, usable: Container[str], waits: Mapping[str, float]) -> Surface:
    """Of the preference's surfaces Slack allows here (`usable`, by name), the first if the preference waits
    for it; else, of those with room for what they hold (`waits`: by name, how long each one's opening call
    would wait), the one that opens soonest (waits under `SOON` count as none; ties go in the preference's
    order); else (or when none is usable) the last resort."""
    allowed = [surface for surface in preference.surfaces if surface.name in usable]
    if allowed and preference.waits:
        return allowed[0]
    open_now = [surface for surface in allowed if surface.name in waits]
    if open_now:
        return min(open_now, key=lambda surface: max(waits[surface.name], SOON))  # min keeps the first of equals
    return last_resort(preference.surfaces[-1])


def last_resort(surface: Surface) -> Surface:
    """The end of `surface`'s fallbacks."""
    while surface.falls_back_to is not None:
        surface = SURFACES[surface.falls_back_to]
    return surface


class _Refusals:
    """What Slack refused: for the whole app (until `RELEARN_AFTER`), or for one conversation."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._app_until = -1.0
        self._conversations: OrderedDict[str, str] = OrderedDict()

    def allows(self, channel: str) -> bool:
        return self._clock() >= self._app_until and channel not in self._conversations

    def learn(self, error: SlackError, channel: str) -> bool:
        """Remember `error`; True the first time (the caller logs it then)."""
        if error.applies_to == APP:
            first = self._clock() >= self._app_until
            self._app_until = self._clock() + RELEARN_AFTER
            return first
        if error.applies_to == CONVERSATION:
            first = channel not in self._conversations
            self._conversations[channel] = error.code
            while len(self._conversations) > _REMEMBERED_CONVERSATIONS:
                self._conversations.popitem(last=False)
            return first
        return False  # a passing failure: try again next time


class Router:
    def __init__(self, pacer: Pacer, *, preference: Preference = PREFERENCES["auto"],
                 signs_of_life: Sequence[SignOfLife] = (), clock: Callable[[], float] = time.monotonic) -> None:
        """`signs_of_life`: the records a reply may show at once, in order of preference."""
        self._pacer = pacer
        self.preference = preference
        self._signs = tuple(signs_of_life)
        self._clock = clock
        self._lock = threading.Lock()
        self._refusals: dict[str, _Refusals] = {}
        # Held while a reply decides and speaks for what its choice holds, so that no other reply decides on
        # room that one is about to take (a hundred questions at once would all see the same last edit free).
        self.deciding = threading.RLock()
        self._unseen: dict[Hashable, float] = {}  # replies that show nothing yet → since when

    def unseen(self, reply: Hashable) -> None:
        """`reply` has begun and shows nothing yet (neither a sign of life nor its answer)."""
        with self._lock:
            self._unseen[reply] = self._clock()

    def seen(self, reply: Hashable) -> None:
        """`reply` shows something now (or has ended)."""
        with self._lock:
            self._unseen.pop(reply, None)

    def others_unseen(self, reply: Hashable) -> bool:
        """Some reply other than `reply` has shown nothing yet, for less than `SIGN_HORIZON` (one that waits
        longer, or whose end went unreported, no longer holds anyone back)."""
        with self._lock:
            now = self._clock()
            self._unseen = {key: since for key, since in self._unseen.items() if now - since < SIGN_HORIZON}
            return any(key != reply for key in self._unseen)

    def sign_of_life(self, place: Place, instead_of: SignOfLife | None = None) -> SignOfLife | None:
        """The sign of life to show (None: none now). `instead_of`: one Slack would not take; the next after it."""
        signs = self._signs[self._signs.index(instead_of) + 1:] if instead_of in self._signs else self._signs
        usable = [sign for sign in signs if self._usable(sign.name, sign.needs_thread, place)]
        ready = {sign.name for sign in usable if not sign.queues
                 and self._pacer.estimate(sign.method, Priority.FIRST, place.channel) <= SOON
                 and self._room(tuple(sign.holds), SIGN_HORIZON)}
        return choose_sign_of_life(usable, ready=ready)

    def answer_surface(self, place: Place, began_with: SignOfLife | None = None,
                       instead_of: Surface | None = None) -> Surface:
        """The surface for a reply whose first words are ready (`began_with`: the sign of life it showed;
        `instead_of`: a surface whose queue was too long for them, ranked last)."""
        if began_with is not None and began_with.answered_by is not None:
            return SURFACES[began_with.answered_by]
        surfaces = self.preference.surfaces
        usable = {surface.name for surface in surfaces if self._usable(surface.name, surface.needs_thread, place)}
        waits = {surface.name: self._pacer.estimate(surface.opens_with, Priority.FIRST, place.channel)
                 for surface in surfaces if surface.name in usable and not self.preference.waits
                 and surface is not instead_of and self._room(surface.room_for, surface.room_within)}
        return choose_surface(self.preference, usable=usable, waits=waits)

    def hold(self, method: str, calls: int) -> None:
        """`calls` more (or fewer) calls of `method` are held by open messages: each will certainly be made."""
        self._pacer.speak_for(method, calls)

    def refused(self, name: str, refused: Callable[[str, bool], str] | None, error: SlackError, channel: str) -> None:
        """Slack refused the surface or sign of life `name` in `channel`: remember it as far as it reaches, and
        say so once in the log (`refused` words it)."""
        with self._lock:
            first = self._refusals_of(name).learn(error, channel)
        if first and refused is not None:
            log.warning(refused(error.code, error.applies_to == APP))

    # -- internals ---------------------------------------------------------------------------------

    def _usable(self, name: str, needs_thread: bool, place: Place) -> bool:
        if needs_thread and place.thread_ts is None:
            return False
        with self._lock:
            return self._refusals_of(name).allows(place.channel)

    def _room(self, methods: Sequence[str], within: float) -> bool:
        """Each of `methods` has room for one more call within `within` seconds, beyond those spoken for."""
        return all(self._pacer.room(method, within=within) >= 1 for method in methods)

    def _refusals_of(self, name: str) -> _Refusals:
        refusals = self._refusals.get(name)
        if refusals is None:
            refusals = self._refusals[name] = _Refusals(self._clock)
        return refusals
