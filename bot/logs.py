"""Logging set-up: one format, and no token ever written to the log."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"\b(?:xox[a-z]|xapp)-[A-Za-z0-9-]+")


class RedactSecrets(logging.Filter):
    """Replaces anything shaped like a Slack token with a marker, whatever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET.search(message):
            record.msg = _SECRET.sub("[redacted token]", message)
            record.args = None
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
