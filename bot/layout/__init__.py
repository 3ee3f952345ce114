"""Layout: the answer's Markdown laid out as Slack messages (pure): splitting, rollover, formatting, notes."""
