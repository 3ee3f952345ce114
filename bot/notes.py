"""What people read when a reply is not simply an answer, and what the log says to fix. One place for all.

Notes are short lines that end a reply or stand in for it. They say what happened and what to do, never an
exception name or a traceback: the detail goes to the log. This module only puts kinds into words: it
imports no SDK, so any part of the bot may use it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Iterable, Sequence

from bot.model.kinds import ModelErrorKind
from bot.slack.kinds import RateLimited, SlackError, Unavailable

PLACEHOLDER = "_Thinking…_"
STATUS = "is thinking…"  # Slack shows it under the thread as "<app name> is thinking…"
LOADING_MESSAGES = ("Reading the conversation…", "Thinking it over…", "Writing an answer…")
EMPTY_QUESTION = "Hi! Ask me something after the mention, for example: _@me how do I rotate an IAM key?_"
EMPTY_DM = "Hi! Ask me anything, for example: _how do I rotate an IAM key?_"
FILES_ONLY = "I'm set up to read text only. Write your question in words and I'll answer it."
NOT_ALLOWED_HERE = "Sorry, I'm not set up to answer in this channel."
NOT_ALLOWED_FOR_YOU = "Sorry, I'm not set up to answer you. Ask the person who runs this bot to add you."
TOO_MANY_AT_ONCE = "I'm still working on {count} of your questions. Ask again when one of them is answered."
QUESTION_CUT = ":scissors: _Your message was long: I read only its first {limit:,} characters._"
THREAD_UNREAD = (
    ":warning: _I couldn't read the earlier messages in this thread, so I answered your message on its own._")
THREAD_PART_READ = ":warning: _I could read only part of this thread, so I may have missed something said in it._"
DM_HISTORY_UNREAD = ":warning: _I couldn't read our earlier messages, so I answered this one on its own._"

STOP_NOTES = {
    "max_tokens": ":warning: _The answer was cut short: it reached the length limit set for this bot._",
    "content_filtered": ":warning: _The answer was stopped by a content filter._",
    "guardrail_intervened": ":warning: _A guardrail stopped the answer._",
    "model_context_window_exceeded": ":warning: _This conversation is too long for the model. Start a new thread._",
    "tool_rounds": ":warning: _I stopped looking things up after too many steps, so this answer may be incomplete._",
}
NORMAL_STOPS = ("end_turn", "stop_sequence")
UNEXPECTED_STOP = ":warning: _The model stopped before finishing its answer._"
INTERRUPTED = ":warning: _The answer was interrupted before it finished. Ask again to get the rest._"
TOOK_TOO_LONG = ":warning: _The answer took too long and was stopped. Ask again, or ask for something shorter._"
SHUTTING_DOWN = ":warning: _The bot restarted while answering, so this answer is unfinished. Ask again._"
EMPTY_ANSWER = "_The model sent back an empty answer. Try asking again, perhaps in other words._"
PART_MISSING = ":warning: _Slack did not take part of this answer, so some of it is missing above. Ask again._"
ANSWER_MOVED = ":warning: _Slack would not take the last change to the message above, so the answer goes on here._"
FAILED = ":warning: _Sorry, I couldn't get an answer from the model. The details are in the bot's log._"

# -- tools and sources ---------------------------------------------------------------------------------------

_SOURCE_NAME = re.compile(r"[\[\]()<>*_~`|\\\x00-\x1f]")


def sources(cited: Sequence[tuple[int, str, str | None]]) -> str:
    """The sources an answer cites, as Markdown under it: "*Sources:* [1] [Leave policy](https://…) · [2] a.pdf"
    (a link where the source has an http(s) address; names made plain so that they cannot break the Markdown)."""
    shown = []
    for number, name, url in cited:
        name = " ".join(_SOURCE_NAME.sub(" ", name).split())[:80] or "source"
        link = url if url and re.match(r"https?://[^\s()<>|]+$", url) else None
        shown.append(f"[{number}] [{name}]({link})" if link else f"[{number}] {name}")
    return "\n\n*Sources:* " + " · ".join(shown)


def tool_failures(failures: Sequence[tuple[str, str]]) -> str | None:
    """The tool calls that failed, (what it was, why), for the closing note: ":warning: _Searching the handbook
    failed: it took too long._"."""
    if not failures:
        return None
    said = "; ".join(f"{_outside(what)} failed: {_outside(why)}" for what, why in failures[:3])
    more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
    return ":warning: _" + said + more + "._"


