"""Finding rules one by one: a witness step is the scenario format, structural rules read the
configuration, and a defect seeded into a good deployment turns its rule on."""

from __future__ import annotations

from handoff_fsm.config import (
    Config,
    Kind,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Settings,
)  # fmt: skip
from handoff_fsm.events import Tick, Transfer, Wanted
from handoff_fsm.planning.check import check
from handoff_fsm.planning.check_explore import Exploration, Move
from handoff_fsm.planning.check_findings import CODES, Level, _some, step_of, structural


def codes(config: Config) -> set[str]:
    return {f.code for f in check(config).findings}


GOOD = Config.build(
    [ParticipantSpec(id="bot", kind=Kind.BOT, capacity=10),
     ParticipantSpec(id="ann", kind=Kind.HUMAN, capacity=2)],
    [QueueSpec(name="support", members=("bot", "ann"), wait_timeout=300)],
)  # fmt: skip


def test_steps_keep_only_what_differs_from_the_defaults() -> None:
    move = Move(event=Transfer(conversation="c1", participant="ann", queue="q", kind=Wanted.BOT))
    assert step_of(move) == {
        "transfer": {"conversation": "c1", "participant": "ann", "queue": "q", "kind": "bot"}
    }
    assert step_of(Move(event=Tick(now=60.0), now=60.0)) == {"tick": {"now": 60}}


def test_a_good_deployment_has_no_error_and_its_defects_each_turn_a_rule_on() -> None:
    assert not check(GOOD).errors
    no_room = Config.build(GOOD.participants, [QueueSpec(name="support", members=("bot", "ann"),
                                                         units=3, wait_timeout=300)])  # fmt: skip
    assert "escalation-unserved" in codes(no_room)
    empty = Config.build(GOOD.participants, [*GOOD.queues, QueueSpec(name="x", members=())])
    assert "queue-no-members" in codes(empty)
    overlap = Config.build(
        GOOD.participants,
        GOOD.queues,
        Settings(escalation_phrases=("agent",), cancel_phrases=("no agent",)),
    )
    assert "phrase-overlap" in codes(overlap)


def test_the_other_direction_of_overlapping_phrases_is_a_warning() -> None:
    config = Config.build(GOOD.participants, GOOD.queues,
                          Settings(escalation_phrases=("cancel and talk to agent",),
                                   cancel_phrases=("cancel",)))  # fmt: skip
    found = [f for f in check(config).findings if f.code == "phrase-contains-cancel"]
    assert found and found[0].level is Level.WARNING


def test_a_ring_no_conversation_was_seen_going_round_is_a_warning() -> None:
    ring = [
        QueueSpec(
            name="a", members=("bot",), wait_timeout=60, overflow=OverflowTransfer(queue="b")
        ),
        QueueSpec(
            name="b", members=("bot",), wait_timeout=60, overflow=OverflowTransfer(queue="a")
        ),
    ]
    config = Config.build([ParticipantSpec(id="bot", kind=Kind.BOT, capacity=10)], ring)
    found = [f for f in structural(config, Exploration()) if f.code.startswith("overflow")]
    assert [(f.code, f.place) for f in found] == [("overflow-ring", "queues.a.overflow")]


def test_errors_are_the_codes_that_always_carry_a_witness() -> None:
    errors = {code for code, (level, _) in CODES.items() if level is Level.ERROR}
    assert errors == {
        "queue-no-members",
        "escalation-unserved",
        "bot-order",
        "transfer-to-bot-unserved",
        "return-unserved",
        "overflow-cycle",
        "wait-forever",
        "phrase-overlap",
    }


def test_long_lists_of_names_are_cut() -> None:
    assert _some(["b", "a"]) == "a, b"
    assert _some([f"rep-{n}" for n in range(1, 8)]) == "rep-1, rep-2, rep-3, rep-4 and 3 more"
