"""Profiles: what the bot is in each place. A profile file (`PROFILES_FILE`, TOML) maps channels, DMs and a
default to a profile (system prompt, model, maximum tokens, knowledge bases, tools, who may ask, follow-ups,
the messages tab's greeting and prompts); whatever a profile leaves out comes from the environment's settings.

`profile` holds the records and the pure rule that picks one for a conversation, `parse` reads the file, `watch`
re-reads it when it changes (no restart), `people` answers whether a person is in the user groups a profile
names.
"""
