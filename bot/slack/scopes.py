"""The scopes Slack granted the bot token, as `auth.test` reports them (its `x-oauth-scopes` header)."""

from __future__ import annotations

from typing import Any


def granted(response: Any) -> frozenset[str]:
    """The scopes in an `auth.test` response's headers (empty if Slack did not say)."""
    headers = {key.lower(): value for key, value in (getattr(response, "headers", None) or {}).items()}
    header = headers.get("x-oauth-scopes", "")
    if isinstance(header, (list, tuple)):
        header = ",".join(header)
    return frozenset(scope.strip() for scope in str(header).split(",") if scope.strip())
