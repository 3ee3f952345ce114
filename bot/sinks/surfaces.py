"""The surfaces a reply can use in Slack, as records: what each opens its messages with, what each open message
will certainly need later (the calls it speaks for), where it falls back to, and how to make its sink.

The router ranks these records; `Delivery` starts the one chosen and, when a sink hands the rest of an answer
over, starts the record it falls back to. A new surface is one more record here.

Two kinds of record:
- `SignOfLife`: what shows at once that the bot is working (the thread's status, a placeholder message).
- `Surface`: what carries the answer (a native stream, or messages posted and edited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from bot import notes
from bot.layout.layout import Layout
from bot.sinks.base import Place, Sink
from bot.sinks.cadence import Cadence
from bot.sinks.edit import EditSink
from bot.sinks.stream import StreamSink
from bot.slack import methods
from bot.slack.calls import SlackCalls
from bot.slack.pacing import Turn


@dataclass(frozen=True)
class Opening:
    """What a surface's sink is made with, for one reply."""

    layout: Layout
    place: Place
    cadence: Cadence
    feedback: dict | None = None  # the block the answer's last message ends with
    first: int = 0  # the first message of the layout the sink writes (those before went another way)
    placeholder: tuple[str, str] | None = None  # (ts, text) of a message posted already, which the answer replaces
    hold: float = 0.0  # how long a message may hold to carry more while its updates have no room ...
    # A sign of life is up: the first message may hold too, and its first words need not go before other
    # replies' (with nothing up, they go at once, first in their queue)
    sign_shown: bool = True
    text_since: float = 0.0  # when the first words were ready (on the sink's clock)
    waits: bool = False  # wait for the opening call's turn rather than hand the answer over
    # The method another surface opens a message with: a first message that must wait longer than that one
    # would (and that may still switch) hands the reply over to it. None: it does not switch.
    rival: str | None = None


@dataclass(frozen=True)
class Surface:
    name: str
    opens_with: str  # the method that opens one of its messages
    make: Callable[[Opening], Sink]
    # The calls each message it holds open will certainly need (method → calls): spoken for while it is open,
    # so that other replies' routine calls leave room for them.
    holds: Mapping[str, int] = field(default_factory=dict)
    room_for: tuple[str, ...] = ()  # held calls whose budget must have room before the surface is chosen ...
    room_within: float = 10.0  # ... within this many seconds
    falls_back_to: str | None = None  # the surface that writes what this one will not (None: the last resort)
    # The surface whose queue a reply's first words may switch to (once) when this one's would keep them
    # waiting longer: both budgets congested, each reply's words take the shorter queue.
    rival: str | None = None
    needs_thread: bool = False  # it can only answer in a thread
    shows_steps: bool = False  # it shows tool calls as task cards (else: a status while they run, a line after)
    refused: Callable[[str, bool], str] | None = None  # for the log, once: Slack will not let the app use it


@dataclass(frozen=True)
class SignOfLife:
    name: str
    method: str  # the call that shows it
    # Show it with `text` (and the loading messages Slack rotates, where it takes them), in `turn` if one is
    # given (granted, or to wait for); the message it posted, as (ts, text), if it is a message. `retry`: with
    # the Slack call policy's retries.
    show: Callable[..., tuple[str, str] | None]
    retried: bool = False  # worth retrying when it first goes up (False: one that must wait for a retry is none)
    # It waits for its turn in its budget, holding nothing back: the first words, if they come sooner, make it
    # unneeded. False: it goes only if it can go now (it holds calls that must follow it).
    queues: bool = False
    # Its turn goes to the newest question first: it stands in for first words, which go in order of arrival,
    # so the newest wait longest for them.
    newest_first: bool = False
    holds: Mapping[str, int] = field(default_factory=dict)  # the calls it will certainly need later
    answered_by: str | None = None  # the surface that must carry an answer it began (None: any)
    falls_back_to: str | None = None  # the sign of life to show when Slack will not take this one
    needs_thread: bool = False
    says_what_it_does: bool = False  # it can be changed to say what the bot is doing (reading a file)
    clears: bool = False  # it stays until the app posts in the thread: a reply that posted nothing clears it
    refused: Callable[[str, bool], str] | None = None  # for the log, once (None: a refusal is not learned)