def _outside(text: str, most: int = 160) -> str:
    """Words from outside the bot (a tool's name or error) made inert for a note: one line, no `<…>` token Slack
    would read as a mention or link, no `_` `*` `~` `` ` `` to break the note's formatting."""
    text = _no_link(" ".join(re.sub(r"[<>_*~`\x00-\x1f\x7f]", " ", str(text)).split()))
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def over_daily_tokens(per_day: int, resets: "datetime") -> str:
    """A person's daily allowance of tokens is used up: when it comes back."""
    return (f"You've used today's allowance of {per_day:,} tokens, so I can't answer this one. It resets at "
            f"{resets:%H:%M} UTC ({resets:%Y-%m-%d}).")


STOPPED = "_Stopped._"  # the end of an answer a person stopped with Slack's Stop button


def sessions_refused(code: str) -> str:
    """For the log, once: Slack will not let the app use agent sessions (no Stop button)."""
    return (f"Slack refused agents.sessions.setStatus ({code}): replies go on without Slack's Stop button. To have "
            "it, declare the app as an agent in its settings (this adds the assistant:write scope), subscribe to the "
            "agent_session_stopped event (see manifest.yml), and reinstall the app; or set SLACK_AGENT_SESSIONS=off.")


APPROVE = "Approve"
DENY = "Deny"


def approval_question(asker: str, tool: str, arguments: str) -> str:
    """Asking the person who asked before a tool that changes something runs (`arguments`: inert text)."""
    return (f"<@{asker}> I'd like to run *{tool}* with:\n```{arguments}```\nMay I? Only you can answer; "
            "I'll wait a few minutes.")


def approval_outcome(asker: str, tool: str, outcome: str, wait_seconds: float) -> str:
    """The question, once answered (it no longer takes clicks)."""
    return {
        "approved": f":white_check_mark: <@{asker}> approved *{tool}*.",
        "denied": f":no_entry_sign: <@{asker}> denied *{tool}*: it was not run.",
        "stopped": f"_*{tool}* was not run: the answer stopped._",
    }.get(outcome, f"_*{tool}* was not run: no answer in time ({_duration(wait_seconds)})._")


def _duration(seconds: float) -> str:
    count, unit = (round(seconds), "second") if seconds < 90 else (round(seconds / 60), "minute")
    return f"{count} {unit}{'' if count == 1 else 's'}"


def approval_not_yours(asker: str) -> str:
    return f"Only <@{asker}>, who asked, can approve this."


# -- files shared with a question ----------------------------------------------------------------------------

def lines(*parts: str | None) -> str | None:
    """The notes that apply, one to a line; None when none does."""
    return "\n".join(part for part in parts if part) or None


def reading(name: str) -> str:
    """The thread's status while shared files download ("<app> is reading report.pdf…")."""
    shown = " ".join(re.sub(r"[<>\x00-\x1f\x7f]", " ", name).split())[:_NAME_CHARS]  # one plain line
    return f"is reading {shown}…"


