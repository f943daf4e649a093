"""Random walks of the router checked against a small independent oracle (the shadow model), and
the same calls giving the same decisions across a pickle."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable

import attrs
from hypothesis import given
from hypothesis import strategies as st
from routing_helpers import (
    AVAILABLE,
    AWAY,
    OFFLINE,
    picks,
    queue,
    settled,
)

from handoff_fsm.config import Kind, ParticipantSpec, QueueSpec, Strategy
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import PresenceStatus, Wanted
from handoff_fsm.routing import (
    Assigned,
    Offered,
    Router,
)
from handoff_fsm.routing import inspect as routing_inspect

# ----------------------------------------------------------------------------- properties

PIDS = [f"p{i}" for i in range(6)]
CIDS = [f"c{i}" for i in range(6)]
World = tuple[list[ParticipantSpec], list[QueueSpec]]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    people = [
        ParticipantSpec(id=pid, kind=draw(st.sampled_from(Kind)), capacity=draw(st.integers(0, 3)))
        for pid in PIDS
    ]
    queues = []
    for n in range(draw(st.integers(1, 3))):
        members = draw(st.lists(st.sampled_from(PIDS), unique=True, min_size=1))
        queues.append(
            queue(
                f"q{n}",
                *members,
                strategy=draw(st.sampled_from(Strategy)),
                units=draw(st.integers(1, 2)),
                offer_timeout=draw(st.sampled_from([None, 5.0])),
            )
        )
    return people, queues


@attrs.frozen
class Op:
    """One call of a random walk. `participant` is the named one for `enqueue`, and None for
    an answer means "the participant the offer is out to". Conversation `*` means the first
    one the call makes sense for (offered, held or waiting), so that walks get somewhere."""

    name: str
    conversation: str = "c0"
    participant: str | None = None
    queue: int = 0
    wanted: Wanted = Wanted.ANY
    status: PresenceStatus = AVAILABLE


conversation_ids = st.sampled_from(CIDS)
some_conversation = st.sampled_from(["*", "*", *CIDS])
participant_ids = st.sampled_from(PIDS)
arrivals = st.builds(
    Op,
    name=st.just("enqueue"),
    conversation=conversation_ids,
    participant=st.none() | participant_ids,
    queue=st.integers(0, 2),
    wanted=st.sampled_from(Wanted),
)
answers = st.builds(
    Op,
    name=st.sampled_from(["accept", "accept", "decline", "expire_offer"]),
    conversation=some_conversation,
    participant=st.none() | st.none() | st.none() | participant_ids,
)
operations: st.SearchStrategy[Op] = st.one_of(
    arrivals,
    arrivals,
    st.just(Op("serve")),
    st.just(Op("serve")),
    answers,
    answers,
    st.builds(
        Op,
        name=st.just("presence"),
        participant=participant_ids,
        status=st.sampled_from([AVAILABLE, AVAILABLE, AWAY, OFFLINE]),
    ),
    st.builds(
        Op, name=st.sampled_from(["release", "leave", "forget"]), conversation=some_conversation
    ),
    st.builds(
        Op, name=st.just("reassign"), conversation=some_conversation, participant=participant_ids
    ),
    st.builds(
        Op,
        name=st.just("assign"),
        conversation=conversation_ids,
        participant=participant_ids,
        queue=st.integers(0, 2),
    ),
)


@attrs.define
class Wait:
    """The shadow's record of one conversation."""

    ticket: int
    wanted: Wanted = Wanted.ANY
    named: str | None = None
    queue: str | None = None
    offer: str | None = None
    holder: str | None = None
    held_in: str | None = None
    declined: set[str] = attrs.Factory(set)
    held_before: set[str] = attrs.Factory(set)


@attrs.frozen
class Call:
    """A random-walk op resolved against the router's state: exactly the call that is made."""

    name: str
    conversation: str = ""
    participant: str = ""
    queue: str = ""
    wanted: Wanted = Wanted.ANY
    named: str | None = None
    status: PresenceStatus = AVAILABLE


