"""Seeded engine defects: each runtime invariant must catch a switchboard that breaks it.

Theory of operation: a check that never fails proves nothing. Each class below is a copy of the
real `Switchboard` with one plausible defect (a subclass overriding one method, or a router that
books capacity wrongly). `test_stateful_fuzzing_catches_the_seeded_defect` runs the very machine
of `tests/test_switchboard_stateful.py` against it, bounded and derandomized, and expects the run
to FAIL with an `InvariantViolation` that names the invariant the defect breaks. Together they
give every invariant of `handoff_fsm.testing.CHECKS` at least one engine defect it catches
(`test_every_invariant_has_a_seeded_defect`). The model-level seeded defects of the static
analysis are the YAML files of `tests/defects/` (see docs/verification.md).

Rules: one defect per class, its docstring says what is wrong; the defect is in the engine, never
in the auditor; the runs are generate-only (no shrinking: the test wants the failure, not the
smallest one) and stop at the first violation. The control, the same machine on the real engine
passing, is `tests/test_switchboard_stateful.py` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from test_switchboard_stateful import SwitchboardMachine

from handoff_fsm.config import (
    Config,
    Kind,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Settings,
)
from handoff_fsm.effects import (
    CUSTOMER,
    Effect,
    Ended,
    Greeting,
    Message,
    Offer,
    ParticipantAdded,
    Role,
    Survey,
    WithdrawReason,
    WrapUp,
)
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import (
    BotMessage,
    CustomerMessage,
    Decline,
    Event,
    Fallback,
    LeaveQueue,
    Presence,
    PresenceStatus,
    RemoveParticipant,
    SetCapacity,
    Start,
    TakeOver,
    Tick,
    Wanted,
)
from handoff_fsm.lifecycle import NO_FACTS, Facts, Guard, State, Trigger
from handoff_fsm.routing import Decision, Offered, Router, Withdrawn
from handoff_fsm.routing.records import AgentRecord, QueueRecord, WaitRecord, place_of
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard.record import ConversationRecord
from handoff_fsm.switchboard.timers import OFFER
from handoff_fsm.testing import INVARIANTS, Auditor, InvariantViolation


class SkipsContextSet(Switchboard):
    """(a) A joiner gets participant_added (and a bot its greeting) but never the context."""

    def _join(self, record: ConversationRecord, participant: str, role: Role) -> None:
        self._emit(ParticipantAdded(conversation=record.id, to=participant, role=role))
        if role is Role.HOLDER and self._router.participant(participant).kind is Kind.BOT:
            self._emit(Greeting(conversation=record.id, to=participant))


class IgnoresCapacity(Switchboard):
    """(b) Routing books two more units of capacity than each participant has."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        roomy = [attrs.evolve(p, capacity=p.capacity + 2) for p in config.participants]
        self._router = Router(roomy, config.queues)


class DropsWaitingMessages(Switchboard):
    """(c) A message sent while waiting is answered but not kept in the transcript."""

    def _relay(self, record: ConversationRecord, sender: str, text: str, to: Sequence[str]) -> None:
        if record.state is not State.WAITING:
            super()._relay(record, sender, text, to)
            return
        for receiver in to:
            self._emit(Message(conversation=record.id, to=receiver, sender=sender, text=text))


class KeepsTheLeaver(Switchboard):
    """(d) A holder that lets go (escalation, transfer, end) is released but never told."""

    def _let_go(self, record: ConversationRecord, *, wrap: bool = False) -> str:
        holder = self._router.release(record.id, self.now)
        record.proposals = ()
        return holder


