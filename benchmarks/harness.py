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
- Reporting (figures, targets, tables, JSON) lives in `benchmarks.report`.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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
#: `measure_until_stable`: two consecutive passes agree when their medians are this close...
STABLE_WITHIN = 0.05
#: ...and it stops after this many passes whether or not they do.
STABLE_PASSES = 4


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


def measure_until_stable(
    batch_makers: Mapping[str, Callable[[int], Batch[Any]]],
    settings: Settings,
    *,
    tolerance: float = STABLE_WITHIN,
    max_passes: int = STABLE_PASSES,
) -> tuple[dict[str, Timing], int, bool]:
    """`measure_all` again and again (each pass calibrating afresh) until two consecutive passes
    agree on every contender's median within `tolerance`, at most `max_passes` times: one pass
    can fall on a phase of a shared machine that the next does not. Returns the last pass and
    how many passes it took, and whether the last two agreed."""
    last = measure_all(batch_makers, settings)
    passes, agree = 1, False
    while passes < max_passes and not agree:
        current = measure_all(batch_makers, settings)
        passes += 1
        agree = all(
            abs(current[key].median_us - last[key].median_us)
            <= tolerance * min(current[key].median_us, last[key].median_us)
            for key in current
        )
        last = current
    return last, passes, agree


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
