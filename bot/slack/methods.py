"""The facts about each Slack Web API method the bot calls, in one table that every part reads.

For each method: its budgets as the bot assumes them until Slack's answers say otherwise (Slack's documented
tier, per app and workspace, and per channel where Slack limits it so; Slack publishes no burst sizes), and
what repeating it or losing its answer means. `calls` reads whether a call may be repeated and how its text
is sent, the pacer reads the budgets, the surfaces name their methods by these constants. A method missing
from the table has no budget of the bot's own (only Slack's Retry-After) and is taken as idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

POST = "chat.postMessage"
UPDATE = "chat.update"
START = "chat.startStream"
APPEND = "chat.appendStream"
STOP = "chat.stopStream"
EPHEMERAL = "chat.postEphemeral"
STATUS = "assistant.threads.setStatus"
REPLIES = "conversations.replies"
HISTORY = "conversations.history"
USER = "users.info"
AUTH = "auth.test"
CONNECT = "apps.connections.open"
DOWNLOAD = "files.download"  # a file's bytes from Slack's file host, paced and retried as a call
SEARCH = "assistant.search.context"  # Real-time Search, as the person who asked
SESSION = "agents.sessions.setStatus"  # an agent session's status: Slack's Stop button while `processing`
TITLE = "agents.sessions.rename"  # an agent session's title (a thread's, in the messages tab)
PROMPTS = "assistant.threads.setSuggestedPrompts"  # the prompts a new thread in the messages tab offers
DELETE = "chat.delete"  # a stream fragment whose start answer was lost, found after the reply went on without it
GROUP_MEMBERS = "usergroups.users.list"  # who is in a user group a profile lets ask


@dataclass(frozen=True)
class Limit:
    """What the bot assumes of one Slack budget until Slack says otherwise: `per_minute` calls a minute
    (None: no budget of its own, only Slack's Retry-After), bursts of `burst` calls to start with, which
    probing may grow up to `largest_burst` (default: five minutes' worth). `published`: the rate is Slack's
    documented one (a tier's); else it is a guess that Slack's answers may show to be too low, or too high."""

    per_minute: float | None
    burst: float = 1.0
    largest_burst: float | None = None
    published: bool = True


@dataclass(frozen=True)
class MethodLimits:
    """A method's budgets: one per channel (None: Slack limits it per workspace only) and one for the
    workspace."""

    workspace: Limit = Limit(None)
    per_channel: Limit | None = None


@dataclass(frozen=True)
class Method:
    """One Web API method, as far as the bot's calls of it go."""

    name: str
    tier: str  # Slack's rate tier, as documented ("special": Slack publishes no number)
    limits: MethodLimits = field(default=MethodLimits())
    # Repeating a call that Slack may have taken shows nothing twice (an edit, a status, a read). False: a
    # second message or a second piece of text, so it is retried only when the request never left ...
    idempotent: bool = True
    # ... or when the call carries a tag that finds the message it made (see `tags`)
    findable: bool = False
    parses_text: bool = False  # Slack parses its `text` for links and broadcasts unless told not to
    opens_message: bool = False  # it makes a new message in the conversation


# Slack's documented rates (https://docs.slack.dev/apis/web-api/rate-limits), each starting from a burst of
# ten seconds' worth that probing grows and the first 429 cuts to what Slack took. chat.postMessage and
# assistant.threads.setStatus are in Slack's "special" tier: about one a second per channel, and a workspace
# ceiling Slack does not publish, assumed to be 600 a minute (bursts of ten seconds' worth) until Slack's
# answers say otherwise (see `pacing.learning`). A reply posts its messages one a second in its channel,
# Slack's documented pace (a little under it, so that network jitter does not bring two posts closer than a
# second), without probing for a burst: the many channels of a busy workspace would each pay a 429 to learn it.
SPECIAL_PER_MINUTE = 600  # the workspace ceiling assumed for the special tier's methods
METHODS: dict[str, Method] = {method.name: method for method in (
    Method(POST, "special", MethodLimits(Limit(SPECIAL_PER_MINUTE, 100, published=False),
                                         per_channel=Limit(55, 1, largest_burst=1)),
           idempotent=False, findable=True, parses_text=True, opens_message=True),
    Method(UPDATE, "Tier 3", MethodLimits(Limit(50, 8)), parses_text=True),
    Method(START, "Tier 2", MethodLimits(Limit(20, 3)), idempotent=False, findable=True, opens_message=True),
    Method(APPEND, "Tier 4", MethodLimits(Limit(100, 16)), idempotent=False),
    Method(STOP, "Tier 2", MethodLimits(Limit(20, 3))),
    Method(EPHEMERAL, "Tier 4", MethodLimits(Limit(100, 16)), idempotent=False, parses_text=True),
    Method(STATUS, "special", MethodLimits(Limit(SPECIAL_PER_MINUTE, 100, published=False),
                                           per_channel=Limit(60, 3))),
    Method(REPLIES, "Tier 3"),
    Method(HISTORY, "Tier 3"),
    Method(USER, "Tier 4"),
    Method(AUTH, "special"),
    Method(CONNECT, "Tier 1"),
    Method(DOWNLOAD, "files"),
    Method(SEARCH, "special"),  # no published tier: Slack's Retry-After alone paces it
    Method(SESSION, "special"),  # likewise
    Method(TITLE, "special"),
    Method(PROMPTS, "special"),
    Method(GROUP_MEMBERS, "Tier 2", MethodLimits(Limit(20, 3))),
    Method(DELETE, "Tier 3", MethodLimits(Limit(50, 8))),
)}

# The budgets the bot assumes, by method (what `SLACK_RATE_LIMITS` may change).
DEFAULT_LIMITS: Mapping[str, MethodLimits] = {name: method.limits for name, method in METHODS.items()
                                              if method.limits != MethodLimits()}


def method(name: str) -> Method:
    """The facts about `name` (a method missing from the table: no budget of its own, idempotent)."""
    return METHODS.get(name) or Method(name, "unknown")