class RelaysToEnded(Switchboard):
    """(e) A customer message to an ended conversation is relayed to its last holder."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.last_holder: dict[str, str] = {}

    def _let_go(self, record: ConversationRecord, *, wrap: bool = False) -> str:
        holder = super()._let_go(record, wrap=wrap)
        self.last_holder[record.id] = holder
        return holder

    def _customer(self, event: CustomerMessage) -> None:
        record = self._known(event.conversation)
        if record.state is not State.ENDED:
            super()._customer(event)
            return
        last = self.last_holder.get(record.id)
        self._relay(record, CUSTOMER, event.text, [last] if last is not None else [])


class CountsRefusedFallbacks(Switchboard):
    """(f) A fallback from a participant that does not hold the conversation is refused, but
    only after it was counted."""

    def _fallback(self, event: Fallback) -> None:
        record = self._live(event.conversation, "fallback")
        record.fallbacks += 1
        self._holder_of(record, event.participant, Kind.BOT)
        if record.fallbacks >= self.settings.fallback_limit:
            self._escalate_now(record, Trigger.FALLBACK_LIMIT)


class ForgetsRefusedIds(Switchboard):
    """(g) The id of a refused step is forgotten, so its retried delivery runs again."""

    def handle(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> list[Effect]:
        fresh = step_id is not None and step_id not in self._seen_ids
        try:
            return super().handle(event, now=now, step_id=step_id)
        except StepRefused:
            if fresh and step_id is not None:
                self._seen_ids.pop(step_id, None)
            raise


class ActsBeforeTimeouts(Switchboard):
    """(h) A dated step acts at the old time, and only then lets the timeouts due fire. Steps
    with an id are left alone: their id would be remembered from the old time, which a dedup
    window turns into a different failure (duplicate_changes_nothing)."""

    def handle(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> list[Effect]:
        if now is None or now < self.now or isinstance(event, Tick) or step_id is not None:
            return super().handle(event, now=now, step_id=step_id)
        try:
            acted = super().handle(event, step_id=step_id)
        except StepRefused as refused:
            refused.effects = tuple(super().handle(Tick(now=now)))
            raise
        return acted + super().handle(Tick(now=now))


class TakesLateStepsAsOnTime(Switchboard):
    """(i) A step dated in the past is run at the current time instead of being refused."""

    def handle(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> list[Effect]:
        if isinstance(event, Tick) and now is None and event.now < self.now:
            event = Tick(now=self.now)
        if now is not None and now < self.now:
            now = None
        return super().handle(event, now=now, step_id=step_id)


class _NewestFirstRouter(Router):
    """Counts its arrival numbers down from a high mark, so a newer conversation sorts first; the
    numbers stay below the next-ticket mark the router's auditor checks, so only FIFO breaks."""

    HIGH = 10**13

    def _take_ticket(self, priority: int = 0) -> int:
        self._next_ticket = max(self._next_ticket, self.HIGH) + 1
        return place_of(2 * self.HIGH - self._next_ticket, priority)


class ServesNewestFirst(Switchboard):
    """(j) Routing numbers tickets backwards, so the newest conversation is first in line."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._router = _NewestFirstRouter(config.participants, config.queues)


class IdlesAfterDecline(Switchboard):
    """(k) A declined offer is withdrawn, but the conversation is not offered to anyone else."""

    def _decline(self, event: Decline) -> None:
        record = self._live(event.conversation, "decline")
        self._router.check_offer(record.id, event.participant)
        self._withdrawn(self._router.decline(record.id, event.participant, self.now))


class SkipsMonitorCopies(Switchboard):
    """(l) Monitors never get a copy of the customer's messages."""

    def _relay(self, record: ConversationRecord, sender: str, text: str, to: Sequence[str]) -> None:
        if sender == CUSTOMER:
            to = [r for r in to if r not in record.monitors]
        super()._relay(record, sender, text, to)


class EndsBeforeRemoving(Switchboard):
    """(m) The survey or ended line goes out before the holder and monitors are removed."""

    def _close(self, record: ConversationRecord, trigger: Trigger, facts: Facts = NO_FACTS) -> None:
        mark = len(self._out)
        super()._close(record, trigger, facts)
        closing = next(
            i
            for i in range(mark, len(self._out))
            if isinstance(self._out[i], Survey | Ended) and self._out[i].conversation == record.id
        )
        self._out.insert(mark, self._out.pop(closing))


class WithdrawsSilently(Switchboard):
    """(n) Offers cancelled by a close or a presence change are taken back without telling."""

    def _withdrawn(self, withdrawn: Withdrawn | None) -> None:
        if withdrawn is None or withdrawn.reason is not WithdrawReason.CANCELLED:
            super()._withdrawn(withdrawn)


class LeaverOverhears(Switchboard):
    """(o) While waiting, the customer's messages are also copied to the bot that escalated."""

    def _relay(self, record: ConversationRecord, sender: str, text: str, to: Sequence[str]) -> None:
        if record.state is State.WAITING and record.return_bot is not None:
            to = [*to, record.return_bot]
        super()._relay(record, sender, text, to)


class TakeOverKeepsTheMonitor(Switchboard):
    """(p) A monitor that takes over is joined as holder but stays among the monitors."""

    def _take_over(self, event: TakeOver) -> None:
        super()._take_over(event)
        record = self._conversations[event.conversation]
        record.monitors = (*record.monitors, event.participant)


