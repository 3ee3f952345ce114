"""What Slack's file host sends instead of a file the token may not read: an HTML sign-in page. Pure."""

from __future__ import annotations

_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


def looks_like_html(data: bytes) -> bool:
    """Whether `data` is an HTML page."""
    start = bytes(data[:1024]).removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return start.startswith(_HTML_STARTS)
