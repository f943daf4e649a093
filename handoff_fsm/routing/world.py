"""Live changes of the world routing serves: participants and queues added, removed and changed.

Theory of operation: `WorldBooks` adds to the books the changes of SPEC §5 (contract v2) that are
not about one conversation: a participant joins or leaves, gets another capacity or other skills,
joins or leaves a queue; a queue is added, updated or removed. Each call checks everything first
and refuses (`StepRefused`, nothing changed) what it cannot do; then it changes the records and
marks dirty every queue where a waiting conversation may have become servable, so the next
`serve` offers it in the same step.

Rules:
- A queue whose members or strategy change gets its segment trees rebuilt whole
  (`_plant_trees`, O(members of that queue)): positions in the queue's order shift when a member
  leaves, and every key changes with the strategy. Round robin continues after the member it
  picked last (or, if that one left, after the member before it).
- Removing a participant needs it offline first, holding and offered nothing (the switchboard
  sets it offline, with the effects of going offline, before it asks); a wait that still names
  it (named while it was offline) asks the whole queue instead.
- Changing a queue's `units` is refused while a conversation is held from or offered in it: the
  units a hold took are given back by the queue's current `units`.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from handoff_fsm.config import OverflowTransfer, ParticipantSpec, QueueSpec
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.routing.offers import OfferBooks
from handoff_fsm.routing.records import AgentRecord, QueueRecord, WaitRecord
from handoff_fsm.routing.waits import WaitTrigger, Withdrawn
from handoff_fsm.vocabulary import PresenceStatus, WithdrawReason


class WorldBooks(OfferBooks):
    """The live changes of participants and queues."""

    __slots__ = ()

    # ------------------------------------------------------------------------- queries

    def knows(self, pid: str) -> bool:
        return pid in self._agents

    def participant_specs(self) -> tuple[ParticipantSpec, ...]:
        """Every participant as defined now, first defined first."""
        return tuple(agent.spec for agent in self._agents.values())

    def queue_specs(self) -> tuple[QueueSpec, ...]:
        """Every queue as defined now, in order (a queue added later comes last)."""
        return tuple(q.spec for q in self._queue_list)

    # ------------------------------------------------------------------------- participants

    def add_participant(self, spec: ParticipantSpec, queues: tuple[str, ...]) -> None:
        if spec.id in self._agents:
            raise StepRefused(ErrorCode.ALREADY_EXISTS, f"participant {spec.id!r} already exists")
        targets = [self._queue(name) for name in queues]
        self._agents[spec.id] = AgentRecord(spec=spec, memberships=[], presence=spec.presence)
        for q in targets:
            self._set_members(q, (*q.spec.members, spec.id))

    def remove_participant(self, pid: str) -> None:
        agent = self._agent(pid)
        assert agent.presence is PresenceStatus.OFFLINE, "set it offline first"
        assert not agent.holds and not agent.offers
        # Going offline widened the waits that named it, unless it was offline already.
        for cid in self._by_ticket_order(self._named_waits.get(pid, ())):
            self._widen(self._conversations[cid])
        for name in [name for name, _ in agent.memberships]:
            q = self._queues[name]
            if pid in q.spec.members:
                self._set_members(q, tuple(m for m in q.spec.members if m != pid))
        del self._agents[pid]

    def set_capacity(self, pid: str, capacity: int) -> tuple[Withdrawn, ...]:
        """Below its load it keeps its holds; the offers it cannot carry, newest first, are
        withdrawn (cancelled) and their waits are ready again."""
        agent = self._agent(pid)
        agent.spec = attrs.evolve(agent.spec, capacity=capacity)
        withdrawn = []
        for cid in reversed(self._by_ticket_order(agent.offers)):
            if agent.load <= capacity:
                break
            withdrawn.append(self._withdraw(self._conversations[cid], agent))
        self._refresh(agent)
        return tuple(withdrawn)

    def set_skills(self, pid: str, skills: Mapping[str, int]) -> None:
        agent = self._agent(pid)
        agent.spec = attrs.evolve(agent.spec, skills=skills)
        for name, _ in agent.memberships:
            q = self._queues[name]
            self._unpark_all(q)
            if q.line:
                self._dirty.add(name)

    def join_queue(self, pid: str, queue: str) -> None:
        self._agent(pid)
        q = self._queue(queue)
        if pid in q.spec.members:
            raise StepRefused(
                ErrorCode.ALREADY_MEMBER, f"{pid!r} is already a member of queue {queue!r}"
            )
        self._set_members(q, (*q.spec.members, pid))

    def leave_queue(self, pid: str, queue: str) -> tuple[Withdrawn, ...]:
        """It keeps what it holds; its offers of this queue are withdrawn (cancelled), and a
        wait there that named it asks the whole queue instead."""
        agent = self._agent(pid)
        q = self._queue(queue)
        if pid not in q.spec.members:
            raise StepRefused(ErrorCode.NOT_MEMBER, f"{pid!r} is not a member of queue {queue!r}")
        withdrawn = [
            self._withdraw(self._conversations[cid], agent)
            for cid in self._by_ticket_order(agent.offers)
            if self._conversations[cid].queue == queue
        ]
        for cid in self._by_ticket_order(self._named_waits.get(pid, ())):
            if self._conversations[cid].queue == queue:
                self._widen(self._conversations[cid])
        self._set_members(q, tuple(m for m in q.spec.members if m != pid))
        self._refresh(agent)
        return tuple(withdrawn)

    # ------------------------------------------------------------------------- queues

    def add_queue(self, spec: QueueSpec) -> None:
        if spec.name in self._queues:
            raise StepRefused(ErrorCode.ALREADY_EXISTS, f"queue {spec.name!r} already exists")
        for pid in spec.members:
            self._agent(pid)
        self._check_overflow(spec)
        q = QueueRecord(spec=spec, order=len(self._queue_list), trees={})
        self._plant_trees(q)
        self._queues[spec.name] = q
        self._queue_list.append(q)

    def update_queue(self, spec: QueueSpec) -> None:
        """Replace a queue's settings (not its members); what is out (offers, deadlines) stays."""
        q = self._queue(spec.name)
        assert spec.members == q.spec.members, "update_queue does not change members"
        self._check_overflow(spec)
        if spec.units != q.spec.units and (q.line or self._held_from(spec.name)):
            raise StepRefused(
                ErrorCode.QUEUE_IN_USE,
                f"queue {spec.name!r}: units cannot change while a conversation waits in it "
                "or is held from it",
            )
        strategy_changed = spec.strategy is not q.spec.strategy
        q.spec = spec
        if strategy_changed:
            self._set_members(q, spec.members)
        elif q.line:
            self._unpark_all(q)
            self._dirty.add(spec.name)

    def remove_queue(self, name: str) -> None:
        q = self._queue(name)
        in_use = ""
        if q.line:
            in_use = "a conversation waits in it"
        elif self._held_from(name):
            in_use = "a conversation is held from it"
        else:
            feeding = [
                other.spec.name
                for other in self._queue_list
                if isinstance(other.spec.overflow, OverflowTransfer)
                and other.spec.overflow.queue == name
            ]
            if feeding:
                in_use = f"queue {feeding[0]!r} overflows to it"
        if in_use:
            raise StepRefused(ErrorCode.QUEUE_IN_USE, f"queue {name!r} is in use: {in_use}")
        for pid in q.spec.members:
            agent = self._agents[pid]
            agent.memberships = [(n, leaf) for n, leaf in agent.memberships if n != name]
        del self._queues[name]
        self._queue_list.remove(q)
        for order, other in enumerate(self._queue_list):
            other.order = order
        self._dirty.discard(name)

    # ------------------------------------------------------------------------- helpers

    def _check_overflow(self, spec: QueueSpec) -> None:
        overflow = spec.overflow
        if not isinstance(overflow, OverflowTransfer):
            return
        if overflow.queue == spec.name:
            raise StepRefused(
                ErrorCode.INVALID_STEP, f"queue {spec.name!r}: overflow transfers to itself"
            )
        self._queue(overflow.queue)

    def _held_from(self, queue: str) -> bool:
        """Whether any conversation is held from `queue` (a scan of the holds: rare calls)."""
        conversations = self._conversations
        return any(
            conversations[cid].held_in == queue
            for agent in self._agents.values()
            for cid in agent.holds
        )

    def _withdraw(self, rec: WaitRecord, agent: AgentRecord) -> Withdrawn:
        q = self._queues[rec.queue or ""]
        self._move(rec, WaitTrigger.WITHDRAW)
        withdrawn = self._drop_offer(rec, q, agent, WithdrawReason.CANCELLED)
        self._make_ready(rec, q)
        return withdrawn

    def _set_members(self, q: QueueRecord, members: tuple[str, ...]) -> None:
        """Give `q` these members (in this order) and rebuild its trees."""
        name = q.spec.name
        old = q.spec.members
        for pid in old:
            agent = self._agents[pid]
            agent.memberships = [(n, leaf) for n, leaf in agent.memberships if n != name]
        if q.last_picked >= 0:
            kept = set(members)
            q.last_picked = sum(1 for pid in old[: q.last_picked + 1] if pid in kept) - 1
        q.spec = attrs.evolve(q.spec, members=members)
        self._plant_trees(q)
        self._unpark_all(q)
        if q.line:
            self._dirty.add(name)


__all__ = ["WorldBooks"]
