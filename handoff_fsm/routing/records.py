"""The live records of routing: participants, queues with their lines, and waits.

Theory of operation: plain slotted records (so a router pickles), one per participant
(`AgentRecord`: presence, load, holds, offers), per queue (`QueueRecord`: its line of tickets,
its ready sub-lines, one segment tree per kind of member) and per conversation known to routing
(`WaitRecord`: its current wait, or the hold that wait produced). Lines are sorted lists of
tickets; a ticket comes from one global counter, so sorting by ticket is first come, first served.

Rules (each written once, here):
- Capacity: a participant has room for one more of a queue's conversations when its capacity
  minus its load (holds and offers out) is at least the queue's `units` (`has_room`).
- A participant's rank in a queue (`leaf_key`) exists only while it is available with room.
- Sub-lines split the ready conversations (queued, no offer out) by what they ask for, so that
  a sub-line nobody can serve is skipped whole.
"""

from __future__ import annotations

import bisect
import functools
import math
from typing import TYPE_CHECKING

import attrs

from handoff_fsm.config import ParticipantSpec, QueueSpec, Requirement
from handoff_fsm.routing.segment_tree import Key, MinSegmentTree
from handoff_fsm.routing.waits import WaitStatus
from handoff_fsm.vocabulary import Kind, PresenceStatus, Strategy, Wanted

if TYPE_CHECKING:  # explain reads these records: imported for the annotation only
    from handoff_fsm.routing.explain import Kept


@attrs.define(slots=True, eq=False)
class AgentRecord:
    spec: ParticipantSpec
    memberships: list[tuple[str, int]]  # (queue, leaf in that queue's tree of this kind)
    presence: PresenceStatus = PresenceStatus.AVAILABLE
    load: int = 0
    idle_since: float = -math.inf
    holds: set[str] = attrs.Factory(set)
    offers: set[str] = attrs.Factory(set)
    missed: int = 0  # offers let time out in a row
    wrapping: dict[str, tuple[int, float]] = attrs.Factory(dict)  # conversation -> (units, until)

    @property
    def remaining(self) -> int:
        return self.spec.capacity - self.load


# Sub-lines of a queue's ready conversations (queued, no offer out), by what they ask for.
SUB_BOT, SUB_HUMAN, SUB_ANY, SUB_NAMED = 0, 1, 2, 3
SUB_OF_WANTED = {Wanted.BOT: SUB_BOT, Wanted.HUMAN: SUB_HUMAN, Wanted.ANY: SUB_ANY}
#: The sub-lines a participant of each kind may serve (the named one aside).
SUBS_OF_KIND = {Kind.BOT: (SUB_BOT, SUB_ANY), Kind.HUMAN: (SUB_HUMAN, SUB_ANY)}
KINDS_OF_WANTED = {
    Wanted.BOT: (Kind.BOT,),
    Wanted.HUMAN: (Kind.HUMAN,),
    Wanted.ANY: (Kind.BOT, Kind.HUMAN),
}


@attrs.define(slots=True, eq=False)
class QueueRecord:
    spec: QueueSpec
    order: int  # position in the configuration: breaks ties between queues
    trees: dict[Kind, MinSegmentTree]
    line: list[int] = attrs.Factory(list)  # tickets of every waiting conversation, sorted
    ready: list[list[int]] = attrs.Factory(lambda: [[], [], [], []])  # sorted, by sub-line
    last_picked: int = -1  # member position of the last strategy pick (round robin)
    # Parked: ready waits that nobody available could take when `serve` last tried them (by
    # sub-line, named waits never), and for each (participant, sub-line) the parked tickets of
    # the waits that exclude it (held before, declined): see `lines.RoutingBooks._park`.
    parked: list[list[int]] = attrs.Factory(lambda: [[], [], []])
    excluding: dict[tuple[str, int], list[int]] = attrs.Factory(dict)

    def is_member(self, agent: AgentRecord) -> bool:
        return agent.spec.id in self.trees[agent.spec.kind].leaf_of


@attrs.define(slots=True, eq=False, weakref_slot=False)
class WaitRecord:
    id: str
    status: WaitStatus  # of the current wait, or of the last one
    ticket: int  # of the current wait, or of the wait the current hold came from
    wanted: Wanted = Wanted.ANY
    named: str | None = None
    queue: str | None = None  # the line it is in, while waiting
    offer: str | None = None
    offer_expires: float | None = None
    declined: tuple[str, ...] | None = None  # sorted; from the first decline of a wait
    holder: str | None = None
    held_in: str | None = None
    held_before: tuple[str, ...] = ()  # sorted; a tuple, as it is small (usually one id)
    requires: tuple[Requirement, ...] = ()  # the current (not yet relaxed) requirements
    since: float = 0.0  # when the request began: `for` counts from here
    priority: int | None = None  # as asked (None: the queue's)
    bots_first: bool = False  # a start that asked no kind: any, bots before humans
    past: Kept = ()  # its last routing decisions (`explain.keep`)

    @property
    def sub_line(self) -> int:
        return SUB_NAMED if self.named is not None else SUB_OF_WANTED[self.wanted]


