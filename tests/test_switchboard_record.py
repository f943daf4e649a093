"""What the switchboard keeps of one conversation: compact inside, the usual values outside."""

from __future__ import annotations

from handoff_fsm.adapters.store import checkpoint_codec as codec
from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.effects import Entry, Handover
from handoff_fsm.events import Start
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect
from handoff_fsm.switchboard.record import ConversationRecord
from handoff_fsm.testing.fingerprint import fingerprint


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


def test_a_conversation_no_bot_handed_over_has_no_bot_to_return_to() -> None:
    sb = _humans_only()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    assert sb.state_of("c1") is State.WAITING
    assert switchboard_inspect.return_bot_of(sb, "c1") is None


def test_a_conversation_never_offered_checkpoints_and_restores_as_it_was() -> None:
    """Every field of a new record has a value a checkpoint can carry, even those (the offer
    token) that only an offer sets."""
    sb = Switchboard(
        Config.build(
            [ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=2)],
            [QueueSpec(name="support", members=("bot-a",))],
        )
    )
    sb.step(Start(conversation="c1", queue="support"), now=0)
    g, participants, conversations = codec.encode_all(sb)
    loaded = codec.load(sb.config, g, participants, list(conversations.items()), "test")
    assert fingerprint(loaded) == fingerprint(sb)


def _humans_only() -> Switchboard:
    return Switchboard(
        Config.build(
            [ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1)],
            [QueueSpec(name="support", members=("rep-1",))],
        )
    )


def test_many_lines_said_at_once_read_back_as_said_one_by_one() -> None:
    lines = [("customer", "hi"), ("bot-a", "hello"), ("customer", "refund")]
    one_by_one, at_once = ConversationRecord("c1", {}), ConversationRecord("c1", {})
    for sender, text in lines:
        one_by_one.say(sender, text)
    at_once.say("customer", "first")
    at_once.say_all(lines)
    assert list(at_once.lines()) == [("customer", "first"), *lines]
    assert at_once.transcript[2:] == one_by_one.transcript