class Shadow:
    """SPEC §3 and docs/routing.md written out plainly (linear scans, no index, no sub-lines):
    the model the router is checked against after every successful call."""

    def __init__(self, world: World) -> None:
        people, queues = world
        self.people = {p.id: p for p in people}
        self.queues = {q.name: q for q in queues}
        self.presence = dict.fromkeys(self.people, AVAILABLE)
        self.idle = dict.fromkeys(self.people, -math.inf)
        self.last: dict[str, str | None] = dict.fromkeys(self.queues)
        self.waits: dict[str, Wait] = {}
        self.next_ticket = 1

    def _ticket(self) -> int:
        self.next_ticket += 1
        return self.next_ticket - 1

    def load(self, pid: str) -> int:
        held = sum(
            self.queues[w.held_in or ""].units for w in self.waits.values() if w.holder == pid
        )
        offered = sum(
            self.queues[w.queue or ""].units for w in self.waits.values() if w.offer == pid
        )
        return held + offered

    def choice(self, cid: str) -> str | None:
        """Filter by every rule, then rank by the strategy, ties by queue order."""
        w = self.waits[cid]
        q = self.queues[w.queue or ""]
        last = self.last[q.name]
        last_at = q.members.index(last) if last is not None else -1
        ranked: list[tuple[tuple[float, int], str]] = []
        for at, pid in enumerate(q.members):
            spec, load = self.people[pid], self.load(pid)
            if (
                (w.named is not None and pid != w.named)
                or (w.wanted is not Wanted.ANY and spec.kind.value != w.wanted.value)
                or (pid in w.held_before and pid != w.named)
                or pid in w.declined
                or self.presence[pid] is not AVAILABLE
                or spec.capacity - load < q.units
            ):
                continue
            rank: float = {
                Strategy.HIGHEST_CAPACITY: load - spec.capacity,
                Strategy.LEAST_ACTIVE: load,
                Strategy.MOST_IDLE: self.idle[pid],
                Strategy.ROUND_ROBIN: 1 if at <= last_at else 0,
            }[q.strategy]
            ranked.append(((rank, at), pid))
        return min(ranked)[1] if ranked else None

    def ready(self) -> list[str]:
        """Waiting conversations without an offer out, oldest ticket first across queues."""
        waiting = [(w.ticket, cid) for cid, w in self.waits.items() if w.queue and not w.offer]
        return [cid for _, cid in sorted(waiting)]

    def serve(self, now: float) -> list[tuple[str, str]]:
        chosen = []
        for cid in self.ready():
            pid = self.choice(cid)
            if pid is None:
                continue
            w = self.waits[cid]
            if w.named is None:
                self.last[w.queue or ""] = pid
            self.idle[pid] = now
            if self.people[pid].kind is Kind.BOT:
                self._hold(w, pid, w.queue or "", now)
                w.queue = w.named = None
            else:
                w.offer = pid
            chosen.append((cid, pid))
        return chosen

    def follow(self, call: Call, now: float) -> None:
        """Do what the router just did successfully."""
        w = self.waits.get(call.conversation)
        if call.name == "enqueue":
            if w is None:
                w = self.waits[call.conversation] = Wait(ticket=0)
            w.ticket, w.queue, w.wanted, w.named = (
                self._ticket(),
                call.queue,
                call.wanted,
                call.named,
            )
            w.declined = set()
        elif call.name == "presence":
            self._presence(call.participant, call.status, now)
        elif call.name == "assign":
            if w is None:
                w = self.waits[call.conversation] = Wait(ticket=self._ticket())
            self._hold(w, call.participant, call.queue, now)
        elif call.name == "forget":
            self.waits.pop(call.conversation, None)
        else:
            assert w is not None
            self._follow_wait(call, w, now)

    def _follow_wait(self, call: Call, w: Wait, now: float) -> None:
        if call.name == "accept":
            self._hold(w, call.participant, w.queue or "", now)
            w.offer = w.queue = w.named = None
        elif call.name in ("decline", "expire_offer"):
            w.offer = None
            w.declined.add(call.participant)
            w.named = None if w.named == call.participant else w.named
        elif call.name == "release":
            self.idle[w.holder or ""] = now
            w.holder = w.held_in = None
        elif call.name == "leave":
            w.offer = w.queue = w.named = None
        else:
            assert call.name == "reassign"
            self.idle[w.holder or ""] = now
            self._hold(w, call.participant, w.held_in or "", now)

    def _presence(self, pid: str, status: PresenceStatus, now: float) -> None:
        if self.presence[pid] is status:
            return
        self.presence[pid] = status
        for w in self.waits.values():
            if status is not AVAILABLE and w.offer == pid:
                w.offer = None
            if status is OFFLINE and w.holder == pid:
                w.queue, w.holder, w.held_in, w.declined = w.held_in, None, None, set()
                self.idle[pid] = now
            if status is OFFLINE and w.queue is not None and w.named == pid:
                w.named = None

    def _hold(self, w: Wait, pid: str, queue: str, now: float) -> None:
        w.holder, w.held_in = pid, queue
        w.held_before.add(pid)
        self.idle[pid] = now

    def check(self, router: Router) -> None:
        """Everything the router answers equals what the shadow expects."""
        for pid, spec in self.people.items():
            assert router.load(pid) == self.load(pid) <= spec.capacity, pid
            assert router.presence(pid) is self.presence[pid]
            assert router.idle_since(pid) == self.idle[pid], pid
        for name in self.queues:
            assert router.last_picked(name) == self.last[name]
            line = sorted((w.ticket, cid) for cid, w in self.waits.items() if w.queue == name)
            assert router.line(name) == tuple(cid for _, cid in line)
        for cid in CIDS:
            w = self.waits.get(cid)
            if w is None:
                assert router.wait_status(cid) is None
                continue
            assert (router.holder(cid), router.held_in(cid)) == (w.holder, w.held_in), cid
            assert (router.queue_of(cid), router.offer_of(cid)) == (w.queue, w.offer), cid
            assert (router.wanted(cid), router.named(cid)) == (w.wanted, w.named), cid
            assert router.declined(cid) == w.declined and router.held_before(cid) == w.held_before
            if w.queue is not None or w.holder is not None:
                assert router.ticket(cid) == w.ticket, cid


