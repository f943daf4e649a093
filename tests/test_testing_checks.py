"""Each runtime invariant check, fed hand-made steps: it must fail on its crafted violation.

Theory of operation: a check is only worth something if it can fail. For every invariant of
`handoff_fsm.testing.CHECKS` this file sets up a real switchboard in an honest situation
(through the `Auditor`, so the set-up itself is checked), then hands the auditor one crafted
`StepRecord` that breaks exactly that promise (a missing effect, an effect too many, a fingerprint
that moved) and asserts the violation names the invariant, the conversation and the step. The
same situation with the switchboard's real step is the control: no violation at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from test_seeded_defects import DEFECTS

from handoff_fsm.config import (
    Config,
    Kind,
    OverflowReturnToBot,
    ParticipantSpec,
    QueueSpec,
    Requirement,
    Settings,
)
from handoff_fsm.effects import (
    CUSTOMER,
    Context,
    ContextSet,
    Effect,
    Ended,
    Greeting,
    Message,
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    PresenceChanged,
    Queued,
    Role,
    WithdrawReason,
    WrapUp,
)
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import (
    Accept,
    BotMessage,
    CustomerMessage,
    End,
    Escalate,
    Event,
    Monitor,
    Presence,
    PresenceStatus,
    RemoveParticipant,
    Start,
    Tick,
    Transfer,
    Wanted,
)
from handoff_fsm.lifecycle import Outcome
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.testing import (
    CHECKS,
    INVARIANTS,
    Auditor,
    Fingerprint,
    InvariantViolation,
    Roster,
    StepRecord,
    Violation,
    differences,
    fingerprint,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "verification.md"


def auditor(*, all_away: bool = False) -> Auditor:
    """bot-a and two humans with room for one conversation each, in one queue `sales`."""
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=1),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=1),
    ]
    queue = QueueSpec(name="sales", members=("bot-a", "rep-1", "rep-2"), offer_timeout=30)
    audit = Auditor(Switchboard(Config.build(people, [queue], Settings(survey_timeout=60))))
    if all_away:
        for pid in ("bot-a", "rep-1", "rep-2"):
            audit.handle(Presence(participant=pid, status=PresenceStatus.AWAY))
    return audit


def started(audit: Auditor, cid: str = "c1", **variables: str) -> Auditor:
    audit.handle(Start(conversation=cid, queue="sales", variables=variables))
    return audit


def crafted(
    audit: Auditor,
    event: Event,
    *effects: Effect,
    before: Fingerprint | None = None,
    after: Fingerprint | None = None,
    **fields: Any,
) -> list[Violation]:
    """Feed the auditor a step the switchboard never took: `effects` as its output, the board's
    current fingerprint as the world before and after unless given."""
    now = fingerprint(audit.board)
    record = StepRecord(
        index=audit.steps,
        event=event,
        date=None,
        step_id=None,
        duplicate=False,
        effects=effects,
        refusal=None,
        timeouts=(),
        before=before or now,
        at_action=before or now,
        after=after or now,
    )
    return audit.observe(attrs.evolve(record, **fields))


def with_conversation(world: Fingerprint, cid: str, **changes: Any) -> Fingerprint:
    conversations = dict(world.conversations)
    conversations[cid] = attrs.evolve(conversations[cid], **changes)
    return attrs.evolve(world, conversations=conversations)


def with_participant(world: Fingerprint, pid: str, **changes: Any) -> Fingerprint:
    participants = dict(world.participants)
    participants[pid] = attrs.evolve(participants[pid], **changes)
    return attrs.evolve(world, participants=participants)


def with_line(world: Fingerprint, queue: str, line: tuple[str, ...]) -> Fingerprint:
    queues = dict(world.queues)
    queues[queue] = attrs.evolve(queues[queue], line=line)
    return attrs.evolve(world, queues=queues)


ADDED = ParticipantAdded(conversation="c1", to="bot-a", role=Role.HOLDER)
EMPTY = Context(variables={}, transcript=())
HI = CustomerMessage(conversation="c1", text="hi")


# ----------------------------------------------------------------------------- crafted violations
# Each returns (violations, the conversation the violation must name).


def join_order() -> tuple[list[Violation], str | None]:
    audit = auditor()
    start = Start(conversation="c1", queue="sales")
    return crafted(audit, start, ADDED, Greeting(conversation="c1", to="bot-a")), "c1"


def leave_silence() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    gone = ParticipantRemoved(conversation="c1", to="bot-a")
    late = Message(conversation="c1", to="bot-a", sender=CUSTOMER, text="hi")
    return crafted(audit, HI, gone, late), "c1"


def context_complete() -> tuple[list[Violation], str | None]:
    audit = started(auditor(), FirstName="Ana")
    audit.handle(HI)
    stale = ContextSet(
        conversation="c1",
        to="rep-1",
        context=Context(variables={"FirstName": "Ana"}, transcript=()),
    )
    monitor = Monitor(conversation="c1", participant="rep-1")
    joined = ParticipantAdded(conversation="c1", to="rep-1", role=Role.MONITOR)
    return crafted(audit, monitor, joined, stale), "c1"


def one_holder() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    second = ParticipantAdded(conversation="c1", to="rep-1", role=Role.HOLDER)
    joined = ContextSet(conversation="c1", to="rep-1", context=EMPTY)
    return crafted(audit, Tick(now=1), second, joined), "c1"


def capacity() -> tuple[list[Violation], str | None]:
    audit = auditor()
    offers = [Offer(conversation=c, to="rep-1", queue="sales") for c in ("c1", "c2")]
    return crafted(audit, Tick(now=1), *offers), None


def one_offer() -> tuple[list[Violation], str | None]:
    audit = auditor()
    offers = [Offer(conversation="c1", to=p, queue="sales") for p in ("rep-1", "rep-2")]
    return crafted(audit, Tick(now=1), *offers), "c1"


def fifo() -> tuple[list[Violation], str | None]:
    audit = started(started(auditor(all_away=True), "c1"), "c2")
    before = fingerprint(audit.board)  # c1 then c2 wait in sales, nobody available
    after = with_conversation(before, "c2", offer="rep-1")
    offer = Offer(conversation="c2", to="rep-1", queue="sales")
    back = Presence(participant="rep-1", status=PresenceStatus.AVAILABLE)
    return crafted(audit, back, offer, before=before, after=after), "c1"


def work_conserving() -> tuple[list[Violation], str | None]:
    audit = started(auditor(all_away=True))
    before = fingerprint(audit.board)
    after = with_participant(before, "rep-1", presence=PresenceStatus.AVAILABLE)
    back = Presence(participant="rep-1", status=PresenceStatus.AVAILABLE)
    return crafted(audit, back, before=before, after=after), "c1"


def no_message_lost() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    return crafted(audit, HI), "c1"  # the bot holds it, and nothing is relayed


def acting_member() -> tuple[list[Violation], str | None]:
    audit = started(auditor())  # bot-a holds c1; rep-2 speaks as a bot would
    spoken = BotMessage(conversation="c1", participant="rep-2", text="refund done")
    relayed = Message(conversation="c1", to=CUSTOMER, sender="rep-2", text="refund done")
    return crafted(audit, spoken, relayed), "c1"


def ended_is_silent() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    audit.handle(End(conversation="c1", participant="bot-a"))
    echo = Message(conversation="c1", to="bot-a", sender=CUSTOMER, text="hi")
    return crafted(audit, HI, echo), "c1"


def close_order() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    ended = Ended(conversation="c1", outcome=Outcome.RESOLVED)
    gone = ParticipantRemoved(conversation="c1", to="bot-a")
    return crafted(audit, End(conversation="c1", participant="bot-a"), ended, gone), "c1"


def refusal_changes_nothing() -> tuple[list[Violation], str | None]:
    audit = auditor()
    before = fingerprint(audit.board)
    audit.board.handle(Start(conversation="c1", queue="sales"))  # behind the auditor's back
    start = Start(conversation="c1", queue="sales")
    return crafted(audit, start, before=before, refusal="refused"), "c1"


def duplicate_changes_nothing() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    relayed = Message(conversation="c1", to="bot-a", sender=CUSTOMER, text="hi")
    return crafted(audit, HI, relayed, duplicate=True, step_id="s1"), "c1"


def timeouts_first() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    timeout = OfferWithdrawn(conversation="c2", to="rep-1", reason=WithdrawReason.TIMEOUT)
    relayed = Message(conversation="c1", to="bot-a", sender=CUSTOMER, text="hi")
    return crafted(audit, HI, relayed, timeout, timeouts=(timeout,)), "c1"


def time_monotonic() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    before = attrs.evolve(fingerprint(audit.board), now=50.0)
    relayed = Message(conversation="c1", to="bot-a", sender=CUSTOMER, text="hi")
    return crafted(audit, HI, relayed, before=before, date=10.0), "c1"


def books_match() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    after = with_conversation(fingerprint(audit.board), "c1", monitors=("rep-1",))
    return crafted(audit, Tick(now=1), after=after), "c1"


def removed_hold_nothing() -> tuple[list[Violation], str | None]:
    audit = started(auditor())  # bot-a holds c1; a world where bot-a is gone but still holds it
    now = fingerprint(audit.board)
    participants = {pid: seat for pid, seat in now.participants.items() if pid != "bot-a"}
    after = attrs.evolve(now, participants=participants)
    return crafted(audit, RemoveParticipant(participant="bot-a"), after=after), "c1"


def offers_to_members() -> tuple[list[Violation], str | None]:
    audit = auditor()
    for pid in ("bot-a", "rep-1", "rep-2"):
        audit.handle(Presence(participant=pid, status=PresenceStatus.AWAY))
    started(audit)  # c1 waits in sales, no offer; the world says rep-9 (no member) is offered it
    after = with_conversation(fingerprint(audit.board), "c1", offer="rep-9")
    return crafted(audit, Tick(now=1), after=after), "c1"


def forgotten_leave_no_trace() -> tuple[list[Violation], str | None]:
    audit = started(auditor())  # c1 is held, then vanishes from the world while still held
    now = fingerprint(audit.board)
    conversations = {cid: c for cid, c in now.conversations.items() if cid != "c1"}
    after = attrs.evolve(now, conversations=conversations)
    return crafted(audit, Tick(now=1), after=after), "c1"


def priority_order() -> tuple[list[Violation], str | None]:
    audit = started(started(auditor(all_away=True), "c1"), "c2")
    before = fingerprint(audit.board)  # c1 then c2 wait in sales; c2 now says priority 5
    after = with_conversation(before, "c2", priority=5)
    return crafted(audit, Tick(now=1), before=before, after=after), None


def requirements_met() -> tuple[list[Violation], str | None]:
    audit = started(auditor(all_away=True))
    before = fingerprint(audit.board)
    after = with_conversation(before, "c1", requires=(Requirement(skill="billing"),))
    offer = Offer(conversation="c1", to="rep-1", queue="sales")
    return crafted(audit, Tick(now=1), offer, before=before, after=after), "c1"


def missed_offers() -> tuple[list[Violation], str | None]:
    audit = auditor()
    told = PresenceChanged(to="rep-1", status=PresenceStatus.AWAY, reason="missed_offers")
    return crafted(audit, Tick(now=1), told), None


def wrap_up_announced() -> tuple[list[Violation], str | None]:
    audit = started(auditor())
    return crafted(audit, Tick(now=1), WrapUp(conversation="c1", to="rep-1", until=5)), "c1"


def one_timer_each() -> tuple[list[Violation], str | None]:
    audit = started(auditor(all_away=True))  # c1 waits in sales, nobody available
    back = Presence(participant="rep-1", status=PresenceStatus.AVAILABLE)
    offer = Offer(conversation="c1", to="rep-1", queue="sales")  # due at 30, but no timer
    return crafted(audit, back, offer), "c1"


def request_kept() -> tuple[list[Violation], str | None]:
    audit = started(auditor())  # bot-a holds c1
    to_a_human = Transfer(conversation="c1", participant="bot-a", queue="sales", kind=Wanted.HUMAN)
    given = ParticipantAdded(conversation="c1", to="bot-a", role=Role.HOLDER)
    return crafted(audit, to_a_human, given), "c1"


CRAFTED: dict[str, Callable[[], tuple[list[Violation], str | None]]] = {
    f.__name__: f
    for f in (
        join_order, leave_silence, context_complete, one_holder, capacity, one_offer, fifo,
        work_conserving, no_message_lost, acting_member, ended_is_silent, close_order,
        refusal_changes_nothing,
        duplicate_changes_nothing, timeouts_first, time_monotonic, books_match,
        removed_hold_nothing, offers_to_members, forgotten_leave_no_trace, priority_order,
        requirements_met, missed_offers, wrap_up_announced, one_timer_each, request_kept,
    )
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_each_check_fails_on_its_crafted_violation(name: str) -> None:
    violations, conversation = CRAFTED[name]()
    mine = [v for v in violations if v.invariant == name]
    assert mine, f"{name} did not notice: {[str(v) for v in violations]}"
    assert all(v.conversation == conversation for v in mine), [str(v) for v in mine]
    assert all(v.step == mine[0].step for v in mine)


def test_every_invariant_has_a_crafted_violation_and_a_guarantee() -> None:
    assert set(CRAFTED) == set(INVARIANTS) == {check.name for check in CHECKS}
    for name, guarantee in INVARIANTS.items():
        assert guarantee.endswith(".") and "\n" not in guarantee, name


# ----------------------------------------------------------------------------- honest steps


def test_the_real_steps_of_those_situations_violate_nothing() -> None:
    """The controls: the same situations driven by the switchboard itself."""
    audit = started(auditor(), FirstName="Ana")
    audit.handle(HI)
    audit.handle(Monitor(conversation="c1", participant="rep-1"))
    audit.handle(CustomerMessage(conversation="c1", text="TALK TO AGENT"), now=5)  # offer rep-1
    audit.handle(Tick(now=40))  # rep-1's offer timed out at 35: rep-2 is offered
    started(audit, "c2")  # bot-a, free again, takes it
    with pytest.raises(StepRefused):
        audit.handle(Accept(conversation="c2", participant="bot-a"), step_id="s1")
    assert audit.handle(Accept(conversation="c2", participant="bot-a"), step_id="s1") == []
    audit.handle(End(conversation="c2", participant="bot-a"), now=41)
    assert audit.violations == []
    assert audit.steps == 9


def test_a_refusal_is_re_raised_after_the_checks_and_time_still_passes() -> None:
    audit = started(auditor())
    audit.handle(Escalate(conversation="c1", participant="bot-a"), now=0)  # offer to rep-1
    with pytest.raises(StepRefused) as refused:
        audit.handle(Accept(conversation="c1", participant="bot-a"), now=31)
    assert [e.KIND for e in refused.value.effects] == ["offer_withdrawn", "offer"]
    assert audit.board.now == 31 and audit.violations == []


def test_strict_raises_every_violation_of_the_step_and_lax_collects_them() -> None:
    class Deaf(Switchboard):
        def _relay(self, *args: object) -> None:
            pass

    people = [ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=1)]
    config = Config.build(people, [QueueSpec(name="sales", members=("bot-a",))])
    strict = Auditor(Deaf(config))
    strict.handle(Start(conversation="c1", queue="sales"))
    with pytest.raises(InvariantViolation) as caught:
        strict.handle(HI)
    assert caught.value.invariants == {"no_message_lost", "context_complete"}
    assert "step 1: no_message_lost [c1]" in str(caught.value)
    lax = Auditor(Deaf(config), strict=False)
    lax.handle(Start(conversation="c1", queue="sales"))
    assert lax.handle(HI) == []
    assert {v.invariant for v in lax.violations} == {"no_message_lost", "context_complete"}


def test_an_auditor_can_join_a_switchboard_that_already_runs() -> None:
    board = Switchboard(auditor().board.config)
    board.handle(Start(conversation="c1", queue="sales"))
    board.handle(Monitor(conversation="c1", participant="rep-1"))
    late = Auditor(board)
    late.handle(CustomerMessage(conversation="c1", text="still there?"))
    late.handle(End(conversation="c1", participant="bot-a"))
    assert late.violations == []


# ----------------------------------------------------------------------------- fingerprints


def test_a_fingerprint_sees_what_no_other_query_shows() -> None:
    """Fallback counts, proposals, the bot to return to and pending timers are state a refused
    step could corrupt unseen; the fingerprint reads them through read-only accessors."""
    audit = started(auditor())
    board = audit.board
    first = fingerprint(board)
    board._conversations["c1"].fallbacks += 1  # what a defective refusal might leave behind
    changed = differences(first, fingerprint(board))
    assert changed == ["conversation c1.fallbacks: 0 -> 1"]
    audit.handle(Escalate(conversation="c1", participant="bot-a"), now=0)
    world = fingerprint(board)
    assert world.timers == ((30.0, "offer", "c1", "rep-1"),)
    assert world.conversations["c1"].return_bot == "bot-a"
    assert world == fingerprint(board)


def test_the_roster_rebuilds_who_is_where_from_effects_alone() -> None:
    roster = Roster()
    for effect in (
        Offer(conversation="c1", to="rep-1", queue="sales"),
        ParticipantAdded(conversation="c1", to="rep-1", role=Role.HOLDER),
        ParticipantAdded(conversation="c1", to="rep-2", role=Role.MONITOR),
        ParticipantRemoved(conversation="c1", to="rep-1"),
        Queued(conversation="c1", queue="sales", position=1),
    ):
        roster.apply(effect)
    assert (roster.holder("c1"), roster.monitors("c1"), roster.offer("c1")) == (
        None,
        ("rep-2",),
        None,
    )
    assert roster.has_left("c1", "rep-1") and not roster.has_left("c1", "rep-2")
    assert roster.loads({}, {"sales": 1}) == {}


def test_the_docs_table_lists_every_invariant_with_its_test_and_defect() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Runtime invariants (stateful tests)", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {row.split("`")[1]: row for row in rows}
    assert set(INVARIANTS) <= set(named)
    for name in INVARIANTS:
        assert f"`[{name}]`" in named[name], f"{name}: no crafted-violation test id in the docs"
    for engine, name in DEFECTS:
        assert f"`{engine.__name__}`" in named[name], f"{name}: its seeded defect is not named"


def test_a_forgotten_conversation_id_can_start_afresh() -> None:
    audit = started(auditor())
    audit.handle(End(conversation="c1", participant="bot-a"))
    audit.board.forget("c1")
    started(audit)
    audit.handle(HI)
    assert audit.violations == []


def vip_line() -> Auditor:
    """A queue `vip` of priority 2 whose only member is away: whoever starts there waits."""
    away = PresenceStatus.AWAY
    people = [ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1, presence=away)]
    queue = QueueSpec(name="vip", members=("rep-1",), priority=2)
    return Auditor(Switchboard(Config.build(people, [queue], Settings())))


def test_fifo_lets_a_wait_on_its_queues_priority_pass_one_that_asked_for_less() -> None:
    """The fuzzing's false positive (the RelaysToEnded hunt, step 95): c1 asked priority 0 in vip;
    c2, asking none, waits on vip's priority 2 and is rightly served before c1 (SPEC §3)."""
    audit = vip_line()
    audit.handle(Start(conversation="c1", queue="vip", priority=0))
    audit.handle(Start(conversation="c2", queue="vip"))
    assert fingerprint(audit.board).queues["vip"].line == ("c2", "c1")
    assert audit.violations == []


