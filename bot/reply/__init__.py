"""One reply, end to end, and the registry of replies in flight."""
