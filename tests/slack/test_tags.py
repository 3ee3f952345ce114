"""How a reply finds its own messages: a lost stream start by the words it carried (beside task cards too), and a
redelivery by the thread's messages."""

from __future__ import annotations

from bot.slack import methods, tags
from bot.slack.tags import Tag

TAG = Tag("Ev1", 0, "100.1")


def test_a_lost_start_is_found_by_its_words_even_beside_task_cards_and_a_start_of_cards_alone_never():
    with_cards = {"chunks": [{"type": "task_update", "id": "t1", "title": "Searching", "status": "pending"},
                             {"type": "markdown_text", "text": "Sure"}]}
    landed = TAG.landed(methods.START, with_cards)
    assert landed({"ts": "1.2", "bot_id": "B1", "text": "Sure"})
    assert not landed({"ts": "1.2", "bot_id": "B1", "text": "Sure, and more"})
    cards_alone = TAG.landed(methods.START, {"chunks": [with_cards["chunks"][0]]})
    assert not cards_alone({"ts": "1.2", "bot_id": "B1", "text": ""})  # nothing to tell it by: never adopted


def test_the_bots_untagged_message_counts_as_the_answer_only_in_a_thread():
    untagged = {"ts": "101.1", "bot_id": "BBOT", "text": "Sure"}  # an open stream, or an answer to a later question

    def call(method, **params):
        return {"messages": [untagged]}

    assert tags.answered("Ev1", call, "C1", "100.1", "100.1", bot_id="BBOT")  # in the question's thread
    assert not tags.answered("Ev1", call, "D1", None, "100.1", bot_id="BBOT")  # a DM answered in line
    assert not tags.answered("Ev1", call, "C1", "100.1", "100.1", bot_id="BOTHER")  # another app's