MODEL_TAKES_NO_FILES = ":paperclip: _This model can't read images or documents, so I answered from the text._"
FILES_SCOPE_FIX = "the app needs the files:read scope: an admin should add it and reinstall the app"
_FILE_KINDS = {"image": ("image", "images"), "document": ("document", "documents"), "text": ("text file", "text files")}
_FILE_WHY = {  # reason → (for one file, for several)
    "not_available": ("not stored in Slack, or deleted", "not stored in Slack, or deleted"),
    "kind_unsupported": ("a kind of file I can't read", "kinds of file I can't read"),
    "kind_not_read": ("this bot is set not to read {kinds}", "this bot is set not to read {kinds}"),
    "too_large": ("over the {size} limit", "each over the {size} limit"),
    "too_wide": ("over {limit:,} pixels a side", "each over {limit:,} pixels a side"),
    "too_many": ("over the {limit} {kinds} I can read at once", "over the {limit} {kinds} I can read at once"),
    "no_room": ("no room left: {size} of files at most for one answer",
                "no room left: {size} of files at most for one answer"),
    "no_access": (FILES_SCOPE_FIX, FILES_SCOPE_FIX),
    "deleted": ("deleted before I could read it", "deleted before I could read them"),
    "not_what_it_says": ("its content isn't what its name says", "their content isn't what their names say"),
    "timed_out": ("it took too long to download", "they took too long to download"),
    "slack_failed": ("Slack could not send it just now: share it again", "Slack could not send them just now: "
                     "share them again"),
    "model_refused": ("the model could not read it (its content does not match its type, or is damaged)",
                      "the model could not read them (their content does not match their type, or is damaged)"),
}
_NAMES_SHOWN = 3  # names per reason; the rest are counted
_NAME_CHARS = 60


def files_note(left_out: Iterable[tuple[str, str, str | None, int | None]]) -> str | None:
    """One line that ends a reply, naming the files the model did not get and why; None when there are none.

    Each entry is (file name, reason, kind, limit): the reason and kind as `bot.conversation.files` names them
    (`LeftOut.for_note()`), the limit the number the reason is about. Files left out for one reason are
    listed together."""
    groups: dict[tuple[str, str | None, int | None], list[str]] = {}
    for name, reason, kind, limit in left_out:
        by_kind = reason in ("too_many", "kind_not_read")  # the others say the same of every kind
        groups.setdefault((reason, kind if by_kind else None, limit), []).append(name)
    if not groups:
        return None
    parts = []
    for (reason, kind, limit), names in groups.items():
        one, several = _FILE_KINDS.get(kind or "", ("file", "files"))
        shown = ", ".join(_file_name(name) for name in names[:_NAMES_SHOWN])
        if len(names) > _NAMES_SHOWN:
            shown += f" and {len(names) - _NAMES_SHOWN} more"
        why = _FILE_WHY.get(reason, ("I couldn't download it", "I couldn't download them"))[len(names) > 1]
        parts.append(f"{shown} ({why.format(kinds=several, limit=limit or 0, size=_megabytes(limit or 0))})")
    return f":paperclip: _I couldn't read: {'; '.join(parts)}._"


def _file_name(name: str) -> str:
    """A file's name as Slack shows it literally (on one line, no link of its own), cut when long."""
    name = _no_link(" ".join(re.sub(r"[\x00-\x1f\x7f]", " ", name).split()))
    if len(name) > _NAME_CHARS:
        name = name[: _NAME_CHARS - 1] + "…"
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _no_link(text: str) -> str:
    """`text` with no Markdown link in it (a native stream renders Markdown: `[bank](https://evil)` would be a
    disguised link): "](" is parted, so that an address shows as itself."""
    return re.sub(r"\]\s*\(", "] (", text)


def _megabytes(count: int) -> str:
    return f"{round(count / 1_000_000, 2):g} MB"


FEEDBACK_POSITIVE = "Good answer"
FEEDBACK_NEGATIVE = "Bad answer"
FEEDBACK_POSITIVE_LABEL = "This answer was helpful"
FEEDBACK_NEGATIVE_LABEL = "This answer was not helpful"
FEEDBACK_THANKS = {
    "good": "Thanks for the feedback! Glad it helped.",
    "bad": "Thanks for the feedback. Try asking again in other words, or add more detail to your question.",
}

