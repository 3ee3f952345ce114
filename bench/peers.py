"""Other Slack LLM bots' pacing rules, run inside this bot: `python -m bench.peers RULE`.

Only the rule that decides when a growing message is edited changes: each is a cadence (`bot.sinks.cadence`)
the bench hands to the bot it starts, with the edit surface, a placeholder, and no shared budget of the
bot's own (each reply paces itself, as these bots do). Everything else stays this bot's (the stream read
apart from Slack, one call in flight per reply, the newest text in every edit, Slack's Retry-After honoured
for the whole process, posts and final edits retried). The peers as shipped have none of that, so they
would do worse than they do here: the comparison is kind to them. (KyMidd's bot also reads the model only
between its edits; here the model is read while an edit waits, which is kinder still.)
"""

from __future__ import annotations

import os
import sys

from dotenv import load_dotenv

from bot.__main__ import serve
from bot.settings import Settings, SettingsError
from bot.sinks.cadence import Cadence, Every, EveryChars, EveryChunks

# rule → (where it comes from, its cadence)
RULES: dict[str, tuple[str, Cadence]] = {
    "every 20 chunks": ("seratch/ChatGPT-in-Slack", EveryChunks(20)),
    "every 20 chars": ("iwamot/collmbo", EveryChars(20)),
    "every 10 deltas": ("KyMidd/SlackAIBotServerless", EveryChunks(10)),
    "fixed 1 s": ("each reply on its own: first words at once, then one edit a second", Every(1.0)),
}
ENV = {  # the settings every peer runs with
    "SLACK_REPLY_SURFACE": "edit",
    "SLACK_STATUS": "off",
    "SLACK_FEEDBACK_BUTTONS": "off",
    "SLACK_UPDATE_INTERVAL_SECONDS": "1.0",
    "SLACK_RATE_LIMITS": "chat.update=none/1,chat.postMessage@channel=none/1",
}


def main(rule: str) -> int:
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    return serve(settings, cadence=RULES[rule][1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
