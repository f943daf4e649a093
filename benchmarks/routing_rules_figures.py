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
- `routing_rules.backlog`: a real `Switchboard` whose one queue has `backlog` conversations
  waiting for a human (`BACKLOG` for `make bench`), one human H available with capacity 1 who
  lets every offer time out (`offer_timeout`; the wait timeout is far away), one human busy
  and three away. Each `Tick` to the next offer deadline fires one timeout: H is excluded from
  that wait (declined) and the next wait is offered to H. The figure is the cost of such a
  tick, measured on two switchboards side by side, interleaved: `start`, where nothing has
  excluded H yet, and `end`, where all but `MEASURED` of the waits have. Target: end within 2x
  of start.
- The end state is built through steps only (starts, ticks, one presence), but in an order
  that is cheap whatever the router does: waits arrive in blocks of rising priority
  (`PRIORITIES`), each block just before the last wait of the one below times out, so the wait
  H is offered next is always ahead of those H declined. The measured waits have the lowest
  priority: every declined wait is ahead of them in line, as in a plain first-come backlog at
  its end. The start switchboard gets the same starts, with H away until all have arrived, so
  the two lines differ only in what H has declined. A tick's effects must be exactly one
  `offer_withdrawn` (timeout) and one `offer`, both to H, and each side's line must be what it
  claims before timing (`check_backlog`), or the figure is refused.
- Both sides consume their backlog as batches run, so the batch scale is capped (`MAX_TICKS`)
  and the measured waits outnumber what one pass of the harness can take (`ticks_needed`).
  The switchboards and routers are built before timing and frozen out of the collector's sight
  (`gc.freeze`), as in the routing suite.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import routing_figures
from benchmarks.harness import (
    STABLE_WITHIN,
    Batch,
    Settings,
    Timing,
    measure_all,
    measure_until_stable,
)
from benchmarks.internals import Offered, Router, router_of
from benchmarks.report import Figure, Result, SuiteResult, Target, format_number
from benchmarks.routing_figures import QUEUE, Queue, undo
from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec, Requirement
from handoff_fsm.effects import Effect, Offer, OfferWithdrawn
from handoff_fsm.events import Accept, Presence, PresenceStatus, Start, Tick, Wanted
from handoff_fsm.routing import inspect as routing_inspect
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.vocabulary import WithdrawReason

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


# --- a backlog that one human lets time out --------------------------------------------------

BACKLOG = 20_000
QUICK_BACKLOG = 2_000
#: Waits left that H has not excluded yet, on the end side: what the timed ticks consume.
MEASURED = 2_000
QUICK_MEASURED = 200
MAX_TICKS = 16  # timeouts per timed batch at most (the harness's calibration doubles up to it)
OFFER_TIMEOUT = 30.0
WAIT_TIMEOUT = 1e9
HUMAN = "H"
BUSY = "B"
AWAY = ("A1", "A2", "A3")
LOWEST = -1000  # the contract's priorities: -1000 to 1000
PRIORITIES = 2000  # -999 .. 1000: the levels the declined waits are spread over


def ticks_needed(settings: Settings) -> int:
    """Timeouts one `measure_all` pass can take from a side, at most."""
    cap = min(settings.max_scale, MAX_TICKS)
    calibration = sum(1 << n for n in range(cap.bit_length()))
    return calibration + (settings.warmup + settings.repetitions) * cap


def backlog_config() -> Config:
    people = [
        ParticipantSpec(id=HUMAN, kind=Kind.HUMAN, capacity=1, presence=PresenceStatus.AWAY),
        ParticipantSpec(id=BUSY, kind=Kind.HUMAN, capacity=1),
        *(
            ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=2, presence=PresenceStatus.AWAY)
            for pid in AWAY
        ),
    ]
    queue = QueueSpec(
        name=QUEUE,
        members=tuple(p.id for p in people),
        offer_timeout=OFFER_TIMEOUT,
        wait_timeout=WAIT_TIMEOUT,
    )
    return Config.build(people, [queue])


@dataclass
class Backlog:
    """One side of the backlog figure: a switchboard where H holds an offer, and the waits."""

    key: str  # "start" or "end"
    board: Switchboard
    declined: int  # waits H has excluded before timing
    offerable: int  # waits H has not excluded: how many timeouts this side can still fire
    ticks: int = 0  # timeouts fired since it was built


def _start(board: Switchboard, cid: str, priority: int) -> None:
    board.handle(
        Start(conversation=cid, queue=QUEUE, kind=Wanted.HUMAN, priority=priority), now=board.now
    )


def _tick(board: Switchboard) -> list[Effect]:
    return board.handle(Tick(now=board.now + OFFER_TIMEOUT))


def _blocks(declined: int) -> list[list[str]]:
    """The waits H is to decline, in blocks of one priority each (`PRIORITIES` at most)."""
    size = max(1, math.ceil(declined / PRIORITIES))
    ids = [f"declined-{n:06d}" for n in range(declined)]
    return [ids[n : n + size] for n in range(0, declined, size)]


