"""What the switchboard keeps of one conversation: compact inside, the usual values outside."""

from __future__ import annotations

from handoff_fsm.effects import Entry, Handover
from handoff_fsm.switchboard.record import ConversationRecord


def test_variables_merge_as_a_dict_update_and_keep_the_order_they_were_first_set() -> None:
    record = ConversationRecord("c1", {"lang": "en", "channel": "web"})
    record.merge_variables({"channel": "app", "topic": ["billing"]})
    assert list(record.variable_map().items()) == [
        ("lang", "en"),
        ("channel", "app"),
        ("topic", ["billing"]),
    ]


def test_the_context_handed_out_has_entries_in_order_and_shares_nothing_mutable() -> None:
    record = ConversationRecord("c1", {"topic": ["billing"]})
    record.say("customer", "hello")
    record.say("bot-a", "hi")
    record.handover = Handover(sender="bot-a", reason="dispute")
    context = record.context()
    assert context.transcript == (
        Entry(sender="customer", text="hello"),
        Entry(sender="bot-a", text="hi"),
    )
    assert list(record.lines()) == [("customer", "hello"), ("bot-a", "hi")]
    assert context.handover == Handover(sender="bot-a", reason="dispute")
    topic = context.variables["topic"]
    assert isinstance(topic, list)
    topic.append("changed")
    assert record.variable_map() == {"topic": ["billing"]}


def test_a_new_record_allocates_nothing_for_what_most_conversations_never_have() -> None:
    a, b = ConversationRecord("c1", {}), ConversationRecord("c2", {})
    assert a.monitors is b.monitors and a.proposals is b.proposals and a.transcript == ()
    assert a.variables is b.variables and a.survey_answers is None
