"""The switchboard suite: one full step of a busy contact center.

Theory of operation: `benchmarks.contact_center` builds a warm contact center (10,000 live
conversations, 1,000 participants in 10 queues for `make bench`) and a recorded stream of valid
steps after it; and a second one with a backlog (`FULL_BACKLOG_SHAPE`: a seventh the humans,
long lines in every queue). Each is a row of the table, timed in the same rounds. This suite
times `Switchboard.handle(event, now=..., step_id=...)` replaying that stream, step after step,
on a switchboard unpickled from the warm state: the whole step as an embedder pays for it
(delivery-id check, timers that fall due, the handler, routing, the effects list), and nothing
of the crowd that chose the steps.

- A batch is the next window of `shape.window` steps of the stream (128 for `make bench`), on
  the same switchboard, continuing where the last batch stopped (`Replay`): each step needs the
  state the steps before it left. When the stream runs out, a fresh switchboard is unpickled
  from the warm state (untimed) and the stream starts over. So every step timed is a step of the
  recorded stream, applied to exactly the state it was recorded against, and the 101 timed
  batches are 101 different stretches of the contact center's life.
- The figure is the median, over those windows, of the mean step time in a window. Steps are
  not alike: a message costs a few microseconds, a start or an escalation (routing, a join with
  the whole context, a timer) several times that, and a presence going offline far more. So the
  window is long enough (128 steps) for its mean to be the mix's, and the median of window means
  is close to the mean step time, the one that decides throughput: steps/s is 1 / the figure. A
  batch of a dozen steps, which the harness's calibration alone would choose, makes a median
  that drifts towards the cheap steps as batches shrink, and from one run to the next.
- The distribution of single steps is reported beside it (`single_steps`: one more pass over
  the stream on a fresh restore, each step timed on its own, collector off): percentiles, and
  the share of time each kind of step takes. It is what the notes and `docs/performance.md`
  use to say where the time goes; no target reads it.
- A refused step would be a bug of the generator, or a switchboard that no longer does what it
  did when the stream was recorded: the replay counts refusals (the table reports them; they
  must be 0). Before timing, the whole stream is replayed once on a fresh restore and must give,
  step by step, as many effects as when it was recorded, or the figure is refused: a switchboard
  that did nothing would look fast.
- The mix reported is that of the steps the clock saw, warm-up and calibration batches
  included, counted untimed when a batch is handed out.
- The absolute figure moves with the machine: on a shared virtual machine the same replay runs
  at one speed for a while and then nearly twice as slow, with the wall clock still matching
  CPU time, so the harness's disturbance check cannot see it. So the dict floor of the
  lifecycle suite (`lifecycle_figures.transition_batch` on `DictFloor`: one dict lookup per
  transition) is timed in the same rounds, interleaved batch by batch, as a reference for the
  speed of the machine at that moment: the step's ratio to it is what to compare between runs.
  The target stays on the step's own median, as the issue sets it.
- Each restored switchboard is frozen out of the collector's sight (`gc.freeze`) once unpickled:
  the harness runs a full collection between batches, and walking the warm switchboard's
  objects each time would cost seconds and time nothing.
"""

from __future__ import annotations

import functools
import gc
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks import lifecycle_figures
from benchmarks.center_shapes import (
    FULL_BACKLOG_SHAPE,
    FULL_SHAPE,
    QUICK_BACKLOG_SHAPE,
    QUICK_SHAPE,
    Shape,
)
from benchmarks.contact_center import ContactCenter, Step, build
from benchmarks.harness import Batch, Settings, Timing, measure_all
from benchmarks.lifecycle_contenders import TO_CYCLE, DictFloor, Store
from benchmarks.report import Figure, Result, SuiteResult, Target
from handoff_fsm.config import Kind
from handoff_fsm.errors import StepRefused
from handoff_fsm.switchboard import Switchboard

CONTENDER = "handoff_fsm"
BACKLOG = "backlog"
BALANCED_LABEL = "handoff-fsm switchboard"
BACKLOG_LABEL = "handoff-fsm switchboard, backlog"
REFERENCE = DictFloor.key
LIMIT_US = 25.0
Log = Callable[[str], None]


@dataclass
class Slice:
    """What one batch replays: the next steps of the stream, on the switchboard they follow."""

    board: Switchboard
    steps: list[Step]
    refused: int = 0


@dataclass
class Replay:
    """Hands out consecutive slices of the recorded stream, restoring the warm state when the
    stream runs out, and counts what it handed out (untimed)."""

    center: ContactCenter
    board: Switchboard | None = None
    cursor: int = 0
    restores: int = 0
    replayed: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    def restore(self) -> Switchboard:
        self.board = None
        gc.collect()
        board = self.center.restore()
        gc.collect()
        gc.freeze()
        self.board = board
        self.cursor = 0
        self.restores += 1
        return board

    def take(self, count: int) -> Slice:
        steps = self.center.steps
        count = min(count, len(steps))
        board = self.board
        if board is None or self.cursor + count > len(steps):
            board = self.restore()
        start, self.cursor = self.cursor, self.cursor + count
        self.replayed.update(self.center.kinds[start : self.cursor])
        return Slice(board=board, steps=list(steps[start : self.cursor]))

    def settle(self, done: Slice) -> None:
        self.refused += done.refused