_TOO_LONG = ":warning: _This conversation is too long for the model. Start a new thread and ask again._"
_BAD_CREDENTIALS = ":no_entry: _AWS rejected the bot's credentials. An admin should check them._"
_MODEL_NOTES = {
    ModelErrorKind.BUSY: ":hourglass: _The model is busy right now. Please ask again in a minute._",
    ModelErrorKind.UNREACHABLE: ":warning: _I couldn't reach Amazon Bedrock. Please ask again in a moment._",
    ModelErrorKind.NO_ACCESS: (
        ":no_entry: _I'm not allowed to use the model. An admin needs to grant access to it in the Amazon "
        "Bedrock console (Model access) and allow `bedrock:InvokeModelWithResponseStream` for the bot._"
    ),
    ModelErrorKind.NOT_FOUND: (
        ":warning: _The model set for this bot doesn't exist in its AWS region. An admin should check "
        "`BEDROCK_MODEL_ID` and `AWS_REGION`._"
    ),
    ModelErrorKind.NEEDS_PROFILE: (
        ":warning: _This model can only be used through an inference profile. An admin should set "
        "`BEDROCK_MODEL_ID` to the id with a `us.`, `eu.`, `apac.` or `global.` prefix._"
    ),
    ModelErrorKind.TOO_LONG: _TOO_LONG,
    ModelErrorKind.NO_CREDENTIALS: ":no_entry: _The bot has no AWS credentials. An admin needs to configure them._",
    ModelErrorKind.BAD_CREDENTIALS: _BAD_CREDENTIALS,
    ModelErrorKind.EXPIRED_CREDENTIALS: (
        ":no_entry: _The bot's AWS credentials have expired. An admin should renew them._"),
    ModelErrorKind.QUOTA: (
        ":hourglass: _The bot has used up its Bedrock quota for now. Ask again later, or ask an admin to "
        "raise the quota._"
    ),
    ModelErrorKind.MODEL_TIMEOUT: ":warning: _The model took too long to answer. Ask again, perhaps more briefly._",
    ModelErrorKind.MODEL_FAILED: ":warning: _The model failed to answer. Please ask again._",
    ModelErrorKind.ENDED_EARLY: INTERRUPTED,
    ModelErrorKind.UNKNOWN: FAILED,
}
_SLACK_FIXES = {
    "not_in_channel": "invite the bot to the channel with /invite",
    "channel_not_found": "the bot cannot see this channel: invite it, or check the channels/groups/im:history scopes",
    "missing_scope": "add the scope Slack names as 'needed' on the app's OAuth & Permissions page, then reinstall",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid: copy the Bot User OAuth Token again from OAuth & Permissions",
    "token_revoked": "the bot token was revoked: reinstall the app and copy the new SLACK_BOT_TOKEN",
    "account_inactive": "the bot token belongs to an uninstalled app: reinstall it and update SLACK_BOT_TOKEN",
    "message_not_found": "the reply was deleted in Slack; its answer was stopped",
    "msg_too_long": "a message was over Slack's limit; the answer continues in a new message",
    "is_archived": "the channel is archived",
}
ENABLE_STREAMING = (
    "to stream natively, turn on \"Agents & AI Apps\" in the app's settings at https://api.slack.com/apps "
    "and reinstall the app"
)


def stop_note(stop_reason: str | None) -> str | None:
    """The note that ends an answer which stopped for `stop_reason`; None for a normal end."""
    if stop_reason in NORMAL_STOPS:
        return None
    return STOP_NOTES.get(stop_reason or "", UNEXPECTED_STOP)


def failure_note(kind: ModelErrorKind, got_text: bool) -> str:
    """What ends an answer that failed: once text has arrived it was interrupted; before that, whatever
    explains the kind of failure."""
    return INTERRUPTED if got_text else model_failure_note(kind)


def model_failure_note(kind: ModelErrorKind) -> str:
    """What to tell the person when the model gave no answer at all."""
    return _MODEL_NOTES.get(kind, FAILED)


def empty_question(*, in_dm: bool) -> str:
    """The answer to a message that asks nothing: in a DM there is no mention to write after."""
    return EMPTY_DM if in_dm else EMPTY_QUESTION


def plain(note: str) -> str:
    """A note without its Slack markup, for a terminal: the emoji, the italics' underscores and the code's
    backticks go; underscores inside words (`BEDROCK_MODEL_ID`) stay."""
    note = re.sub(r"^:[a-z_]+: ", "", note).replace("`", "")
    return re.sub(r"(?<!\w)_|_(?!\w)", "", note)


