"""Looking inside a router: its whole state as plain data, its invariants, its work counters.

Theory of operation: what only the auditor (`handoff_fsm.testing`), the tests and the benchmarks
need lives here, not on `Router`: `dump` (two routers that dump alike decide alike), `audit` (every
invariant of the books checked against the raw state), and the diagnostic counters
(`selection_steps`, `pending_queues`). They read the router's private records and change nothing;
an embedder has no use for them.
"""

from __future__ import annotations

import itertools

from handoff_fsm.routing.records import (
    PRIORITY_STEP,
    QueueRecord,
    WaitRecord,
    excluded,
    has_ticket,
    leaf_key,
)
from handoff_fsm.routing.router import Router
from handoff_fsm.routing.segment_tree import MinSegmentTree, lesser
from handoff_fsm.routing.selection import pick
from handoff_fsm.routing.waits import WaitStatus
from handoff_fsm.vocabulary import Kind, PresenceStatus


def selection_steps(router: Router) -> int:
    """Work done by selection so far (index nodes visited, named participants checked): shows
    that a pick does not scan a queue's members."""
    visits = sum(tree.visits for q in router._queue_list for tree in q.trees.values())
    return visits + router._named_checks


def pending_queues(router: Router) -> tuple[str, ...]:
    """Queues the next `serve` will look at, in configuration order."""
    return tuple(q.spec.name for q in router._queue_list if q.spec.name in router._dirty)


def dump(router: Router) -> dict[str, object]:
    """Everything the router knows, as plain sorted data: two routers that dump alike
    decide alike. For tests, debugging and stores that want to look inside."""
    return {
        "next_ticket": router._next_ticket,
        "dirty": sorted(router._dirty),
        "participants": {
            pid: {
                "presence": str(a.presence),
                "load": a.load,
                "idle_since": a.idle_since,
                "holds": sorted(a.holds),
                "offers": sorted(a.offers),
                "missed": a.missed,
                "wrapping": {c: list(w) for c, w in sorted(a.wrapping.items())},
            }
            for pid, a in sorted(router._agents.items())
        },
        "queues": {
            name: {"line": router.line(name), "last_picked": router.last_picked(name)}
            for name, q in sorted(router._queues.items())
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
                "requires": [q.to_json() for q in r.requires],
                "since": r.since,
                "priority": r.priority,
                "bots_first": r.bots_first,
            }
            for cid, r in sorted(router._conversations.items())
        },
    }


def audit(router: Router) -> list[str]:
    """Check every invariant against the raw state; return the broken ones (none: [])."""
    return [*_audit_agents(router), *_audit_conversations(router), *_audit_queues(router)]


def _audit_agents(router: Router) -> list[str]:
    problems = []
    for pid, a in router._agents.items():
        # a hold or offer that lost its queue counts nothing here; `_audit_conversations` names it
        used = sum(_units(router, router._conversations[c].held_in) for c in a.holds)
        used += sum(_units(router, router._conversations[c].queue) for c in a.offers)
        used += sum(units for units, _ in a.wrapping.values())  # wrap-ups keep their units
        if a.load != used:
            problems.append(f"{pid}: load {a.load} but holds, offers and wrap-ups use {used}")
        # Over capacity only by the holds kept when a live change lowered it: no offer then.
        if a.load < 0 or (a.load > a.spec.capacity and a.offers):
            problems.append(f"{pid}: load {a.load} outside 0..{a.spec.capacity}")
        problems += [f"{pid} holds {c} but it is not its holder" for c in sorted(a.holds)
                     if router._conversations[c].holder != pid]  # fmt: skip
        problems += [f"{pid} has an offer of {c} it does not have" for c in sorted(a.offers)
                     if router._conversations[c].offer != pid]  # fmt: skip
        if a.offers and a.presence is not PresenceStatus.AVAILABLE:
            problems.append(f"{pid}: {a.presence} with offers out")
        if a.holds and a.presence is PresenceStatus.OFFLINE:
            problems.append(f"{pid}: offline but holds {', '.join(sorted(a.holds))}")
    return problems


def _units(router: Router, queue: str | None) -> int:
    return 0 if queue is None else router._queues[queue].spec.units