def test_fifo_still_sees_a_newcomer_pass_an_earlier_wait_on_the_same_queue_priority() -> None:
    audit = vip_line()
    audit.handle(Start(conversation="c1", queue="vip"))
    before = fingerprint(audit.board)
    start = Start(conversation="c2", queue="vip")
    audit.handle(start)  # both wait on vip's priority 2: c1 first
    after = with_line(fingerprint(audit.board), "vip", ("c2", "c1"))
    found = crafted(audit, start, before=before, after=after)
    assert [(v.invariant, v.conversation) for v in found if v.invariant == "fifo"] == [
        ("fifo", "c2")
    ]


def test_priority_order_does_not_count_a_human_accepting_an_earlier_offer_as_a_pick() -> None:
    """The IdlesAfterDecline hunt's false positive (step 7): rep-4 was offered c2 before c1, of a
    higher priority, began to wait in another of its queues; accepting c2 later is not passing
    c1 over (the pick was the offer), even though rep-4 would be eligible for c1."""
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=5),
        ParticipantSpec(id="rep-4", kind=Kind.HUMAN, capacity=1),
    ]
    queues = [
        QueueSpec(name="care", members=("bot-a", "rep-4")),
        QueueSpec(name="vip", members=("rep-4",)),
    ]
    audit = Auditor(Switchboard(Config.build(people, queues, Settings())))
    audit.handle(Start(conversation="c2", queue="vip"), now=0)  # offered to rep-4
    audit.handle(Start(conversation="c1", queue="care"), now=1)  # bot-a holds it
    audit.handle(Escalate(conversation="c1", participant="bot-a", priority=3), now=2)
    audit.handle(Accept(conversation="c2", participant="rep-4"), now=3)
    assert fingerprint(audit.board).queues["care"].line == ("c1",)


