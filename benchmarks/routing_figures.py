"""The routing suite: selecting a participant for a waiting conversation, in queues of 100 to
100,000 members.

Theory of operation: the figure is what a switchboard step pays for a routing decision, at each
queue size, so that the ratio of the largest to the smallest says whether selection scales (the
router promises O(log n): a segment tree per (queue, kind), never a scan).

- What is timed: `router.enqueue(conversation, queue, now, wanted=human)` then
  `router.serve(now)`, which returns one `Offered`. That pair is exactly what the switchboard
  runs when a bot escalates (`Switchboard._escalate_now`: `_enqueue` then `_serve`), and what it
  runs on every start and transfer: the ticket and the line, the pick from the index (`_pick`),
  then giving the offer (load, wait model, re-keying the chosen participant in its queues'
  trees). `best_candidate` would time the pick alone, which no step ever does; `explain` is the
  linear reference and is timed by nobody.
- The queue: `size` humans, all members of one `highest_capacity` queue, capacities 3 to 8,
  seeded. Most are partly loaded, some idle, some full, some away (`LOAD_MIX`), so the index
  holds a realistic share of absent leaves and ties. Loads are set through the router's public
  `assign` (a hold is not a routing decision, so membership does not matter to it): each loaded
  member holds one conversation of a side queue whose `units` are the load wanted, which is the
  same load, for the index, as that many conversations of one unit.
- A batch offers `scale` new conversations, one after another, each a decision of its own (each
  later one sees the load the earlier ones took, as in a burst of escalations); its cleanup,
  untimed, withdraws the offers (`leave`) and forgets the conversations, which gives the load
  back, so every batch starts from the same queue. Ratios are against the 100-member queue
  measured in the same run, interleaved with the others. `--quick` stops at 10,000 members.
- Before and after timing, a probe conversation is offered at each size and must go to the
  participant `explain` (the plain linear reading of the rules) names, or the figure is refused:
  a router that picked the wrong participant quickly would look fast. The probe also counts the
  tree nodes one selection visits (`selection_steps`), which the table's notes report.
- The routers are built before timing and then frozen out of the garbage collector's sight
  (`gc.freeze`): the harness runs a full collection between batches, and without this each
  would walk the million objects of the 100,000-member router, minutes in all, for nothing that
  is timed.
"""

from __future__ import annotations

import functools
import gc
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from benchmarks.harness import STABLE_WITHIN, Batch, Settings, measure_until_stable
from benchmarks.internals import Offered, Router
from benchmarks.report import Figure, Result, SuiteResult, Target
from handoff_fsm.config import Kind, ParticipantSpec, QueueSpec, Strategy
from handoff_fsm.events import PresenceStatus, Wanted
from handoff_fsm.routing import inspect as routing_inspect

SIZES = (100, 1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000, 10_000)  # --quick: building the largest queue alone takes seconds
QUEUE = "support"
LOAD_QUEUE = "load-{units}"  # side queues (no members) whose holds set a participant's load
MAX_CAPACITY = 8
# Share of members idle (load 0), full (load = capacity), away (any load); the rest are partly
# loaded (load 1 to capacity - 1).
LOAD_MIX = {"idle": 0.10, "full": 0.10, "away": 0.05}
SEED = 20241121
Log = Callable[[str], None]
SkillsOf = Callable[[random.Random], Mapping[str, int]]


def _key(size: int) -> str:
    return f"n{size}"


@dataclass
class Queue:
    """A router with one queue of `size` humans, loaded, and the ids the batches use."""

    size: int
    router: Router
    loads: dict[str, int]  # "idle", "partial", "full", "away": how many members

    @property
    def key(self) -> str:
        return _key(self.size)


def build_queue(size: int, seed: int = SEED, skills: SkillsOf | None = None) -> Queue:
    """`skills`, if given, draws each member's skills from a generator of its own, so the loads
    and capacities are those of the plain queue of the same size."""
    rng = random.Random(seed + size)
    draw = random.Random(seed - size)
    humans = [
        ParticipantSpec(
            id=f"agent-{n:06d}",
            kind=Kind.HUMAN,
            capacity=rng.randint(3, MAX_CAPACITY),
            skills=skills(draw) if skills is not None else {},
        )
        for n in range(size)
    ]
    members = [h.id for h in humans]
    rng.shuffle(members)
    side = [
        QueueSpec(name=LOAD_QUEUE.format(units=units), members=(), units=units)
        for units in range(1, MAX_CAPACITY + 1)
    ]
    queue = QueueSpec(name=QUEUE, members=tuple(members), strategy=Strategy.HIGHEST_CAPACITY)
    router = Router(humans, [queue, *side])
    loads = {"idle": 0, "partial": 0, "full": 0, "away": 0}
    for n, human in enumerate(humans):
        roll = rng.random()
        if roll < LOAD_MIX["idle"]:
            load, kind = 0, "idle"
        elif roll < LOAD_MIX["idle"] + LOAD_MIX["full"]:
            load, kind = human.capacity, "full"
        else:
            load, kind = rng.randint(1, human.capacity - 1), "partial"
        if load:
            units = LOAD_QUEUE.format(units=load)
            router.assign(f"load-{n:06d}", human.id, units, 0.0)
        if rng.random() < LOAD_MIX["away"]:
            router.set_presence(human.id, PresenceStatus.AWAY, 0.0)
            kind = "away"
        loads[kind] += 1
    router.serve(0.0)  # nothing waits yet: clears what building marked
    return Queue(size=size, router=router, loads=loads)


