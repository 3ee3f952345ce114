"""A Slack thread becomes the Bedrock conversation the model answers (`bot.conversation.build`).

Covers `build_conversation` (roles, ordering, merging, what is left out, speaker names, size budget),
`to_plain` / `question_text` (Slack markup turned into readable text, the bot's own mention removed)
and `Identity`.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.conversation.build import Identity, build_conversation, question_text, to_plain

BOT = Identity(user_id="UBOT", bot_id="BBOT")
NAMES = {"U1": "Alice", "U2": "Bob"}


def msg(ts, text, user="U1", **extra):
    return {"ts": str(ts), "user": user, "text": text, **extra}


def bot_msg(ts, text):
    return {"ts": str(ts), "user": "UBOT", "bot_id": "BBOT", "text": text}


def roles(conversation):
    return [turn["role"] for turn in conversation]


def texts(conversation):
    return [turn["content"][0]["text"] for turn in conversation]


def converse(history, question, **kwargs):
    kwargs.setdefault("bot", BOT)
    kwargs.setdefault("names", NAMES)
    return build_conversation(history, question, **kwargs)


# --- Identity ----------------------------------------------------------------------------------------


def test_identity_mention_is_the_slack_user_token():
    assert Identity("U42").mention == "<@U42>"


# --- roles and order ---------------------------------------------------------------------------------


def test_a_lone_question_is_one_user_turn():
    assert converse([], msg(1, "what is 2+2?")) == [{"role": "user", "content": [{"text": "what is 2+2?"}]}]


def test_bot_messages_are_assistant_and_people_are_user():
    history = [msg(1, "hi"), bot_msg(2, "hello, how can I help?")]
    out = converse(history, msg(3, "tell me a joke"))
    assert roles(out) == ["user", "assistant", "user"]
    assert texts(out) == ["hi", "hello, how can I help?", "tell me a joke"]


def test_bot_is_recognised_by_bot_id_alone():
    history = [msg(1, "hi"), {"ts": "2", "bot_id": "BBOT", "text": "hello"}]
    assert roles(converse(history, msg(3, "ok"))) == ["user", "assistant", "user"]


def test_bot_is_recognised_by_user_id_alone():
    history = [msg(1, "hi"), {"ts": "2", "user": "UBOT", "text": "hello"}]
    assert roles(converse(history, msg(3, "ok"))) == ["user", "assistant", "user"]


def test_another_bot_is_a_user_not_the_assistant():
    history = [msg(1, "hi"), {"ts": "2", "bot_id": "BOTHER", "text": "I am a different bot"}]
    out = converse(history, msg(3, "ok"), names={})
    assert roles(out) == ["user"]
    assert "I am a different bot" in texts(out)[0]


def test_history_is_put_in_time_order():
    history = [bot_msg(2, "second"), msg(1, "first")]
    assert texts(converse(history, msg(3, "third"))) == ["first", "second", "third"]


def test_conversation_never_starts_with_the_assistant():
    history = [bot_msg(1, "I started this thread"), msg(2, "hi")]
    out = converse(history, msg(3, "and?"))
    assert roles(out) == ["user"]
    assert texts(out) == ["hi\n\nand?"]


def test_consecutive_user_messages_are_merged_into_one_turn():
    history = [msg(1, "first"), msg(2, "second")]
    out = converse(history, msg(3, "third"))
    assert out == [{"role": "user", "content": [{"text": "first\n\nsecond\n\nthird"}]}]


def test_consecutive_bot_messages_are_merged_into_one_turn():
    history = [msg(1, "q"), bot_msg(2, "part one"), bot_msg(3, "part two")]
    out = converse(history, msg(4, "thanks"))
    assert roles(out) == ["user", "assistant", "user"]
    assert texts(out)[1] == "part one\n\npart two"


# --- what is left out --------------------------------------------------------------------------------


def test_blank_messages_are_dropped():
    history = [msg(1, "hi"), msg(2, "   "), msg(3, ""), {"ts": "4", "user": "U1"}, bot_msg(5, "<@UBOT>"), bot_msg(6, "yo")]
    out = converse(history, msg(7, "ok"))
    assert texts(out) == ["hi", "yo", "ok"]


def test_messages_at_or_after_the_question_are_dropped():
    question = msg("10.000200", "the question")
    history = [
        msg("10.000100", "before"),
        question,  # Slack returns the question itself in the thread
        bot_msg("10.000300", "_Thinking…_"),  # this reply's own placeholder
        msg("11", "later"),
    ]
    out = converse(history, question)
    assert texts(out) == ["before\n\nthe question"]


def test_the_bots_own_messages_listed_in_skip_texts_are_dropped():
    history = [msg(1, "q1"), bot_msg(2, "_Thinking…_"), bot_msg(3, "real answer")]
    out = converse(history, msg(4, "q2"), skip_texts=["_Thinking…_"])
    assert texts(out) == ["q1", "real answer", "q2"]


def test_skip_texts_do_not_drop_a_persons_message():
    history = [msg(1, "_Thinking…_")]
    out = converse(history, msg(2, "q"), skip_texts=["_Thinking…_"])
    assert "_Thinking…_" in texts(out)[0]


# --- Slack markup ------------------------------------------------------------------------------------


def test_the_bots_mention_is_removed_from_the_question():
    out = converse([], msg(1, "<@UBOT> what time is it?"))
    assert texts(out) == ["what time is it?"]


def test_the_bots_mention_never_reaches_the_model():
    history = [
        msg(1, "<@UBOT> hi"),
        bot_msg(2, "You wrote &lt;@UBOT&gt; to call me, or <@UBOT|bot>."),
        msg(3, "hey <@UBOT>, again: &lt;@UBOT&gt;", user="U2"),
    ]
    out = converse(history, msg(4, "<@UBOT>  <@UBOT> ok"))
    assert all("<@UBOT>" not in text for text in texts(out))
    assert all("UBOT" not in text for text in texts(out))


def test_other_mentions_become_at_names():
    assert question_text("ask <@U1> and <@U2>", BOT, NAMES) == "ask @Alice and @Bob"


def test_unknown_mention_uses_its_label_then_its_id():
    assert question_text("<@U9|carol> <@U8>", BOT, {}) == "@carol @U8"


def test_channel_reference_becomes_hash_name():
    assert question_text("see <#C1|general>", BOT) == "see #general"


def test_link_with_label_shows_label_and_target():
    assert question_text("read <https://x.example/a|the guide>", BOT) == "read the guide (https://x.example/a)"


def test_bare_link_shows_its_target():
    assert question_text("<https://x.example>", BOT) == "https://x.example"


def test_special_mentions_become_readable_words():
    assert question_text("<!here> <!channel>", BOT) == "@here @channel"


def test_escaped_characters_are_unescaped():
    assert question_text("is 1 &lt; 2 &amp;&amp; 3 &gt; 2?", BOT) == "is 1 < 2 && 3 > 2?"


def test_an_escaped_entity_is_unescaped_only_once():
    assert question_text("write &amp;lt; for <", BOT) == "write &lt; for <"


def test_to_plain_keeps_surrounding_whitespace_but_question_text_trims_it():
    assert to_plain("<@UBOT> hi ", BOT, {}) == " hi "
    assert question_text("<@UBOT> hi ", BOT) == "hi"


def test_question_text_of_a_bare_mention_is_empty():
    assert question_text("<@UBOT>", BOT) == ""


# --- several speakers --------------------------------------------------------------------------------


def test_with_several_people_each_user_turn_says_who_spoke():
    history = [msg(1, "I think A", user="U1"), bot_msg(2, "noted"), msg(3, "I think B", user="U2")]
    out = converse(history, msg(4, "so which?", user="U1"))
    assert texts(out) == ["Alice: I think A", "noted", "Bob: I think B\n\nAlice: so which?"]


def test_speaker_without_a_known_name_is_shown_by_id():
    out = converse([msg(1, "hello", user="U7")], msg(2, "hi", user="U1"))
    assert texts(out) == ["U7: hello\n\nAlice: hi"]


def test_with_a_single_person_turns_have_no_name_prefix():
    history = [msg(1, "hello"), bot_msg(2, "hi Alice")]
    out = converse(history, msg(3, "bye"))
    assert texts(out) == ["hello", "hi Alice", "bye"]


# --- size budget -------------------------------------------------------------------------------------


def long_thread():
    return [msg(1, "a" * 50), bot_msg(2, "b" * 50), msg(3, "c" * 50), bot_msg(4, "d" * 50)]


def test_within_budget_nothing_is_dropped():
    out = converse(long_thread(), msg(5, "now?"), budget_chars=10_000)
    assert len(out) == 5


def test_over_budget_the_oldest_turns_are_dropped_first():
    out = converse(long_thread(), msg(5, "now?"), budget_chars=120)
    assert texts(out) == ["c" * 50, "d" * 50, "now?"]


def test_far_over_budget_only_the_question_remains():
    out = converse(long_thread(), msg(5, "now?"), budget_chars=20)
    assert out == [{"role": "user", "content": [{"text": "now?"}]}]


def test_a_question_over_budget_on_its_own_keeps_its_end():
    question = "x" * 1000 + " THE ACTUAL QUESTION?"
    out = converse(long_thread(), msg(5, question), budget_chars=200)
    assert roles(out) == ["user"]
    (text,) = texts(out)
    assert text.endswith("x THE ACTUAL QUESTION?")
    assert len(text) <= 200


# --- a thread's first message ------------------------------------------------------------------------


def topic_thread():
    return [msg(1, "TOPIC: the billing migration"), bot_msg(2, "b" * 50), msg(3, "c" * 50), bot_msg(4, "d" * 50),
            msg(5, "e" * 50), bot_msg(6, "f" * 50)]


def test_over_budget_a_thread_keeps_its_first_message_ahead_of_its_newest_turns():
    out = converse(topic_thread(), msg(7, "now?"), budget_chars=250, keep_first=True)
    assert roles(out) == ["user", "assistant", "user"]
    first, answer, question = texts(out)
    assert first.startswith("TOPIC: the billing migration\n\n[…") and first.endswith("e" * 50)
    assert "c" * 50 not in first and (answer, question) == ("f" * 50, "now?")
    assert sum(map(len, texts(out))) <= 250


def test_within_budget_keeping_the_first_message_changes_nothing():
    plain = converse(topic_thread(), msg(7, "now?"), budget_chars=10_000)
    assert converse(topic_thread(), msg(7, "now?"), budget_chars=10_000, keep_first=True) == plain


def test_one_persons_long_thread_keeps_its_first_message_and_the_end_of_the_rest():
    history = [msg(1, "TOPIC"), *[msg(i, f"line {i} " + "z" * 40) for i in range(2, 60)]]
    [turn] = converse(history, msg(60, "so?"), budget_chars=1000, keep_first=True)
    text = turn["content"][0]["text"]
    assert text.startswith("TOPIC\n\n[…") and "line 59 " in text and text.endswith("so?")
    assert "line 2 " not in text and len(text) <= 1000


def test_a_long_first_message_gets_a_quarter_of_the_budget_at_most():
    history = [msg(1, "T" * 5000), bot_msg(2, "answer"), msg(3, "more")]
    [turn] = converse(history, msg(4, "and?"), budget_chars=1000, keep_first=True)
    text = turn["content"][0]["text"]
    assert text.startswith("T" * 200) and text.count("T") <= 250 and text.endswith("]\n\nmore\n\nand?")


def test_a_thread_the_bot_began_keeps_no_first_message_of_its_own():
    history = [bot_msg(1, "B" * 500), msg(2, "c" * 400), bot_msg(3, "d" * 400)]
    out = converse(history, msg(4, "now?"), budget_chars=300, keep_first=True)
    assert roles(out)[0] == "user" and not any("B" * 10 in text for text in texts(out))


# --- property ----------------------------------------------------------------------------------------

SPEAKERS = st.sampled_from(
    [
        {"user": "U1"},
        {"user": "U2"},
        {"user": "UBOT"},
        {"bot_id": "BBOT"},
        {"user": "UBOT", "bot_id": "BBOT"},
        {"bot_id": "BOTHER", "username": "other"},
    ]
)
TEXTS = st.sampled_from(["", " ", "\n", "<@UBOT>", "hi", "<@U1>", "&lt;x&gt;", "<#C1|g>", "_Thinking…_"]) | st.text(
    max_size=40
)


@st.composite
def threads(draw):
    raw = draw(st.lists(st.tuples(SPEAKERS, TEXTS, st.integers(0, 10_000)), max_size=25))
    history = [{"ts": f"{ts}.{i:06d}", "text": text, **who} for i, (who, text, ts) in enumerate(raw)]
    question_text_ = draw(st.text(min_size=1, max_size=40).filter(lambda t: question_text(t, BOT)))
    question = {"ts": "5000.5", "user": draw(st.sampled_from(["U1", "U2"])), "text": question_text_}
    return history, question


@settings(max_examples=300, deadline=None)
@given(threads(), st.integers(min_value=1, max_value=2_000), st.booleans())
def test_any_thread_gives_an_alternating_conversation_that_ends_with_the_question(thread, budget, keep_first):
    history, question = thread
    out = converse(history, question, budget_chars=budget, skip_texts=["_Thinking…_"], keep_first=keep_first)
    assert out, "the question itself is never dropped"
    assert roles(out)[0] == "user"
    assert roles(out)[-1] == "user"
    assert all(a != b for a, b in zip(roles(out), roles(out)[1:]))
    assert all(text.strip() for text in texts(out))
    assert texts(out)[-1].endswith(question_text(question["text"], BOT, NAMES)[-1])


def test_a_nested_escaped_bot_mention_is_removed_completely():
    [turn] = build_conversation([], {"ts": "1", "user": "U1", "text": "&lt;@UB&lt;@UBOT&gt;OT&gt; hi"},
                                bot=Identity("UBOT"))
    assert "<@UBOT>" not in turn["content"][0]["text"]
