"""The check suite: `handoff-fsm check` on a 10-queue, 50-participant deployment, in seconds.

Theory of operation: the figure is what an administrator waits for before going live: `check`
on `deployment()` (ten queues, each the seeds' one-queue flow: a front bot, three humans, a bot
that takes conversations back; offer and wait timeouts; overflows that chain the queues in
pairs, return to a bot, or end), from the built configuration to the finished report. One whole
check, timed as it is (no batching); the state count comes with it, because a fast check that
explored little proves nothing. Target: under 30 s on this machine.

`measure_check()` is the measurement, usable alone; `run(settings, log)` is the suite entry of
`python -m benchmarks` (one check; the full run takes the median of three).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.harness import Settings
from benchmarks.report import Figure, Result, SuiteResult, Target
from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.config import Config
from handoff_fsm.planning.check import Report, check

TARGET_SECONDS = 30.0
QUEUES = 10


def deployment() -> Config:
    participants: dict[str, Any] = {}
    queues: dict[str, Any] = {}
    overflows: list[Any] = ["end", "return_to_bot"]
    for i in range(QUEUES):
        front, back = f"bot-{i}", f"back-{i}"
        humans = [f"rep-{i}-{n}" for n in range(1, 4)]
        participants[front] = {"kind": "bot", "capacity": 100}
        for n, human in enumerate(humans):
            participants[human] = {"kind": "human", "capacity": 3 if n == 0 else 2}
        participants[back] = {"kind": "bot", "capacity": 10}
        overflow = {"transfer": f"queue-{i + 1}"} if i % 2 == 0 else overflows[(i // 2) % 2]
        queues[f"queue-{i}"] = {
            "participants": [front, *humans, back],
            "offer_timeout": 30,
            "wait_timeout": 300,
            "overflow": overflow,
        }
    data = {"participants": participants, "queues": queues, "steps": []}
    return parse_scenario(data, "<check benchmark>").config


def measure_check() -> tuple[float, int]:
    """Seconds (wall clock) to check `deployment()`, and the states explored. The CPU seconds
    of this thread, and the report itself, come from `measure_check_cpu`."""
    seconds, _, states, _ = measure_check_cpu()
    return seconds, states


def measure_check_cpu() -> tuple[float, float, int, Report]:
    """Wall seconds, CPU seconds, states explored, and the report."""
    config = deployment()
    started, started_cpu = time.perf_counter(), time.thread_time()
    report = check(config)
    seconds, cpu = time.perf_counter() - started, time.thread_time() - started_cpu
    if report.errors or not report.complete:
        raise RuntimeError(f"the benchmark deployment is not the documented one: {report}")
    return seconds, cpu, report.states, report


def run(settings: Settings, log: Callable[[str], None]) -> SuiteResult:
    repetitions = 1 if settings.quick else 3
    log(f"check: {repetitions} check(s) of the 10-queue, 50-participant deployment")
    runs = [measure_check_cpu() for _ in range(repetitions)]
    walls = [wall for wall, _, _, _ in runs]
    states = {count for _, _, count, _ in runs}
    if len(states) != 1:
        raise RuntimeError(f"the check explored different state counts: {sorted(states)}")
    (count,) = states
    result = Result(
        value=statistics.median(walls),
        q1=min(walls),
        q3=max(walls),
        detail={
            "cpu_median": statistics.median(cpu for _, cpu, _, _ in runs),
            "states": count,
            "moves": runs[0][3].moves,
        },
    )
    figure = Figure(
        key="check.deployment",
        title="check of a deployment",
        unit="s",
        description="handoff-fsm check: 10 queues, 50 participants, exhaustive within its bounds",
        baseline=None,
        results={"handoff_fsm": result},
    )
    return SuiteResult(
        key="check",
        title="Check: a 10-queue, 50-participant deployment explored through the real switchboard",
        contenders={"handoff_fsm": "handoff_fsm.planning.check"},
        figures=[figure],
        targets=[
            Target(
                description="check of a 10-queue, 50-participant deployment",
                figure="check.deployment",
                contender="handoff_fsm",
                limit=TARGET_SECONDS,
                kind="value",
                unit="s",
            )
        ],
        notes=[f"{count:,} states and {runs[0][3].moves:,} moves explored, no bound cut short"],
    )


if __name__ == "__main__":
    wall, cpu, states, report = measure_check_cpu()
    print(
        f"check: {wall:.2f} s ({cpu:.2f} s CPU), {states} states, {report.moves} moves "
        f"(target {TARGET_SECONDS:g} s)"
    )
