"""The long-run suite: a switchboard that never stops, and a full collection at a million live.

Theory of operation: two figures of a process that lives for days (issue 12). The runs are in
`benchmarks.longrun_runs`; each runs in a child process of its own (`python -m
benchmarks.longrun_figures steady|pause ...`, JSON on stdout), so its memory is the switchboard's
and nothing the suites before it left (a heap that freed memory earlier would absorb the first
window's growth and hide it), and the gigabytes of the pause figure go back to the system.

- Steady state: `conversations` (1,000,000 for `make bench`) pass through ONE `Switchboard` with
  `settings.retention` and `settings.dedup_window` on, `live` (10,000) live at any time: each
  starts, exchanges a few messages, one in five is escalated to a human who accepts, and each
  ends and is replaced, every step with a step id, a few hundred steps a simulated second.
  Retention and the dedup window are minutes (`RETENTION`, `DEDUP_WINDOW`), not the service's
  days (`handoff_fsm.service.backend`): what is measured is that expiry keeps memory flat, and a
  week of simulated time does not fit in a benchmark; with days the plateau is higher (the live
  conversations, plus arrivals x retention ended ones, plus steps/s x window ids), not different
  in kind. A window (a tenth: 100,000 conversations, about half an hour simulated) is ten times
  the live count, so the first ends well past one retention, on the plateau.
- Memory at each window's end: the bytes a copy of the switchboard holds, traced (`pickle` and
  `harness.retained_bytes` in a forked child: `tracemalloc` only while the copy is made, since
  tracing six million steps would slow them several times over). The copy is deterministic (no
  allocator noise), so this figure carries the target: the last window within 10% of the first.
  Beside it the process's resident set (/proc/self/statm, after a full collection, less what it
  was before the switchboard existed): what an operator's graph shows, fragmentation and the
  slack of tables a copy would not have included, but it moves by several percent from one
  window to the next as the allocator keeps or returns arenas; no target reads it. The
  conversations held (live, and ended ones waiting for retention) and the step ids remembered
  are reported with them.
- Step time per window: each `Switchboard.handle` is timed on its own (`perf_counter_ns`, the
  crowd's bookkeeping outside), summed in chunks of `CHUNK` steps, and the figure is the median
  over the window's chunks of a chunk's mean step time (the switchboard suite's measure: a chunk's
  mean is the mix's, the median drops the chunks a collection or the scheduler fell on). The
  collector runs as in production. Windows follow one another minutes apart, so they cannot be
  interleaved like the other suites' contenders, and on a shared machine the wall clock of one
  window can be twice another's from load alone. So the target reads the step's CPU time
  (`step CPU`: each chunk's time times the share of its wall time the thread ran; a CPU clock
  read per step would cost a tenth of the step): the last window within `STEP_DRIFT` (1.25x) of
  the first, room for the ~10% a busy neighbour's cache traffic still moves it, while a cost that
  grew with the steps seen (a scan, a list never pruned) would grow tenfold over the run. The
  wall-clock figure stays beside it, and the harness warns when the two part.
- GC pause: `pause_live` (1,000,000) conversations in one switchboard in a contact center's mix
  (most held by a bot; of the one in eight that escalate, humans hold most, some have an offer
  out, the rest wait), built by steps at one time. The figure is a full collection
  (`gc.collect()`, median of `PAUSE_REPEATS`), and the same after `gc.freeze()`, which moves all
  that is alive out of the collector's sight: what the durable store
  (`handoff_fsm.adapters.store.durable.StepWriter`) and the service's start-up do once their state
  is restored, since it lives as long as the process. Target: under 1 s each. Bytes per live
  conversation beside it: the resident set the build added, per conversation (tracemalloc at a
  million would take minutes; `lifecycle.memory` has the traced figure at 10,000).

Every step must be accepted (a refusal means the crowd or the switchboard is wrong): the run
fails otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.harness import Settings
from benchmarks.longrun_runs import (
    CHUNK,
    DEDUP_WINDOW,
    PAUSE_REPEATS,
    RETENTION,
    WINDOWS,
    pause,
    steady,
)
from benchmarks.report import Figure, Result, SuiteResult, Target

Log = Callable[[str], None]

MEMORY_DRIFT = 1.10
STEP_DRIFT = 1.25
PAUSE_LIMIT_MS = 1000.0


@dataclass(frozen=True, kw_only=True)
class Sizes:
    conversations: int  # steady state: how many pass through
    live: int  # steady state: how many are live at once
    pause_live: int  # GC pause: how many are live


FULL_SIZES = Sizes(conversations=1_000_000, live=10_000, pause_live=1_000_000)
#: A window is ten times the live conversations in both, so the first ends well past retention.
QUICK_SIZES = Sizes(conversations=10_000, live=100, pause_live=10_000)


def _child(log: Log, *args: str) -> Any:
    """Run `main` in a fresh interpreter (a clean heap and resident set), its progress to `log`,
    and read its JSON."""
    with subprocess.Popen(
        [sys.executable, "-m", "benchmarks.longrun_figures", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        said: list[str] = []
        for line in child.stderr:  # as it comes; the JSON is one line, at the end
            said.append(line.rstrip())
            log(said[-1])
        out = child.stdout.read()
    if child.returncode != 0:
        raise RuntimeError(f"longrun {' '.join(args)} failed: {' / '.join(said[-5:])}")
    return json.loads(out)


def run(settings: Settings, log: Log = lambda _: None) -> SuiteResult:
    sizes = QUICK_SIZES if settings.quick else FULL_SIZES
    log(f"longrun: steady state, {sizes.conversations:,} conversations, {sizes.live:,} live")
    started = time.perf_counter()
    windows: list[dict[str, Any]] = _child(log, "steady", str(sizes.conversations), str(sizes.live))
    steady_s = time.perf_counter() - started
    log(f"longrun: GC pause, {sizes.pause_live:,} live conversations")
    started = time.perf_counter()
    paused: dict[str, Any] = _child(log, "pause", str(sizes.pause_live))
    pause_s = time.perf_counter() - started
    return suite_result(sizes, windows, paused, steady_s, pause_s)


def suite_result(
    sizes: Sizes,
    windows: Sequence[dict[str, Any]],
    paused: dict[str, Any],
    steady_s: float,
    pause_s: float,
) -> SuiteResult:
    per_window = sizes.conversations // WINDOWS
    keys = [f"w{n + 1}" for n in range(len(windows))]
    labels = {
        key: f"conversations {n * per_window:,} to {(n + 1) * per_window:,}"
        for n, key in enumerate(keys)
    }
    first, last = keys[0], keys[-1]
    memory = Figure(
        key="longrun.memory",
        title="switchboard",
        unit="MB",
        description=(
            "bytes a copy of the switchboard holds at the window's end (tracemalloc), with"
            " retention and a dedup window on"
        ),
        baseline=first,
        results={
            key: Result(
                value=w["traced"] / 1e6,
                detail={"held": w["held"], "ids": w["ids"], "steps": w["steps"]},
            )
            for key, w in zip(keys, windows, strict=True)
        },
        floor_is_lowest=False,
    )
    resident = Figure(
        key="longrun.resident",
        title="resident",
        unit="MB",
        description=(
            "the process's resident set at the window's end, after a full collection, beyond"
            " what it was before the switchboard existed"
        ),
        baseline=first,
        results={
            key: Result(value=w["resident"] / 1e6) for key, w in zip(keys, windows, strict=True)
        },
        floor_is_lowest=False,
    )
    step = Figure(
        key="longrun.step",
        title="step",
        unit="us",
        description=f"median over the window's chunks of {CHUNK} steps of a chunk's mean step time",
        baseline=first,
        results={
            key: Result(
                value=w["step_us"],
                q1=w["q1_us"],
                q3=w["q3_us"],
                detail={"cpu_median": w["cpu_us"]},
            )
            for key, w in zip(keys, windows, strict=True)
        },
        floor_is_lowest=False,
    )
    step_cpu = Figure(
        key="longrun.step_cpu",
        title="step CPU",
        unit="us",
        description="the step figure in this thread's CPU time (estimated chunk by chunk)",
        baseline=first,
        results={key: Result(value=w["cpu_us"]) for key, w in zip(keys, windows, strict=True)},
        floor_is_lowest=False,
    )
    gc_pause = Figure(
        key="longrun.gc_pause",
        title="full collection",
        unit="ms",
        description=f"gc.collect() with {sizes.pause_live:,} live conversations, median of"
        f" {PAUSE_REPEATS}",
        baseline=None,
        results={
            "heap": Result(value=paused["collect_ms"], detail=paused["mix"]),
            "frozen": Result(value=paused["frozen_ms"]),
        },
    )
    per_conversation = Figure(
        key="longrun.conversation_bytes",
        title="per live conversation",
        unit="bytes",
        description="resident set the build added, divided by the live conversations",
        baseline=None,
        results={"heap": Result(value=paused["bytes_per_conversation"])},
    )
    targets = [
        Target(
            description=(
                f"memory flat: the switchboard at the last window within {MEMORY_DRIFT - 1:.0%}"
                " of the first"
            ),
            figure=memory.key,
            contender=last,
            limit=MEMORY_DRIFT,
            kind="ratio",
        ),
        Target(
            description=f"step time flat: the last window within {STEP_DRIFT:g}x the first (CPU)",
            figure=step_cpu.key,
            contender=last,
            limit=STEP_DRIFT,
            kind="ratio",
        ),
        Target(
            description=f"full collection at {sizes.pause_live:,} live under 1 s",
            figure=gc_pause.key,
            contender="heap",
            limit=PAUSE_LIMIT_MS,
            kind="value",
            unit="ms",
        ),
        Target(
            description=f"full collection at {sizes.pause_live:,} live, heap frozen, under 1 s",
            figure=gc_pause.key,
            contender="frozen",
            limit=PAUSE_LIMIT_MS,
            kind="value",
            unit="ms",
        ),
    ]
    mix = ", ".join(f"{count:,} {state}" for state, count in sorted(paused["mix"].items()))
    notes = [
        f"Steady state: {sizes.conversations:,} conversations through one switchboard,"
        f" {sizes.live:,} live, retention {RETENTION:g} s, dedup window {DEDUP_WINDOW:g} s;"
        f" {sum(w['steps'] for w in windows):,} steps in {steady_s:.0f} s. At the last window's"
        f" end it held {windows[-1]['held']:,} conversations (live and retained)"
        f" and {windows[-1]['ids']:,} step ids.",
        f"GC pause: {sizes.pause_live:,} live ({mix}), built and collected in {pause_s:.0f} s;"
        " after gc.freeze() (what a durable store and the service do once their state is"
        " restored) a full collection walks only what came after.",
    ]
    return SuiteResult(
        key="longrun",
        title="Long run: memory and step time over a million conversations, GC pause",
        contenders=labels
        | {
            "heap": f"{sizes.pause_live:,} live conversations",
            "frozen": f"{sizes.pause_live:,} live, heap frozen (gc.freeze())",
        },
        figures=[memory, resident, step, step_cpu, gc_pause, per_conversation],
        targets=targets,
        notes=notes,
    )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: Sequence[str]) -> int:
    """`steady CONVERSATIONS LIVE` or `pause LIVE`: measure in this process, JSON on stdout."""
    if argv[0] == "steady":
        windows = steady(int(argv[1]), int(argv[2]), _stderr)
        print(json.dumps([window.as_json() for window in windows]))
    else:
        measured = pause(int(argv[1]))
        print(json.dumps(measured.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
