"""The long-run suite (`benchmarks/longrun_figures.py`): a child process measures and answers in
JSON, and the suite puts every figure beside its target, judged on the right numbers: the
switchboard's traced memory and the step's CPU time, last window against the first, and the
pause against 1 s. What the figures are is `make bench`'s business."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import longrun_figures
from benchmarks.longrun_figures import QUICK_SIZES, suite_result
from benchmarks.longrun_runs import WINDOWS
from benchmarks.report import render_suite

ROOT = Path(__file__).resolve().parent.parent


def _window(traced: float, cpu_us: float) -> dict[str, Any]:
    return {
        "traced": traced,
        "resident": 2 * traced,
        "step_us": cpu_us * 1.05,
        "q1_us": cpu_us,
        "q3_us": cpu_us * 1.1,
        "cpu_us": cpu_us,
        "steps": 1000,
        "held": 300,
        "ids": 900,
    }


PAUSED = {
    "live": 20_000,
    "mix": {"bot_active": 17_600, "agent_engaged": 1_500, "offered": 500, "waiting": 400},
    "bytes_per_conversation": 1500.0,
    "collect_ms": 1500.0,
    "frozen_ms": 0.01,
}


def _verdicts(last_traced: float, last_cpu: float) -> dict[str, bool]:
    windows = [_window(1e6, 20.0)] * (WINDOWS - 1) + [_window(last_traced, last_cpu)]
    suite = suite_result(QUICK_SIZES, windows, PAUSED, 1.0, 1.0)
    return {v.target.figure: v.passed for v in suite.verdicts() if "pause" not in v.target.figure}


def test_flat_memory_and_steps_pass_and_growth_misses() -> None:
    assert _verdicts(1.05e6, 22.0) == {"longrun.memory": True, "longrun.step_cpu": True}
    assert _verdicts(1.2e6, 22.0)["longrun.memory"] is False
    assert _verdicts(1.05e6, 30.0)["longrun.step_cpu"] is False


def test_the_pause_is_judged_as_measured_before_and_after_freezing() -> None:
    suite = suite_result(QUICK_SIZES, [_window(1e6, 20.0)] * WINDOWS, PAUSED, 1.0, 1.0)
    pauses = {v.target.contender: v.passed for v in suite.verdicts() if "collection" in v.line()}
    assert pauses == {"heap": False, "frozen": True}
    table = render_suite(suite)
    assert "17,600 bot_active" in table and "MISS" in table and "PASS" in table
    assert list(suite.contenders)[:WINDOWS] == [f"w{n}" for n in range(1, WINDOWS + 1)]


def test_a_child_measures_and_answers_in_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.longrun_figures", "pause", "2000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    paused = json.loads(done.stdout)
    assert paused["live"] == sum(paused["mix"].values()) == 2000
    assert paused["collect_ms"] > 0 and paused["bytes_per_conversation"] > 0


def test_a_failing_child_is_reported_with_what_it_said() -> None:
    said: list[str] = []
    with pytest.raises(RuntimeError, match="longrun pause nothing failed"):
        longrun_figures._child(said.append, "pause", "nothing")
    assert any("ValueError" in line for line in said)