class AnyBotMaySpeak(Switchboard):
    """(q) A bot message is relayed whichever bot sends it, holder or not."""

    def _bot(self, event: BotMessage) -> None:
        record = self._live(event.conversation, "bot")
        if self._router.participant(event.participant).kind is not Kind.BOT:
            raise StepRefused(ErrorCode.WRONG_KIND, f"{event.participant!r} is not a bot")
        self._relay(record, event.participant, event.text, [CUSTOMER, *record.monitors])


class RemovesButKeepsHolds(Switchboard):
    """(r) `remove_participant` drops the participant from routing without going offline first:
    what it held stays held by a participant that no longer exists."""

    def _remove_participant(self, event: RemoveParticipant) -> None:
        router = self._router
        agent = router._agent(event.participant)
        for name in [name for name, _ in agent.memberships]:
            q = router._queues[name]
            router._set_members(q, tuple(m for m in q.spec.members if m != event.participant))
        del router._agents[event.participant]


class LowersCapacityButKeepsOffers(Switchboard):
    """(s) `set_capacity` below the load changes the capacity but withdraws no offer."""

    def _set_capacity(self, event: SetCapacity) -> None:
        agent = self._router._agent(event.participant)
        agent.spec = attrs.evolve(agent.spec, capacity=event.capacity)
        self._router._refresh(agent)
        self._serve()


class LeavesButKeepsOffers(Switchboard):
    """(t) `leave_queue` takes the member out of the queue but leaves its offers there out."""

    def _leave_queue(self, event: LeaveQueue) -> None:
        router = self._router
        router._agent(event.participant)
        q = router._queue(event.queue)
        members = q.spec.members
        if event.participant not in members:
            raise StepRefused(ErrorCode.NOT_MEMBER, "not a member")
        router._set_members(q, tuple(m for m in members if m != event.participant))
        self._serve()


class ForgetsSurveys(Switchboard):
    """(u) Retention counts a conversation as over once its survey is out, so it forgets one
    whose survey is still waiting for the customer."""

    def _close(self, record: ConversationRecord, trigger: Trigger, facts: Facts = NO_FACTS) -> None:
        super()._close(record, trigger, facts)
        retention = self.settings.retention
        if record.state is State.SURVEY and retention is not None:
            self._ended.append((self.now + retention, record))


class ForgetsIdsEarly(Switchboard):
    """(v) A step id leaves memory at half its dedup window: a retry inside the window runs."""

    def _remember_id(self, step_id: str, processed: float) -> None:
        window = self.settings.dedup_window
        if window is None:
            super()._remember_id(step_id, processed)
            return
        self._seen_ids[step_id] = processed + window / 2
        self._id_expiry.append((processed + window / 2, step_id))


class _PriorityBlindRouter(Router):
    def _take_ticket(self, priority: int = 0) -> int:
        return super()._take_ticket(0)


class IgnoresPriority(Switchboard):
    """(w) Routing files every wait by arrival alone: a higher priority does not go first."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._router = _PriorityBlindRouter(config.participants, config.queues)


class _SkillBlindRouter(Router):
    def _pick(self, rec: WaitRecord, q: QueueRecord) -> str | None:
        kept, rec.requires = rec.requires, ()
        try:
            return super()._pick(rec, q)
        finally:
            rec.requires = kept


class IgnoresRequirements(Switchboard):
    """(x) Selection forgets a request's requirements (they are kept, and still explained)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._router = _SkillBlindRouter(config.participants, config.queues)


class NeverSetsAway(Switchboard):
    """(y) A human that lets offers time out in a row is offered again and again."""

    def _missed_offer(self, participant: str) -> None:
        del participant


class WrapsUpLate(Switchboard):
    """(z) The wrap_up effect comes after the human's participant_removed, not before."""

    def _let_go(self, record: ConversationRecord, *, wrap: bool = False) -> str:
        mark = len(self._out)
        holder = super()._let_go(record, wrap=wrap)
        if len(self._out) - mark == 2 and isinstance(self._out[mark], WrapUp):
            self._out[mark], self._out[mark + 1] = self._out[mark + 1], self._out[mark]
        return holder


