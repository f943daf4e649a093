"""What every check is made of: the step record it observes, the violation it reports, the world
it may know, and the `Check` base class.

Theory of operation: the auditor turns each step into a `StepRecord` (the event, its effects or
refusal, the timeouts that fired first, and three fingerprints: before, at the action, after) and
hands it to every check; a check yields a `Violation` per broken promise. `World` is what a check
may know of the configuration (the contract's, not the router's copy).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

import attrs

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec, whole_message
from handoff_fsm.effects import (
    CUSTOMER,
    Effect,
    Offer,
    OfferWithdrawn,
)
from handoff_fsm.errors import HandoffError
from handoff_fsm.events import (
    UNCHANGED,
    AddParticipant,
    AddQueue,
    Event,
    JoinQueue,
    LeaveQueue,
    PresenceStatus,
    RemoveParticipant,
    RemoveQueue,
    SetCapacity,
    SetSkills,
    UpdateQueue,
    Wanted,
)
from handoff_fsm.testing.fingerprint import ConversationPrint, Fingerprint
from handoff_fsm.testing.roster import Roster


@attrs.frozen(kw_only=True)
class Violation:
    """One broken promise: which invariant, about which conversation, at which step."""

    invariant: str
    step: int
    conversation: str | None
    detail: str

    def __str__(self) -> str:
        about = f" [{self.conversation}]" if self.conversation is not None else ""
        return f"step {self.step}: {self.invariant}{about}: {self.detail}"


class InvariantViolation(HandoffError):
    """The switchboard broke at least one runtime invariant at one step."""

    def __init__(self, violations: Iterable[Violation], event: Event | None = None) -> None:
        self.violations = tuple(violations)
        self.event = event
        lines = [str(v) for v in self.violations]
        if event is not None:
            lines.insert(0, f"during {event!r}:")
        super().__init__("\n  ".join(lines))

    @property
    def invariants(self) -> frozenset[str]:
        return frozenset(v.invariant for v in self.violations)


@attrs.frozen(kw_only=True)
class StepRecord:
    """What one step did, as a check sees it.

    `timeouts` are the effects that merely letting time pass to `date` gives (the timeouts that
    fire before the step's own action); `at_action` is the world once they fired.
    """

    index: int
    event: Event
    date: float | None
    step_id: str | None
    duplicate: bool
    effects: tuple[Effect, ...]
    refusal: str | None
    timeouts: tuple[Effect, ...]
    before: Fingerprint
    at_action: Fingerprint
    after: Fingerprint

    @property
    def accepted(self) -> bool:
        """The step's own action ran (neither refused nor ignored as a duplicate)."""
        return self.refusal is None and not self.duplicate

    @property
    def fired(self) -> int:
        """How many leading effects are timeouts that fired before the action."""
        return len(self.timeouts)

    @property
    def conversation(self) -> str | None:
        return self.event.conversation


class World:
    """What a check may know of the configuration (the contract's, not the router's copy)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.participants: dict[str, ParticipantSpec] = {}
        self.queues: dict[str, QueueSpec] = {}
        self.units: dict[str, int] = {}
        self.refresh(config)
        self.cancel_phrases = frozenset(whole_message(p) for p in config.settings.cancel_phrases)

    def refresh(self, world: Config) -> None:
        """Learn a whole world. What was removed stays known (its kind, its last capacity), so
        effects about it still read."""
        self.config = world
        self.participants.update((p.id, p) for p in world.participants)
        self.queues = {q.name: q for q in world.queues}
        self.units.update((q.name, q.units) for q in world.queues)

    def apply(self, event: Event) -> None:
        """Follow an accepted live change (SPEC §5), from the event alone: the contract's world,
        never the router's copy (a router that books another capacity is caught)."""
        queues, people = self.queues, self.participants
        match event:
            case AddParticipant():
                people[event.participant] = ParticipantSpec(
                    id=event.participant, kind=event.kind, capacity=event.capacity,
                    presence=event.presence, skills=event.skills,
                )  # fmt: skip
                for name in event.queues:
                    self._members(name, (*queues[name].members, event.participant))
            case RemoveParticipant():
                for name, spec in list(queues.items()):
                    kept = tuple(m for m in spec.members if m != event.participant)
                    self._members(name, kept)
            case SetCapacity():
                people[event.participant] = attrs.evolve(
                    people[event.participant], capacity=event.capacity
                )
            case SetSkills():
                people[event.participant] = attrs.evolve(
                    people[event.participant], skills=event.skills
                )
            case JoinQueue():
                self._members(event.queue, (*queues[event.queue].members, event.participant))
            case LeaveQueue():
                members = queues[event.queue].members
                self._members(event.queue, tuple(m for m in members if m != event.participant))
            case AddQueue():
                queues[event.queue] = QueueSpec(
                    name=event.queue, members=event.participants, strategy=event.strategy,
                    units=event.units, offer_timeout=event.offer_timeout,
                    wait_timeout=event.wait_timeout, overflow=event.overflow,
                )  # fmt: skip
            case UpdateQueue():
                changes = {
                    f.name: getattr(event, f.name)
                    for f in attrs.fields(UpdateQueue)
                    if f.name != "queue" and getattr(event, f.name) is not UNCHANGED
                }
                queues[event.queue] = attrs.evolve(queues[event.queue], **changes)
            case RemoveQueue():
                del queues[event.queue]
            case _:
                return
        self.units.update((name, q.units) for name, q in queues.items())

    def _members(self, queue: str, members: tuple[str, ...]) -> None:
        self.queues[queue] = attrs.evolve(self.queues[queue], members=members)

    def kind(self, pid: str) -> Kind | None:
        spec = self.participants.get(pid)
        return None if spec is None else spec.kind

    def capacity(self, pid: str) -> int:
        return self.participants[pid].capacity

    def eligible_by_request(self, pid: str, queue: str, conv: ConversationPrint) -> bool:
        """SPEC §3 eligibility rules that do not depend on presence or load."""
        spec, qspec = self.participants.get(pid), self.queues.get(queue)
        if spec is None or qspec is None or pid not in qspec.members:
            return False
        if conv.named is not None and pid != conv.named:
            return False
        if conv.wanted not in (None, Wanted.ANY) and str(conv.wanted) != str(spec.kind):
            return False
        if pid in conv.held_before and pid != conv.named:
            return False
        if pid in conv.declined:
            return False
        return all(r.met_by(spec.skills) for r in conv.requires)

    def priority(self, conv: ConversationPrint) -> int:
        """The priority it waits on (SPEC §3): its request's, else its queue's, else 0."""
        if conv.priority is not None:
            return conv.priority
        queue = self.queues.get(conv.queue or "")
        return 0 if queue is None else queue.priority

    def has_room(self, pid: str, queue: str, world: Fingerprint) -> bool:
        seat = world.participants.get(pid)
        return (
            seat is not None
            and seat.presence is PresenceStatus.AVAILABLE
            and self.capacity(pid) - seat.load >= self.units[queue]
        )

    def hold_units(self, after: Fingerprint) -> dict[str, int]:
        return {
            cid: self.units[conv.held_in]
            for cid, conv in after.conversations.items()
            if conv.held_in is not None and conv.held_in in self.units
        }


class Check:
    """Base of the checks; a subclass's docstring says, in one line, what it guarantees."""

    name: ClassVar[str] = ""

    def __init__(self, world: World, start: Fingerprint) -> None:
        self.world = world

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        raise NotImplementedError

    @classmethod
    def guarantee(cls) -> str:
        """The docstring's first paragraph, on one line."""
        paragraph = (cls.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(line.strip() for line in paragraph.splitlines())

    def violation(self, step: StepRecord, conversation: str | None, detail: str) -> Violation:
        return Violation(
            invariant=self.name, step=step.index, conversation=conversation, detail=detail
        )


class RosterCheck(Check):
    """A check that keeps its own `Roster`, rebuilt from the effect stream alone."""

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        self._roster = Roster.of(start)


def addressed(effect: Effect) -> str | None:
    """The participant an effect is for (None for the customer and for broadcast lines)."""
    to = effect.to
    return None if to is None or to == CUSTOMER else to


BEFORE_JOIN = frozenset({Offer.KIND, OfferWithdrawn.KIND})


__all__ = [
    "BEFORE_JOIN",
    "Check",
    "InvariantViolation",
    "RosterCheck",
    "StepRecord",
    "Violation",
    "World",
    "addressed",
]
