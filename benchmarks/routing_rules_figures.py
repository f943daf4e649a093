"""The routing rules suite: selection with skills and priority at 100 and 100,000 members, and a
backlog of waits that one human lets time out, at its start and at its end.

Theory of operation: two figures, each a ratio that says whether a routing rule scales.

- `routing_rules.select`: the routing suite's selection (`routing_figures`: enqueue a
  conversation asking for a human, then serve it, on the same seeded queues of 100 and 100,000
  humans, loads and capacities identical), with skills on the members (`SKILL_SHARES`: each
  held by a share of them, at levels 1 to 5, drawn by a generator of their own) and requests
  that cycle through `REQUESTS`: none, common and rare requirements, two at once, and three
  priorities. A requirement that few members meet makes the index skip the better-ranked
  members who lack it (`selection._best_meeting`), so its cost grows with the skipped members,
  which must not grow with the queue. Timed, cleaned up and checked as the plain figure is: a
  batch offers `scale` requests one after another, its untimed cleanup withdraws them; before
  and after timing, a probe of every request must go where `explain` (the linear reading) says,
  and it is measured until two passes agree (`measure_until_stable`). Each request of the cycle
  is a contender of its own, at most `MAX_PICKS` a batch: a whole cycle in one batch would last
  milliseconds at 100,000 members, long enough for a busy machine to take the CPU away in most
  batches, and the larger queue would pay for it. The figure is the mean of the requests'
  medians (`cycle_mean`): one request of the cycle, on average.
  Target: 100,000 members within 3x of 100.
- `routing_rules.backlog`: a backlog of 20,000 waits that one human lets time out, the cost of
  an offer timeout at its end against its start (`benchmarks.declined_backlog`).
  Target: end within 2x of start.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import random
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import declined_backlog, routing_figures
from benchmarks.harness import (
    STABLE_WITHIN,
    Batch,
    Settings,
    Timing,
    measure_until_stable,
)
from benchmarks.internals import Offered, Router
from benchmarks.report import Figure, Result, SuiteResult, Target, format_number
from benchmarks.routing_figures import QUEUE, Queue, undo
from handoff_fsm.config import Requirement
from handoff_fsm.events import Wanted
from handoff_fsm.routing import inspect as routing_inspect

Log = Callable[[str], None]

# --- selection with skills and priority ------------------------------------------------------

SIZES = (100, 100_000)
QUICK_SIZES = (100, 10_000)  # --quick: the largest queue alone takes seconds to build
#: Requests per timed batch at most: a rare skill has 3 holders with room in the 100-member queue.
MAX_PICKS = 4
#: Share of the members who hold each skill (at a level from 1 to 5).
SKILL_SHARES = {"billing": 0.40, "spanish": 0.15, "french": 0.05}


@dataclass(frozen=True)
class Request:
    requires: tuple[Requirement, ...]
    priority: int

    def label(self) -> str:
        skills = " and ".join(f"{r.skill}>={r.level}" for r in self.requires) or "no skill"
        return f"{skills} at priority {self.priority}"


def _needs(**levels: int) -> tuple[Requirement, ...]:
    return tuple(Requirement(skill=skill, level=level) for skill, level in levels.items())


#: One cycle of requests: most ask for a skill, some for one few members meet.
REQUESTS = (
    Request(_needs(), 0),
    Request(_needs(billing=2), 5),
    Request(_needs(spanish=3), 10),
    Request(_needs(billing=1), 0),
    Request(_needs(french=1), 5),
    Request(_needs(), 10),
    Request(_needs(billing=1, spanish=1), 0),
    Request(_needs(spanish=1), 5),
)


def draw_skills(rng: random.Random) -> dict[str, int]:
    return {
        skill: rng.randint(1, 5) for skill, share in SKILL_SHARES.items() if rng.random() < share
    }


def build_skilled_queue(size: int) -> Queue:
    """The routing suite's queue of `size` humans, with skills."""
    return routing_figures.build_queue(size, skills=draw_skills)


def select(router: Router, conversation: str, request: Request, now: float = 1.0) -> str:
    """One routing decision for `request`: the participant offered."""
    router.enqueue(
        conversation,
        QUEUE,
        now,
        wanted=Wanted.HUMAN,
        requires=request.requires,
        priority=request.priority,
    )
    (decision,) = router.serve(now)
    assert isinstance(decision, Offered)
    return decision.participant


def check(queue: Queue) -> int:
    """Every request's probe must go where `explain` says, or the figure is refused; returns
    the index nodes the probes visited in all."""
    router, visited = queue.router, 0
    for request in REQUESTS:
        cid = "probe"
        router.enqueue(cid, QUEUE, 1.0, wanted=Wanted.HUMAN, requires=request.requires, priority=0)
        chosen = router.explain(cid).chosen
        router.leave(cid, 1.0)
        router.forget(cid)
        before = routing_inspect.selection_steps(router)
        offered = select(router, cid, request)
        visited += routing_inspect.selection_steps(router) - before
        undo(router, cid)
        if offered != chosen:
            raise AssertionError(
                f"{queue.size} members, {request.label()}: selection offered {offered},"
                f" explain chose {chosen}"
            )
    return visited


