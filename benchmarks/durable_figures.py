"""The durable suite: group commit at synchronous=FULL, beside raw sqlite3 writing the same rows.

Theory of operation: `measure()` builds the warm contact center of `benchmarks.contact_center`
(10,000 live conversations for `make bench`), seeds a new store with it (`checkpoints.seed`: a
base and live checkpoint at seq 0, so the run starts from a warm store without logging the
warm-up) and opens a `DurableCenter` on it. `producers` threads (32) then hand in the recorded
stream: each takes the next step and submits it under one lock (so the center applies the stream
in its recorded order and time never goes backwards), then waits for its acknowledgement outside
the lock. Figures, all measured in this one run:

- acknowledged steps per second: steps / wall time from the first submit to the last ack;
- p99 acknowledgement latency: submit to acknowledgement, per step;
- raw sqlite3: the very rows the center logged (read back from the store) inserted by a bare
  writer, WAL and synchronous=FULL, committing in the same batch sizes the center used, one
  transaction per batch; ours / raw is the ratio the target is on;
- the longest stall of the acknowledging path at 100,000 live conversations: the longest batch
  (apply, checkpoint rows, commit) the writer took, checkpoints every 1,000 steps included (that
  center is warmed up for a tenth of its live count after reaching it, which keeps its build
  to about a minute).

It returns plain data (`DurableFigures`), targets beside the figures; the harness wires it in.
Everything runs on the real disk (a temporary directory beside the store's default), since
fsync is what is measured.
"""

from __future__ import annotations

import gc
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.center_shapes import FULL_SHAPE, QUICK_SHAPE, Shape
from benchmarks.contact_center import Step, build
from benchmarks.harness import Settings
from benchmarks.report import Figure, Result, SuiteResult, Target
from handoff_fsm.adapters.store import DurableCenter, Store
from handoff_fsm.adapters.store.checkpoints import seed

TARGET_STEPS_PER_S = 10_000.0
TARGET_RAW_SHARE = 0.5
TARGET_P99_MS = 20.0
TARGET_STALL_MS = 50.0


@dataclass(frozen=True)
class Run:
    """One group-commit run: throughput, latencies, batch sizes and batch times."""

    live: int
    steps: int
    seconds: float
    latencies_ms: list[float]
    batches: list[tuple[int, float]]  # (steps, seconds)
    refused: int
    store: Path

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[98]

    @property
    def longest_batch_ms(self) -> float:
        return max(seconds for _, seconds in self.batches) * 1000

    @property
    def mean_batch(self) -> float:
        return statistics.fmean(size for size, _ in self.batches)


@dataclass(frozen=True)
class DurableFigures:
    steps_per_s: float
    raw_rows_per_s: float
    p99_ms: float
    mean_batch: float
    stall_ms: float
    stall_live: int
    live: int
    producers: int
    notes: list[str] = field(default_factory=list)

    @property
    def raw_share(self) -> float:
        return self.steps_per_s / self.raw_rows_per_s

    def targets(self) -> list[tuple[str, float, float, bool]]:
        """(what, measured, limit, met)."""
        return [
            ("acknowledged steps/s (32 producers, 10,000 live)", self.steps_per_s,
             TARGET_STEPS_PER_S, self.steps_per_s >= TARGET_STEPS_PER_S),
            ("ours / raw sqlite3, same rows and batches", self.raw_share, TARGET_RAW_SHARE,
             self.raw_share >= TARGET_RAW_SHARE),
            ("p99 acknowledgement latency (ms)", self.p99_ms, TARGET_P99_MS,
             self.p99_ms < TARGET_P99_MS),
            ("longest acknowledging-path stall at 100,000 live (ms)", self.stall_ms,
             TARGET_STALL_MS, self.stall_ms < TARGET_STALL_MS),
        ]  # fmt: skip

    def lines(self) -> list[str]:
        out = [
            f"durable: {self.producers} producers, {self.live:,} live, mean batch "
            f"{self.mean_batch:.1f} steps",
        ]
        for what, measured, limit, met in self.targets():
            out.append(f"{'PASS' if met else 'MISS'}  {what}: {measured:,.2f} (limit {limit:,})")
        out.append(f"raw sqlite3 rows/s: {self.raw_rows_per_s:,.0f}")
        return out + self.notes


