"""JSON from outside (a request body, an envelope, a button's value), read without ever raising: nested past
the parser's depth (`RecursionError`, which is no `ValueError`) or malformed, it is simply not an object."""

from __future__ import annotations

import json


def json_object(text: str) -> dict | None:
    """The JSON object `text` holds, or None (not JSON, not an object, nested too deep to read)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
