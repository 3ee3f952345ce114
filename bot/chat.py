"""`python -m bot chat "question"`: the bot's conversation, model, retry policy and notes, streamed to the
terminal instead of Slack, for trying a model or a system prompt without Slack."""

from __future__ import annotations

import sys
from typing import TextIO

from bot import notes
from bot.conversation.build import Identity, build_conversation
from bot.model.bedrock import BedrockModel, Finished, TextDelta
from bot.model.errors import ModelError
from bot.settings import Settings

_YOU = Identity(user_id="UTERMINALBOT")


def chat(question: str, settings: Settings, out: TextIO = sys.stdout, model: BedrockModel | None = None,
         err: TextIO = sys.stderr) -> int:
    """Stream the answer to `question` to `out`; 0 if it completed, 1 if not. A failure that a person at the
    terminal fixes (credentials) is said on `err` with what to set, and its cause."""
    messages = build_conversation(
        [], {"ts": "1", "user": "UTERMINAL", "text": question}, bot=_YOU,
        budget_chars=settings.context.max_chars, max_message_chars=settings.context.max_message_chars,
    )
    if not messages:
        out.write("Ask a question, for example: python -m bot chat \"how do I rotate an IAM key?\"\n")
        return 2
    model = model or BedrockModel.from_settings(settings.model)
    got_text, stop_reason = False, None
    try:
        for event in model.stream(messages):
            if isinstance(event, TextDelta):
                got_text = True
                out.write(event.text)
                out.flush()
            elif isinstance(event, Finished):
                stop_reason = event.stop_reason
    except ModelError as error:
        fix = notes.TERMINAL_FIXES.get(error.kind)
        if fix is not None:
            err.write(f"{fix} ({error.code})\n")
            return 2
        out.write(("\n\n" if got_text else "") + notes.plain(notes.failure_note(error.kind, got_text)) + "\n")
        return 1
    note = notes.stop_note(stop_reason)
    out.write("\n" + (f"\n{notes.plain(note)}\n" if note else ""))
    return 0 if note is None else 1