def _audit_conversations(router: Router) -> list[str]:
    problems = []
    for cid, r in router._conversations.items():
        if r.holder is not None and (r.offer is not None or r.queue is not None):
            problems.append(f"{cid}: held by {r.holder} and waiting or offered too")
        if r.holder is not None and (
            cid not in router._agents[r.holder].holds or r.held_in is None
        ):
            problems.append(f"{cid}: holder {r.holder} does not know it holds it")
        if r.offer is not None and cid not in router._agents[r.offer].offers:
            problems.append(f"{cid}: offered to {r.offer}, who does not know")
        if r.offer is None and r.offer_expires is not None:
            problems.append(f"{cid}: an offer deadline {r.offer_expires:g} but no offer")
        if r.queue is None:
            if r.offer is not None or r.status in (WaitStatus.QUEUED, WaitStatus.OFFERED):
                problems.append(f"{cid}: {r.status} with an offer or status but in no line")
            continue
        q = router._queues[r.queue]
        expected = WaitStatus.OFFERED if r.offer is not None else WaitStatus.QUEUED
        if r.status is not expected:
            problems.append(f"{cid}: status {r.status}, expected {expected}")
        if not has_ticket(q.line, r.ticket) or router._by_ticket.get(r.ticket) != cid:
            problems.append(f"{cid}: ticket {r.ticket} not in the line of {r.queue}")
        ready = has_ticket(q.ready[r.sub_line], r.ticket)
        parked = r.sub_line < len(q.parked) and has_ticket(q.parked[r.sub_line], r.ticket)
        if (ready or parked) != (r.offer is None):
            problems.append(f"{cid}: ready is {ready or parked} with offer {r.offer}")
        if ready and parked:
            problems.append(f"{cid}: both ready and parked")
        if parked and pick(r, q, router._agents) is not None:
            problems.append(f"{cid}: parked, but {pick(r, q, router._agents)} could take it")
        if r.named is not None and cid not in router._named_waits.get(r.named, set()):
            problems.append(f"{cid}: names {r.named} but is not indexed")
    for pid, waits in router._named_waits.items():
        for cid in sorted(waits):
            rec = router._conversations.get(cid)
            if rec is None or rec.named != pid or rec.queue is None:
                problems.append(f"named index: {pid} -> {cid} is stale")
    return problems


def _audit_queues(router: Router) -> list[str]:
    problems = []
    in_lines = 0
    for name, q in router._queues.items():
        in_lines += len(q.line)
        for tickets in (q.line, *q.ready):
            if any(a >= b for a, b in itertools.pairwise(tickets)):
                problems.append(f"{name}: a line is not sorted by ticket")
        for t in q.line:
            rec = _wait_of_ticket(router, t)
            if rec is None or rec.queue != name or rec.ticket != t:
                problems.append(f"{name}: ticket {t} does not belong here")
        offered = {t for t in q.line if _offer_of_ticket(router, t) is not None}
        if sum(len(r) for r in (*q.ready, *q.parked)) != len(q.line) - len(offered):
            problems.append(f"{name}: ready sub-lines do not match the line")
        problems += _audit_parked(router, name, q)
        for kind, tree in q.trees.items():
            problems += _audit_tree(router, name, q, kind, tree)
    if in_lines != len(router._by_ticket):
        problems.append("ticket index does not match the lines")
    # a ticket is its arrival number less its priority in PRIORITY_STEPs (records.place_of)
    if any(t % PRIORITY_STEP >= router._next_ticket for t in router._by_ticket):
        problems.append(f"ticket index: a ticket not below the next one, {router._next_ticket}")
    return problems


def _audit_parked(router: Router, name: str, q: QueueRecord) -> list[str]:
    """The index of who each parked wait excludes is exactly what its records say."""
    expected: dict[tuple[str, int], list[int]] = {}
    for sub, tickets in enumerate(q.parked):
        if any(a >= b for a, b in itertools.pairwise(tickets)):
            return [f"{name}: a parked line is not sorted by ticket"]
        for t in tickets:
            rec = router._conversations[router._by_ticket[t]]
            for pid in excluded(rec):
                expected.setdefault((pid, sub), []).append(t)
    if expected != q.excluding:
        return [f"{name}: the index of parked waits by who they exclude is stale"]
    return []


def _wait_of_ticket(router: Router, ticket: int) -> WaitRecord | None:
    cid = router._by_ticket.get(ticket)
    return None if cid is None else router._conversations.get(cid)


def _offer_of_ticket(router: Router, ticket: int) -> str | None:
    rec = _wait_of_ticket(router, ticket)
    return None if rec is None else rec.offer


def _audit_tree(
    router: Router, name: str, q: QueueRecord, kind: Kind, tree: MinSegmentTree
) -> list[str]:
    problems = []
    for pid, leaf in tree.leaf_of.items():
        expected = leaf_key(q, router._agents[pid], tree.positions[leaf])
        if tree.nodes[tree.width + leaf] != expected:
            problems.append(f"{name}/{kind}: {pid} indexed stale")
    for i in range(1, tree.width):
        if tree.nodes[i] != lesser(tree.nodes[2 * i], tree.nodes[2 * i + 1]):
            problems.append(f"{name}/{kind}: index node {i} is stale")
    return problems


__all__ = ["audit", "dump", "pending_queues", "selection_steps"]
