"""What every benchmark suite shares: timing, memory, figures, targets, the table and the JSON.

Theory of operation:

- Timing. An operation that takes a tenth of a microsecond cannot be timed alone: the clock's
  resolution and the cost of reading it are of the same order. So an operation is timed in
  *batches*: a `Batch` runs the operation `ops` times inside one pair of `time.perf_counter_ns`
  readings, and the per-operation time is the batch's time divided by `ops`. `measure_all`
  first calibrates each contender's batch (it doubles a scale until one batch lasts
  `Settings.min_batch_ns`), then runs untimed warm-up batches (caches, specialisation of the
  interpreter's bytecode), then `Settings.repetitions` rounds of one timed batch per contender,
  interleaved so that load from elsewhere on the machine falls on all contenders alike, and
  reports the median and the quartiles of each contender's per-operation times. The median and
  the IQR, not the mean and the standard deviation, because the noise of a shared machine is
  one-sided (a batch is only ever slowed down) and comes in bursts.
- Batches are short (a quarter of a millisecond by default): on a busy machine the scheduler
  takes the CPU away every few milliseconds, so a batch of 5 ms is nearly always interrupted and
  its wall time is mostly waiting, while most batches of 0.25 ms run through and the median is
  theirs. Each batch is also timed in this thread's CPU time (`time.thread_time_ns`); the wall
  clock stays the figure, and `SuiteResult` flags any contender whose wall-clock median exceeds
  its CPU-time median by more than `DISTURBED`, i.e. a run too disturbed to trust.
- Each timed batch runs with the garbage collector disabled (and re-enabled after, if it was), so
  that a collection triggered by an earlier batch's garbage is not charged to this one. Work that
  is not the operation (making a fresh store, releasing what the batch created) goes in the
  batch's untimed `prepare` and `cleanup`, followed by a full collection, so every timed batch
  starts from the same heap.
- Memory. `retained_bytes` counts, with `tracemalloc`, the bytes that a build allocates and still
  holds once it returns and a full collection has run: what stays allocated, not the peak.
- Reporting. A suite returns a `SuiteResult`: its contenders, its `Figure`s (one value per
  contender, with the contender ratios are taken against) and its `Target`s. `render_suite`
  prints it as one table, `report_json` turns every suite into the JSON document. A new suite
  (the switchboard, routing) reuses all of this and only supplies its operations.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How hard to measure: `FULL` for `make bench`, `QUICK` for a smoke run (`--quick`)."""

    quick: bool
    repetitions: int  # timed batches per measurement; the median is taken over these
    warmup: int  # untimed batches before them
    min_batch_ns: int  # calibration: one batch lasts at least this long...
    max_scale: int  # ...unless its scale reaches this
    memory_conversations: int  # how many idle conversations a memory figure holds

    def as_json(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "repetitions": self.repetitions,
            "warmup": self.warmup,
            "min_batch_ns": self.min_batch_ns,
            "max_scale": self.max_scale,
            "memory_conversations": self.memory_conversations,
        }


FULL = Settings(
    quick=False,
    repetitions=101,
    warmup=5,
    min_batch_ns=250_000,
    max_scale=1 << 16,
    memory_conversations=100_000,
)
QUICK = Settings(
    quick=True,
    repetitions=3,
    warmup=1,
    min_batch_ns=100_000,
    max_scale=1 << 8,
    memory_conversations=100,
)


#: A wall-clock median this many times its CPU-time median means the machine was too busy.
DISTURBED = 1.15


def _ignore(_: object) -> None:
    return None


@dataclass(frozen=True)
class Batch(Generic[T]):
    """One timed run of an operation, `ops` times.

    `prepare` (untimed) makes what `run` works on, `run` is what the clock sees, `cleanup`
    (untimed) undoes what `run` left behind. Build the inputs of `run` (the list of steps, the
    ids) before making the batch, never inside `run`.
    """

    ops: int
    run: Callable[[T], object]
    prepare: Callable[[], T]
    cleanup: Callable[[T], object] = _ignore


@dataclass(frozen=True)
class Timing:
    """Per-operation times of one measurement, in microseconds."""

    median_us: float  # wall clock (`time.perf_counter_ns`): the figure
    q1_us: float
    q3_us: float
    cpu_median_us: float  # this thread's CPU time over the same batches: the cross-check
    repetitions: int
    ops_per_batch: int

    @property
    def iqr_us(self) -> float:
        return self.q3_us - self.q1_us

    @property
    def disturbance(self) -> float:
        """How much longer by the wall clock than by CPU time (1.0: nothing else ran)."""
        return self.median_us / self.cpu_median_us if self.cpu_median_us > 0 else 1.0


