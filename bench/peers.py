"""Other Slack LLM bots' pacing rules, run inside this bot: `python -m bench.peers RULE`.

Only the rule that decides when to edit changes: the bench replaces the edit sink (and, for a rule that
counts the model's chunks, the layout that gathers them) with the subclasses below, in its own process,
then runs `python -m bot` as usual, with the edit surface, a placeholder, and no shared budget of the
bot's own (each reply paces itself, as these bots do). Everything else stays this bot's (the stream read
apart from Slack, one call in flight per reply, the newest text in every edit, Slack's Retry-After honoured
for the whole process, posts and final edits retried). The peers as shipped have none of that, so they
would do worse than they do here: the comparison is kind to them.
"""

from __future__ import annotations

import math
import sys

import bot.sinks.delivery as delivery
from bot.__main__ import main
from bot.layout.layout import Layout
from bot.sinks.edit import EditSink

# rule → (where it comes from, counts chunks or characters, how many, the model waits for each edit)
RULES = {
    "every 20 chunks": ("seratch/ChatGPT-in-Slack", "deltas", 20, False),
    "every 20 chars": ("iwamot/collmbo", "chars", 20, False),
    "every 10 deltas inline": ("KyMidd/SlackAIBotServerless: the stream waits for each edit", "deltas", 10, True),
    "fixed 1 s": ("each reply on its own: first words at once, then one edit a second", None, 0, False),
}
ENV = {  # the settings every peer runs with
    "SLACK_REPLY_SURFACE": "edit",
    "SLACK_STATUS": "off",
    "SLACK_FEEDBACK_BUTTONS": "off",
    "SLACK_UPDATE_INTERVAL_SECONDS": "1.0",
    "SLACK_RATE_LIMITS": "chat.update=none/1,chat.postMessage@channel=none/1",
}


def peer(rule: str) -> None:
    _, counts, count, inline = RULES[rule]
    if counts is None:
        return  # the edit sink's own interval, with no shared budget

    class CountingLayout(Layout):
        """Counts what the model sent since the text was last taken into a message."""

        since = 0

        def feed(self, text: str) -> bool:
            first = super().feed(text)
            if text and not self.finished:
                self.since += 1 if counts == "deltas" else len(text)
                return first or self.since >= count  # wake the writer when the rule is met
            return first

        def absorb(self) -> bool:
            self.since = 0
            return super().absorb()

    class PeerEditSink(EditSink):
        def _wanted_at(self, message_index: int) -> float | None:
            return -math.inf if self._layout.since >= count else None

    delivery.Layout = CountingLayout
    delivery.EditSink = PeerEditSink
    if inline:
        feed = delivery.Delivery.feed

        def feed_and_wait(self, text: str) -> None:  # the model is read only when no edit is due
            feed(self, text)
            with self._changed:
                writer = self._writer
                while writer is not None and not writer.join(0) and (
                        writer.sink._in_flight is not None or writer.sink.due(writer._clock()) is not None):
                    self._changed.wait(0.05)

        delivery.Delivery.feed = feed_and_wait


if __name__ == "__main__":
    peer(sys.argv[1])
    sys.exit(main([]))