def _warm_store(
    shape: Shape, directory: Path, name: str = "center"
) -> tuple[Store, tuple[Step, ...]]:
    center = build(shape)
    board = center.restore()
    store = Store.create(directory / f"{name}-{shape.live}.db", center.config)
    seed(store, board)
    return store, center.steps


def group_commit(store: Store, steps: tuple[Step, ...], producers: int, *, live: int) -> Run:
    """Hand `steps` to a center on `store` from `producers` threads; see the module doc."""
    batches: list[tuple[int, float]] = []
    center = DurableCenter(store, observe=lambda size, seconds: batches.append((size, seconds)))
    stream: Iterator[Step] = iter(steps)
    lock = threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(producers)]
    refused = [0] * producers

    def produce(me: int) -> None:
        mine = latencies[me]
        while True:
            with lock:
                step = next(stream, None)
                if step is None:
                    return
                event, now, step_id = step
                started = time.perf_counter()
                future = center.submit(event, now=now, step_id=step_id)
            if future.result().result.status == "refused":
                refused[me] += 1
            mine.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    gc.collect()
    gc.freeze()  # the warm heap is not the collector's business during the run
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    center.close()
    gc.unfreeze()
    return Run(
        live=live, steps=len(steps), seconds=seconds,
        latencies_ms=[x for per in latencies for x in per], batches=batches,
        refused=sum(refused), store=store.path,
    )  # fmt: skip


def raw_sqlite(run: Run, directory: Path) -> tuple[float, float]:
    """Rows/s of a bare writer inserting the rows `run` logged, in its batch sizes, and its
    longest commit in ms (what the disk alone stalls a writer for)."""
    source = sqlite3.connect(run.store)
    rows = source.execute(
        "SELECT seq, step_index, event, now, step_id, refused, effects, delivered, chain "
        "FROM steps ORDER BY seq"
    ).fetchall()
    source.close()
    path = directory / "raw.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute(
        "CREATE TABLE steps (seq INTEGER PRIMARY KEY, step_index INTEGER NOT NULL, event TEXT "
        "NOT NULL, now REAL, step_id TEXT, refused INTEGER NOT NULL, effects INTEGER NOT NULL, "
        "delivered TEXT NOT NULL, chain TEXT NOT NULL)"
    )
    at = 0
    longest = 0.0
    began = time.perf_counter()
    for size, _ in run.batches:
        chunk = rows[at : at + size]
        at += size
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk)
        db.execute("COMMIT")
        longest = max(longest, time.perf_counter() - started)
    seconds = time.perf_counter() - began
    db.close()
    return at / seconds, longest * 1000