def select(router: Router, conversation: str, now: float = 1.0) -> str:
    """One routing decision, as a switchboard step makes it: the participant offered."""
    router.enqueue(conversation, QUEUE, now, wanted=Wanted.HUMAN)
    (decision,) = router.serve(now)
    assert isinstance(decision, Offered)
    return decision.participant


def undo(router: Router, conversation: str) -> None:
    """Withdraw the offer and forget the conversation: the load goes back."""
    router.leave(conversation, 2.0)
    router.forget(conversation)


def probe(queue: Queue) -> tuple[str, str, int]:
    """Offer one conversation: (participant offered, participant `explain` chose beforehand,
    tree nodes the selection visited). Leaves the router as it was."""
    router = queue.router
    cid = "probe"
    router.enqueue(cid, QUEUE, 1.0, wanted=Wanted.HUMAN)
    chosen = router.explain(cid).chosen
    router.leave(cid, 1.0)
    router.forget(cid)
    before = routing_inspect.selection_steps(router)
    offered = select(router, cid)
    visited = routing_inspect.selection_steps(router) - before
    undo(router, cid)
    return offered, chosen or "nobody", visited


def check(queue: Queue) -> int:
    """The probe must go where `explain` says, or the figure is refused; returns nodes visited."""
    offered, chosen, visited = probe(queue)
    if offered != chosen:
        raise AssertionError(
            f"{queue.size} members: selection offered {offered}, explain chose {chosen}"
        )
    return visited


def selection_batch(queue: Queue, scale: int) -> Batch[Router]:
    ids = [f"waiting-{n:06d}" for n in range(scale)]
    router = queue.router

    def run(router: Router) -> None:
        for cid in ids:
            router.enqueue(cid, QUEUE, 1.0, wanted=Wanted.HUMAN)
            router.serve(1.0)

    def cleanup(router: Router) -> None:
        for cid in ids:
            if router.offer_of(cid) is None:
                raise AssertionError(f"{queue.size} members: {cid} was not offered to anyone")
            undo(router, cid)

    return Batch(ops=len(ids), run=run, prepare=lambda: router, cleanup=cleanup)


def _quiet(_: str) -> None:
    return None


def run(settings: Settings, log: Log = _quiet, sizes: Sequence[int] | None = None) -> SuiteResult:
    if sizes is None:
        sizes = QUICK_SIZES if settings.quick else SIZES
    log(f"routing: building queues of {', '.join(f'{s:,}' for s in sizes)} members")
    queues = [build_queue(size) for size in sizes]
    visited = {q.key: check(q) for q in queues}
    gc.collect()
    gc.freeze()
    log("routing: selection")
    makers = {q.key: functools.partial(selection_batch, q) for q in queues}
    timings, passes, stable = measure_until_stable(makers, settings)
    for q in queues:
        check(q)
    results = {}
    for q in queues:
        timed = Result.of_timing(timings[q.key])
        results[q.key] = Result(
            value=timed.value,
            q1=timed.q1,
            q3=timed.q3,
            detail={**timed.detail, "members": q.size, "tree_nodes_visited": visited[q.key]},
        )
    figure = Figure(
        key="routing.select",
        title="select",
        unit="us",
        description=(
            "enqueue a conversation asking for a human and serve it: one offer, chosen from a"
            " highest_capacity queue of this many humans (most partly loaded, some full or away)"
        ),
        baseline=_key(sizes[0]),
        results=results,
        floor_is_lowest=True,  # a larger queue cannot select faster: a ratio under 1 is noise
    )
    largest = _key(sizes[-1])
    targets = (
        Target(
            description=(
                f"selection at {sizes[-1]:,} members within 3x of selection at {sizes[0]:,}"
            ),
            figure=figure.key,
            contender=largest,
            limit=3.0,
            kind="ratio",
        ),
    )
    mixes = "; ".join(
        f"{q.size:,}: " + ", ".join(f"{n:,} {kind}" for kind, n in q.loads.items()) for q in queues
    )
    nodes = ", ".join(f"{q.size:,}: {visited[q.key]}" for q in queues)
    return SuiteResult(
        key="routing",
        title=f"Routing: selection by queue size (ratios against {sizes[0]:,} members)",
        contenders={q.key: f"{q.size:,} members" for q in queues},
        figures=[figure],
        targets=targets,
        notes=(
            f"members by load: {mixes}",
            f"index nodes one selection visits: {nodes}",
            (
                f"measured {passes} times, until two consecutive passes agreed on every median"
                f" within {STABLE_WITHIN:.0%}; the table is the last pass"
                if stable
                else f"UNSTABLE: {passes} passes and the last two still differ by more than"
                f" {STABLE_WITHIN:.0%} on some median; re-run on a quieter machine"
            ),
        ),
    )