def excluded(rec: WaitRecord) -> tuple[str, ...]:
    """Who may not take `rec` during this wait whatever else happens (a request naming one of
    them aside): who held it before, and who declined it in this wait; sorted, once each."""
    if not rec.declined:
        return rec.held_before
    return tuple(sorted({*rec.held_before, *rec.declined}))


def with_id(ids: tuple[str, ...], pid: str) -> tuple[str, ...]:
    """The sorted `ids` (held before, declined) with `pid` in it. Most conversations are held
    by one participant only: their 1-tuples are shared (`_alone`), a pickle keeps them shared."""
    if pid in ids:
        return ids
    return _alone(pid) if not ids else tuple(sorted((*ids, pid)))


@functools.lru_cache(maxsize=4096)
def _alone(pid: str) -> tuple[str]:
    return (pid,)


def has_room(agent: AgentRecord, q: QueueRecord) -> bool:
    """The one capacity rule: room for one more of `q`'s conversations."""
    return agent.spec.capacity - agent.load >= q.spec.units


#: A ticket is a place in line: higher priority sorts first, then the global counter (first in).
PRIORITY_STEP = 10**15


def place_of(counter: int, priority: int) -> int:
    return counter - priority * PRIORITY_STEP


def meets(agent: AgentRecord, requires: tuple[Requirement, ...]) -> bool:
    skills = agent.spec.skills
    return all(r.met_by(skills) for r in requires)


def kind_fits(wanted: Wanted, kind: Kind) -> bool:
    return kind in KINDS_OF_WANTED[wanted]


def leaf_key(q: QueueRecord, agent: AgentRecord, position: int) -> Key | None:
    """The agent's rank in `q` while it can take one more of q's conversations, else None."""
    if agent.presence is not PresenceStatus.AVAILABLE or not has_room(agent, q):
        return None
    strategy = q.spec.strategy
    if strategy is Strategy.HIGHEST_CAPACITY:
        return (-agent.remaining, position)
    if strategy is Strategy.LEAST_ACTIVE:
        return (agent.load, position)
    if strategy is Strategy.MOST_IDLE:
        return (agent.idle_since, position)
    return (0, position)  # round robin: the rotation is applied at pick time


def insert_ticket(tickets: list[int], ticket: int) -> None:
    bisect.insort(tickets, ticket)


def remove_ticket(tickets: list[int], ticket: int) -> None:
    i = bisect.bisect_left(tickets, ticket)
    assert i < len(tickets) and tickets[i] == ticket, "ticket not in its line"
    del tickets[i]


def has_ticket(tickets: list[int], ticket: int) -> bool:
    i = bisect.bisect_left(tickets, ticket)
    return i < len(tickets) and tickets[i] == ticket


def missing_from(tickets: list[int], subset: list[int]) -> list[int]:
    """The tickets not in `subset` (sorted, a subset of the sorted `tickets`), in
    O((k + 1) log n) for k of them: past the first ticket missing from `subset`, the two lists
    never agree again at the same offset, so each run where they agree is found by bisection."""
    out: list[int] = []
    i = j = 0
    while i < len(tickets):
        lo, hi = 0, min(len(tickets) - i, len(subset) - j)  # tickets[i:i+lo] == subset[j:j+lo]
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if tickets[i + mid - 1] == subset[j + mid - 1]:
                lo = mid
            else:
                hi = mid - 1
        if i + lo < len(tickets):
            out.append(tickets[i + lo])
        i, j = i + lo + 1, j + lo
    return out


__all__ = [
    "KINDS_OF_WANTED",
    "SUBS_OF_KIND",
    "SUB_ANY",
    "SUB_BOT",
    "SUB_HUMAN",
    "SUB_NAMED",
    "SUB_OF_WANTED",
    "AgentRecord",
    "QueueRecord",
    "WaitRecord",
    "excluded",
    "has_room",
    "has_ticket",
    "insert_ticket",
    "kind_fits",
    "leaf_key",
    "meets",
    "missing_from",
    "place_of",
    "remove_ticket",
    "with_id",
]
