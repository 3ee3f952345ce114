"""Files the model could not read (Bedrock refused the request for one of them: a PNG whose bytes are a JPEG, an
image it cannot decode, a PDF that is not valid). Remembered for a week where every instance can read them, so
the later replies in their thread leave them out (and name them) instead of being refused for them again."""

from __future__ import annotations

from typing import Iterable

from bot.conversation.files import SlackFile
from bot.shared.base import SharedState

KEEP = 7 * 24 * 3600.0  # seconds a file the model could not read is remembered


class Unreadable:
    def __init__(self, state: SharedState) -> None:
        self._state = state

    def remember(self, files: Iterable[SlackFile]) -> None:
        for file in files:
            if file.id:
                self._state.put(_key(file.id), "1", KEEP)

    def known(self, file: SlackFile) -> bool:
        return bool(file.id) and self._state.get(_key(file.id)) is not None


def _key(file_id: str) -> str:
    return f"unreadable:{file_id}"
