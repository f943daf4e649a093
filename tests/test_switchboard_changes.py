"""The live changes through the switchboard (SPEC §5, contract v2): each takes effect at once,
and each refusal has its code and changes nothing."""

from __future__ import annotations

import pytest

from handoff_fsm.config import (
    Config,
    Kind,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Settings,
    Strategy,
)
from handoff_fsm.events import (
    Accept,
    AddParticipant,
    AddQueue,
    CustomerLeft,
    Escalate,
    Event,
    JoinQueue,
    LeaveQueue,
    Monitor,
    PresenceStatus,
    RemoveParticipant,
    RemoveQueue,
    SetCapacity,
    SetSkills,
    Start,
    UpdateQueue,
)
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.testing import Auditor
from handoff_fsm.testing.fingerprint import fingerprint


def board(*, rep_presence: PresenceStatus = PresenceStatus.OFFLINE) -> Switchboard:
    return Switchboard(
        Config.build(
            [
                ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
                ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=2, presence=rep_presence),
            ],
            [QueueSpec(name="support", members=("bot-a", "rep-1"), offer_timeout=60)],
            Settings(),
        )
    )


def waiting(sb: Switchboard, cid: str = "c1") -> Switchboard:
    sb.step(Start(conversation=cid, queue="support"), now=0)
    sb.step(Escalate(conversation=cid, participant="bot-a"), now=1)
    return sb


def kinds(sb: Switchboard, event: Event, now: float = 5) -> list[tuple[str, str | None]]:
    result = sb.step(event, now=now)
    assert result.error is None, result.error
    return [(e.KIND, e.to) for e in result.effects]


def test_a_participant_defined_offline_is_offered_nothing() -> None:
    sb = waiting(board())
    assert sb.conversation("c1") is not None and sb.conversation("c1").queue == "support"  # type: ignore[union-attr]
    assert sb.participant_views()[1].offers == ()


def test_an_added_member_is_offered_a_waiting_conversation_in_the_same_step() -> None:
    sb = waiting(board())
    add = AddParticipant(participant="rep-2", kind=Kind.HUMAN, capacity=1, queues=("support",))
    assert kinds(sb, add) == [("offer", "rep-2")]
    assert sb.world.queues[0].members == ("bot-a", "rep-1", "rep-2")


def test_an_added_participant_defined_away_is_offered_nothing() -> None:
    sb = waiting(board())
    add = AddParticipant(
        participant="rep-2", kind=Kind.HUMAN, presence=PresenceStatus.AWAY, queues=("support",)
    )
    assert kinds(sb, add) == []


def test_joining_a_queue_serves_its_line_and_leaving_withdraws_the_offers_of_that_queue() -> None:
    sb = waiting(board())
    sb.step(AddParticipant(participant="rep-2", kind=Kind.HUMAN), now=2)
    assert kinds(sb, JoinQueue(participant="rep-2", queue="support")) == [("offer", "rep-2")]
    assert kinds(sb, LeaveQueue(participant="rep-2", queue="support")) == [
        ("offer_withdrawn", "rep-2")
    ]


def test_a_capacity_below_the_load_keeps_the_holds_and_withdraws_the_offers() -> None:
    sb = waiting(board(rep_presence=PresenceStatus.AVAILABLE))
    sb.step(Accept(conversation="c1", participant="rep-1"), now=2)
    sb.step(Start(conversation="c2", queue="support"), now=3)
    sb.step(Escalate(conversation="c2", participant="bot-a"), now=4)
    assert sb.participant_views()[1].offers == ("c2",)
    assert kinds(sb, SetCapacity(participant="rep-1", capacity=0)) == [("offer_withdrawn", "rep-1")]
    view = sb.participant_views()[1]
    assert (view.holds, view.offers, view.load, view.capacity) == (("c1",), (), 1, 0)
    assert kinds(sb, SetCapacity(participant="rep-1", capacity=2), now=6) == [("offer", "rep-1")]


def test_removing_a_holder_is_going_offline_then_leaving_every_queue() -> None:
    sb = waiting(board(rep_presence=PresenceStatus.AVAILABLE))
    sb.step(Accept(conversation="c1", participant="rep-1"), now=2)
    sb.step(Start(conversation="c2", queue="support"), now=3)
    sb.step(Monitor(conversation="c2", participant="rep-1"), now=3)
    assert kinds(sb, RemoveParticipant(participant="rep-1")) == [
        ("participant_removed", "rep-1"),
        ("participant_removed", "rep-1"),
    ]
    assert [p.id for p in sb.world.participants] == ["bot-a"]
    assert sb.world.queues[0].members == ("bot-a",)
    assert sb.step(Accept(conversation="c1", participant="rep-1"), now=6).error.code == (  # type: ignore[union-attr]
        "unknown_participant"
    )


