"""The log: one line per record, whatever text from outside it quotes (issue 22, item 9: log forging)."""

from __future__ import annotations

import io
import logging

from bot.logs import OneLine, RedactSecrets


def handler_to(stream: io.StringIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    handler.addFilter(OneLine())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    return handler


def test_a_name_with_a_newline_cannot_forge_a_log_line():
    stream = io.StringIO()
    log = logging.getLogger("test.forging")
    log.propagate, log.level = False, logging.INFO
    log.addHandler(handler_to(stream))
    try:
        log.info("could not read %s", "report.pdf\nERROR bot.reply: the admin password is hunter2\r\x1b[2J")
    finally:
        log.handlers.clear()
    lines = stream.getvalue().splitlines()
    assert lines == ["INFO test.forging: could not read report.pdf\\nERROR bot.reply: the admin password is "
                     "hunter2\\r\\x1b[2J"]


def test_a_traceback_keeps_its_lines():
    stream = io.StringIO()
    log = logging.getLogger("test.traceback")
    log.propagate = False
    log.addHandler(handler_to(stream))
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed")
    finally:
        log.handlers.clear()
    assert stream.getvalue().startswith("ERROR test.traceback: it failed\nTraceback (most recent call last):")


def test_a_status_naming_a_file_is_one_plain_line():
    from bot import notes

    assert notes.reading("report\n<!channel>.pdf") == "is reading report !channel .pdf…"


def test_slacks_verification_and_action_tokens_are_redacted_in_every_shape_bolt_logs():
    from bot.logs import redact

    for line in ('{"token": "vErIfY123"}', "{'token': 'vErIfY123'}", "token=vErIfY123&x=1", 'token = "vErIfY123"',
                 "payload=%7B%22token%22%3A%22vErIfY123%22%7D", '"action_token":"vErIfY123"'):
        assert "vErIfY123" not in redact(line), line
    for kept in ("tokens_in=11 tokens_out=5", "max_tokens=2048", "next_token=abc", "inputTokens 12"):
        assert redact(kept) == kept