def _conversation_for(router: Router, op: Op) -> str:
    if op.conversation != "*":
        return op.conversation
    fits: Callable[[str], object] = router.queue_of
    if op.name in ("accept", "decline", "expire_offer"):
        fits = router.offer_of
    elif op.name in ("release", "reassign"):
        fits = router.holder
    elif op.name == "forget":
        fits = router.wait_status
    return next((cid for cid in CIDS if fits(cid)), CIDS[0])


def resolve(router: Router, op: Op, queues: list[QueueSpec]) -> Call:
    cid = _conversation_for(router, op)
    pid = op.participant or "nobody"
    if op.name in ("accept", "decline", "expire_offer"):
        pid = op.participant or router.offer_of(cid) or "nobody"
    return Call(
        name=op.name,
        conversation=cid,
        participant=pid,
        queue=queues[op.queue % len(queues)].name,
        wanted=op.wanted,
        named=op.participant,
        status=op.status,
    )


def make(router: Router, call: Call, now: float) -> object:
    """Make the call; return what it returned (None for the calls that return nothing)."""
    cid, pid = call.conversation, call.participant
    if call.name == "enqueue":
        router.enqueue(cid, call.queue, now, wanted=call.wanted, named=call.named)
    elif call.name == "serve":
        return router.serve(now)
    elif call.name == "accept":
        router.accept(cid, pid, now)
    elif call.name == "decline":
        return router.decline(cid, pid, now)
    elif call.name == "expire_offer":
        return router.expire_offer(cid, pid, now)
    elif call.name == "presence":
        return router.set_presence(pid, call.status, now)
    elif call.name == "release":
        return router.release(cid, now)
    elif call.name == "leave":
        return router.leave(cid, now)
    elif call.name == "forget":
        router.forget(cid)
    elif call.name == "reassign":
        return router.reassign(cid, pid, now)
    else:
        assert call.name == "assign"
        router.assign(cid, pid, call.queue, now)
    return None