def slack_fix(code: str) -> str | None:
    """What an admin should do about a Slack error code, for the log."""
    return _SLACK_FIXES.get(code)


def streaming_fix(code: str) -> str:
    """What an admin should do when Slack will not let the app stream."""
    return slack_fix(code) or ENABLE_STREAMING


def streaming_refused(code: str, *, everywhere: bool) -> str:
    """For the log, once: Slack will not let the app stream (anywhere, or in one kind of conversation)."""
    where = "" if everywhere else " in this kind of conversation"
    return (f"Slack refused chat.startStream ({code}), so replies{where} are posted and edited instead of "
            f"streamed natively; {streaming_fix(code)}. `python -m bot doctor` checks it")


def status_refused(code: str) -> str:
    """For the log, once: Slack will not show the thinking status."""
    fix = slack_fix(code) or "the app needs the chat:write scope: reinstall it from manifest.yml"
    return (f"Slack refused assistant.threads.setStatus ({code}), so replies show a \"Thinking…\" message "
            f"instead of the thinking status; {fix}. `python -m bot doctor` checks the scopes")


# -- starting up, and `python -m bot doctor` ----------------------------------------------------------------

_APPS = "https://api.slack.com/apps"
TOKEN_FIXES = {
    "SLACK_BOT_TOKEN": (f"Copy the Bot User OAuth Token (xoxb-...) again from \"OAuth & Permissions\" at {_APPS}, "
                        "and reinstall the app if it changed"),
    "SLACK_APP_TOKEN": ("Make an app-level token with the connections:write scope under \"Basic Information\" → "
                        f"\"App-Level Tokens\" at {_APPS}, put it in SLACK_APP_TOKEN, and enable Socket Mode"),
}
NO_REGION = ("No AWS region is set. Set AWS_REGION (for example us-east-1) in the environment or in .env, or set "
             "a region in your AWS profile.")

# What to set, for a person at a terminal (`chat`, `doctor`), where Slack's words say "an admin"
AWS_CREDENTIALS_FIX = ("Set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an IAM role is "
                       "available.")
TERMINAL_FIXES = {
    ModelErrorKind.NO_CREDENTIALS: f"No AWS credentials were found. {AWS_CREDENTIALS_FIX}",
    ModelErrorKind.BAD_CREDENTIALS: ("AWS rejected the credentials. Check them (aws sts get-caller-identity). "
                                     f"{AWS_CREDENTIALS_FIX}"),
    ModelErrorKind.EXPIRED_CREDENTIALS: "The AWS credentials have expired. Renew them (aws sso login, or new keys).",
}

PORT_TAKEN = "{setting} {port} cannot be listened on ({why}). Choose a free port, or stop what holds it."


def cannot_start(problem: str) -> str:
    return f"The bot cannot start. {problem}"


def slack_trouble(error: SlackError, api_url: str) -> str | None:
    """What kept Slack from answering a check, when it is not Slack's verdict on the app: a rate limit, Slack
    out of reach, or failing. None for a refusal."""
    if isinstance(error, RateLimited):
        return (f"Slack is limiting how often the app may call it right now ({error.method} answered 429). "
                "Wait a minute and try again.")
    if isinstance(error, Unavailable) and error.status is None:
        return (f"Slack could not be reached at {api_url} ({error.code}). Check the network connection (or "
                "proxy), and SLACK_API_URL if you set it.")
    if isinstance(error, Unavailable):
        return (f"Slack had a problem ({error.method} answered {error.code}). Try again in a few minutes; "
                "https://slack-status.com says whether Slack is down.")
    if error.code.startswith("http_"):
        return f"{api_url} did not answer as Slack's Web API does ({error.code}). Check SLACK_API_URL."
    return None


def slack_unusable(error: SlackError, *, setting: str, api_url: str) -> str:
    """Why the check of the token in `setting` failed, and what to do: copy the token again only when Slack
    refused it."""
    trouble = slack_trouble(error, api_url)
    if trouble is not None:
        return trouble
    return f"Slack did not accept {setting} ({error.code}). {TOKEN_FIXES.get(setting, 'Check it')}."
