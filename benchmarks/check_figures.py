"""The check suite: `handoff-fsm check` on a 10-queue, 50-participant deployment, in seconds.

Theory of operation: the figure is what an administrator waits for before going live: `check`
on `deployment()` (ten queues, each the seeds' one-queue flow: a front bot, three humans, a bot
that takes conversations back; offer and wait timeouts; overflows that chain the queues in
pairs, return to a bot, or end), from the built configuration to the finished report. One whole
check, timed as it is (no batching); the state count comes with it, because a fast check that
explored little proves nothing. Target: under 30 s on this machine.

`measure_check()` is the measurement, usable alone; the integrator wires it into the harness.
"""

from __future__ import annotations

import time
from typing import Any

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


def measure_check() -> tuple[float, int, Report]:
    """Seconds to check `deployment()`, the states explored, and the report."""
    config = deployment()
    started = time.perf_counter()
    report = check(config)
    seconds = time.perf_counter() - started
    if report.errors:
        raise RuntimeError(f"the benchmark deployment has errors: {report.errors[0].line()}")
    return seconds, report.states, report


if __name__ == "__main__":
    seconds, states, report = measure_check()
    print(f"check: {seconds:.2f} s, {states} states, {report.moves} moves, "
          f"complete={report.complete} (target {TARGET_SECONDS:g} s)")
