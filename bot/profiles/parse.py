"""Reads a profile file (TOML) into a `ProfileTable`, noting every problem instead of stopping at the first.

    [profiles.default]                 # every conversation no other profile names (leave it out: nowhere else)
    system_prompt = "You answer for Example Corp."

    [profiles.support]
    channels = ["C0123ABCD", "dm"]     # channel ids, and `dm` for direct messages
    model = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    max_tokens = 4096
    knowledge_bases = ["ABCDE12345=the support runbooks"]
    tools = ["search_slack", "tickets__*"]
    people = ["U0123ABCD", "S0456EFGH"] # people, and user groups
    follow_ups = "anyone"
    greeting = "Hi! Ask me about a ticket."
    suggested_prompts = ["Open tickets=Which tickets are open?"]
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from bot.profiles.profile import (DEFAULT, DM, FOLLOW_UP_MODES, KNOWLEDGE_BASE_ENTRIES, MAX_PROMPTS, Profile,
                                  ProfileTable, read_knowledge_bases, read_prompt)

_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,}")  # a group DM's too (C…/G…); every DM with the bot is `dm`
_PERSON = re.compile(r"[UWS][A-Z0-9]{2,}")
_TOOL = re.compile(r"[A-Za-z0-9_*?\-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
_KEYS = ("channels", "system_prompt", "model", "max_tokens", "knowledge_bases", "tools", "people", "follow_ups",
         "greeting", "suggested_prompts")


def parse(text: str, where: str) -> tuple[ProfileTable, list[str]]:
    """The profiles `text` describes, and its problems (each starting with `where`, the file's name)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return ProfileTable(), [f"{where} is not valid TOML: {error}."]
    problems: list[str] = []
    unknown = sorted(set(document) - {"profiles"})
    if unknown:
        problems.append(f"{where}: {', '.join(unknown)} is not read; profiles go under [profiles.NAME].")
    sections = document.get("profiles", {})
    if not isinstance(sections, dict) or not sections:
        return ProfileTable(), [*problems, f"{where} describes no profile: add a [profiles.default] section, or "
                                           "[profiles.NAME] sections with their channels."]
    profiles: list[Profile] = []
    owner: dict[str, str] = {}
    for name, section in sections.items():
        said = _Section(f'{where}: profile "{name}"', section if isinstance(section, dict) else {}, problems)
        if not _NAME.fullmatch(name):
            problems.append(f"{said.where}: a profile's name is letters, digits, _ and - (at most 40).")
        if not isinstance(section, dict):
            problems.append(f"{said.where} must be a table of settings ([profiles.{name}]).")
            continue
        profile = said.profile(name)
        if not profile.channels and name != DEFAULT:
            problems.append(f'{said.where} names no channel: add channels = ["C0123ABCD", "dm", …] '
                            f'(or name it "{DEFAULT}" for every other conversation).')
        for channel in sorted(profile.channels):
            if channel in owner:
                problems.append(f'{said.where}: {channel} is already in profile "{owner[channel]}"; a conversation '
                                "has one profile.")
            owner.setdefault(channel, name)
        profiles.append(profile)
    return ProfileTable(tuple(profiles)), problems


class _Section:
    """One [profiles.NAME] table, read field by field."""

    def __init__(self, where: str, values: dict, problems: list[str]) -> None:
        self.where = where
        self._values = values
        self._problems = problems

    def profile(self, name: str) -> Profile:
        unknown = sorted(set(self._values) - set(_KEYS))
        if unknown:
            self._problem(f"{', '.join(unknown)} is not a profile setting (they are {', '.join(_KEYS)})")
        return Profile(
            name=name,
            channels=frozenset(self._ids("channels", _CHANNEL, "channel ids (like C0123ABCD; a group DM's too) or dm "
                                         "(for every direct message with the bot, whose D… ids are not listed)",
                                         extra=(DM,)) or ()),
            system_prompt=self._text("system_prompt", empty=False),
            model_id=self._text("model", empty=False),
            max_tokens=self._number("max_tokens", 1, 200_000),
            knowledge_bases=self._knowledge_bases(),
            tools=self._tools(),
            people=self._ids("people", _PERSON, "people (U0123ABCD) and user groups (S0123ABCD)"),
            follow_ups=self._choice("follow_ups", FOLLOW_UP_MODES),
            greeting=self._text("greeting", empty=True),
            suggested_prompts=self._prompts(),
        )

    def _problem(self, text: str) -> None:
        self._problems.append(f"{self.where}: {text}.")

    def _list(self, key: str) -> list | None:
        value = self._values.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, (str, dict)) for item in value):
            self._problem(f"{key} must be a list, like {key} = [\"…\", \"…\"]")
            return None
        return value

    def _text(self, key: str, *, empty: bool) -> str | None:
        value = self._values.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or (not empty and not value.strip()):
            self._problem(f"{key} must be a text{'' if empty else ' that is not empty'}")
            return None
        return value.strip()

    def _number(self, key: str, low: int, high: int) -> int | None:
        value = self._values.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self._problem(f"{key} must be a whole number from {low:,} to {high:,}, not {value!r}")
            return None
        return value

    def _choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        value = self._values.get(key)
        if value is None:
            return None
        if value not in choices:
            self._problem(f"{key} must be {', '.join(choices[:-1])} or {choices[-1]}, not {value!r}")
            return None
        return value

    def _ids(self, key: str, pattern: re.Pattern, what: str, extra: tuple[str, ...] = ()) -> frozenset[str] | None:
        values = self._list(key)
        if values is None:
            return None
        bad = [str(value) for value in values if value not in extra and not (isinstance(value, str)
                                                                             and pattern.fullmatch(value))]
        if bad:
            self._problem(f"{key} must list {what}; {', '.join(bad)[:80]} is not")
        return frozenset(value for value in values if isinstance(value, str) and value not in bad)

    def _knowledge_bases(self) -> tuple[tuple[str, str], ...] | None:
        values = self._list("knowledge_bases")
        if values is None:
            return None
        bases, bad = read_knowledge_bases(value for value in values if isinstance(value, str))
        if bad or any(not isinstance(value, str) for value in values):
            self._problem(f"knowledge_bases must list {KNOWLEDGE_BASE_ENTRIES}; {', '.join(bad)[:80] or 'a table'} "
                          "is not one")
        return bases

    def _tools(self) -> tuple[str, ...] | None:
        values = self._list("tools")
        if values is None:
            return None
        bad = [str(value) for value in values if not (isinstance(value, str) and _TOOL.fullmatch(value))]
        if bad:
            self._problem(f"tools must list tool names (search_slack, an MCP tool's server__tool), * standing for "
                          f"any part; {', '.join(bad)[:80]} is not one")
        return tuple(value for value in values if isinstance(value, str) and value not in bad)

    def _prompts(self) -> tuple[tuple[str, str], ...] | None:
        values = self._list("suggested_prompts")
        if values is None:
            return None
        prompts = []
        for value in values:
            if isinstance(value, str) and value.strip():
                prompts.append(read_prompt(value))
            elif isinstance(value, dict) and _texts(value.get("title"), value.get("message")):
                prompts.append((value["title"].strip(), value["message"].strip()))
            else:
                self._problem('suggested_prompts must list "title=message" texts (or {title = "…", message = "…"})')
                return None
        if len(prompts) > MAX_PROMPTS:
            self._problem(f"suggested_prompts may hold at most {MAX_PROMPTS}, not {len(prompts)}")
        return tuple(prompts[:MAX_PROMPTS])


def _texts(*values: Any) -> bool:
    return all(isinstance(value, str) and value.strip() for value in values)
