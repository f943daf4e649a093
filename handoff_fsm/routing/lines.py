"""The books of routing: who is in which line, who holds what, and the questions about them.

Theory of operation: `RoutingBooks` owns the live records of one contact center (`records`):
participants, queues with their lines, and each conversation's wait. A conversation joins a
queue's line with a ticket from one global counter, and lines are kept sorted by ticket; a queue
where a wait may have become servable is marked dirty, so `Router.serve` looks only there.
Queries here read; the helpers below them keep the books consistent (every ticket in exactly one
line and in the ticket index, every ready wait in its sub-line, every participant keyed in the
segment trees of its queues by what it can take now). The deciding calls (`serve`, offers,
holds, presence) are `Router`'s, built on these books.

Rules:
- A lookup of something unknown is a `StepRefused` with the code for it
  (`unknown_participant`, `unknown_queue`, `unknown_conversation`, `not_waiting`).
- State is plain data (dicts, lists, sets, slotted records): the books pickle, and sets are never
  iterated without sorting, so decisions do not depend on hash seeds.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from handoff_fsm.config import OverflowTransfer, ParticipantSpec, QueueSpec, Requirement
from handoff_fsm.errors import ErrorCode, RoutingConfigError, StepRefused
from handoff_fsm.routing.explain import PastDecision, keep, kept_decisions, past_decision
from handoff_fsm.routing.records import (
    PRIORITY_STEP,
    SUBS_OF_KIND,
    AgentRecord,
    QueueRecord,
    WaitRecord,
    excluded,
    has_room,
    has_ticket,
    insert_ticket,
    leaf_key,
    missing_from,
    place_of,
    remove_ticket,
    with_id,
)
from handoff_fsm.routing.segment_tree import MinSegmentTree
from handoff_fsm.routing.waits import WAIT_TABLE, WaitStatus, WaitTrigger
from handoff_fsm.vocabulary import Kind, PresenceStatus, Wanted


class RoutingBooks:
    """The records of routing and the queries about them; `Router` decides on top of them."""

    __slots__ = (
        "_agents",
        "_by_ticket",
        "_conversations",
        "_dirty",
        "_named_checks",
        "_named_waits",
        "_next_ticket",
        "_queue_list",
        "_queues",
    )

    def __init__(
        self, participants: Iterable[ParticipantSpec], queues: Iterable[QueueSpec]
    ) -> None:
        self._agents: dict[str, AgentRecord] = {}
        for spec in participants:
            if spec.id in self._agents:
                raise RoutingConfigError(f"participant {spec.id!r} is defined twice")
            if spec.capacity < 0:
                raise RoutingConfigError(f"participant {spec.id!r} has a negative capacity")
            self._agents[spec.id] = AgentRecord(spec=spec, memberships=[], presence=spec.presence)
        self._queues: dict[str, QueueRecord] = {}
        self._queue_list: list[QueueRecord] = []
        for order, qspec in enumerate(queues):
            queue = self._build_queue(qspec, order)
            self._queues[qspec.name] = queue
            self._queue_list.append(queue)
        for queue in self._queue_list:
            overflow = queue.spec.overflow
            if isinstance(overflow, OverflowTransfer) and (
                overflow.queue not in self._queues or overflow.queue == queue.spec.name
            ):
                raise RoutingConfigError(
                    f"queue {queue.spec.name!r}: overflow transfers to "
                    f"{'itself' if overflow.queue == queue.spec.name else 'unknown queue'} "
                    f"{overflow.queue!r}"
                )
        self._conversations: dict[str, WaitRecord] = {}
        self._by_ticket: dict[int, str] = {}  # tickets of waiting conversations
        self._named_waits: dict[str, set[str]] = {}  # participant -> waits that name it
        self._dirty: set[str] = set()
        self._next_ticket = 1
        self._named_checks = 0

    def _build_queue(self, spec: QueueSpec, order: int) -> QueueRecord:
        if spec.name in self._queues:
            raise RoutingConfigError(f"queue {spec.name!r} is defined twice")
        if spec.units < 1:
            raise RoutingConfigError(f"queue {spec.name!r}: units must be at least 1")
        # A zero timeout would fire in the step that set it; with an overflow cycle (a -> b -> a)
        # a zero wait_timeout would never let time move on.
        for name, timeout in (
            ("offer_timeout", spec.offer_timeout),
            ("wait_timeout", spec.wait_timeout),
        ):
            if timeout is not None and not timeout > 0:
                raise RoutingConfigError(f"queue {spec.name!r}: {name} must be > 0")
        seen: set[str] = set()
        for pid in spec.members:
            if pid not in self._agents:
                raise RoutingConfigError(f"queue {spec.name!r} names unknown participant {pid!r}")
            if pid in seen:
                raise RoutingConfigError(f"queue {spec.name!r} lists {pid!r} twice")
            seen.add(pid)
        queue = QueueRecord(spec=spec, order=order, trees={})
        self._plant_trees(queue)
        return queue

    def _plant_trees(self, queue: QueueRecord) -> None:
        """Build the queue's segment trees (one per kind) from its members, and record each
        member's leaf in its memberships. O(members): the live changes of the queue's members
        or strategy rebuild them whole (`routing.world`)."""
        by_kind: dict[Kind, list[tuple[int, str]]] = {kind: [] for kind in Kind}
        for position, pid in enumerate(queue.spec.members):
            by_kind[self._agents[pid].spec.kind].append((position, pid))
        for kind, members in by_kind.items():
            for leaf, (_, pid) in enumerate(members):
                self._agents[pid].memberships.append((queue.spec.name, leaf))
            keys = [leaf_key(queue, self._agents[pid], pos) for pos, pid in members]
            queue.trees[kind] = MinSegmentTree.build(members, keys)

    # ------------------------------------------------------------------------- queries

    def participant(self, pid: str) -> ParticipantSpec:
        return self._agent(pid).spec

    def queue(self, name: str) -> QueueSpec:
        return self._queue(name).spec

    def presence(self, pid: str) -> PresenceStatus:
        return self._agent(pid).presence

    def load(self, pid: str) -> int:
        return self._agent(pid).load

    def idle_since(self, pid: str) -> float:
        """When it was last picked, took a conversation or let one go (-inf: never)."""
        return self._agent(pid).idle_since

    def holds_of(self, pid: str) -> tuple[str, ...]:
        """Conversations it holds, in ticket order."""
        return self._by_ticket_order(self._agent(pid).holds)

    def offers_of(self, pid: str) -> tuple[str, ...]:
        """Conversations offered to it and not yet answered, in ticket order."""
        return self._by_ticket_order(self._agent(pid).offers)

    def holder(self, conversation: str) -> str | None:
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.holder

    def held_in(self, conversation: str) -> str | None:
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.held_in

    def offer_of(self, conversation: str) -> str | None:
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.offer

    def offer_expires_at(self, conversation: str) -> float | None:
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.offer_expires

    def queue_of(self, conversation: str) -> str | None:
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.queue

    def position(self, conversation: str) -> int | None:
        rec = self._conversations.get(conversation)
        if rec is None or rec.queue is None:
            return None
        return bisect.bisect_left(self._queues[rec.queue].line, rec.ticket) + 1

    def ticket(self, conversation: str) -> int | None:
        """The ticket of its wait, or of the wait its current hold came from (its place in line
        if the holder goes offline)."""
        rec = self._conversations.get(conversation)
        if rec is None or (rec.queue is None and rec.holder is None):
            return None
        return rec.ticket

    def line(self, queue: str) -> tuple[str, ...]:
        return tuple(self._by_ticket[t] for t in self._queue(queue).line)

    def held_before(self, conversation: str) -> frozenset[str]:
        rec = self._conversations.get(conversation)
        return frozenset(() if rec is None else rec.held_before)

    def declined(self, conversation: str) -> frozenset[str]:
        """Who declined or let time out an offer of it during its current wait."""
        rec = self._conversations.get(conversation)
        return frozenset() if rec is None or not rec.declined else frozenset(rec.declined)

    def wanted(self, conversation: str) -> Wanted | None:
        """The kind its current (or last) request asks for."""
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.wanted

    def named(self, conversation: str) -> str | None:
        """The participant its current request names (None once widened)."""
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.named

    def wait_status(self, conversation: str) -> WaitStatus | None:
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.status

    def last_picked(self, queue: str) -> str | None:
        """The member the queue's strategy picked last (round robin continues after it)."""
        q = self._queue(queue)
        return None if q.last_picked < 0 else q.spec.members[q.last_picked]

    def requires(self, conversation: str) -> tuple[Requirement, ...]:
        """The requirements of its current request that have not relaxed yet."""
        rec = self._conversations.get(conversation)
        return () if rec is None else rec.requires

    def request_since(self, conversation: str) -> float | None:
        """When its current request began (`for` counts from there)."""
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.since

    def priority(self, conversation: str) -> int | None:
        """The priority its request asked for (None: the queue's)."""
        rec = self._conversations.get(conversation)
        return None if rec is None else rec.priority

    def decisions(self, conversation: str) -> tuple[PastDecision, ...]:
        """Its last routing decisions (who was chosen, each member's verdict), oldest first."""
        rec = self._conversations.get(conversation)
        return () if rec is None else kept_decisions(rec.past)

    def line_priority(self, conversation: str) -> int | None:
        """The priority its place in line was given (the request's, or its queue's)."""
        rec = self._conversations.get(conversation)
        if rec is None or (rec.queue is None and rec.holder is None):
            return None
        return -(rec.ticket // PRIORITY_STEP)

    def missed_offers(self, pid: str) -> int:
        """Offers it let time out in a row."""
        return self._agent(pid).missed

    def wrapping(self, pid: str) -> dict[str, float]:
        """Its wrap-ups in progress: conversation -> until."""
        return {cid: until for cid, (_, until) in sorted(self._agent(pid).wrapping.items())}

    def has_room(self, pid: str, queue: str) -> bool:
        """Whether `pid` could carry one more of `queue`'s conversations now (capacity only)."""
        return has_room(self._agent(pid), self._queue(queue))

    # ------------------------------------------------------------------------- lookups

    def _agent(self, pid: str) -> AgentRecord:
        agent = self._agents.get(pid)
        if agent is None:
            raise StepRefused(ErrorCode.UNKNOWN_PARTICIPANT, f"unknown participant {pid!r}")
        return agent

    def _queue(self, name: str) -> QueueRecord:
        q = self._queues.get(name)
        if q is None:
            raise StepRefused(ErrorCode.UNKNOWN_QUEUE, f"unknown queue {name!r}")
        return q

    def _known(self, conversation: str) -> WaitRecord:
        rec = self._conversations.get(conversation)
        if rec is None:
            raise StepRefused(
                ErrorCode.UNKNOWN_CONVERSATION,
                f"conversation {conversation!r} is unknown to routing",
            )
        return rec

    def _waiting(self, conversation: str) -> tuple[WaitRecord, QueueRecord]:
        rec = self._known(conversation)
        if rec.queue is None:
            raise StepRefused(
                ErrorCode.NOT_WAITING,
                f"conversation {conversation!r} is not waiting in any queue",
            )
        return rec, self._queues[rec.queue]

    def _not_waiting_or_held(self, rec: WaitRecord) -> None:
        if rec.queue is not None:
            raise StepRefused(
                ErrorCode.WRONG_STATE,
                f"conversation {rec.id!r} is already waiting in queue {rec.queue!r}",
            )
        if rec.holder is not None:
            raise StepRefused(
                ErrorCode.WRONG_STATE, f"conversation {rec.id!r} is held by {rec.holder!r}"
            )

    def _check_move(self, rec: WaitRecord, trigger: WaitTrigger) -> None:
        if (rec.status, trigger) not in WAIT_TABLE:
            raise StepRefused(
                ErrorCode.WRONG_STATE,
                f"conversation {rec.id!r}: {trigger} is not allowed when {rec.status}",
            )

    # ------------------------------------------------------------------------- bookkeeping

    def _move(self, rec: WaitRecord, trigger: WaitTrigger) -> None:
        rec.status = WAIT_TABLE[(rec.status, trigger)]

    def _take_ticket(self, priority: int = 0) -> int:
        """A place in line: higher priority first, then first come (`records.place_of`)."""
        ticket = self._next_ticket
        self._next_ticket += 1
        return place_of(ticket, priority)

    def _join_line(self, rec: WaitRecord, q: QueueRecord, ticket: int) -> None:
        rec.queue = q.spec.name
        rec.ticket = ticket
        insert_ticket(q.line, ticket)
        self._by_ticket[ticket] = rec.id
        if rec.named is not None:
            self._named_waits.setdefault(rec.named, set()).add(rec.id)
        self._make_ready(rec, q)

    def _leave_line(self, rec: WaitRecord, q: QueueRecord) -> None:
        remove_ticket(q.line, rec.ticket)
        del self._by_ticket[rec.ticket]
        rec.queue = None
        self._unname(rec)

    def _make_ready(self, rec: WaitRecord, q: QueueRecord) -> None:
        insert_ticket(q.ready[rec.sub_line], rec.ticket)
        self._dirty.add(q.spec.name)

    def _unready(self, rec: WaitRecord, q: QueueRecord) -> None:
        tickets = q.ready[rec.sub_line]
        if has_ticket(tickets, rec.ticket):
            remove_ticket(tickets, rec.ticket)
        else:
            self._unpark(rec, q)

    # Parking. A wait that `serve` found nobody available to take leaves its sub-line for the
    # queue's parked list, so that a pass does not try it again while that stays true: with
    # one human letting every offer time out and thousands of waits that human is excluded
    # from, each timeout would otherwise rescan all of them. It stays true until someone who
    # may take it becomes available: a participant newly able to take one more of the queue's
    # (`_refresh`) unparks the waits that do not exclude it, found by bisection in O(log n)
    # each; any other change of who may take what (members, skills, strategy, settings)
    # unparks the whole queue; a wait whose own request changes (relaxed, widened) or that
    # leaves is unparked by `_unready`. Parking is a cache of "nobody can take it now":
    # a restored router may start with none parked.

    def _park(self, rec: WaitRecord, q: QueueRecord) -> None:
        sub = rec.sub_line
        remove_ticket(q.ready[sub], rec.ticket)
        insert_ticket(q.parked[sub], rec.ticket)
        for pid in excluded(rec):
            insert_ticket(q.excluding.setdefault((pid, sub), []), rec.ticket)

    def _unpark(self, rec: WaitRecord, q: QueueRecord) -> None:
        sub = rec.sub_line
        remove_ticket(q.parked[sub], rec.ticket)
        for pid in excluded(rec):
            key = (pid, sub)
            tickets = q.excluding[key]
            remove_ticket(tickets, rec.ticket)
            if not tickets:
                del q.excluding[key]

    def _unpark_for(self, q: QueueRecord, agent: AgentRecord) -> None:
        """`agent` can newly take one more of `q`'s conversations: the parked waits of its kind
        that do not exclude it are ready again."""
        pid = agent.spec.id
        for sub in SUBS_OF_KIND[agent.spec.kind]:
            parked = q.parked[sub]
            if not parked:
                continue
            for ticket in missing_from(parked, q.excluding.get((pid, sub), [])):
                rec = self._conversations[self._by_ticket[ticket]]
                self._unpark(rec, q)
                insert_ticket(q.ready[sub], ticket)
                self._dirty.add(q.spec.name)

    def _unpark_all(self, q: QueueRecord) -> None:
        """Who may take what in `q` changed other than by one participant becoming free."""
        for sub, parked in enumerate(q.parked):
            if parked:
                q.ready[sub] = sorted(q.ready[sub] + parked)  # two sorted runs: a linear merge
                parked.clear()
                self._dirty.add(q.spec.name)
        q.excluding.clear()

    def _widen(self, rec: WaitRecord) -> None:
        """A named request that cannot be met any more asks the whole queue instead."""
        q = self._queues[rec.queue or ""]
        ready = rec.offer is None
        if ready:
            self._unready(rec, q)
        self._unname(rec)
        if ready:
            self._make_ready(rec, q)

    def _unname(self, rec: WaitRecord) -> None:
        if rec.named is None:
            return
        waits = self._named_waits[rec.named]
        waits.discard(rec.id)
        if not waits:
            del self._named_waits[rec.named]
        rec.named = None

    def _hold(self, rec: WaitRecord, agent: AgentRecord, queue: str, now: float) -> None:
        """`agent` holds `rec` now; its load already counts the units."""
        rec.holder = agent.spec.id
        rec.held_in = queue
        rec.held_before = with_id(rec.held_before, agent.spec.id)
        agent.holds.add(rec.id)
        agent.idle_since = now
        self._refresh(agent)

    def _record_decision(self, rec: WaitRecord, q: QueueRecord, chosen: str, now: float) -> None:
        """Keep the decision with the conversation (the last `KEPT_DECISIONS`)."""
        rec.past = keep(rec.past, past_decision(rec, q, self._agents, chosen, now))

    def _refresh(self, agent: AgentRecord) -> None:
        """Re-key the agent in every queue it belongs to. A queue where it newly became able to
        take a conversation may now serve one, so it is marked dirty."""
        for name, leaf in agent.memberships:
            q = self._queues[name]
            tree = q.trees[agent.spec.kind]
            key = leaf_key(q, agent, tree.positions[leaf])
            if tree.put(leaf, key) is None and key is not None and q.line:
                self._dirty.add(name)
                self._unpark_for(q, agent)

    def _by_ticket_order(self, conversations: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(conversations, key=lambda cid: self._conversations[cid].ticket))


__all__ = ["RoutingBooks"]
