"""The check's view of a state: what the effects told it, and the one canonical fingerprint.

The fingerprint must tell apart states with different futures (who holds, who passed, what is
absent) and merge states that differ only by renaming equivalent participants or conversations.
"""

from __future__ import annotations

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.events import Decline, Escalate, PresenceStatus, Start, Wanted
from handoff_fsm.lifecycle import State
from handoff_fsm.planning.check_explore import Bounds, Explorer, Move
from handoff_fsm.planning.check_world import (
    Conversation,
    World,
    fingerprint,
    participant_classes,
    still_reachable,
)  # fmt: skip
from handoff_fsm.switchboard import Switchboard

CONFIG = Config.build(
    [
        ParticipantSpec(id="bot", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="ann", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="bob", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="cy", kind=Kind.HUMAN, capacity=2),
    ],
    [QueueSpec(name="support", members=("bot", "ann", "bob", "cy"))],
)
CLASSES = participant_classes(CONFIG)
REACH = still_reachable(CONFIG)


def key(world: World) -> object:
    states = {c.id: State.WAITING for c in world.conversations}
    return fingerprint(CONFIG, CLASSES, world, states, REACH)


def waiting(offer: str | None, passed: frozenset[str] = frozenset(), cid: str = "c1") -> World:
    record = Conversation(id=cid, queue="support", offer=offer, wanted=Wanted.HUMAN,
                          passed=passed, held=frozenset({"bot"}))  # fmt: skip
    return World(conversations=(record,))


def test_participants_of_one_class_are_renamed_alike() -> None:
    assert CLASSES["ann"] == CLASSES["bob"] != CLASSES["cy"]
    assert key(waiting("ann")) == key(waiting("bob"))
    assert key(waiting("ann", frozenset({"bob"}))) == key(waiting("bob", frozenset({"ann"})))


def test_conversations_are_named_by_order_of_appearance() -> None:
    assert key(waiting("ann", cid="c1")) == key(waiting("ann", cid="c7"))


def test_states_with_different_futures_differ() -> None:
    assert key(waiting("ann")) != key(waiting("cy"))
    assert key(waiting("ann")) != key(waiting("ann", frozenset({"bob"})))
    assert key(waiting("ann")) != key(waiting(None))
    away = World(conversations=waiting("ann").conversations,
                 absent=(("cy", PresenceStatus.AWAY),))  # fmt: skip
    assert key(away) != key(waiting("ann"))


def test_observe_follows_holders_offers_and_declines_from_the_effects() -> None:
    explorer = Explorer(CONFIG, Bounds())
    board_world = [World()]
    board = Switchboard(CONFIG)
    for event in (
        Start(conversation="c1", queue="support"),
        Escalate(conversation="c1", participant="bot"),
        Decline(conversation="c1", participant="cy"),
    ):
        outcome = explorer.apply(board, board_world[-1], Move(event=event))
        assert outcome is not None
        board_world.append(outcome[0])
    record = board_world[-1].conversation("c1")
    assert record.holder is None and record.offer == "ann"  # cy (most room) passed; then ann
    assert record.passed == {"cy"} and record.held == {"bot"}
    assert (record.origin, record.wanted) == ("escalation", Wanted.HUMAN)
