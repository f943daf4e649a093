"""The simulation suite: a simulated day of a 50-agent contact center, in seconds.

Theory of operation: the figure is what a planner waits for: `simulate` on the documented day
(docs/simulate/day.yaml: 50 humans in two queues, about 20,000 conversations over 86,400 s, with
patience and an accept delay), from the loaded file to the finished run, figures included. It is
one whole run, seconds long, so it is timed as it is (no batching), `repetitions` times, and the
median is the figure; each run is also timed in this thread's CPU time, so a busy machine shows
as a wall clock well ahead of the CPU (the harness's `disturbed` warning).

A fast run that simulated the wrong thing must not pass: each run must offer between 19,000 and
21,000 conversations, give each one an outcome, and be the same run (same figures) every time,
or the figure is refused.

`run(settings, log)` is the suite entry of `python -m benchmarks`; `measure_day(repetitions)`
is the measurement itself, usable alone.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import Settings
from benchmarks.report import Figure, Result, SuiteResult, Target
from handoff_fsm.adapters.simulate import load_simulation
from handoff_fsm.planning.simulate import Figures, simulate

DAY = Path(__file__).resolve().parent.parent / "docs" / "simulate" / "day.yaml"
TARGET_SECONDS = 20.0
FULL_REPETITIONS = 5
Log = Callable[[str], None]


@dataclass(frozen=True)
class DayTiming:
    wall: list[float]  # seconds per run
    cpu: list[float]
    conversations: int
    figures: Figures


def measure_day(repetitions: int, path: Path = DAY) -> DayTiming:
    wall, cpu = [], []
    seen: Figures | None = None
    conversations = 0
    for _ in range(repetitions):
        gc.collect()
        started, started_cpu = time.perf_counter(), time.thread_time()
        config, spec = load_simulation(path)
        run = simulate(config, spec)
        figures = run.figures()
        wall.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
        conversations = len(run.records)
        if not 19_000 <= figures.offered <= 21_000 or any(r.outcome is None for r in run.records):
            raise RuntimeError(f"the simulated day is not the documented one: {figures}")
        if seen is not None and figures != seen:
            raise RuntimeError("the same seed gave another run: the simulation is not reproducible")
        seen = figures
    assert seen is not None
    return DayTiming(wall=wall, cpu=cpu, conversations=conversations, figures=seen)


def run(settings: Settings, log: Log) -> SuiteResult:
    repetitions = 1 if settings.quick else FULL_REPETITIONS
    log(f"simulate: {repetitions} simulated day(s) of {DAY.name}")
    timing = measure_day(repetitions)
    quartiles = statistics.quantiles(timing.wall, n=4) if repetitions > 1 else timing.wall * 3
    result = Result(
        value=statistics.median(timing.wall),
        q1=quartiles[0],
        q3=quartiles[2],
        detail={
            "cpu_median": statistics.median(timing.cpu),
            "repetitions": repetitions,
            "conversations": timing.conversations,
        },
    )
    figure = Figure(
        key="simulate.day",
        title="one simulated day",
        unit="s",
        description="simulate docs/simulate/day.yaml: 50 agents, ~20,000 conversations, 24 h",
        baseline=None,
        results={"handoff_fsm": result},
    )
    per_second = timing.conversations / result.value
    return SuiteResult(
        key="simulate",
        title="Simulation: a day of a 50-agent center through the real switchboard",
        contenders={"handoff_fsm": "handoff_fsm.planning.simulate"},
        figures=[figure],
        targets=[
            Target(
                description="a simulated day of a 50-agent center (~20,000 conversations)",
                figure="simulate.day",
                contender="handoff_fsm",
                limit=TARGET_SECONDS,
                kind="value",
                unit="s",
            )
        ],
        notes=[
            f"{timing.conversations:,} conversations, {per_second:,.0f} per second of wall clock; "
            f"service level {timing.figures.service_level:.3f}, occupancy "
            f"{timing.figures.occupancy:.3f}"
        ],
    )
