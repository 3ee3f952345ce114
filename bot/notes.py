"""What people read when a reply is not simply an answer, and what the log says to fix. One place for all.

Notes are short mrkdwn lines that end a reply or stand in for it. They say what happened and what to do,
never an exception name or a traceback: the detail goes to the log.
"""

from __future__ import annotations

import re

from botocore.exceptions import ClientError, NoCredentialsError

from bot.model.bedrock import TRANSIENT_CODES, StreamEndedEarly, is_transient

PLACEHOLDER = "_Thinking…_"
EMPTY_QUESTION = "Hi! Ask me something after the mention, for example: _@me how do I rotate an IAM key?_"
FILES_ONLY = "I can only read text for now. Write your question in words and I'll answer it."
NOT_ALLOWED_HERE = "Sorry, I'm not set up to answer in this channel."
NOT_ALLOWED_FOR_YOU = "Sorry, I'm not set up to answer you. Ask the person who runs this bot to add you."
TOO_MANY_AT_ONCE = "I'm still working on {count} of your questions. Ask again when one of them is answered."
QUESTION_CUT = ":scissors: _Your message was long: I read only its first {limit:,} characters._"

STOP_NOTES = {
    "max_tokens": ":warning: _The answer was cut short: it reached the length limit set for this bot._",
    "content_filtered": ":warning: _The answer was stopped by a content filter._",
    "guardrail_intervened": ":warning: _A guardrail stopped the answer._",
    "model_context_window_exceeded": ":warning: _This conversation is too long for the model. Start a new thread._",
}
NORMAL_STOPS = ("end_turn", "stop_sequence")
UNEXPECTED_STOP = ":warning: _The model stopped before finishing its answer._"
INTERRUPTED = ":warning: _The answer was interrupted before it finished. Ask again to get the rest._"
TOOK_TOO_LONG = ":warning: _The answer took too long and was stopped. Ask again, or ask for something shorter._"
SHUTTING_DOWN = ":warning: _The bot restarted while answering, so this answer is unfinished. Ask again._"
EMPTY_ANSWER = "_The model sent back an empty answer. Try asking again, perhaps in other words._"
PART_MISSING = ":warning: _Slack did not take part of this answer, so some of it is missing above. Ask again._"
FAILED = ":warning: _Sorry, I couldn't get an answer from the model. The details are in the bot's log._"

MODEL_BUSY = ":hourglass: _The model is busy right now. Please ask again in a minute._"
MODEL_UNREACHABLE = ":warning: _I couldn't reach Amazon Bedrock. Please ask again in a moment._"
_TOO_LONG = ":warning: _This conversation is too long for the model. Start a new thread and ask again._"
_BEDROCK_NOTES = {
    "AccessDeniedException": (
        ":no_entry: _I'm not allowed to use the model. An admin needs to grant access to it in the Amazon "
        "Bedrock console (Model access) and allow `bedrock:InvokeModelWithResponseStream` for the bot._"
    ),
    "ResourceNotFoundException": (
        ":warning: _The model set for this bot doesn't exist in its AWS region. An admin should check "
        "`BEDROCK_MODEL_ID` and `AWS_REGION`._"
    ),
    "UnrecognizedClientException": ":no_entry: _AWS rejected the bot's credentials. An admin should check them._",
    "InvalidSignatureException": ":no_entry: _AWS rejected the bot's credentials. An admin should check them._",
    "ExpiredTokenException": ":no_entry: _The bot's AWS credentials have expired. An admin should renew them._",
    "ServiceQuotaExceededException": (
        ":hourglass: _The bot has used up its Bedrock quota for now. Ask again later, or ask an admin to "
        "raise the quota._"
    ),
    "ModelTimeoutException": ":warning: _The model took too long to answer. Ask again, perhaps more briefly._",
    "ModelErrorException": ":warning: _The model failed to answer. Please ask again._",
}
_INFERENCE_PROFILE = (
    ":warning: _This model can only be used through an inference profile. An admin should set "
    "`BEDROCK_MODEL_ID` to the id with a `us.`, `eu.`, `apac.` or `global.` prefix._"
)
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


def stop_note(stop_reason: str | None) -> str | None:
    """The note that ends an answer which stopped for `stop_reason`; None for a normal end."""
    if stop_reason in NORMAL_STOPS:
        return None
    return STOP_NOTES.get(stop_reason or "", UNEXPECTED_STOP)


def bedrock_code(error: BaseException) -> str | None:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "")
    return None


def failure_note(error: BaseException, got_text: bool) -> str:
    """What ends an answer that failed with `error`: once text has arrived it was interrupted; before
    that, whatever explains the error."""
    if got_text or isinstance(error, StreamEndedEarly):
        return INTERRUPTED
    return model_failure_note(error)


def plain(note: str) -> str:
    """A note without its Slack markup, for a terminal."""
    return re.sub(r"^:[a-z_]+: ", "", note).replace("_", "").replace("`", "")


def model_failure_note(error: BaseException) -> str:
    """What to tell the person when the model gave no answer at all because of `error`."""
    if isinstance(error, NoCredentialsError):
        return ":no_entry: _The bot has no AWS credentials. An admin needs to configure them._"
    code = bedrock_code(error)
    if code is None:
        return MODEL_UNREACHABLE if is_transient(error) else FAILED
    message = str(error.response.get("Error", {}).get("Message", "")).lower()  # type: ignore[attr-defined]
    if code.lower() == "validationexception":
        if "on-demand throughput" in message or "inference profile" in message:
            return _INFERENCE_PROFILE
        if any(words in message for words in ("too long", "too many tokens", "context", "input length")):
            return _TOO_LONG
        return FAILED
    if code in TRANSIENT_CODES:
        return MODEL_BUSY
    return _BEDROCK_NOTES.get(code, FAILED)


def slack_fix(code: str) -> str | None:
    """What an admin should do about a Slack error code, for the log."""
    return _SLACK_FIXES.get(code)