class KeepsTheFirstOfferTimer(Switchboard):
    """(aa) An offer re-made to the same human within one wait keeps the first offer's timer (the
    offer token is not bumped), so the new offer is withdrawn at the old deadline."""

    def _apply(self, decision: Decision) -> None:
        if not isinstance(decision, Offered):
            super()._apply(decision)
            return
        record = self._conversations[decision.conversation]
        if record.state is State.NEW:
            self._fire(record, Trigger.ENQUEUE)
        # the defect: no `record.offer_token = self._token()`, the timer reuses the old token
        self._emit(Offer(conversation=record.id, to=decision.participant, queue=decision.queue))
        if decision.expires_at is not None:
            self._schedule(
                decision.expires_at, OFFER, record.id, decision.participant, record.offer_token
            )


class OverflowLosesTheKind(Switchboard):
    """(bb) A wait that overflows into another queue forgets the kind it asked for (`or` turned
    into `and`), so an escalation asking for a human may be given to a bot there."""

    def _wait_ran_out(self, record: ConversationRecord) -> None:
        queue = self._router.queue_of(record.id)
        assert queue is not None
        overflow = self._router.queue(queue).overflow
        if not isinstance(overflow, OverflowTransfer):
            super()._wait_ran_out(record)
            return
        wanted = self._router.wanted(record.id) and Wanted.ANY
        self._fire(record, Trigger.WAIT_TIMEOUT, frozenset({Guard.OVERFLOW_TRANSFER}))
        self._withdrawn(self._router.leave(record.id, self.now))
        self._enqueue(record, overflow.queue, wanted or Wanted.ANY)
        self._serve()


class OverflowDropsRequirements(Switchboard):
    """(dd) A wait that overflows into another queue forgets the skills it requires (the router
    is asked for the requirements, and none are passed on), so it may go to someone without
    them there; the router's own state forgets them too, so only the request as the steps made
    it can tell."""

    def _wait_ran_out(self, record: ConversationRecord) -> None:
        queue = self._router.queue_of(record.id)
        assert queue is not None
        overflow = self._router.queue(queue).overflow
        if not isinstance(overflow, OverflowTransfer):
            super()._wait_ran_out(record)
            return
        wanted = self._router.wanted(record.id) or Wanted.ANY
        since = self._router.request_since(record.id)
        self._fire(record, Trigger.WAIT_TIMEOUT, frozenset({Guard.OVERFLOW_TRANSFER}))
        self._withdrawn(self._router.leave(record.id, self.now))
        self._enqueue(record, overflow.queue, wanted, since=since)
        self._serve()


class _ParksForeverRouter(Router):
    def _unpark_for(self, q: QueueRecord, agent: AgentRecord) -> None:
        del q, agent