def replay(part: Slice) -> None:
    """The timed loop: every step through `handle`, with its time and delivery id."""
    handle = part.board.handle
    refused = 0
    for event, now, step_id in part.steps:
        try:
            handle(event, now=now, step_id=step_id)
        except StepRefused:
            refused += 1
    part.refused = refused


def step_batch(source: Replay, scale: int) -> Batch[Slice]:
    count = min(source.center.shape.window * scale, len(source.center.steps))
    return Batch(
        ops=count,
        run=replay,
        prepare=lambda: source.take(count),
        cleanup=source.settle,
    )


@dataclass(frozen=True)
class Distribution:
    """Single steps timed one by one, in microseconds."""

    p50: float
    p90: float
    p99: float
    mean: float
    by_kind: dict[str, tuple[int, float]]  # kind -> (steps, total microseconds)

    def line(self) -> str:
        total = sum(us for _, us in self.by_kind.values())
        heavy = sorted(self.by_kind.items(), key=lambda item: -item[1][1])
        kinds = ", ".join(
            f"{kind} {us / total:.0%} ({us / n:.1f} us each)" for kind, (n, us) in heavy[:8]
        )
        return (
            f"single steps, timed one by one: p50 {self.p50:.1f} us, p90 {self.p90:.1f} us,"
            f" p99 {self.p99:.0f} us, mean {self.mean:.1f} us; share of time: {kinds}"
        )


def single_steps(center: ContactCenter) -> Distribution:
    """One pass over the stream on a fresh restore, each step timed on its own (collector off):
    where the time goes, by kind of step."""
    board = center.restore()
    handle = board.handle
    clock = time.perf_counter_ns
    times: list[float] = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for event, now, step_id in center.steps:
            start = clock()
            handle(event, now=now, step_id=step_id)
            times.append((clock() - start) / 1000)
    finally:
        if enabled:
            gc.enable()
    by_kind: dict[str, tuple[int, float]] = {}
    for kind, us in zip(center.kinds, times, strict=True):
        n, total = by_kind.get(kind, (0, 0.0))
        by_kind[kind] = (n + 1, total + us)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return Distribution(
        p50=statistics.median(times),
        p90=cuts[89],
        p99=cuts[98],
        mean=statistics.mean(times),
        by_kind=by_kind,
    )


def reference() -> tuple[Callable[[int], Batch[Store]], Callable[[], None]]:
    """The machine-speed reference: the lifecycle suite's dict-floor transition batch, and the
    check that it did transition (run after timing)."""
    floor = DictFloor()
    store: Store = {}
    floor.create(store, lifecycle_figures.DRIVEN)
    for cid in lifecycle_figures.DRIVEN:
        floor.fire(store, cid, floor.native(TO_CYCLE))

    def batch_of(scale: int) -> Batch[Store]:
        return lifecycle_figures.transition_batch(floor, store, scale)

    def check() -> None:
        for cid in lifecycle_figures.DRIVEN:
            lifecycle_figures.check_cycle(floor, store, cid)

    return batch_of, check


def verify(center: ContactCenter) -> None:
    """Replay the whole stream once on a fresh restore: no refusal, and as many effects at
    every step as when it was recorded, or the figure is refused."""
    board = center.restore()
    for n, ((event, now, step_id), expected) in enumerate(
        zip(center.steps, center.effects, strict=True)
    ):
        try:
            got = len(board.handle(event, now=now, step_id=step_id))
        except StepRefused as refused:
            message = f"step {n} ({center.kinds[n]}) refused on replay: {refused}"
            raise AssertionError(message) from refused
        if got != expected:
            raise AssertionError(
                f"step {n} ({center.kinds[n]}) gave {got} effects on replay, {expected} recorded"
            )


def describe(center: ContactCenter) -> str:
    shape = center.shape
    config = center.config
    bots = sum(1 for p in config.participants if p.kind is Kind.BOT)
    humans = len(config.participants) - bots
    live = sum(center.warm_classes.values())
    classes = ", ".join(
        f"{n:,} {name.replace('_', ' ')}" for name, n in center.warm_classes.items()
    )
    lines = sorted(center.warm_lines.values())
    waiting = (
        f"; {sum(lines):,} waiting in line, {lines[0]:,} to {lines[-1]:,} a queue"
        if lines and lines[-1]
        else ""
    )
    if shape.backlog:
        changed = ", ".join(f"{kind} weighted {weight:g}" for kind, weight in shape.weights)
        waiting += f" (waits time out after {shape.wait_timeout:g} s; {changed})"
    return (
        f"{bots:,} bots and {humans:,} humans in {len(config.queues)} queues;"
        f" warm state {live:,} live ({classes}); humans {center.warm_human_load:.0%} loaded;"
        f" stream of {len(center.steps):,} steps recorded after {shape.warmup_steps:,}"
        f" warm-up steps{waiting}"
    )


