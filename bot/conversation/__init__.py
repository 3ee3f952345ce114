"""The conversation: what was said before a question (read from Slack), made into model messages."""