def selection_batch(queue: Queue, request: Request, scale: int) -> Batch[Router]:
    """`scale` requests alike, one after another."""
    work = [(f"waiting-{n:06d}", request) for n in range(scale)]
    router = queue.router

    def run(router: Router) -> None:
        for cid, request in work:
            router.enqueue(
                cid,
                QUEUE,
                1.0,
                wanted=Wanted.HUMAN,
                requires=request.requires,
                priority=request.priority,
            )
            router.serve(1.0)

    def cleanup(router: Router) -> None:
        for cid, request in work:
            if router.offer_of(cid) is None:
                raise AssertionError(
                    f"{queue.size} members: {cid} ({request.label()}) was not offered to anyone"
                )
            undo(router, cid)

    return Batch(ops=len(work), run=run, prepare=lambda: router, cleanup=cleanup)


# --- the suite -------------------------------------------------------------------------------


def _quiet(_: str) -> None:
    return None


def cycle_mean(timings: list[Timing]) -> Result:
    """One request of the cycle on average: the mean of each request's median (and quartiles,
    and CPU-time median), so that every request weighs the same whatever its batches' size."""

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    return Result(
        value=mean([t.median_us for t in timings]),
        q1=mean([t.q1_us for t in timings]),
        q3=mean([t.q3_us for t in timings]),
        detail={
            "cpu_median": mean([t.cpu_median_us for t in timings]),
            "repetitions": min(t.repetitions for t in timings),
            "requests": len(timings),
        },
    )


def _measure_selection(settings: Settings, log: Log) -> tuple[Figure, list[str]]:
    sizes = QUICK_SIZES if settings.quick else SIZES
    log(f"routing_rules: building skilled queues of {', '.join(f'{s:,}' for s in sizes)}")
    queues = [build_skilled_queue(size) for size in sizes]
    visited = {q.key: check(q) for q in queues}
    gc.collect()
    gc.freeze()
    log("routing_rules: selection with skills and priority")
    makers = {
        f"{q.key}/{n}": functools.partial(selection_batch, q, request)
        for q in queues
        for n, request in enumerate(REQUESTS)
    }
    capped = dataclasses.replace(settings, max_scale=min(settings.max_scale, MAX_PICKS))
    timings, passes, stable = measure_until_stable(makers, capped)
    for q in queues:
        check(q)
    cycles = {q.key: [timings[f"{q.key}/{n}"] for n in range(len(REQUESTS))] for q in queues}
    figure = Figure(
        key="routing_rules.select",
        title="select with skills",
        unit="us",
        description=(
            "enqueue a conversation asking for a human with skill requirements and a priority"
            " (a cycle of none, common, rare and two at once; priorities 0, 5, 10) and serve it:"
            " one offer from a highest_capacity queue of this many skilled humans"
        ),
        baseline=queues[0].key,
        # Not the cheapest by construction: in a small queue a rare skill has few holders, so a
        # pick may skip most of the queue, and a larger queue can pick faster.
        floor_is_lowest=False,
        results={
            q.key: cycle_mean(cycles[q.key]).with_detail(
                members=q.size, tree_nodes_visited=visited[q.key]
            )
            for q in queues
        },
    )
    holders = ", ".join(f"{skill} {share:.0%}" for skill, share in SKILL_SHARES.items())
    nodes = ", ".join(f"{q.size:,}: {visited[q.key]}" for q in queues)
    per_request = "; ".join(
        f"{q.size:,}: " + ", ".join(format_number(t.median_us) for t in cycles[q.key])
        for q in queues
    )
    notes = [
        f"skills held by: {holders} of the members (levels 1 to 5)",
        f"median us per request, in the cycle's order ({', '.join(r.label() for r in REQUESTS)}):"
        f" {per_request}",
        f"index nodes the {len(REQUESTS)} probe requests visit in all: {nodes}",
        (
            f"selection measured {passes} times, until two consecutive passes agreed on every"
            f" median within {STABLE_WITHIN:.0%}; the table is the last pass"
            if stable
            else f"selection UNSTABLE: {passes} passes and the last two still differ by more"
            f" than {STABLE_WITHIN:.0%} on some median; re-run on a quieter machine"
        ),
    ]
    return figure, notes


def run(settings: Settings, log: Log = _quiet) -> SuiteResult:
    select, select_notes = _measure_selection(settings, log)
    backlog, backlog_notes = declined_backlog.measure(settings, log)
    small, large = select.results
    targets = (
        Target(
            description=(
                f"selection with skills and priority at {select.results[large].detail['members']:,}"
                f" members within 3x of {select.results[small].detail['members']:,}"
            ),
            figure=select.key,
            contender=large,
            limit=3.0,
            kind="ratio",
        ),
        Target(
            description="an offer timeout at the end of the backlog within 2x of one at its start",
            figure=backlog.key,
            contender="end",
            limit=2.0,
            kind="ratio",
        ),
    )
    contenders = {
        key: f"{result.detail['members']:,} members" for key, result in select.results.items()
    }
    contenders |= {"start": "backlog start", "end": "backlog end"}
    return SuiteResult(
        key="routing_rules",
        title="Routing rules: skills and priority by queue size, and a backlog one human declines",
        contenders=contenders,
        figures=[select, backlog],
        targets=targets,
        notes=(*select_notes, *backlog_notes),
    )