def measure(
    *,
    quick: bool = False,
    producers: int = 32,
    stall_live: int | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> DurableFigures:
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    big = stall_live if stall_live is not None else (10_000 if quick else 100_000)
    with tempfile.TemporaryDirectory(prefix="handoff-fsm-durable-", dir=".") as name:
        directory = Path(name)
        log(f"durable: building a {shape.live:,}-live store")
        store, steps = _warm_store(shape, directory)
        log("durable: group commit")
        run = group_commit(store, steps, producers, live=shape.live)
        log("durable: raw sqlite3")
        raw, raw_longest = raw_sqlite(run, directory)
        log(f"durable: building a {big:,}-live store")
        scale = max(1, big // shape.live)
        stall_shape = Shape(
            bots=shape.bots * scale, humans=shape.humans * scale, queues=shape.queues, live=big,
            warmup_steps=big // 10, stream_steps=shape.stream_steps, window=shape.window,
        )  # fmt: skip
        big_store, big_steps = _warm_store(stall_shape, directory, "stall")
        stall = group_commit(big_store, big_steps, producers, live=big)
    notes = [
        f"refused steps in the stream: {run.refused} ({shape.live:,}), {stall.refused} ({big:,})",
        f"longest raw sqlite3 commit (the disk alone): {raw_longest:.1f} ms; longest batch at "
        f"{shape.live:,} live: {run.longest_batch_ms:.1f} ms",
        f"p50 acknowledgement latency: {statistics.median(run.latencies_ms):.1f} ms; "
        f"steps/s at {big:,} live: {stall.steps_per_s:,.0f}",
    ]
    return DurableFigures(
        steps_per_s=run.steps_per_s, raw_rows_per_s=raw, p99_ms=run.p99_ms,
        mean_batch=run.mean_batch, stall_ms=stall.longest_batch_ms, stall_live=big,
        live=shape.live, producers=producers, notes=notes,
    )  # fmt: skip


def suite_result(figures: DurableFigures) -> SuiteResult:
    """The figures as the harness's suite: time per acknowledged step beside raw sqlite3 (the
    throughput targets, as "at most" limits), and the latencies."""
    per_step = Figure(
        key="durable.per_step",
        title="wall time per acknowledged step",
        unit="us",
        description=(
            f"{figures.producers} producer threads, {figures.live:,} live conversations, "
            "synchronous=FULL: run time / steps acknowledged; raw sqlite3 inserts the same rows "
            "in the same batch sizes"
        ),
        baseline="raw",
        results={
            "group_commit": Result(value=1e6 / figures.steps_per_s,
                                   detail={"steps_per_s": round(figures.steps_per_s, 1),
                                           "mean_batch": round(figures.mean_batch, 1)}),
            "raw": Result(value=1e6 / figures.raw_rows_per_s,
                          detail={"rows_per_s": round(figures.raw_rows_per_s, 1)}),
        },
    )  # fmt: skip
    latency = Figure(
        key="durable.latency",
        title="acknowledgement latency",
        unit="ms",
        description=(
            f"p99 of submit to acknowledgement ({figures.live:,} live); the longest batch the "
            f"writer took (apply, checkpoint rows, commit) at {figures.stall_live:,} live"
        ),
        baseline=None,
        results={
            "p99": Result(value=figures.p99_ms),
            "stall": Result(value=figures.stall_ms, detail={"live": figures.stall_live}),
        },
    )
    ratio_limit = 1 / TARGET_RAW_SHARE
    return SuiteResult(
        key="durable",
        title="durable group commit (DurableCenter) beside raw sqlite3",
        contenders={
            "group_commit": "DurableCenter",
            "raw": "raw sqlite3, same rows and batches",
            "p99": "p99 acknowledgement",
            "stall": f"longest stall, {figures.stall_live:,} live",
        },
        figures=[per_step, latency],
        targets=(
            Target(
                description=f">= {TARGET_STEPS_PER_S:,.0f} acknowledged steps/s "
                f"({figures.producers} producers, {figures.live:,} live)",
                figure=per_step.key,
                contender="group_commit",
                limit=1e6 / TARGET_STEPS_PER_S,
                kind="value",
                unit="us",
            ),
            Target(
                description=f">= {TARGET_RAW_SHARE:g}x raw sqlite3 (time per step <= "
                f"{ratio_limit:g}x raw's)",
                figure=per_step.key,
                contender="group_commit",
                limit=ratio_limit,
                kind="ratio",
            ),
            Target(
                description=f"p99 acknowledgement latency < {TARGET_P99_MS:g} ms",
                figure=latency.key,
                contender="p99",
                limit=TARGET_P99_MS,
                kind="value",
                unit="ms",
            ),
            Target(
                description=f"longest acknowledging-path stall at {figures.stall_live:,} live "
                f"< {TARGET_STALL_MS:g} ms",
                figure=latency.key,
                contender="stall",
                limit=TARGET_STALL_MS,
                kind="value",
                unit="ms",
            ),
        ),
        notes=figures.notes,
    )


def run(settings: Settings, log: Callable[[str], None] = lambda _: None) -> SuiteResult:
    """The suite: the full shape (10,000 live, stall at 100,000) for `make bench`, a small one
    for `--quick`."""
    if settings.quick:
        return suite_result(measure(quick=True, producers=8, stall_live=2_000, log=log))
    return suite_result(measure(log=log))


if __name__ == "__main__":
    import sys

    figures = measure(quick="--quick" in sys.argv, log=lambda line: print(line, file=sys.stderr))
    print("\n".join(figures.lines()))
