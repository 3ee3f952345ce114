"""A profile, and the table that picks one for a conversation. Pure values: no file, no Slack."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from fnmatch import fnmatchcase

DM = "dm"  # in a profile's `channels`: direct messages with the bot (the messages tab included)
DEFAULT = "default"  # the profile of every conversation no other profile names (none: the bot answers nowhere else)
FOLLOW_UP_MODES = ("asker", "anyone", "off")  # who may go on in a thread the bot answered, without a mention
MAX_PROMPTS = 4  # suggested prompts: Slack's most


def read_prompt(entry: str) -> tuple[str, str]:
    """A suggested prompt written `title=message`, or just the message (its start is the title)."""
    title, said, message = (piece.strip() for piece in entry.partition("="))
    return (title, message) if said and title and message else (entry.strip()[:40], entry.strip())


KNOWLEDGE_BASE_ENTRIES = ("knowledge base ids (10 letters and digits, as the Bedrock console shows them), each as ID "
                          "or ID=what it holds")


def read_knowledge_bases(entries) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """Knowledge bases written `ID` or `ID=what it holds` (which the model and people read): (id, what it holds)
    for each good entry, and the ids that are not knowledge base ids. Blank entries are skipped."""
    bases, bad = [], []
    for entry in filter(None, (str(part).strip() for part in entries)):
        knowledge_base_id, _, about = (piece.strip() for piece in entry.partition("="))
        if re.fullmatch(r"[0-9a-zA-Z]{10}", knowledge_base_id):
            bases.append((knowledge_base_id, about or f"knowledge base {knowledge_base_id}"))
        else:
            bad.append(knowledge_base_id)
    return tuple(bases), bad


@dataclass(frozen=True)
class Profile:
    """What the bot is in some conversations. A field left None takes the environment's setting (see `over`)."""

    name: str
    channels: frozenset[str] = frozenset()  # channel ids, and `dm`
    system_prompt: str | None = None
    model_id: str | None = None
    max_tokens: int | None = None
    knowledge_bases: tuple[tuple[str, str], ...] | None = None  # (id, what it holds); (): none
    tools: tuple[str, ...] | None = None  # names of the other tools it may use, `*` patterns allowed; (): none
    people: frozenset[str] | None = None  # people (U…, W…) and user groups (S…) who may ask; None: everyone
    follow_ups: str | None = None  # asker | anyone | off
    greeting: str | None = None  # the messages tab's greeting ("": none)
    suggested_prompts: tuple[tuple[str, str], ...] | None = None  # (title, message)

    def over(self, base: "Profile") -> "Profile":
        """This profile, with what it leaves out taken from `base`."""
        return replace(self, **{f.name: getattr(base, f.name) for f in fields(self) if getattr(self, f.name) is None})

    def may_use(self, tool_name: str) -> bool:
        """Whether the model may use the tool named so (not a knowledge base's: `knowledge_bases` says those)."""
        return self.tools is None or any(fnmatchcase(tool_name, pattern) for pattern in self.tools)

    @property
    def groups(self) -> frozenset[str]:
        """The user groups among `people`."""
        return frozenset(who for who in self.people or () if who.startswith("S"))


@dataclass(frozen=True)
class ProfileTable:
    """The profiles a file describes. No file: one profile everywhere, the environment's."""

    profiles: tuple[Profile, ...] = ()

    def for_conversation(self, channel: str, *, is_dm: bool) -> Profile | None:
        """The profile of a conversation (not yet filled in from the environment); None: the bot does not
        answer there."""
        key = DM if is_dm else channel
        default = None
        for profile in self.profiles:
            if key in profile.channels:
                return profile
            if profile.name == DEFAULT:
                default = profile
        if default is None and not self.profiles:
            return Profile(DEFAULT)
        return default

    def channels(self) -> list[tuple[str, str]]:
        """(channel id or `dm`, the profile's name) for every conversation the file names, in its order."""
        return [(channel, profile.name) for profile in self.profiles for channel in sorted(profile.channels)]