def build_backlog(key: str, backlog: int, measured: int, *, excluded: bool) -> Backlog:
    """`backlog` waits: `measured` at the lowest priority, the rest in blocks of rising
    priority ahead of them; with `excluded`, H has let every wait of the blocks time out."""
    board = Switchboard(backlog_config())
    _start(board, "busy", 0)
    board.handle(Accept(conversation="busy", participant=BUSY), now=board.now)
    for n in range(measured):
        _start(board, f"measured-{n:06d}", LOWEST)
    blocks = _blocks(backlog - measured)
    available = Presence(participant=HUMAN, status=PresenceStatus.AVAILABLE)
    if not excluded:
        for level, block in enumerate(blocks):
            for cid in block:
                _start(board, cid, LOWEST + 1 + level)
        board.handle(available, now=board.now)
        return Backlog(key, board, declined=0, offerable=backlog)
    for level, block in enumerate(blocks):
        for cid in block:
            _start(board, cid, LOWEST + 1 + level)
        if level == 0:
            board.handle(available, now=board.now)
        else:  # the last wait of the block below times out: H gets this block's first
            _tick(board)
        for _ in block[1:]:
            _tick(board)
    # H now holds the offer of the last declined wait: the first timed tick declines it.
    return Backlog(key, board, declined=backlog - measured - 1, offerable=measured + 1)


def check_backlog(side: Backlog, backlog: int) -> None:
    """The side is what it claims, or the figure is refused: every wait still in line, H
    excluded from `declined` of them, all ahead of the measured ones (only the wait on offer to
    H is among them)."""
    router = router_of(side.board)
    excluded = [HUMAN in router.declined(cid) for cid in router.line(QUEUE)]
    ahead = side.declined + 1
    if len(excluded) != backlog or sum(excluded[:ahead]) != side.declined or any(excluded[ahead:]):
        raise AssertionError(
            f"{side.key}: {len(excluded):,} waits in line, H excluded from {sum(excluded):,};"
            f" expected {backlog:,}, and H excluded from {side.declined:,} at their head"
        )


def check_tick(effects: list[Effect]) -> None:
    """A tick fires one timeout: H's offer withdrawn, the next wait offered to H."""
    kinds = [(type(e).__name__, getattr(e, "to", None)) for e in effects]
    timed_out = [e for e in effects if isinstance(e, OfferWithdrawn)]
    offered = [e for e in effects if isinstance(e, Offer)]
    if (
        len(effects) != 2
        or len(timed_out) != 1
        or len(offered) != 1
        or timed_out[0].reason is not WithdrawReason.TIMEOUT
        or {timed_out[0].to, offered[0].to} != {HUMAN}
    ):
        raise AssertionError(f"a tick should fire one offer timeout and one offer to H: {kinds}")


def tick_batch(side: Backlog, scale: int) -> Batch[list[list[Effect]]]:
    board = side.board

    def prepare() -> list[list[Effect]]:
        if side.ticks + scale > side.offerable:
            raise AssertionError(f"{side.key}: the backlog ran out of waits to time out")
        side.ticks += scale
        return []

    def run(out: list[list[Effect]]) -> None:
        for _ in range(scale):
            out.append(_tick(board))

    def cleanup(out: list[list[Effect]]) -> None:
        for effects in out:
            check_tick(effects)

    return Batch(ops=scale, run=run, prepare=prepare, cleanup=cleanup)


# --- the suite -------------------------------------------------------------------------------


def _quiet(_: str) -> None:
    return None


def _with_detail(timed: Result, **detail: int) -> Result:
    return Result(value=timed.value, q1=timed.q1, q3=timed.q3, detail={**timed.detail, **detail})


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
            q.key: _with_detail(
                cycle_mean(cycles[q.key]), members=q.size, tree_nodes_visited=visited[q.key]
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


def _measure_backlog(settings: Settings, log: Log) -> tuple[Figure, list[str]]:
    backlog = QUICK_BACKLOG if settings.quick else BACKLOG
    measured = QUICK_MEASURED if settings.quick else MEASURED
    needed = ticks_needed(settings)
    if needed > measured:
        raise AssertionError(f"{measured} measured waits, but a pass may time out {needed}")
    log(f"routing_rules: building two backlogs of {backlog:,} waits")
    sides = [
        build_backlog("start", backlog, measured, excluded=False),
        build_backlog("end", backlog, measured, excluded=True),
    ]
    for side in sides:
        check_backlog(side, backlog)
    gc.collect()
    gc.freeze()
    log("routing_rules: offer timeouts at the start and at the end of the backlog")
    capped = dataclasses.replace(settings, max_scale=min(settings.max_scale, MAX_TICKS))
    timings = measure_all({s.key: functools.partial(tick_batch, s) for s in sides}, capped)
    figure = Figure(
        key="routing_rules.backlog",
        title="offer timeout",
        unit="us",
        description=(
            f"a tick that fires one offer timeout in a switchboard where {backlog:,} waits"
            " queue for a human and the one available human lets every offer time out: at the"
            " start (nothing declined yet) and at the end (that human excluded from all but"
            f" {measured:,} of the waits)"
        ),
        baseline="start",
        results={
            s.key: _with_detail(
                Result.of_timing(timings[s.key]),
                waits=backlog,
                declined_before=s.declined,
                timeouts_fired=s.ticks,
            )
            for s in sides
        },
    )
    notes = [
        f"backlog: {backlog:,} waits; timeouts fired while timing: "
        + ", ".join(f"{s.key} {s.ticks:,} (after {s.declined:,} declined)" for s in sides)
    ]
    return figure, notes


def run(settings: Settings, log: Log = _quiet) -> SuiteResult:
    select, select_notes = _measure_selection(settings, log)
    backlog, backlog_notes = _measure_backlog(settings, log)
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
