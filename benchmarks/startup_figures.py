"""The start-up suite: how long the command line takes to start, against a bare interpreter.

Theory of operation: a user (or a script calling it in a loop) waits for the whole process, so
the figure is the wall time of a subprocess, from `subprocess.run` to its exit, with its output
thrown away: `python -c pass` (the floor: the interpreter alone, same executable),
`handoff-fsm --help` (imports and argument parsing) and `handoff-fsm run` on a seed scenario
(the same plus reading a file, a switchboard and its output). The commands run in rounds, one
run of each per round in a rotating order, after one untimed warm-up run each (the file cache),
and the median is taken per command. The target is "within 100 ms of bare python": the
command's median minus python's median, the same machine in the same rounds. The console
script of the running interpreter's environment is used (the `handoff-fsm` beside
`sys.executable`), which is what a user runs; without one, `python -m handoff_fsm.adapters.cli`
stands in, and the notes say so. Children's CPU time (user + system) is recorded beside the
wall time: start-up is mostly CPU (imports), so the two should be close.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.harness import Settings
from benchmarks.report import Figure, Result, SuiteResult, Target

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "docs" / "scenarios" / "two_bots_one_queue.yaml"
FULL_RUNS = 21
QUICK_RUNS = 3
LIMIT_MS = 100.0
#: Wall time this many times the CPU time: something else had the CPU (or the disk).
BUSY = 1.5
FLOOR = "python"
Log = Callable[[str], None]


def cli() -> tuple[list[str], str]:
    """The command that starts the CLI, and how it was found."""
    beside = Path(sys.executable).parent / "handoff-fsm"
    if beside.exists():
        return [str(beside)], f"console script {beside.name} beside {Path(sys.executable).name}"
    found = shutil.which("handoff-fsm")
    if found is not None:
        return [found], f"console script {found} (from PATH)"
    return [sys.executable, "-m", "handoff_fsm.adapters.cli"], "python -m (no console script)"


def commands() -> dict[str, tuple[str, list[str]]]:
    """key -> (label, argv)."""
    start, _ = cli()
    return {
        FLOOR: ("python -c pass", [sys.executable, "-c", "pass"]),
        "help": ("handoff-fsm --help", [*start, "--help"]),
        "run": (f"handoff-fsm run {SCENARIO.name}", [*start, "run", str(SCENARIO)]),
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(argv: Sequence[str]) -> tuple[float, float]:
    """Wall and children's CPU milliseconds of one run; a failing command stops the suite."""
    cpu = _children_cpu_s()
    start = time.perf_counter_ns()
    done = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, timeout=60
    )
    wall = (time.perf_counter_ns() - start) / 1e6
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr!r}")
    return wall, (_children_cpu_s() - cpu) * 1000


def measure(argvs: dict[str, list[str]], runs: int) -> dict[str, Result]:
    for argv in argvs.values():
        time_once(argv)  # warm-up: the file cache, .pyc files
    keys = list(argvs)
    wall: dict[str, list[float]] = {key: [] for key in keys}
    cpu: dict[str, list[float]] = {key: [] for key in keys}
    for round_ in range(runs):
        shift = round_ % len(keys)
        for key in keys[shift:] + keys[:shift]:
            w, c = time_once(argvs[key])
            wall[key].append(w)
            cpu[key].append(c)
    results = {}
    for key in keys:
        samples = wall[key]
        q1, median, q3 = (
            statistics.quantiles(samples, n=4, method="inclusive")
            if len(samples) > 1
            else (samples[0],) * 3
        )
        results[key] = Result(
            value=median,
            q1=q1,
            q3=q3,
            detail={"runs": len(samples), "children_cpu_median": statistics.median(cpu[key])},
        )
    return results


def _quiet(_: str) -> None:
    return None


def run(settings: Settings, log: Log = _quiet) -> SuiteResult:
    runs = QUICK_RUNS if settings.quick else FULL_RUNS
    table = commands()
    log(f"startup: {', '.join(label for label, _ in table.values())}, {runs} runs each")
    results = measure({key: argv for key, (_, argv) in table.items()}, runs)
    figure = Figure(
        key="startup.wall",
        title="start-up",
        unit="ms",
        description=(
            "wall time of one subprocess, start to exit, output discarded: median over rounds"
            " that run each command once in a rotating order"
        ),
        baseline=FLOOR,
        results=results,
    )
    _, how = cli()
    cpu = {key: float(result.detail["children_cpu_median"]) for key, result in results.items()}
    notes = [
        f"{runs} timed runs per command after one warm-up run each; the CLI started as the {how};"
        " children's CPU time (ms, median): "
        + ", ".join(f"{table[key][0]} {ms:.0f}" for key, ms in cpu.items())
    ]
    if any(results[key].value > BUSY * max(ms, 1.0) for key, ms in cpu.items()):
        notes.append(
            "the machine was busy (wall time well above CPU time); by CPU time the commands are "
            + ", ".join(
                f"{table[key][0]} {ms - cpu[FLOOR]:.0f} ms"
                for key, ms in cpu.items()
                if key != FLOOR
            )
            + " above bare python"
        )
    return SuiteResult(
        key="startup",
        title="CLI start-up (ratios against a bare python -c pass)",
        contenders={key: label for key, (label, _) in table.items()},
        figures=[figure],
        targets=tuple(
            Target(
                description=f"{table[key][0]} within {LIMIT_MS:g} ms of bare python",
                figure=figure.key,
                contender=key,
                limit=LIMIT_MS,
                kind="excess",
                unit="ms",
            )
            for key in ("help", "run")
        ),
        notes=notes,
    )
