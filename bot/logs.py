"""Logging set-up: one format, and no token or credential ever written to the log."""

from __future__ import annotations

import logging
import re

from bot import notes

REDACTED = "[redacted token]"
_SLACK_TOKEN = re.compile(r"\b(?:xox[a-z]|xapp)-[A-Za-z0-9-]+")
# AWS secrets have no shape of their own, so they are found by their names, in the forms botocore logs at DEBUG:
# a request's headers (`'X-Amz-Security-Token': b'…'`), the canonical request it signs (`x-amz-security-token:…`),
# a credential service's answer (`"SessionToken": "…"`, `<SecretAccessKey>…`), and a presigned URL's query.
_AWS_SECRET = re.compile(
    r"""(?i)((?:x-amz-security-token|session_?token|secret_?access_?key)['"]?\s*[:=>]\s*b?['"]?)"""
    r"""[^\s'"<>,&}]+"""
)
# The Authorization header names the access key (`Credential=AKIA…/date/region/service/aws4_request`) and the
# request's signature, which botocore also logs on a line of its own (`Signature:\n…`).
_AWS_CREDENTIAL = re.compile(r"((?:X-Amz-)?Credential=)[^/\s'\",&]+")
_AWS_SIGNATURE = re.compile(r"(?i)((?:X-Amz-)?Signature[=:]\s*)[0-9a-f]{64}")
# Slack's verification token (an event's or a click's `token`, which Bolt logs at DEBUG with the whole body) and
# an event's `action_token` (Slack search as the asker), as JSON, a Python dict or a form field.
_SLACK_FIELD = re.compile(r"""((?:^|[^A-Za-z0-9_]|%22)(?:action_)?token(?:['"]|%22)?\s*(?::|=|%3A)\s*(?:['"]|%22)?)"""
                          r"""[^'"&\s%]+""")


def redact(text: str) -> str:
    """`text` with every Slack token and AWS secret replaced by a marker."""
    text = _SLACK_TOKEN.sub(REDACTED, text)
    text = _AWS_SECRET.sub(rf"\1{REDACTED}", text)
    text = _SLACK_FIELD.sub(rf"\1{REDACTED}", text)
    text = _AWS_CREDENTIAL.sub(r"\1[redacted]", text)
    return _AWS_SIGNATURE.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    """Replaces anything shaped like a Slack token, or named as an AWS secret, with a marker, whatever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]} | {ord("\n"): "\\n", ord("\r"): "\\r",
                                                                   ord("\t"): "\\t"}


class OneLine(logging.Filter):
    """Every record's message on one line, its control characters written as escapes: text from outside (a file
    name, a button's value, a tool's error) cannot forge a log line of its own. A traceback, which the formatter
    adds after the message, keeps its lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = message.translate(_CONTROL)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


class SlackFixes(logging.Filter):
    """A line about a Slack failure (logged with `extra={"slack_code": code}`) ends with what an admin should
    do about that code, where `notes` knows it: the Slack edge reports kinds and codes, the words are here.
    `explain_slack_failures` puts it on the logger of the Slack call policy."""

    def filter(self, record: logging.LogRecord) -> bool:
        fix = notes.slack_fix(getattr(record, "slack_code", None) or "")
        if fix:
            record.msg, record.args = f"{record.getMessage()} ({fix})", None
        return True


SLACK_CALLS_LOGGER = "bot.slack.calls"


def explain_slack_failures() -> None:
    """Every line the Slack call policy logs about a failure says what an admin should do about its code
    (once, whatever handlers the log goes to)."""
    logger = logging.getLogger(SLACK_CALLS_LOGGER)
    if not any(isinstance(existing, SlackFixes) for existing in logger.filters):
        logger.addFilter(SlackFixes())


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    handler.addFilter(OneLine())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
