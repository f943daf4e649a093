"""Routing: who gets a waiting conversation, and the books of who holds or is offered what.

Theory of operation: a `Router` keeps the live side of routing for one contact center: each
participant's presence and load, each queue's line, and for each conversation its current wait
(or the hold that wait produced). It is pure: calls go in, decisions come out; time arrives as a
float `now`, and nothing is random, so the same calls always give the same decisions.

A conversation joins a queue's line with `enqueue` (a request: the kind it wants, maybe a named
participant) and gets a ticket from one global counter; the line is ordered by ticket. `serve`
walks the lines that may have changed, oldest ticket first, and gives each waiting conversation
the best eligible participant by its queue's strategy: a bot holds it at once (`Assigned`), a
human gets an offer (`Offered`) that it accepts, declines or lets time out. Each wait moves through
`models/routing.yaml` (queued, offered, assigned, left) and only through that table.

Rules:
- Load counts holds and offers out, in the queue's `units`, and never exceeds capacity.
- Eligible: member of the queue, available, enough capacity left, of the wanted kind, never held
  this conversation (unless named), and did not decline or let time out an offer of it during
  this wait. A named request considers only the named participant until it says no.
- FIFO within a queue without head-of-line blocking: an earlier ticket always picks first, and a
  conversation nobody can take now does not stop later ones.
- Every mutation checks everything before changing anything: a refused call (`StepRefused`)
  leaves the router exactly as it was.
- Selection never scans a queue: each (queue, kind) keeps a min segment tree of its members that
  could take a conversation now, keyed by the strategy's rank, so a pick costs O(log n) per
  excluded participant (held before, declined) plus one. `serve` only looks at queues marked
  dirty by something that can make a wait servable (an arrival, a participant becoming able to
  take one, an offer ending). `explain` is linear on purpose: it lists everyone.
- State is plain data (dicts, lists, sets, slotted records): a router pickles, and sets are never
  iterated without sorting, so decisions do not depend on hash seeds.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import itertools
import math
from collections.abc import Iterable

import attrs

from handoff_fsm.config import Kind, OverflowTransfer, ParticipantSpec, QueueSpec, Strategy
from handoff_fsm.effects import WithdrawReason
from handoff_fsm.errors import ErrorCode, RoutingConfigError, StepRefused
from handoff_fsm.events import PresenceStatus, Wanted
from handoff_fsm.model import MachineModel, guard_free_table, load_bundled, require_names
from handoff_fsm.segment_tree import Key, MinSegmentTree, lesser

# ----------------------------------------------------------------------------- the wait model


class WaitStatus(enum.StrEnum):
    """Where one wait is, exactly as `models/routing.yaml` names its states."""

    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    LEFT = "left"


class WaitTrigger(enum.StrEnum):
    BOT_SELECTED = "bot_selected"
    HUMAN_SELECTED = "human_selected"
    ACCEPT = "accept"
    DECLINE = "decline"
    OFFER_TIMEOUT = "offer_timeout"
    WITHDRAW = "withdraw"
    LEAVE = "leave"


def compile_wait_table(model: MachineModel) -> dict[tuple[WaitStatus, WaitTrigger], WaitStatus]:
    """The routing model as a lookup table; a model whose names differ from the code is refused,
    so that the file cannot silently drift from what this module drives."""
    require_names(
        model,
        "handoff_fsm.routing",
        {"states": {s.value for s in WaitStatus}, "transitions": {t.value for t in WaitTrigger}},
        initial=WaitStatus.QUEUED.value,
    )
    return {
        (WaitStatus(state), WaitTrigger(trigger)): WaitStatus(dest)
        for (state, trigger), dest in guard_free_table(model).items()
    }


MODEL = load_bundled("routing")
WAIT_TABLE = compile_wait_table(MODEL)
#: Every wait starts here (a fresh `enqueue`, or a hold dropped back into its line).
WAIT_START = WaitStatus(MODEL.initial)


# ----------------------------------------------------------------------------- values out


@attrs.frozen(kw_only=True)
class Assigned:
    """A bot took the conversation at once (bots are never offered)."""

    conversation: str
    participant: str
    queue: str


@attrs.frozen(kw_only=True)
class Offered:
    """An offer is out to a human; its load counts it already."""

    conversation: str
    participant: str
    queue: str
    expires_at: float | None


@attrs.frozen(kw_only=True)
class Withdrawn:
    """An offer that ended without an accept."""

    conversation: str
    participant: str
    queue: str
    reason: WithdrawReason


Decision = Assigned | Offered


@attrs.frozen(kw_only=True)
class PresenceChange:
    """What a presence change undid: offers withdrawn, and (going offline) holds dropped back
    into their lines. Both in ticket order, so replays give the same effects."""

    withdrawn: tuple[Withdrawn, ...]
    dropped: tuple[str, ...]


class Verdict(enum.StrEnum):
    """Why a participant was or was not picked: the first rule it fails, in this order."""

    CHOSEN = "chosen"
    NOT_MEMBER = "not_member"
    AWAY = "away"
    OFFLINE = "offline"
    FULL = "full"
    WRONG_KIND = "wrong_kind"
    HELD_BEFORE = "held_before"
    DECLINED_BEFORE = "declined_before"
    NOT_NAMED = "not_named"
    RANKED_LOWER = "ranked_lower"


_VERDICT_TEXT = {
    Verdict.CHOSEN: "chosen",
    Verdict.NOT_MEMBER: "not a member of the queue",
    Verdict.AWAY: "away",
    Verdict.OFFLINE: "offline",
    Verdict.FULL: "not enough capacity left",
    Verdict.WRONG_KIND: "not of the wanted kind",
    Verdict.HELD_BEFORE: "held this conversation before",
    Verdict.DECLINED_BEFORE: "declined or let time out an offer of it in this wait",
    Verdict.NOT_NAMED: "not the named participant",
    Verdict.RANKED_LOWER: "eligible, ranked lower by the strategy",
}


@attrs.frozen(kw_only=True)
class Consideration:
    participant: str
    verdict: Verdict
    remaining: int


@attrs.frozen(kw_only=True)
class Explanation:
    """Why a waiting conversation goes (or would go) to whom. `offered` is True when `chosen`
    already has the offer out."""

    conversation: str
    queue: str
    strategy: Strategy
    wanted: Wanted
    named: str | None
    considered: tuple[Consideration, ...]
    chosen: str | None
    offered: bool = False

    def render(self) -> str:
        asked = "a bot or a human" if self.wanted is Wanted.ANY else f"a {self.wanted}"
        if self.named is not None:
            asked = f"{self.named} by name"
        lines = [
            f"conversation {self.conversation} waits in queue {self.queue} "
            f"(strategy {self.strategy}), asking for {asked}:"
        ]
        width = max((len(c.participant) for c in self.considered), default=0)
        for c in self.considered:
            why = _VERDICT_TEXT[c.verdict]
            if c.verdict is Verdict.WRONG_KIND:
                why = f"not a {self.wanted}"
            elif c.verdict is Verdict.NOT_NAMED:
                why = f"not {self.named}, asked for by name"
            elif c.verdict is Verdict.CHOSEN and self.offered:
                why = "chosen, offer out"
            lines.append(f"  {c.participant:<{width}}  {why} (capacity left {c.remaining})")
        if self.chosen is None:
            lines.append("nobody can take it now")
        elif self.offered:
            lines.append(f"offer out to {self.chosen}")
        else:
            lines.append(f"best candidate now: {self.chosen}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- live records


@attrs.define(slots=True, eq=False)
class _Agent:
    spec: ParticipantSpec
    memberships: list[tuple[str, int]]  # (queue, leaf in that queue's tree of this kind)
    presence: PresenceStatus = PresenceStatus.AVAILABLE
    load: int = 0
    idle_since: float = -math.inf
    holds: set[str] = attrs.Factory(set)
    offers: set[str] = attrs.Factory(set)


# Sub-lines of a queue's ready conversations (queued, no offer out), by what they ask for.
_BOT, _HUMAN, _ANY, _NAMED = 0, 1, 2, 3
_SUB_OF_WANTED = {Wanted.BOT: _BOT, Wanted.HUMAN: _HUMAN, Wanted.ANY: _ANY}
_KINDS_OF_WANTED = {
    Wanted.BOT: (Kind.BOT,),
    Wanted.HUMAN: (Kind.HUMAN,),
    Wanted.ANY: (Kind.BOT, Kind.HUMAN),
}


@attrs.define(slots=True, eq=False)
class _Queue:
    spec: QueueSpec
    order: int  # position in the configuration: breaks ties between queues
    trees: dict[Kind, MinSegmentTree]
    line: list[int] = attrs.Factory(list)  # tickets of every waiting conversation, sorted
    ready: list[list[int]] = attrs.Factory(lambda: [[], [], [], []])  # sorted, by sub-line
    last_picked: int = -1  # member position of the last strategy pick (round robin)


@attrs.define(slots=True, eq=False)
class _Conversation:
    id: str
    status: WaitStatus  # of the current wait, or of the last one
    ticket: int  # of the current wait, or of the wait the current hold came from
    wanted: Wanted = Wanted.ANY
    named: str | None = None
    queue: str | None = None  # the line it is in, while waiting
    offer: str | None = None
    offer_expires: float | None = None
    declined: set[str] | None = None  # allocated on the first decline of a wait
    holder: str | None = None
    held_in: str | None = None
    held_before: set[str] = attrs.Factory(set)


def _insert(tickets: list[int], ticket: int) -> None:
    bisect.insort(tickets, ticket)


def _remove(tickets: list[int], ticket: int) -> None:
    i = bisect.bisect_left(tickets, ticket)
    assert i < len(tickets) and tickets[i] == ticket, "ticket not in its line"
    del tickets[i]


def _contains(tickets: list[int], ticket: int) -> bool:
    i = bisect.bisect_left(tickets, ticket)
    return i < len(tickets) and tickets[i] == ticket


def _kind_fits(wanted: Wanted, kind: Kind) -> bool:
    return kind in _KINDS_OF_WANTED[wanted]


# ----------------------------------------------------------------------------- the router


class Router:
    """The live routing state of one contact center. Not thread-safe; one owner at a time."""

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
        self._agents: dict[str, _Agent] = {}
        for spec in participants:
            if spec.id in self._agents:
                raise RoutingConfigError(f"participant {spec.id!r} is defined twice")
            if spec.capacity < 0:
                raise RoutingConfigError(f"participant {spec.id!r} has a negative capacity")
            self._agents[spec.id] = _Agent(spec=spec, memberships=[])
        self._queues: dict[str, _Queue] = {}
        self._queue_list: list[_Queue] = []
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
        self._conversations: dict[str, _Conversation] = {}
        self._by_ticket: dict[int, str] = {}  # tickets of waiting conversations
        self._named_waits: dict[str, set[str]] = {}  # participant -> waits that name it
        self._dirty: set[str] = set()
        self._next_ticket = 1
        self._named_checks = 0

    def _build_queue(self, spec: QueueSpec, order: int) -> _Queue:
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
        by_kind: dict[Kind, list[tuple[int, str]]] = {kind: [] for kind in Kind}
        seen: set[str] = set()
        for position, pid in enumerate(spec.members):
            agent = self._agents.get(pid)
            if agent is None:
                raise RoutingConfigError(f"queue {spec.name!r} names unknown participant {pid!r}")
            if pid in seen:
                raise RoutingConfigError(f"queue {spec.name!r} lists {pid!r} twice")
            seen.add(pid)
            by_kind[agent.spec.kind].append((position, pid))
        queue = _Queue(spec=spec, order=order, trees={})
        for kind, members in by_kind.items():
            for leaf, (_, pid) in enumerate(members):
                self._agents[pid].memberships.append((spec.name, leaf))
            keys = [_leaf_key(queue, self._agents[pid], pos) for pos, pid in members]
            queue.trees[kind] = MinSegmentTree.build(members, keys)
        return queue

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
        return frozenset() if rec is None else frozenset(rec.held_before)

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

    def check_request(
        self, queue: str, *, wanted: Wanted = Wanted.ANY, named: str | None = None
    ) -> None:
        """Refuse a request `enqueue` would refuse for what it asks (not for the conversation's
        own state), so a caller can check before letting the current holder go."""
        self._check_request(self._queue(queue), wanted, named)

    def best_candidate(self, conversation: str) -> str | None:
        """Who `serve` would give this waiting conversation to now, if it were first in line
        (None with an offer out). Uses the index, changes nothing."""
        rec, q = self._waiting(conversation)
        return None if rec.offer is not None else self._pick(rec, q)

    def explain(self, conversation: str) -> Explanation:
        """Every member's verdict, by a plain linear reading of the rules: the answer to "why
        not me?", and the reference the tests hold the index (`best_candidate`) to."""
        rec, q = self._waiting(conversation)
        verdicts: list[tuple[str, Verdict | None, int]] = []
        best: tuple[Key, str] | None = None
        for position, pid in enumerate(q.spec.members):
            agent = self._agents[pid]
            verdict = Verdict.CHOSEN if pid == rec.offer else self._verdict(rec, q, agent)
            verdicts.append((pid, verdict, agent.spec.capacity - agent.load))
            if verdict is None and rec.offer is None:
                rank = self._rank(q, agent, position)
                if best is None or rank < best[0]:
                    best = (rank, pid)
        chosen = rec.offer if rec.offer is not None else (None if best is None else best[1])
        considered = tuple(
            Consideration(
                participant=pid,
                verdict=verdict
                if verdict is not None
                else (Verdict.CHOSEN if pid == chosen else Verdict.RANKED_LOWER),
                remaining=remaining,
            )
            for pid, verdict, remaining in verdicts
        )
        return Explanation(
            conversation=rec.id,
            queue=q.spec.name,
            strategy=q.spec.strategy,
            wanted=rec.wanted,
            named=rec.named,
            considered=considered,
            chosen=chosen,
            offered=rec.offer is not None,
        )

    def consider(self, conversation: str, participant: str) -> Consideration:
        """One participant's verdict for a waiting conversation, member of its queue or not."""
        rec, q = self._waiting(conversation)
        agent = self._agent(participant)
        remaining = agent.spec.capacity - agent.load
        if participant == rec.offer:
            return Consideration(
                participant=participant, verdict=Verdict.CHOSEN, remaining=remaining
            )
        verdict = self._verdict(rec, q, agent)
        if verdict is None:
            chosen = rec.offer is None and self._pick(rec, q) == participant
            verdict = Verdict.CHOSEN if chosen else Verdict.RANKED_LOWER
        return Consideration(participant=participant, verdict=verdict, remaining=remaining)

    @property
    def selection_steps(self) -> int:
        """Work done by selection so far (index nodes visited, named participants checked). A
        diagnostic counter: it shows that a pick does not scan a queue's members."""
        visits = sum(tree.visits for q in self._queue_list for tree in q.trees.values())
        return visits + self._named_checks

    def pending_queues(self) -> tuple[str, ...]:
        """Queues the next `serve` will look at, in configuration order."""
        return tuple(q.spec.name for q in self._queue_list if q.spec.name in self._dirty)

    # ------------------------------------------------------------------------- mutations

    def enqueue(
        self,
        conversation: str,
        queue: str,
        now: float,
        *,
        wanted: Wanted = Wanted.ANY,
        named: str | None = None,
    ) -> None:
        del now  # a wait's order is its ticket, not its time
        q = self._queue(queue)
        self._check_request(q, wanted, named)
        rec = self._conversations.get(conversation)
        if rec is not None:
            self._not_waiting_or_held(rec)
        ticket = self._take_ticket()
        if rec is None:
            rec = self._conversations[conversation] = _Conversation(
                id=conversation, status=WAIT_START, ticket=ticket
            )
        rec.status = WAIT_START
        rec.wanted = Wanted(wanted)
        rec.named = named
        rec.declined = None
        self._join_line(rec, q, ticket)

    def serve(self, now: float) -> list[Decision]:
        """Serve every queue that may have changed, oldest ticket first across them."""
        if not self._dirty:
            return []
        heads: list[tuple[int, int, int]] = []  # (ticket, queue order, sub-line)
        for name in self._dirty:
            q = self._queues[name]
            for sub, tickets in enumerate(q.ready):
                if tickets:
                    heads.append((tickets[0], q.order, sub))
        heapq.heapify(heads)
        decisions: list[Decision] = []
        while heads:
            ticket, order, sub = heapq.heappop(heads)
            q = self._queue_list[order]
            # Serving only takes capacity away, so a sub-line nobody can serve stays so.
            if not self._sub_line_servable(q, sub):
                continue
            rec = self._conversations[self._by_ticket[ticket]]
            pid = self._pick(rec, q)
            if pid is not None:
                decisions.append(self._give(rec, q, self._agents[pid], now))
            tickets = q.ready[sub]
            after = bisect.bisect_right(tickets, ticket)
            if after < len(tickets):
                heapq.heappush(heads, (tickets[after], order, sub))
        self._dirty.clear()
        return decisions

    def accept(self, conversation: str, participant: str, now: float) -> None:
        rec, agent = self._open_offer(conversation, participant, WaitTrigger.ACCEPT)
        q = self._queues[rec.queue or ""]
        self._move(rec, WaitTrigger.ACCEPT)
        agent.offers.remove(rec.id)
        rec.offer = None
        rec.offer_expires = None
        self._leave_line(rec, q)
        self._hold(rec, agent, q.spec.name, now)

    def decline(self, conversation: str, participant: str, now: float) -> Withdrawn:
        del now
        return self._end_offer(conversation, participant, WaitTrigger.DECLINE)

    def expire_offer(self, conversation: str, participant: str, now: float) -> Withdrawn:
        del now
        return self._end_offer(conversation, participant, WaitTrigger.OFFER_TIMEOUT)

    def release(self, conversation: str, now: float) -> str:
        rec = self._known(conversation)
        if rec.holder is None:
            raise StepRefused(
                ErrorCode.NOT_HOLDER, f"conversation {conversation!r} is not held by anyone"
            )
        agent = self._agents[rec.holder]
        units = self._queues[rec.held_in or ""].spec.units
        agent.holds.remove(rec.id)
        agent.load -= units
        agent.idle_since = now
        rec.holder = None
        rec.held_in = None
        self._refresh(agent)
        return agent.spec.id

    def leave(self, conversation: str, now: float) -> Withdrawn | None:
        del now
        rec, q = self._waiting(conversation)
        self._check_move(rec, WaitTrigger.LEAVE)
        withdrawn = None
        if rec.offer is not None:
            agent = self._agents[rec.offer]
            withdrawn = self._drop_offer(rec, q, agent, WithdrawReason.CANCELLED)
            self._refresh(agent)
        else:
            self._unready(rec, q)
        self._move(rec, WaitTrigger.LEAVE)
        self._leave_line(rec, q)
        return withdrawn

    def assign(self, conversation: str, participant: str, queue: str, now: float) -> None:
        """Give a conversation that is neither waiting nor held straight to a participant, as a
        hold from `queue` (a cancelled wait going back to the bot that handed it over). Not a
        routing decision: membership and `away` do not matter, `offline` and capacity do."""
        q = self._queue(queue)
        agent = self._agent(participant)
        rec = self._conversations.get(conversation)
        if rec is not None:
            self._not_waiting_or_held(rec)
        self._check_can_hold(agent, q, conversation, allow_away=True)
        if rec is None:
            rec = self._conversations[conversation] = _Conversation(
                id=conversation, status=WaitStatus.LEFT, ticket=self._take_ticket()
            )
        agent.load += q.spec.units
        self._hold(rec, agent, q.spec.name, now)

    def reassign(self, conversation: str, participant: str, now: float) -> str:
        rec = self._known(conversation)
        if rec.holder is None:
            raise StepRefused(
                ErrorCode.NOT_HOLDER, f"conversation {conversation!r} is not held by anyone"
            )
        new = self._agent(participant)
        if rec.holder == participant:
            raise StepRefused(
                ErrorCode.WRONG_STATE,
                f"{participant!r} already holds conversation {conversation!r}",
            )
        q = self._queues[rec.held_in or ""]
        self._check_can_hold(new, q, conversation, allow_away=False)
        old = self._agents[rec.holder]
        old.holds.remove(rec.id)
        old.load -= q.spec.units
        old.idle_since = now
        rec.holder = None
        self._refresh(old)
        new.load += q.spec.units
        self._hold(rec, new, q.spec.name, now)
        return old.spec.id

    def set_presence(self, pid: str, status: PresenceStatus, now: float) -> PresenceChange:
        agent = self._agent(pid)
        status = PresenceStatus(status)
        if agent.presence is status:
            return PresenceChange(withdrawn=(), dropped=())
        agent.presence = status
        withdrawn: list[Withdrawn] = []
        dropped: list[str] = []
        if status is not PresenceStatus.AVAILABLE:
            for cid in self._by_ticket_order(agent.offers):
                rec = self._conversations[cid]
                q = self._queues[rec.queue or ""]
                self._move(rec, WaitTrigger.WITHDRAW)
                withdrawn.append(self._drop_offer(rec, q, agent, WithdrawReason.CANCELLED))
                if status is PresenceStatus.OFFLINE and rec.named == pid:
                    self._unname(rec)
                self._make_ready(rec, q)
        if status is PresenceStatus.OFFLINE:
            for cid in self._by_ticket_order(agent.holds):
                self._drop_hold(self._conversations[cid], agent)
                dropped.append(cid)
            if dropped:
                agent.idle_since = now
            for cid in self._by_ticket_order(self._named_waits.get(pid, ())):
                self._widen(self._conversations[cid])
        self._refresh(agent)
        return PresenceChange(withdrawn=tuple(withdrawn), dropped=tuple(dropped))

    def forget(self, conversation: str) -> None:
        rec = self._conversations.get(conversation)
        if rec is None:
            return
        self._not_waiting_or_held(rec)
        del self._conversations[conversation]

    # ------------------------------------------------------------------------- checks

    def _agent(self, pid: str) -> _Agent:
        agent = self._agents.get(pid)
        if agent is None:
            raise StepRefused(ErrorCode.UNKNOWN_PARTICIPANT, f"unknown participant {pid!r}")
        return agent

    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            raise StepRefused(ErrorCode.UNKNOWN_QUEUE, f"unknown queue {name!r}")
        return q

    def _known(self, conversation: str) -> _Conversation:
        rec = self._conversations.get(conversation)
        if rec is None:
            raise StepRefused(
                ErrorCode.UNKNOWN_CONVERSATION,
                f"conversation {conversation!r} is unknown to routing",
            )
        return rec

    def _waiting(self, conversation: str) -> tuple[_Conversation, _Queue]:
        rec = self._known(conversation)
        if rec.queue is None:
            raise StepRefused(
                ErrorCode.NOT_WAITING,
                f"conversation {conversation!r} is not waiting in any queue",
            )
        return rec, self._queues[rec.queue]

    def _not_waiting_or_held(self, rec: _Conversation) -> None:
        if rec.queue is not None:
            raise StepRefused(
                ErrorCode.WRONG_STATE,
                f"conversation {rec.id!r} is already waiting in queue {rec.queue!r}",
            )
        if rec.holder is not None:
            raise StepRefused(
                ErrorCode.WRONG_STATE, f"conversation {rec.id!r} is held by {rec.holder!r}"
            )

    def _check_request(self, q: _Queue, wanted: Wanted, named: str | None) -> None:
        if wanted not in _KINDS_OF_WANTED:
            raise StepRefused(
                ErrorCode.INVALID_STEP, f"unknown kind {wanted!r} (bot, human or any)"
            )
        if named is None:
            return
        kind = self._agent(named).spec.kind
        if named not in q.trees[kind].leaf_of:
            raise StepRefused(
                ErrorCode.NOT_MEMBER, f"{named!r} is not a member of queue {q.spec.name!r}"
            )
        if not _kind_fits(wanted, kind):
            raise StepRefused(
                ErrorCode.CANNOT_SERVE, f"{named!r} is a {kind}, but a {wanted} is asked for"
            )

    def _check_can_hold(
        self, agent: _Agent, q: _Queue, conversation: str, *, allow_away: bool
    ) -> None:
        pid = agent.spec.id
        if agent.presence is PresenceStatus.OFFLINE or (
            agent.presence is PresenceStatus.AWAY and not allow_away
        ):
            raise StepRefused(ErrorCode.UNAVAILABLE, f"{pid!r} is {agent.presence}")
        if agent.spec.capacity - agent.load < q.spec.units:
            raise StepRefused(
                ErrorCode.NO_CAPACITY,
                f"{pid!r} has no capacity left for conversation {conversation!r}",
            )

    def _open_offer(
        self, conversation: str, participant: str, trigger: WaitTrigger
    ) -> tuple[_Conversation, _Agent]:
        rec = self._known(conversation)
        agent = self._agent(participant)
        if rec.offer != participant:
            raise StepRefused(
                ErrorCode.NO_OFFER,
                f"{participant!r} has no open offer for conversation {conversation!r}",
            )
        self._check_move(rec, trigger)
        return rec, agent

    def _check_move(self, rec: _Conversation, trigger: WaitTrigger) -> None:
        if (rec.status, trigger) not in WAIT_TABLE:
            raise StepRefused(
                ErrorCode.WRONG_STATE,
                f"conversation {rec.id!r}: {trigger} is not allowed when {rec.status}",
            )

    # ------------------------------------------------------------------------- changes

    def _move(self, rec: _Conversation, trigger: WaitTrigger) -> None:
        rec.status = WAIT_TABLE[(rec.status, trigger)]

    def _take_ticket(self) -> int:
        ticket = self._next_ticket
        self._next_ticket += 1
        return ticket

    def _join_line(self, rec: _Conversation, q: _Queue, ticket: int) -> None:
        rec.queue = q.spec.name
        rec.ticket = ticket
        _insert(q.line, ticket)
        self._by_ticket[ticket] = rec.id
        if rec.named is not None:
            self._named_waits.setdefault(rec.named, set()).add(rec.id)
        self._make_ready(rec, q)

    def _leave_line(self, rec: _Conversation, q: _Queue) -> None:
        _remove(q.line, rec.ticket)
        del self._by_ticket[rec.ticket]
        rec.queue = None
        self._unname(rec)

    @staticmethod
    def _sub_line(rec: _Conversation) -> int:
        return _NAMED if rec.named is not None else _SUB_OF_WANTED[rec.wanted]

    def _make_ready(self, rec: _Conversation, q: _Queue) -> None:
        _insert(q.ready[self._sub_line(rec)], rec.ticket)
        self._dirty.add(q.spec.name)

    def _unready(self, rec: _Conversation, q: _Queue) -> None:
        _remove(q.ready[self._sub_line(rec)], rec.ticket)

    def _widen(self, rec: _Conversation) -> None:
        """A named request that cannot be met any more asks the whole queue instead."""
        q = self._queues[rec.queue or ""]
        ready = rec.offer is None
        if ready:
            self._unready(rec, q)
        self._unname(rec)
        if ready:
            self._make_ready(rec, q)

    def _unname(self, rec: _Conversation) -> None:
        if rec.named is None:
            return
        waits = self._named_waits[rec.named]
        waits.discard(rec.id)
        if not waits:
            del self._named_waits[rec.named]
        rec.named = None

    def _hold(self, rec: _Conversation, agent: _Agent, queue: str, now: float) -> None:
        """`agent` holds `rec` now; its load already counts the units."""
        rec.holder = agent.spec.id
        rec.held_in = queue
        rec.held_before.add(agent.spec.id)
        agent.holds.add(rec.id)
        agent.idle_since = now
        self._refresh(agent)

    def _give(self, rec: _Conversation, q: _Queue, agent: _Agent, now: float) -> Decision:
        pid = agent.spec.id
        if rec.named is None:
            kind_tree = q.trees[agent.spec.kind]
            q.last_picked = kind_tree.positions[kind_tree.leaf_of[pid]]
        self._unready(rec, q)
        agent.load += q.spec.units
        if agent.spec.kind is Kind.BOT:
            self._move(rec, WaitTrigger.BOT_SELECTED)
            self._leave_line(rec, q)
            self._hold(rec, agent, q.spec.name, now)
            return Assigned(conversation=rec.id, participant=pid, queue=q.spec.name)
        self._move(rec, WaitTrigger.HUMAN_SELECTED)
        timeout = q.spec.offer_timeout
        rec.offer = pid
        rec.offer_expires = None if timeout is None else now + timeout
        agent.offers.add(rec.id)
        agent.idle_since = now
        self._refresh(agent)
        return Offered(
            conversation=rec.id, participant=pid, queue=q.spec.name, expires_at=rec.offer_expires
        )

    def _drop_offer(
        self, rec: _Conversation, q: _Queue, agent: _Agent, reason: WithdrawReason
    ) -> Withdrawn:
        agent.offers.remove(rec.id)
        agent.load -= q.spec.units
        rec.offer = None
        rec.offer_expires = None
        return Withdrawn(
            conversation=rec.id, participant=agent.spec.id, queue=q.spec.name, reason=reason
        )

    def _end_offer(self, conversation: str, participant: str, trigger: WaitTrigger) -> Withdrawn:
        """The offered human said no (or said nothing in time): never ask it again this wait."""
        rec, agent = self._open_offer(conversation, participant, trigger)
        q = self._queues[rec.queue or ""]
        self._move(rec, trigger)
        reason = WithdrawReason.DECLINED
        if trigger is WaitTrigger.OFFER_TIMEOUT:
            reason = WithdrawReason.TIMEOUT
        withdrawn = self._drop_offer(rec, q, agent, reason)
        if rec.declined is None:
            rec.declined = set()
        rec.declined.add(participant)
        if rec.named == participant:
            self._unname(rec)
        self._make_ready(rec, q)
        self._refresh(agent)
        return withdrawn

    def _drop_hold(self, rec: _Conversation, agent: _Agent) -> None:
        """The holder went offline: the conversation goes back to its original place in the line
        its hold came from, asking for what it asked then (but no one by name)."""
        q = self._queues[rec.held_in or ""]
        agent.holds.remove(rec.id)
        agent.load -= q.spec.units
        rec.holder = None
        rec.held_in = None
        rec.status = WAIT_START
        rec.named = None
        rec.declined = None
        self._join_line(rec, q, rec.ticket)

    def _refresh(self, agent: _Agent) -> None:
        """Re-key the agent in every queue it belongs to. A queue where it newly became able to
        take a conversation may now serve one, so it is marked dirty."""
        for name, leaf in agent.memberships:
            q = self._queues[name]
            tree = q.trees[agent.spec.kind]
            key = _leaf_key(q, agent, tree.positions[leaf])
            if tree.put(leaf, key) is None and key is not None and q.line:
                self._dirty.add(name)

    # ------------------------------------------------------------------------- selection

    def _verdict(self, rec: _Conversation, q: _Queue, agent: _Agent) -> Verdict | None:
        """The first eligibility rule `agent` fails for `rec`, or None if it is eligible.
        Rules about the request come first (they hold whatever happens), live ones last."""
        pid = agent.spec.id
        if pid not in q.trees[agent.spec.kind].leaf_of:
            return Verdict.NOT_MEMBER
        if rec.named is not None and pid != rec.named:
            return Verdict.NOT_NAMED
        if not _kind_fits(rec.wanted, agent.spec.kind):
            return Verdict.WRONG_KIND
        if pid in rec.held_before and pid != rec.named:
            return Verdict.HELD_BEFORE
        if rec.declined and pid in rec.declined:
            return Verdict.DECLINED_BEFORE
        if agent.presence is PresenceStatus.OFFLINE:
            return Verdict.OFFLINE
        if agent.presence is PresenceStatus.AWAY:
            return Verdict.AWAY
        if agent.spec.capacity - agent.load < q.spec.units:
            return Verdict.FULL
        return None

    def _rank(self, q: _Queue, agent: _Agent, position: int) -> Key:
        """The strategy's rank, for a linear look (`explain`); `_pick` gets the same order."""
        if q.spec.strategy is Strategy.ROUND_ROBIN:
            return (1 if position <= q.last_picked else 0, position)
        key = _leaf_key(q, agent, position)
        assert key is not None
        return key

    def _pick(self, rec: _Conversation, q: _Queue) -> str | None:
        if rec.named is not None:
            self._named_checks += 1
            agent = self._agents[rec.named]
            return rec.named if self._verdict(rec, q, agent) is None else None
        excluded = rec.held_before if not rec.declined else rec.held_before | rec.declined
        round_robin = q.spec.strategy is Strategy.ROUND_ROBIN
        best: Key | None = None
        wrapped: Key | None = None  # round robin: the best at or before the last pick
        for kind in _KINDS_OF_WANTED[rec.wanted]:
            tree = q.trees[kind]
            if tree.best is None:
                continue
            skip = sorted(tree.leaf_of[p] for p in excluded if p in tree.leaf_of)
            if round_robin:
                cut = bisect.bisect_right(tree.positions, q.last_picked)
                best = lesser(best, tree.best_outside(cut, tree.size, skip))
                wrapped = lesser(wrapped, tree.best_outside(0, cut, skip))
            else:
                best = lesser(best, tree.best_outside(0, tree.size, skip))
        if best is None:
            best = wrapped
        return None if best is None else q.spec.members[best[1]]

    def _sub_line_servable(self, q: _Queue, sub: int) -> bool:
        bots = q.trees[Kind.BOT].best is not None
        humans = q.trees[Kind.HUMAN].best is not None
        if sub == _BOT:
            return bots
        if sub == _HUMAN:
            return humans
        return bots or humans

    def _by_ticket_order(self, conversations: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(conversations, key=lambda cid: self._conversations[cid].ticket))

    # ------------------------------------------------------------------------- inspection

    def dump(self) -> dict[str, object]:
        """Everything the router knows, as plain sorted data: two routers that dump alike
        decide alike. For tests, debugging and stores that want to look inside."""
        return {
            "next_ticket": self._next_ticket,
            "dirty": sorted(self._dirty),
            "participants": {
                pid: {
                    "presence": str(a.presence),
                    "load": a.load,
                    "idle_since": a.idle_since,
                    "holds": sorted(a.holds),
                    "offers": sorted(a.offers),
                }
                for pid, a in sorted(self._agents.items())
            },
            "queues": {
                name: {"line": self.line(name), "last_picked": self.last_picked(name)}
                for name, q in sorted(self._queues.items())
            },
            "conversations": {
                cid: {
                    "status": str(r.status),
                    "ticket": r.ticket,
                    "wanted": str(r.wanted),
                    "named": r.named,
                    "queue": r.queue,
                    "offer": r.offer,
                    "offer_expires": r.offer_expires,
                    "declined": sorted(r.declined or ()),
                    "holder": r.holder,
                    "held_in": r.held_in,
                    "held_before": sorted(r.held_before),
                }
                for cid, r in sorted(self._conversations.items())
            },
        }

    def audit(self) -> list[str]:
        """Check every invariant against the raw state; return the broken ones (none: [])."""
        problems: list[str] = []
        problems += self._audit_agents()
        problems += self._audit_conversations()
        problems += self._audit_queues()
        return problems

    def _audit_agents(self) -> list[str]:
        problems = []
        for pid, a in self._agents.items():
            used = sum(
                self._queues[self._conversations[c].held_in or ""].spec.units for c in a.holds
            )
            used += sum(
                self._queues[self._conversations[c].queue or ""].spec.units for c in a.offers
            )
            if a.load != used:
                problems.append(f"{pid}: load {a.load} but holds and offers use {used}")
            if not 0 <= a.load <= a.spec.capacity:
                problems.append(f"{pid}: load {a.load} outside 0..{a.spec.capacity}")
            problems += [f"{pid} holds {c} but it is not its holder" for c in sorted(a.holds)
                         if self._conversations[c].holder != pid]  # fmt: skip
            problems += [f"{pid} has an offer of {c} it does not have" for c in sorted(a.offers)
                         if self._conversations[c].offer != pid]  # fmt: skip
        return problems

    def _audit_conversations(self) -> list[str]:
        problems = []
        for cid, r in self._conversations.items():
            if r.holder is not None and (r.offer is not None or r.queue is not None):
                problems.append(f"{cid}: held by {r.holder} and waiting or offered too")
            if r.holder is not None and (
                cid not in self._agents[r.holder].holds or r.held_in is None
            ):
                problems.append(f"{cid}: holder {r.holder} does not know it holds it")
            if r.offer is not None and cid not in self._agents[r.offer].offers:
                problems.append(f"{cid}: offered to {r.offer}, who does not know")
            if r.queue is None:
                if r.offer is not None or r.status in (WaitStatus.QUEUED, WaitStatus.OFFERED):
                    problems.append(f"{cid}: {r.status} with an offer or status but in no line")
                continue
            q = self._queues[r.queue]
            expected = WaitStatus.OFFERED if r.offer is not None else WaitStatus.QUEUED
            if r.status is not expected:
                problems.append(f"{cid}: status {r.status}, expected {expected}")
            if not _contains(q.line, r.ticket) or self._by_ticket.get(r.ticket) != cid:
                problems.append(f"{cid}: ticket {r.ticket} not in the line of {r.queue}")
            ready = _contains(q.ready[self._sub_line(r)], r.ticket)
            if ready != (r.offer is None):
                problems.append(f"{cid}: ready is {ready} with offer {r.offer}")
            if r.named is not None and cid not in self._named_waits.get(r.named, set()):
                problems.append(f"{cid}: names {r.named} but is not indexed")
        for pid, waits in self._named_waits.items():
            for cid in sorted(waits):
                rec = self._conversations.get(cid)
                if rec is None or rec.named != pid or rec.queue is None:
                    problems.append(f"named index: {pid} -> {cid} is stale")
        return problems

    def _audit_queues(self) -> list[str]:
        problems = []
        in_lines = 0
        for name, q in self._queues.items():
            in_lines += len(q.line)
            for tickets in (q.line, *q.ready):
                if any(a >= b for a, b in itertools.pairwise(tickets)):
                    problems.append(f"{name}: a line is not sorted by ticket")
            for t in q.line:
                rec = self._conversations.get(self._by_ticket.get(t, ""))
                if rec is None or rec.queue != name or rec.ticket != t:
                    problems.append(f"{name}: ticket {t} does not belong here")
            if sum(len(r) for r in q.ready) != sum(
                1 for t in q.line if self._conversations[self._by_ticket[t]].offer is None
            ):
                problems.append(f"{name}: ready sub-lines do not match the line")
            for kind, tree in q.trees.items():
                problems += self._audit_tree(name, q, kind, tree)
        if in_lines != len(self._by_ticket):
            problems.append("ticket index does not match the lines")
        return problems

    def _audit_tree(self, name: str, q: _Queue, kind: Kind, tree: MinSegmentTree) -> list[str]:
        problems = []
        for pid, leaf in tree.leaf_of.items():
            expected = _leaf_key(q, self._agents[pid], tree.positions[leaf])
            if tree.nodes[tree.width + leaf] != expected:
                problems.append(f"{name}/{kind}: {pid} indexed stale")
        for i in range(1, tree.width):
            if tree.nodes[i] != lesser(tree.nodes[2 * i], tree.nodes[2 * i + 1]):
                problems.append(f"{name}/{kind}: index node {i} is stale")
        return problems


def _leaf_key(q: _Queue, agent: _Agent, position: int) -> Key | None:
    """The agent's rank in `q` while it can take one more of q's conversations, else None."""
    remaining = agent.spec.capacity - agent.load
    if agent.presence is not PresenceStatus.AVAILABLE or remaining < q.spec.units:
        return None
    strategy = q.spec.strategy
    if strategy is Strategy.HIGHEST_CAPACITY:
        return (-remaining, position)
    if strategy is Strategy.LEAST_ACTIVE:
        return (agent.load, position)
    if strategy is Strategy.MOST_IDLE:
        return (agent.idle_since, position)
    return (0, position)  # round robin: the rotation is applied at pick time


__all__ = [
    "MODEL",
    "WAIT_START",
    "WAIT_TABLE",
    "Assigned",
    "Consideration",
    "Decision",
    "Explanation",
    "Offered",
    "PresenceChange",
    "Router",
    "RoutingConfigError",
    "Verdict",
    "WaitStatus",
    "WaitTrigger",
    "Withdrawn",
    "compile_wait_table",
]