def time_batch(batch: Batch[Any]) -> tuple[int, int]:
    """Nanoseconds that one run of `batch` took by the wall clock and in this thread's CPU time,
    with the collector off while it ran."""
    state = batch.prepare()
    enabled = gc.isenabled()
    gc.disable()
    try:
        cpu_start = time.thread_time_ns()
        start = time.perf_counter_ns()
        batch.run(state)
        elapsed = time.perf_counter_ns() - start
        cpu = time.thread_time_ns() - cpu_start
    finally:
        if enabled:
            gc.enable()
    batch.cleanup(state)
    del state
    gc.collect()
    return elapsed, cpu


def calibrate(batch_of: Callable[[int], Batch[Any]], settings: Settings) -> Batch[Any]:
    """The batch of the smallest power-of-two scale that lasts `settings.min_batch_ns`."""
    scale = 1
    batch = batch_of(scale)
    while time_batch(batch)[0] < settings.min_batch_ns and scale < settings.max_scale:
        scale = min(scale * 2, settings.max_scale)
        batch = batch_of(scale)
    return batch


def measure_all(
    batch_makers: Mapping[str, Callable[[int], Batch[Any]]], settings: Settings
) -> dict[str, Timing]:
    """Time several contenders' versions of one operation, interleaved.

    Each `batch_makers[key](scale)` makes a batch whose `ops` grows with `scale` (scale 1 is the
    smallest sensible batch). Each is calibrated on its own, then all are warmed up, then timed
    in `settings.repetitions` rounds of one batch each, in an order that rotates every round: a
    burst of load from the rest of the machine then slows every contender alike instead of
    whichever was being measured at the time, so ratios between them hold up on a busy machine.
    """
    batches = {key: calibrate(make, settings) for key, make in batch_makers.items()}
    for _ in range(settings.warmup):
        for batch in batches.values():
            time_batch(batch)
    keys = list(batches)
    wall: dict[str, list[float]] = {key: [] for key in keys}
    cpu: dict[str, list[float]] = {key: [] for key in keys}
    for round_ in range(settings.repetitions):
        shift = round_ % len(keys)
        for key in keys[shift:] + keys[:shift]:
            batch = batches[key]
            elapsed, used = time_batch(batch)
            wall[key].append(elapsed / batch.ops / 1000)
            cpu[key].append(used / batch.ops / 1000)
    timings = {}
    for key in keys:
        q1, median, q3 = _quartiles(wall[key])
        timings[key] = Timing(
            median_us=median,
            q1_us=q1,
            q3_us=q3,
            cpu_median_us=statistics.median(cpu[key]),
            repetitions=len(wall[key]),
            ops_per_batch=batches[key].ops,
        )
    return timings


def measure(batch_of: Callable[[int], Batch[Any]], settings: Settings) -> Timing:
    """Time one operation alone (see `measure_all`)."""
    return measure_all({"": batch_of}, settings)[""]


def _quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, median, q3


def retained_bytes(build: Callable[[], object]) -> int:
    """Bytes that `build()` allocated and that what it returns still holds, after a full
    collection: garbage made on the way is not counted, and neither is anything made before."""
    gc.collect()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        enabled = gc.isenabled()
        gc.disable()
        try:
            kept = build()
        finally:
            if enabled:
                gc.enable()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        del kept
    finally:
        if started:
            tracemalloc.stop()
    gc.collect()
    return after - before


# --- Figures, targets, suites --------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One contender's value for one figure; `q1`/`q3` for timings (None for a single count)."""

    value: float
    q1: float | None = None
    q3: float | None = None
    detail: Mapping[str, int | float | str] = field(default_factory=dict)

    @staticmethod
    def of_timing(timing: Timing) -> Result:
        return Result(
            value=timing.median_us,
            q1=timing.q1_us,
            q3=timing.q3_us,
            detail={
                "cpu_median": timing.cpu_median_us,
                "repetitions": timing.repetitions,
                "ops_per_batch": timing.ops_per_batch,
            },
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value}
        if self.q1 is not None and self.q3 is not None:
            out |= {"q1": self.q1, "q3": self.q3, "iqr": self.q3 - self.q1}
        return out | dict(self.detail)


@dataclass(frozen=True)
class Figure:
    """One measured quantity across contenders; ratios are `value / value of baseline`."""

    key: str  # stable id in the JSON, e.g. "lifecycle.transition"
    title: str  # column heading
    unit: str  # "us" or "bytes"
    description: str
    baseline: str | None  # contender key the ratios are against (the floor), if any
    results: Mapping[str, Result]

    def ratio(self, contender: str) -> float | None:
        if self.baseline is None or contender not in self.results:
            return None
        floor = self.results[self.baseline].value
        return self.results[contender].value / floor if floor > 0 else math.inf

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "unit": self.unit,
            "description": self.description,
            "baseline": self.baseline,
            "results": {key: result.as_json() for key, result in self.results.items()},
            "ratios": {key: self.ratio(key) for key in self.results if self.baseline is not None},
        }