STREAM = Surface(
    "stream", methods.START,
    make=lambda opening: StreamSink(opening.layout, opening.place, cadence=opening.cadence,
                                    feedback=opening.feedback, wait_for_starts=opening.waits, rival=opening.rival,
                                    hold=opening.hold if opening.sign_shown else 0.0, text_since=opening.text_since,
                                    sign_shown=opening.sign_shown),
    # Its last words go by an append; its stop (the buttons, the end of "streaming") may come later under a
    # burst of questions, but within the five minutes after which Slack ends a stream itself.
    holds={methods.STOP: 1, methods.APPEND: 1}, room_for=(methods.STOP,), room_within=240.0, falls_back_to="edit",
    rival="edit",
    needs_thread=True,
    shows_steps=True,
    refused=lambda code, everywhere: notes.streaming_refused(code, everywhere=everywhere),
)
EDIT = Surface(
    "edit", methods.POST,
    make=lambda opening: EditSink(opening.layout, opening.place, cadence=opening.cadence, first=opening.first,
                                  placeholder=opening.placeholder, feedback=opening.feedback, hold=opening.hold,
                                  sign_shown=opening.sign_shown, text_since=opening.text_since,
                                  rival=opening.rival),
    holds={methods.UPDATE: 1}, rival="stream",
)
SURFACES: dict[str, Surface] = {surface.name: surface for surface in (STREAM, EDIT)}



def _set_status(calls: SlackCalls, place: Place, text: str, loading: Sequence[str], retry: bool,
                turn: Turn | None = None) -> None:
    calls.call(methods.STATUS, turn=turn, retry=retry, channel_id=place.channel, thread_ts=place.thread_ts,
               status=text, loading_messages=list(loading) or None)


def _post_placeholder(calls: SlackCalls, place: Place, text: str, loading: Sequence[str], retry: bool,
                      turn: Turn | None = None) -> tuple[str, str]:
    response = calls.call(methods.POST, turn=turn, retry=retry, tag=place.tag(0), channel=place.channel,
                          thread_ts=place.thread_ts, text=notes.PLACEHOLDER, unfurl_links=False, unfurl_media=False)
    return response["ts"], notes.PLACEHOLDER


# The status: its own budget, nothing to follow it (Slack clears it when the answer is posted).
STATUS = SignOfLife("status", methods.STATUS, _set_status, queues=True, newest_first=True, falls_back_to="placeholder",
                    needs_thread=True, says_what_it_does=True, clears=True,
                    refused=lambda code, everywhere: notes.status_refused(code))
# A placeholder message: the edit that will replace it is spoken for, so it goes only if that edit has room.
PLACEHOLDER = SignOfLife("placeholder", methods.POST, _post_placeholder, retried=True, holds={methods.UPDATE: 1},
                         answered_by="edit")
SIGNS_OF_LIFE: dict[str, SignOfLife] = {sign.name: sign for sign in (STATUS, PLACEHOLDER)}


@dataclass(frozen=True)
class Preference:
    """Which surfaces may carry answers, best first, and whether to wait for the best one's opening call
    rather than take the next (SLACK_REPLY_SURFACE)."""

    surfaces: tuple[Surface, ...]
    waits: bool = False


PREFERENCES: dict[str, Preference] = {
    "auto": Preference((STREAM, EDIT)),  # a native stream where Slack's budgets allow it now, else posts and edits
    "stream": Preference((STREAM,), waits=True),  # a native stream wherever Slack allows one
    "edit": Preference((EDIT,)),  # posts and edits only
}


LAST_RESORT = EDIT  # works wherever the bot may post: what shows a note when no text came


def fallback(surface: Surface) -> Surface:
    """The surface that takes over what `surface` hands over (the last resort takes over from itself)."""
    return SURFACES[surface.falls_back_to] if surface.falls_back_to else surface
