"""Every message of a reply carries a tag (Slack message metadata) naming the event it answers and which of the
reply's messages it is. A post whose answer was lost (the connection dropped after Slack may have taken it)
is looked for by its tag before it is tried again, so a reply's messages are posted exactly once; a
redelivered event is looked for the same way before it is answered.

A native stream cannot carry metadata until it stops, so a stream start whose answer was lost is looked for
by its text instead: the first words it carried, in a message no other reply has tagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from bot.slack import methods

EVENT_TYPE = "bedrock_reply"
_PAGES = 5  # a look-up reads at most this many pages of the thread after the question


@dataclass(frozen=True)
class Tag:
    event: str  # the event_id the reply answers
    part: int  # which message of the reply (0: the first)
    after: str | None = None  # the question's ts: the reply's messages are newer

    def metadata(self) -> dict:
        return {"event_type": EVENT_TYPE, "event_payload": {"event": self.event, "part": self.part}}

    @staticmethod
    def of(message: Mapping) -> "Tag | None":
        """The tag a message carries, if it is one of ours."""
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") != EVENT_TYPE or not isinstance(payload.get("event"), str):
            return None
        part = payload.get("part")
        return Tag(payload["event"], part if isinstance(part, int) else 0)

    def landed(self, method: str, params: Mapping) -> Callable[[Mapping], bool]:
        """Whether a message in the thread is the one a call of `method` with `params` posted."""
        if method == methods.START:
            first_words = start_words(params)
            return lambda message: (bool(first_words) and bool(message.get("bot_id")) and Tag.of(message) is None
                                    and (message.get("text") or "").strip() == first_words)
        return lambda message: (found := Tag.of(message)) is not None and (found.event, found.part) == (
            self.event, self.part)


def start_words(params: Mapping) -> str:
    """The first words a stream start carried (as `markdown_text`, or in its markdown chunks beside task cards);
    "" for a start of cards alone, which is never looked for by its words."""
    chunks = params.get("chunks") or []
    return ((params.get("markdown_text") or "") + "".join(
        chunk.get("text", "") for chunk in chunks if isinstance(chunk, Mapping) and chunk.get("type") == "markdown_text"
    )).strip()


def messages_after(call: Callable[..., Any], channel: str, thread_ts: str | None,
                   after: str | None) -> Iterator[Mapping]:
    """The messages newer than `after` in the thread (or, with no thread, in the conversation), with their
    metadata. `call(method, **params)` makes one Slack call and returns its answer (a mapping)."""
    if thread_ts is None:
        data = call(methods.HISTORY, channel=channel, oldest=after or "0", limit=100,
                    include_all_metadata=True)
        yield from data.get("messages") or []
        return
    cursor = None
    for _ in range(_PAGES):
        data = call(methods.REPLIES, channel=channel, ts=thread_ts, oldest=after or "0", limit=200,
                    include_all_metadata=True, **({"cursor": cursor} if cursor else {}))
        yield from (message for message in data.get("messages") or [] if message.get("ts") != thread_ts)
        cursor = (data.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return


def answered(event: str, call: Callable[..., Any], channel: str, thread_ts: str | None,
             after: str | None, bot_id: str | None = None) -> bool:
    """Some message in the thread after the question is tagged as the reply to `event`, or, in a thread (not a
    DM answered in line, whose later messages may answer later questions), is a message of the bot's (`bot_id`)
    with no tag: a stream still open (a stream takes its tag when it stops), which a redelivery must not answer
    again."""
    return any((tag := Tag.of(message)) is not None and tag.event == event
               or (tag is None and bot_id is not None and thread_ts is not None and message.get("bot_id") == bot_id)
               for message in messages_after(call, channel, thread_ts, after))
