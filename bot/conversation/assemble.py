"""A request becomes the conversation the model is asked: what was said before it (a thread, or a DM's recent
history), the names of the people in it, the files shared with it, built into Bedrock messages.

The Slack reads run together: names the question mentions are looked up while the thread is read, the
thread's people while its files download. Whatever could not be read is said in a note that qualifies the
answer (`Conversation.read_note`); a question cut to the size limit says so too.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from typing import Callable

from bot import notes
from bot.conversation.attachments import Attachments, SlackFiles
from bot.conversation.build import Identity, build_conversation, question_text, viewed_text
from bot.conversation.files import LeftOut, Reason, SlackFile
from bot.conversation.unreadable import Unreadable
from bot.conversation.history import SlackHistory
from bot.request import Request
from bot.slack.kinds import SlackError

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
VIEWED_CHARS = 10_000  # of what the person has open, at most (and a quarter of the conversation's budget)
FILES_QUESTION = "(No words: only the files shared with this message. Say what they are and what stands out.)"


@dataclass(frozen=True)
class ContextSettings:
    """How much of the conversation goes to the model, and how long reading it may take (CONTEXT_*,
    NAME_LOOKUP_SECONDS, DM_HISTORY_*, MAX_MESSAGE_CHARS)."""

    max_chars: int = 60_000  # CONTEXT_MAX_CHARS
    read_seconds: float = 10.0  # CONTEXT_READ_SECONDS: a thread or a DM's history, all its calls and retries
    name_lookup_seconds: float = 3.0  # NAME_LOOKUP_SECONDS: one reply's names, all of them together
    dm_history_messages: int = 20  # DM_HISTORY_MESSAGES
    dm_history_hours: float = 24.0  # DM_HISTORY_HOURS
    max_message_chars: int = 20_000  # MAX_MESSAGE_CHARS: one message's text, the question's included


@dataclass(frozen=True)
class Conversation:
    messages: list[dict]
    question_cut_at: int | None = None  # the question itself was cut to this many characters (MAX_MESSAGE_CHARS)
    read_note: str | None = None  # what of the conversation (thread, history, files) could not be read
    files: dict[int, SlackFile] = field(default_factory=dict)  # id() of each image and document block → its file

    def with_note(self, note: str | None) -> "Conversation":
        return replace(self, read_note=notes.lines(self.read_note, note))

    def unread(self, blocks: list[dict]) -> "Conversation":
        """The model could not read `blocks` (image and document blocks of these messages): this conversation with
        a note naming their files."""
        return self.with_note(notes.files_note(LeftOut(file, Reason.MODEL_REFUSED).for_note()
                                               for file in self.files_of(blocks)))

    def files_of(self, blocks: list[dict]) -> list[SlackFile]:
        """The files `blocks` (image and document blocks of these messages) came from."""
        return list(dict.fromkeys(self.files[id(block)] for block in blocks if id(block) in self.files))

    def closing_note(self, note: str | None, *, got_text: bool) -> str | None:
        """`note` (why the answer ended as it did), with what the reader should know of how it was read:
        a cut question always, what could not be read only beside an answer (a failure's note stands alone)."""
        if self.question_cut_at is not None:
            note = notes.lines(note, notes.QUESTION_CUT.format(limit=self.question_cut_at))
        if self.read_note and got_text:
            note = notes.lines(note, self.read_note)
        return note


class Conversations:
    def __init__(self, history: SlackHistory, files: SlackFiles, settings: ContextSettings,
                 unreadable: Unreadable | None = None) -> None:
        """`unreadable`: the files the model could not read before (left out, and named)."""
        self._history = history
        self._files = files
        self._settings = settings
        self._unreadable = unreadable

    @property
    def reads_files(self) -> bool:
        """Some kind of shared file is read (FILES_READ is not `none`)."""
        return bool(self._files.limits.kinds)

    def assemble(self, request: Request, bot: Identity, *, on_reading: Callable[[str], None],
                 until: float, takes_files: bool = True) -> Conversation:
        """The model messages for `request`. `on_reading(name)`: a file starts downloading; `until`: when the
        downloads must end at the latest (on the Slack calls' clock); `takes_files`: whether the model reads
        images and documents (as far as it is known now)."""
        asked_about = set(_MENTION.findall(request.text or "")) - {bot.user_id}
        if asked_about:
            self._history.look_up(asked_about)  # known from the question: looked up while the history is read
        viewing = self._history.viewed_later(request.viewing) if request.is_dm and request.viewing else None
        history, read_note = self._history_of(request)
        viewed = [read for future in viewing or () if (read := future.result()) is not None]
        everyone = [*history, request.message]
        people = {m["user"] for m in everyone if m.get("user") and m.get("user") != bot.user_id and not m.get("bot_id")}
        mentioned = {user for m in everyone for user in _MENTION.findall(m.get("text") or "")} - {bot.user_id}
        viewed_people = {m["user"] for _, _, messages in viewed for m in messages if m.get("user")} - {bot.user_id}
        wants_names = len(people) > 1 or bool(mentioned) or bool(viewed_people)
        if wants_names:
            self._history.look_up(people | mentioned | viewed_people)  # while the files download
        attachments, files_note = self._attachments(request, history, on_reading, until, takes_files)
        names = self._history.names(people | mentioned | viewed_people) if wants_names else {}
        question = request.message
        if not question_text(request.text, bot) and request.files:
            question = {**question, "text": FILES_QUESTION}
        settings = self._settings
        looked_at = viewed_text(viewed, bot=bot, names=names, budget_chars=min(settings.max_chars // 4, VIEWED_CHARS))
        messages = build_conversation(
            history,
            question,
            bot=bot,
            names=names,
            budget_chars=settings.max_chars - len(looked_at),
            max_message_chars=settings.max_message_chars,
            skip_texts=(notes.PLACEHOLDER,),
            keep_first=bool(request.thread_ts),
        )
        before_question = [*attachments.blocks, *([{"text": looked_at}] if looked_at else [])]
        if before_question and messages and messages[-1]["role"] == "user":
            messages[-1] = {**messages[-1], "content": [*before_question, *messages[-1]["content"]]}
        cut = len(question_text(request.text, bot, names)) > settings.max_message_chars
        return Conversation(messages, settings.max_message_chars if cut else None, notes.lines(read_note, files_note),
                            attachments.sources)

    def _attachments(self, request: Request, history: list[dict], on_reading: Callable[[str], None],
                     until: float, takes_files: bool) -> tuple[Attachments, str | None]:
        """The files shared with the question and before it in the thread (newest first), as model content,
        and the note naming those the model will not see."""
        shared = [SlackFile.from_slack(file, message["ts"])
                  for message in sorted([*history, request.message], key=lambda m: float(m.get("ts", 0)), reverse=True)
                  if float(message.get("ts", 0)) <= float(request.ts)
                  for file in reversed(message.get("files") or [])]
        if not shared or not self.reads_files:
            return Attachments(), None
        if not takes_files:
            return Attachments(), notes.MODEL_TAKES_NO_FILES
        known = [file for file in shared if self._unreadable is not None and self._unreadable.known(file)]
        attachments = self._files.read([file for file in shared if file not in known], on_reading=on_reading,
                                       deadline=until)
        left_out = [*attachments.left_out, *(LeftOut(file, Reason.MODEL_REFUSED) for file in known)]
        return attachments, notes.files_note(item.for_note() for item in left_out)

    def _history_of(self, request: Request) -> tuple[list[dict], str | None]:
        """What was said before `request`, and a note if some of it that mattered could not be read."""
        if request.thread_ts:
            read = self._history.thread(request.channel, request.thread_ts, before=request.ts,
                                        enough_chars=self._settings.max_chars)
            if read.complete:
                return read.messages, None
            log.warning("could not read the thread %s in %s (%s): answering with %s", request.thread_ts,
                        request.channel, read.unread,
                        "what it read" if read.messages else "the question alone")
            return read.messages, notes.THREAD_PART_READ if read.messages else notes.THREAD_UNREAD
        if not request.is_dm:
            return [], None
        try:
            return self._history.direct_messages(request.channel, request.ts), None
        except SlackError as error:
            log.warning("could not read the history of %s (%s): answering the question alone", request.channel,
                        error.code)
            return [], notes.DM_HISTORY_UNREAD