def run(router: Router, queues: list[QueueSpec], ops: list[Op], start: int = 0) -> list[object]:
    """Apply ops from `start` on (time = index of the op); log results and refusals."""
    log: list[object] = []
    for now, op in enumerate(ops[start:], start=start):
        try:
            log.append(make(router, resolve(router, op, queues), float(now)))
        except StepRefused as refused:
            log.append(f"refused: {refused}")
    return log


def check_books(router: Router, people: list[ParticipantSpec], queues: list[QueueSpec]) -> None:
    """Invariants read from the public API, independent of the router's own audit."""
    settled(router)
    holders: dict[str, list[str]] = {}
    offers: dict[str, list[str]] = {}
    for p in people:
        used = sum(router.queue(router.held_in(c) or "").units for c in router.holds_of(p.id))
        used += sum(router.queue(router.queue_of(c) or "").units for c in router.offers_of(p.id))
        assert router.load(p.id) == used <= p.capacity
        for c in router.holds_of(p.id):
            holders.setdefault(c, []).append(p.id)
        for c in router.offers_of(p.id):
            offers.setdefault(c, []).append(p.id)
    assert all(len(h) == 1 for h in holders.values())
    assert all(len(o) == 1 for o in offers.values())
    assert not set(holders) & set(offers)
    for q in queues:
        tickets = [router.ticket(c) or 0 for c in router.line(q.name)]
        assert tickets == sorted(tickets) and len(set(tickets)) == len(tickets)
        for cid in router.line(q.name):
            assert router.holder(cid) is None and router.queue_of(cid) == q.name


def check_decisions(
    router: Router, decisions: object, expected: list[tuple[str, str]], now: float
) -> None:
    assert isinstance(decisions, list)
    assert picks(decisions) == expected
    for d in decisions:
        if router.participant(d.participant).kind is Kind.BOT:
            assert d == Assigned(
                conversation=d.conversation, participant=d.participant, queue=d.queue
            )
        else:
            timeout = router.queue(d.queue).offer_timeout
            assert isinstance(d, Offered)
            assert d.expires_at == (None if timeout is None else now + timeout)


@given(worlds(), st.lists(operations, min_size=30, max_size=100))
def test_property_random_walks_match_the_shadow_model_and_keep_the_books(
    world: World, ops: list[Op]
) -> None:
    people, queues = world
    router, shadow = Router(people, queues), Shadow(world)
    for now, op in enumerate(ops):
        call = resolve(router, op, queues)
        before = routing_inspect.dump(router)
        try:
            result = make(router, call, float(now))
        except StepRefused:
            assert routing_inspect.dump(router) == before  # a refused call changes nothing
            continue
        if call.name == "serve":
            check_decisions(router, result, shadow.serve(now), now)
            # work-conserving: after a serve nobody can take any waiting conversation
            assert [shadow.choice(cid) for cid in shadow.ready()] == [None] * len(shadow.ready())
        else:
            shadow.follow(call, now)
        shadow.check(router)
        check_books(router, people, queues)
        for cid in shadow.ready():
            assert router.best_candidate(cid) == router.explain(cid).chosen == shadow.choice(cid)


@given(worlds(), st.lists(operations, min_size=30, max_size=100), st.integers(0, 100))
def test_property_same_calls_give_the_same_decisions_even_across_a_pickle(
    world: World, ops: list[Op], cut: int
) -> None:
    people, queues = world
    first, second = Router(people, queues), Router(people, queues)
    log = run(first, queues, ops)
    assert run(second, queues, ops) == log and routing_inspect.dump(first) == routing_inspect.dump(
        second
    )
    head = Router(people, queues)
    log_head = run(head, queues, ops[:cut])
    revived = pickle.loads(pickle.dumps(head))
    assert log_head + run(revived, queues, ops, start=cut) == log
    assert routing_inspect.dump(revived) == routing_inspect.dump(first)