class ParksForever(Switchboard):
    """(cc) A wait parked because nobody available could take it is not tried again when
    someone who could comes back (it waits until the whole queue changes)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._router = _ParksForeverRouter(config.participants, config.queues)


#: (engine, the invariant that must catch it)
DEFECTS: list[tuple[type[Switchboard], str]] = [
    (SkipsContextSet, "join_order"),
    (IgnoresCapacity, "capacity"),
    (DropsWaitingMessages, "context_complete"),
    (KeepsTheLeaver, "one_holder"),
    (RelaysToEnded, "ended_is_silent"),
    (CountsRefusedFallbacks, "refusal_changes_nothing"),
    (ForgetsRefusedIds, "duplicate_changes_nothing"),
    (ActsBeforeTimeouts, "timeouts_first"),
    (TakesLateStepsAsOnTime, "time_monotonic"),
    (ServesNewestFirst, "fifo"),
    (IdlesAfterDecline, "work_conserving"),
    (SkipsMonitorCopies, "no_message_lost"),
    (EndsBeforeRemoving, "close_order"),
    (WithdrawsSilently, "one_offer"),
    (LeaverOverhears, "leave_silence"),
    (TakeOverKeepsTheMonitor, "books_match"),
    (AnyBotMaySpeak, "acting_member"),
    (RemovesButKeepsHolds, "removed_hold_nothing"),
    (LowersCapacityButKeepsOffers, "capacity"),
    (LeavesButKeepsOffers, "offers_to_members"),
    (ForgetsSurveys, "forgotten_leave_no_trace"),
    (ForgetsIdsEarly, "duplicate_changes_nothing"),
    (IgnoresPriority, "priority_order"),
    (IgnoresRequirements, "requirements_met"),
    (NeverSetsAway, "missed_offers"),
    (WrapsUpLate, "wrap_up_announced"),
    (KeepsTheFirstOfferTimer, "one_timer_each"),
    (OverflowLosesTheKind, "request_kept"),
    (ParksForever, "work_conserving"),
    (OverflowDropsRequirements, "request_kept"),
]

#: Bounded and reproducible in every profile: a defect is a sure failure, not a hunt.
HUNT = settings(
    max_examples=300,
    stateful_step_count=100,
    phases=[Phase.generate],
    derandomize=True,
    database=None,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


def machine_for(engine: type[Switchboard]) -> type[SwitchboardMachine]:
    return type(f"{engine.__name__}Machine", (SwitchboardMachine,), {"ENGINE": engine})


def reoffered_after_a_break(engine: type[Switchboard]) -> None:
    """rep-1 is offered c1, steps away and comes back within the wait: c1 is offered again."""
    people = [ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1)]
    sales = QueueSpec(name="sales", members=("rep-1",), offer_timeout=30, wait_timeout=100)
    auditor = Auditor(engine(Config.build(people, [sales], Settings())))
    auditor.handle(Start(conversation="c1", queue="sales"), now=0)  # offer due at 30
    auditor.handle(Presence(participant="rep-1", status=PresenceStatus.AWAY), now=10)
    auditor.handle(Presence(participant="rep-1", status=PresenceStatus.AVAILABLE), now=20)
    auditor.handle(Tick(now=35))  # the offer made at 20 is due at 50


def capacity_lowered_under_two_offers(engine: type[Switchboard]) -> None:
    """rep-1 (capacity 2) has two offers out when its capacity is lowered to 1."""
    people = [ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=2)]
    sales = QueueSpec(name="sales", members=("rep-1",), offer_timeout=30)
    auditor = Auditor(engine(Config.build(people, [sales], Settings())))
    auditor.handle(Start(conversation="c1", queue="sales"), now=0)
    auditor.handle(Start(conversation="c2", queue="sales"), now=1)
    auditor.handle(SetCapacity(participant="rep-1", capacity=1), now=2)


def offer_cancelled_by_going_away(engine: type[Switchboard]) -> None:
    """rep-1 is offered c1 and steps away: the offer is cancelled, and c1 offered to rep-2."""
    people = [
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=2),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=1),
    ]
    sales = QueueSpec(name="sales", members=("rep-1", "rep-2"), offer_timeout=30)
    auditor = Auditor(engine(Config.build(people, [sales], Settings())))
    auditor.handle(Start(conversation="c1", queue="sales"), now=0)  # offered to rep-1
    auditor.handle(Presence(participant="rep-1", status=PresenceStatus.AWAY), now=10)


#: Defects the bounded fuzzing does not reach (a rare sequence), or reaches through another
#: invariant first (a capacity kept over its offers also serves a line out of order, and an offer
#: withdrawn silently by a leave_queue is first seen by books_match and one_timer_each, under the
#: CI profile's derandomized search): a scripted run shows each by its own invariant.
SCRIPTED: dict[type[Switchboard], Callable[[type[Switchboard]], None]] = {
    KeepsTheFirstOfferTimer: reoffered_after_a_break,
    LowersCapacityButKeepsOffers: capacity_lowered_under_two_offers,
    WithdrawsSilently: offer_cancelled_by_going_away,
}
FUZZED = [(engine, invariant) for engine, invariant in DEFECTS if engine not in SCRIPTED]


@pytest.mark.parametrize(("engine", "invariant"), FUZZED, ids=[d.__name__ for d, _ in FUZZED])
def test_stateful_fuzzing_catches_the_seeded_defect(
    engine: type[Switchboard], invariant: str
) -> None:
    with pytest.raises(InvariantViolation) as caught:
        run_state_machine_as_test(machine_for(engine), settings=HUNT)
    assert invariant in caught.value.invariants, str(caught.value)


def test_every_invariant_has_a_seeded_defect() -> None:
    assert {invariant for _, invariant in DEFECTS} == set(INVARIANTS)


@pytest.mark.parametrize("engine", list(SCRIPTED), ids=[d.__name__ for d in SCRIPTED])
def test_a_scripted_run_catches_the_seeded_defect(engine: type[Switchboard]) -> None:
    invariant = dict(DEFECTS)[engine]
    with pytest.raises(InvariantViolation) as caught:
        SCRIPTED[engine](engine)
    assert invariant in caught.value.invariants, str(caught.value)
    SCRIPTED[engine](Switchboard)  # the control: the real engine runs it clean
