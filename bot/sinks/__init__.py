"""Sinks: where a reply's messages go, edited messages or Slack's native streams, call by call."""
