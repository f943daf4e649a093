"""Live changes of the router (routing/world.py): after any sequence of joins, leaves, capacity
and membership changes, the index (`best_candidate`) still picks what the plain linear reading of
the rules (`explain`) picks, and the books balance."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff_fsm.config import (
    Config,
    Kind,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Requirement,
    Strategy,
)
from handoff_fsm.effects import Effect, Offer, OfferWithdrawn
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import (
    AddQueue,
    Event,
    JoinQueue,
    LeaveQueue,
    Presence,
    PresenceStatus,
    RemoveParticipant,
    RemoveQueue,
    SetCapacity,
    SetSkills,
    Start,
    UpdateQueue,
    Wanted,
)
from handoff_fsm.routing import Router
from handoff_fsm.routing import inspect as routing_inspect
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.testing.fingerprint import fingerprint
from handoff_fsm.vocabulary import WithdrawReason

PEOPLE = [f"h{i}" for i in range(6)]

changes = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "capacity", "add", "strategy"]),
        st.sampled_from(PEOPLE),
        st.integers(0, 3),
        st.sampled_from(Strategy),
    ),
    max_size=25,
)


@given(changes=changes)
def test_the_index_picks_what_explain_picks_after_any_changes(
    changes: list[tuple[str, str, int, Strategy]],
) -> None:
    people = [ParticipantSpec(id=p, kind=Kind.HUMAN, capacity=2) for p in PEOPLE[:3]]
    router = Router(people, [QueueSpec(name="q", members=("h0", "h1"))])
    for n in range(3):
        router.enqueue(f"c{n}", "q", 0.0)
    for what, pid, number, strategy in changes:
        try:
            if what == "join":
                router.join_queue(pid, "q")
            elif what == "leave":
                router.leave_queue(pid, "q")
            elif what == "capacity":
                router.set_capacity(pid, number)
            elif what == "add":
                router.add_participant(
                    ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=number), ("q",)
                )
            else:
                router.update_queue(
                    QueueSpec(name="q", members=router.queue("q").members, strategy=strategy)
                )
        except StepRefused:
            pass
        router.serve(0.0)
        assert routing_inspect.audit(router) == []
        for cid in router.line("q"):
            if router.offer_of(cid) is None:
                assert router.best_candidate(cid) == router.explain(cid).chosen


def test_round_robin_goes_on_after_the_member_before_a_leaver() -> None:
    people = [ParticipantSpec(id=p, kind=Kind.BOT, capacity=9) for p in ("a", "b", "c")]
    router = Router(
        people, [QueueSpec(name="q", members=("a", "b", "c"), strategy=Strategy.ROUND_ROBIN)]
    )
    router.enqueue("c1", "q", 0.0)
    router.serve(0.0)
    router.enqueue("c2", "q", 0.0)
    router.serve(0.0)
    assert router.last_picked("q") == "b"
    router.leave_queue("b", "q")
    assert router.last_picked("q") == "a"
    router.enqueue("c3", "q", 0.0)
    assert router.best_candidate("c3") == "c"


# ----------------------------------------------------------------------------- through the board


def center(
    *queues: QueueSpec, rep_presence: PresenceStatus = PresenceStatus.AVAILABLE
) -> Switchboard:
    """bot-a, rep-1 and rep-2 (humans of capacity 2), in `support` unless other queues are given."""
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=2, presence=rep_presence),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=2, presence=rep_presence),
    ]
    support = QueueSpec(name="support", members=("bot-a", "rep-1", "rep-2"))
    return Switchboard(Config.build(people, list(queues) or [support]))


def effects(sb: Switchboard, event: Event, now: float = 5) -> list[Effect]:
    result = sb.step(event, now=now)
    assert result.error is None, result.error
    return list(result.effects)


def refusal(sb: Switchboard, event: Event, now: float = 5) -> tuple[str, str]:
    result = sb.step(event, now=now)
    assert result.error is not None, result.effects
    return result.error.code, result.error.message


def test_a_capacity_down_to_the_load_withdraws_only_the_newest_offer_as_cancelled() -> None:
    sb = center(QueueSpec(name="support", members=("bot-a", "rep-1")))
    for cid in ("c1", "c2"):
        sb.step(Start(conversation=cid, queue="support", kind=Wanted.HUMAN), now=1)
    assert sb.participant_views()[1].offers == ("c1", "c2")
    assert effects(sb, SetCapacity(participant="rep-1", capacity=1)) == [
        OfferWithdrawn(conversation="c2", to="rep-1", reason=WithdrawReason.CANCELLED)
    ]
    assert sb.participant_views()[1].offers == ("c1",)
    assert effects(sb, SetCapacity(participant="rep-1", capacity=1), now=6) == []


def test_new_skills_meet_a_waiting_requirement_in_the_same_step() -> None:
    sb = center()
    needs = (Requirement(skill="french", level=3, for_=600.0),)
    assert (
        effects(sb, Start(conversation="c1", queue="support", kind=Wanted.HUMAN, requires=needs))
        == []
    )
    assert effects(sb, SetSkills(participant="rep-2", skills={"french": 2})) == []
    assert effects(sb, SetSkills(participant="rep-2", skills={"french": 3}), now=6) == [
        Offer(conversation="c1", to="rep-2", queue="support")
    ]
    assert sb.world.participants[2].skills == {"french": 3}
    assert sb.world.participants[1].skills == {}


def test_a_wait_that_named_a_leaver_asks_the_whole_queue_at_once() -> None:
    billing = QueueSpec(name="billing", members=("rep-1",))
    sb = center(QueueSpec(name="support", members=("bot-a", "rep-1", "rep-2")), billing)
    sb.step(SetCapacity(participant="rep-1", capacity=0), now=0)
    start = Start(conversation="c1", queue="support", kind=Wanted.HUMAN, to="rep-1")
    assert effects(sb, start, now=1) == []
    assert effects(sb, LeaveQueue(participant="rep-1", queue="billing")) == []  # another queue
    assert effects(sb, LeaveQueue(participant="rep-1", queue="support"), now=6) == [
        Offer(conversation="c1", to="rep-2", queue="support")
    ]


def test_leaving_withdraws_the_offer_and_the_wait_that_named_it_goes_to_another() -> None:
    sb = center()
    start = Start(conversation="c1", queue="support", kind=Wanted.HUMAN, to="rep-1")
    assert effects(sb, start, now=1) == [Offer(conversation="c1", to="rep-1", queue="support")]
    assert effects(sb, LeaveQueue(participant="rep-1", queue="support")) == [
        OfferWithdrawn(conversation="c1", to="rep-1", reason=WithdrawReason.CANCELLED),
        Offer(conversation="c1", to="rep-2", queue="support"),
    ]


def test_removing_an_offline_participant_a_wait_names_widens_that_wait() -> None:
    """A request may name a participant that is offline; removing it must not strand the wait
    (it was an AssertionError)."""
    sb = center(rep_presence=PresenceStatus.OFFLINE)
    sb.step(Presence(participant="rep-2", status=PresenceStatus.AVAILABLE), now=0)
    start = Start(conversation="c1", queue="support", kind=Wanted.HUMAN, to="rep-1")
    assert effects(sb, start, now=1) == []
    assert effects(sb, RemoveParticipant(participant="rep-1")) == [
        Offer(conversation="c1", to="rep-2", queue="support")
    ]
    assert [p.id for p in sb.world.participants] == ["bot-a", "rep-2"]


OVERFLOWING = QueueSpec(
    name="other", members=("rep-1",), overflow=OverflowTransfer(queue="support")
)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            [Start(conversation="c1", queue="support", kind=Wanted.HUMAN)],
            "queue 'support' is in use: a conversation waits in it",
        ),
        (
            [Start(conversation="c1", queue="support")],  # held by bot-a
            "queue 'support' is in use: a conversation is held from it",
        ),
        ([], "queue 'support' is in use: queue 'other' overflows to it"),
    ],
    ids=["waits", "held", "overflows"],
)
def test_a_queue_in_use_is_not_removed_and_the_refusal_says_why(
    setup: list[Event], message: str
) -> None:
    support = QueueSpec(name="support", members=("bot-a", "rep-1"))
    sb = center(support, OVERFLOWING, rep_presence=PresenceStatus.OFFLINE)
    for event in setup:
        sb.step(event, now=1)
    before = fingerprint(sb)
    assert refusal(sb, RemoveQueue(queue="support")) == ("queue_in_use", message)
    assert fingerprint(sb) == attrs.evolve(before, now=5)


def test_a_removed_queue_leaves_its_members_and_the_later_queues_serve_on() -> None:
    sb = center(
        QueueSpec(name="first", members=("rep-1", "rep-2")),
        QueueSpec(
            name="support", members=("bot-a", "rep-1"), overflow=OverflowTransfer(queue="last")
        ),
        QueueSpec(name="last", members=("rep-1",)),
    )
    assert effects(sb, RemoveQueue(queue="first")) == []
    assert [q.name for q in sb.world.queues] == ["support", "last"]
    assert effects(sb, SetSkills(participant="rep-1", skills={"x": 1}), now=6) == []
    assert effects(sb, Start(conversation="c1", queue="last"), now=7) == [
        Offer(conversation="c1", to="rep-1", queue="last")
    ]
    assert effects(sb, JoinQueue(participant="rep-2", queue="last"), now=8) == []
    assert [q.members for q in sb.world.queues] == [("bot-a", "rep-1"), ("rep-1", "rep-2")]


def test_a_queue_is_added_with_an_overflow_to_a_queue_that_exists() -> None:
    sb = center()
    add = AddQueue(
        queue="sales", participants=("rep-1",), overflow=OverflowTransfer(queue="support")
    )
    assert effects(sb, add) == []
    assert sb.world.queues[1].overflow == OverflowTransfer(queue="support")
    elsewhere = AddQueue(queue="promo", overflow=OverflowTransfer(queue="nowhere"))
    assert refusal(sb, elsewhere) == ("unknown_queue", "unknown queue 'nowhere'")


def test_units_do_not_change_while_a_conversation_waits_and_the_refusal_says_so() -> None:
    sb = center(rep_presence=PresenceStatus.OFFLINE)
    sb.step(Start(conversation="c1", queue="support", kind=Wanted.HUMAN), now=1)
    assert refusal(sb, UpdateQueue(queue="support", units=2)) == (
        "queue_in_use",
        "queue 'support': units cannot change while a conversation waits in it or is held from it",
    )


def test_a_removed_queue_that_was_left_to_serve_is_not_served() -> None:
    """The router serves on demand: a queue marked to serve, emptied and removed before the next
    `serve`, is forgotten by it."""
    router = Router(
        [ParticipantSpec(id="h0", kind=Kind.HUMAN, capacity=1)],
        [QueueSpec(name="q", members=("h0",)), QueueSpec(name="gone", members=("h0",))],
    )
    router.enqueue("c1", "gone", 0.0)
    router.leave("c1", 0.0)
    router.remove_queue("gone")
    assert router.serve(1.0) == []
    assert routing_inspect.audit(router) == []