@dataclass(frozen=True)
class Verdict:
    target: Target
    measured: float
    passed: bool

    @property
    def headroom(self) -> float:
        """limit / measured: above 1 is how many times over the target could grow and still pass;
        below 1, its inverse is how many times over the limit the measurement is."""
        return self.target.limit / self.measured if self.measured > 0 else math.inf

    def line(self) -> str:
        unit = "x" if self.target.kind == "ratio" else f" {self.target.unit}"
        measured = f"{format_number(self.measured)}{unit}"
        limit = f"{format_number(self.target.limit)}{unit}"
        if self.passed:
            margin = f"{self.headroom:.2f}x headroom"
        else:
            margin = f"over by {1 / self.headroom:.2f}x"
        word = "PASS" if self.passed else "MISS"
        return f"{word}  {self.target.description}: {measured} (limit {limit}; {margin})"

    def as_json(self) -> dict[str, Any]:
        return {
            "description": self.target.description,
            "figure": self.target.figure,
            "contender": self.target.contender,
            "kind": self.target.kind,
            "limit": self.target.limit,
            "measured": self.measured,
            "passed": self.passed,
            "headroom": self.headroom,
        }


@dataclass(frozen=True)
class Target:
    """`figure`'s value for `contender` must be at most `limit`: as a ratio to the figure's
    baseline (`kind="ratio"`, machine noise cancels) or as the value itself (`kind="value"`)."""

    description: str
    figure: str
    contender: str
    limit: float
    kind: Literal["ratio", "value"]
    unit: str = ""

    def judge(self, figures: Mapping[str, Figure]) -> Verdict:
        figure = figures[self.figure]
        measured = (
            figure.ratio(self.contender)
            if self.kind == "ratio"
            else figure.results[self.contender].value
        )
        if measured is None:
            raise ValueError(f"{self.figure} has no baseline to take a ratio against")
        return Verdict(self, measured, measured <= self.limit)


@dataclass(frozen=True)
class SuiteResult:
    """Everything one suite measured, in one run."""

    key: str  # e.g. "lifecycle"
    title: str
    contenders: Mapping[str, str]  # key -> label, in table order
    figures: Sequence[Figure]
    targets: Sequence[Target]
    notes: Sequence[str] = ()

    def figure(self, key: str) -> Figure:
        return {f.key: f for f in self.figures}[key]

    def verdicts(self) -> list[Verdict]:
        by_key = {f.key: f for f in self.figures}
        return [target.judge(by_key) for target in self.targets]

    def disturbed(self) -> list[str]:
        """The timings whose wall clock ran well ahead of their CPU time (see `DISTURBED`)."""
        found = []
        for figure in self.figures:
            for key, result in figure.results.items():
                cpu = result.detail.get("cpu_median")
                if isinstance(cpu, float) and cpu > 0 and result.value / cpu > DISTURBED:
                    found.append(f"{figure.key} {key} (wall/CPU {result.value / cpu:.2f})")
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "contenders": dict(self.contenders),
            "figures": {f.key: f.as_json() for f in self.figures},
            "targets": [v.as_json() for v in self.verdicts()],
            "disturbed": self.disturbed(),
            "notes": list(self.notes),
        }


def format_number(value: float) -> str:
    """Three significant figures or so, with thousands separators from 1,000 up."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(result: Result | None) -> str:
    if result is None:
        return "-"
    if result.q1 is None or result.q3 is None:
        return format_number(result.value)
    return f"{format_number(result.value)} ±{format_number((result.q3 - result.q1) / 2)}"


def render_suite(suite: SuiteResult) -> str:
    """The suite as a text table (contender x figure, each figure with its ratio column), then
    the targets with PASS/MISS."""
    header = ["contender"]
    for figure in suite.figures:
        header.append(f"{figure.title} ({figure.unit})")
        if figure.baseline is not None:
            header.append("x floor")
    rows = [header]
    for key, label in suite.contenders.items():
        row = [label]
        for figure in suite.figures:
            row.append(_cell(figure.results.get(key)))
            if figure.baseline is not None:
                ratio = figure.ratio(key)
                row.append("-" if ratio is None else f"{ratio:.2f}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"== {suite.title} =="]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("(timings: median ± half the interquartile range over the timed batches)")
    lines.extend(suite.notes)
    disturbed = suite.disturbed()
    if disturbed:
        lines.append(
            "WARNING: the machine was busy; these timings ran well longer by the wall clock than"
            f" in CPU time, re-run on a quiet machine: {', '.join(disturbed)}"
        )
    lines.append("")
    lines.extend(v.line() for v in suite.verdicts())
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """What the figures were measured on and with."""
    packages: dict[str, str | None] = {}
    for name in ("handoff-fsm", "transitions", "python-statemachine"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpus": os.cpu_count(),
        "packages": packages,
    }


def report_json(
    suites: Sequence[SuiteResult], settings: Settings, seconds: float
) -> dict[str, Any]:
    return {
        "schema": 1,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(seconds, 1),
        "settings": settings.as_json(),
        "environment": environment(),
        "suites": {suite.key: suite.as_json() for suite in suites},
        "all_targets_met": all(v.passed for suite in suites for v in suite.verdicts()),
    }