def mix_line(replayed: Counter[str]) -> str:
    total = sum(replayed.values())
    parts = ", ".join(f"{kind} {n / total:.1%}" for kind, n in replayed.most_common())
    return f"mix of the {total:,} steps replayed under the clock: {parts}"


def _quiet(_: str) -> None:
    return None


def centers(settings: Settings) -> dict[str, tuple[str, Shape]]:
    """The contact centers the step is timed on: contender key -> (label, shape)."""
    if settings.quick:
        return {
            CONTENDER: (BALANCED_LABEL, QUICK_SHAPE),
            BACKLOG: (BACKLOG_LABEL, QUICK_BACKLOG_SHAPE),
        }
    return {CONTENDER: (BALANCED_LABEL, FULL_SHAPE), BACKLOG: (BACKLOG_LABEL, FULL_BACKLOG_SHAPE)}


def _result(timing: Timing, source: Replay, distribution: Distribution) -> Result:
    center = source.center
    timed = Result.of_timing(timing)
    return Result(
        value=timed.value,
        q1=timed.q1,
        q3=timed.q3,
        detail={
            **timed.detail,
            "steps_per_s": 1e6 / timed.value,
            "refused": source.refused,
            "replayed": sum(source.replayed.values()),
            "restores": source.restores,
            "stream": len(center.steps),
            "live": sum(center.warm_classes.values()),
            "waiting_in_lines": sum(center.warm_lines.values()),
            "longest_line": max(center.warm_lines.values(), default=0),
            "participants": len(center.config.participants),
            "queues": len(center.config.queues),
            "effects_per_step": sum(center.effects) / len(center.effects),
            "substituted": center.substituted,
            "single_step_p50": distribution.p50,
            "single_step_p90": distribution.p90,
            "single_step_p99": distribution.p99,
            "single_step_mean": distribution.mean,
        },
    )


def _notes(label: str, result: Result, source: Replay, distribution: Distribution) -> list[str]:
    detail = result.detail
    return [
        f"{label}: {describe(source.center)}",
        f"{label}: {mix_line(source.replayed)}",
        f"{label}: {detail['steps_per_s']:,.0f} steps/s (1 / median); refused during timing:"
        f" {source.refused}; warm state restored {source.restores} times;"
        f" {detail['effects_per_step']:.2f} effects per step;"
        f" batches of {detail['ops_per_batch']} consecutive steps; by this thread's CPU time"
        f" the median step is {float(detail['cpu_median']):.1f} us (read it when the machine"
        " was busy)",
        f"{label}: {distribution.line()}",
    ]


def run(
    settings: Settings, log: Log = _quiet, shapes: dict[str, tuple[str, Shape]] | None = None
) -> SuiteResult:
    shapes = shapes or centers(settings)
    sources: dict[str, Replay] = {}
    distributions: dict[str, Distribution] = {}
    for key, (label, shape) in shapes.items():
        log(f"switchboard: {label}, {shape.live:,} live conversations")
        center = build(shape)
        if center.substituted:
            log(f"switchboard: {center.substituted} generated steps were refused, became ticks")
        verify(center)
        distributions[key] = single_steps(center)
        sources[key] = Replay(center)
    log("switchboard: one step")
    floor_batch, floor_check = reference()
    makers: dict[str, Callable[[int], Batch[Any]]] = {REFERENCE: floor_batch}
    for key, source in sources.items():
        makers[key] = functools.partial(step_batch, source)
    timings = measure_all(makers, settings)
    floor_check()
    results = {REFERENCE: Result.of_timing(timings[REFERENCE])}
    notes: list[str] = []
    for key, (label, _) in shapes.items():
        results[key] = _result(timings[key], sources[key], distributions[key])
        notes += _notes(label, results[key], sources[key], distributions[key])
    figure = Figure(
        key="switchboard.step",
        title="step",
        unit="us",
        description=(
            "Switchboard.handle(event, now=, step_id=) replaying a recorded stream of valid steps"
            " on a warm contact center: median over windows of consecutive steps of the mean"
            " step time in a window"
        ),
        baseline=REFERENCE,
        results=results,
    )
    return SuiteResult(
        key="switchboard",
        title="Switchboard: one full step on a synthetic contact center",
        contenders={REFERENCE: "dict floor transition (machine reference)"}
        | {key: label for key, (label, _) in shapes.items()},
        figures=[figure],
        targets=tuple(
            Target(
                description=f"switchboard step ({label}) under {LIMIT_US:g} us median",
                figure=figure.key,
                contender=key,
                limit=LIMIT_US,
                kind="value",
                unit="us",
            )
            for key, (label, _) in shapes.items()
        ),
        notes=notes,
    )
