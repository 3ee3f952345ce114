"""State that several instances of the bot serving one workspace must share, behind one interface.

`SharedState` (in `base`) is what the rest of the bot asks: has this event been taken already, may this
Slack call spend a token of the workspace's budget, may this person start another answer. Two
implementations side by side:
- `local.LocalState`: one instance, everything in this process (the default, `REDIS_URL` unset);
- `redis.RedisState`: several instances, through Redis (`REDIS_URL`), falling back to a `LocalState` of its
  own whenever Redis does not answer within its short timeout, and back to Redis when it answers again.
"""