def test_a_new_queue_and_an_update_apply_to_what_comes_after() -> None:
    sb = board(rep_presence=PresenceStatus.AVAILABLE)
    add = AddQueue(queue="billing", participants=("rep-1",), strategy=Strategy.ROUND_ROBIN)
    assert kinds(sb, add) == []
    assert kinds(sb, UpdateQueue(queue="billing", offer_timeout=30.0, units=2)) == []
    assert sb.world.queues[1].offer_timeout == 30.0 and sb.world.queues[1].units == 2
    assert kinds(sb, Start(conversation="c1", queue="billing")) == [("offer", "rep-1")]


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (AddParticipant(participant="rep-1", kind=Kind.HUMAN), "already_exists"),
        (AddParticipant(participant="customer", kind=Kind.HUMAN), "invalid_step"),
        (
            AddParticipant(participant="rep-2", kind=Kind.HUMAN, queues=("nowhere",)),
            "unknown_queue",
        ),
        (RemoveParticipant(participant="ghost"), "unknown_participant"),
        (SetCapacity(participant="ghost", capacity=1), "unknown_participant"),
        (SetSkills(participant="ghost", skills={"x": 1}), "unknown_participant"),
        (JoinQueue(participant="rep-1", queue="support"), "already_member"),
        (JoinQueue(participant="rep-1", queue="nowhere"), "unknown_queue"),
        (LeaveQueue(participant="bot-a", queue="other"), "not_member"),
        (AddQueue(queue="support"), "already_exists"),
        (AddQueue(queue="new", participants=("ghost",)), "unknown_participant"),
        (AddQueue(queue="new", overflow=OverflowTransfer(queue="nowhere")), "unknown_queue"),
        (UpdateQueue(queue="nowhere", units=2), "unknown_queue"),
        (UpdateQueue(queue="support", units=2), "queue_in_use"),
        (UpdateQueue(queue="other", overflow=OverflowTransfer(queue="other")), "invalid_step"),
        (RemoveQueue(queue="support"), "queue_in_use"),
        (RemoveQueue(queue="nowhere"), "unknown_queue"),
    ],
    ids=lambda value: getattr(value, "STEP", value),
)
def test_a_change_it_cannot_make_is_refused_with_its_code_and_changes_nothing(
    event: Event, code: str
) -> None:
    sb = Switchboard(
        Config.build(
            [
                ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
                ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=2),
            ],
            [
                QueueSpec(name="support", members=("bot-a", "rep-1")),
                QueueSpec(
                    name="other", members=("rep-1",), overflow=OverflowTransfer(queue="support")
                ),
            ],
        )
    )
    sb.step(Start(conversation="c1", queue="support"), now=0)  # held by bot-a from support
    sb.step(RemoveQueue(queue="extra"), now=0)
    before = fingerprint(sb)
    result = sb.step(event, now=1)
    assert result.error is not None and result.error.code == code, result.error
    assert fingerprint(sb) == attrs_now(before, 1)


def attrs_now(print_: object, now: float) -> object:
    import attrs

    return attrs.evolve(print_, now=now)  # type: ignore[misc]


def test_every_live_change_keeps_every_invariant_in_a_scripted_run() -> None:
    auditor = Auditor(board())
    steps: list[Event] = [
        Start(conversation="c1", queue="support"),
        Escalate(conversation="c1", participant="bot-a"),
        AddParticipant(participant="rep-2", kind=Kind.HUMAN, capacity=1, queues=("support",)),
        SetCapacity(participant="rep-2", capacity=0),
        AddQueue(queue="billing", participants=("rep-2",)),
        SetCapacity(participant="rep-2", capacity=3),
        LeaveQueue(participant="rep-2", queue="support"),
        JoinQueue(participant="rep-2", queue="support"),
        Accept(conversation="c1", participant="rep-2"),
        RemoveParticipant(participant="rep-2"),
        CustomerLeft(conversation="c1"),
        RemoveQueue(queue="billing"),
    ]
    for i, event in enumerate(steps):
        auditor.handle(event, now=float(i))
    assert auditor.violations == []


def test_added_participants_and_queues_and_new_skills_are_the_world_as_asked() -> None:
    sb = board()
    add_rep = AddParticipant(
        participant="rep-2", kind=Kind.HUMAN, capacity=3, skills={"billing": 3},
        presence=PresenceStatus.AWAY, queues=("support",),
    )  # fmt: skip
    add_vip = AddQueue(
        queue="vip", participants=("rep-2",), strategy=Strategy.MOST_IDLE, units=2,
        offer_timeout=30, wait_timeout=90, overflow=OverflowTransfer(queue="support"),
    )  # fmt: skip
    for event in (add_rep, add_vip, SetSkills(participant="rep-1", skills={"french": 2})):
        assert sb.step(event, now=1).error is None
    people = {spec.id: spec for spec in sb.world.participants}
    assert people["rep-2"] == ParticipantSpec(
        id="rep-2", kind=Kind.HUMAN, capacity=3, presence=PresenceStatus.AWAY,
        skills={"billing": 3},
    )  # fmt: skip
    assert dict(people["rep-1"].skills) == {"french": 2}
    assert sb.world.queues[-1] == QueueSpec(
        name="vip", members=("rep-2",), strategy=Strategy.MOST_IDLE, units=2, offer_timeout=30,
        wait_timeout=90, overflow=OverflowTransfer(queue="support"),
    )  # fmt: skip
