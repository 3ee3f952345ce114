"""Intake: a Slack event becomes a request for an answer (or nothing), and Bolt's listeners hand it on."""