def test_an_id_restarted_in_the_step_its_wait_ran_out_waits_afresh() -> None:
    """Found by the stateful fuzzing (`one_timer_each`): c2's wait in vip runs out at 60 (an
    end), retention 0 forgets it at once, and the `Start` dated 60 begins a new c2 in sales. The
    new conversation waits from 60 in sales (timer at 180), not on in vip's run-out wait."""
    people = [ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1)]
    queues = [
        QueueSpec(name="sales", members=("rep-1",), wait_timeout=120),
        QueueSpec(name="vip", members=("rep-1",), wait_timeout=60),  # overflow: end
    ]
    audit = Auditor(Switchboard(Config.build(people, queues, Settings(retention=0))))
    audit.handle(Start(conversation="c2", queue="vip"))  # offered to rep-1, no offer timeout
    effects = audit.handle(Start(conversation="c2", queue="sales"), now=60)
    assert [e.KIND for e in effects] == ["offer_withdrawn", "ended", "offer"]
    assert audit.violations == []
    assert fingerprint(audit.board).timers == ((180.0, "wait", "c2", ""),)


def test_an_offer_made_while_time_passed_is_judged_by_the_request_of_then() -> None:
    """Found by the stateful fuzzing (`requirements_met`): c3's wait in care offers rep-4 at 20
    (no requirement yet), runs out at 30 back to bot-c, and bot-c's escalation dated 40 asks for
    billing. The offer of 20 answered the request of 20: no violation."""
    people = [
        ParticipantSpec(id="bot-c", kind=Kind.BOT, capacity=2),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="rep-4", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="rep-3", kind=Kind.HUMAN, capacity=0, skills={"billing": 1}),
    ]
    care = QueueSpec(
        name="care", members=("bot-c", "rep-2", "rep-4", "rep-3"), offer_timeout=20,
        wait_timeout=30, overflow=OverflowReturnToBot(),
    )  # fmt: skip
    audit = Auditor(Switchboard(Config.build(people, [care], Settings())))
    audit.handle(Start(conversation="c3", queue="care"))  # bot-c takes it
    audit.handle(Escalate(conversation="c3", participant="bot-c"), now=0)  # rep-2 offered
    billing = (Requirement(skill="billing", level=1),)
    effects = audit.handle(
        Escalate(conversation="c3", participant="bot-c", requires=billing), now=40
    )
    assert Offer(conversation="c3", to="rep-4", queue="care") in effects
    assert audit.violations == []


def test_request_kept_holds_a_requirement_until_its_for_runs_out_and_not_after() -> None:
    """c1 requires billing for 30 s; rep-1 has none: it is offered c1 only once the requirement
    has relaxed, and the check, reading the request from the Start, agrees."""
    people = [ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1)]
    queue = QueueSpec(name="q", members=("rep-1",), wait_timeout=100)
    audit = Auditor(Switchboard(Config.build(people, [queue], Settings())))
    billing = Requirement(skill="billing", for_=30.0)
    audit.handle(Start(conversation="c1", queue="q", requires=(billing,)), now=0)
    assert fingerprint(audit.board).conversations["c1"].offer is None
    audit.handle(Tick(now=30))
    assert fingerprint(audit.board).conversations["c1"].offer == "rep-1"
    assert audit.violations == []
