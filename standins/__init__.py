"""Local stand-ins for Slack and Bedrock that speak the real protocols on 127.0.0.1 (used by the tests and
the benchmark; not part of the bot)."""
