"""Figures, targets and suites: what a suite returns, its table, and the JSON of a run.

Theory of operation: a suite returns a `SuiteResult`: its contenders, its `Figure`s (one value
per contender, and the contender its ratios are taken against) and its `Target`s. A `Target` is
a limit on one contender's ratio to the baseline (`kind="ratio"`, machine noise cancels), on the
value itself (`kind="value"`), or on how far the value is above the baseline's
(`kind="excess"`). `render_suite` prints a suite as one table with PASS or MISS per target;
`report_json` turns every suite of a run into the JSON document that
`benchmarks/results/latest.json` records and `benchmarks.doc_tables` renders into the doc.
A ratio under 1 where the baseline is the cheapest case by construction is flagged, never
silently printed: it says the measurement is off.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

from benchmarks.harness import DISTURBED, Settings, Timing


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

    def with_detail(self, **detail: int | float | str) -> Result:
        """The same result, with more detail (what was measured on, how much)."""
        return Result(value=self.value, q1=self.q1, q3=self.q3, detail={**self.detail, **detail})

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
    #: The baseline is the cheapest case by construction (the floor, the smallest queue), so a
    #: ratio under 1 means the measurement, not the code, is off: `flagged` names those.
    floor_is_lowest: bool = True

    def ratio(self, contender: str) -> float | None:
        if self.baseline is None or contender not in self.results:
            return None
        floor = self.results[self.baseline].value
        return self.results[contender].value / floor if floor > 0 else math.inf

    def flagged(self) -> list[str]:
        """Contenders whose ratio is under 1 although the baseline should be the lowest."""
        if not self.floor_is_lowest:
            return []
        return [key for key in self.results if (self.ratio(key) or 1.0) < 1.0]

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "unit": self.unit,
            "description": self.description,
            "baseline": self.baseline,
            "results": {key: result.as_json() for key, result in self.results.items()},
            "ratios": {key: self.ratio(key) for key in self.results if self.baseline is not None},
            "below_baseline": self.flagged(),
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
        if self.measured <= 0:
            return math.inf
        return self.target.limit / self.measured

    def line(self) -> str:
        unit = "x" if self.target.kind == "ratio" else f" {self.target.unit}"
        if self.target.kind == "excess":
            unit += " over the baseline"
        measured = f"{format_number(self.measured)}{unit}"
        limit = f"{format_number(self.target.limit)}{unit}"
        if self.passed:
            margin = (
                f"{self.headroom:.2f}x headroom" if math.isfinite(self.headroom) else "at most 0"
            )
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
            "unit": self.target.unit,
            "limit": self.target.limit,
            "measured": self.measured,
            "passed": self.passed,
            "headroom": self.headroom if math.isfinite(self.headroom) else None,
        }


@dataclass(frozen=True)
class Target:
    """`figure`'s value for `contender` must be at most `limit`: as a ratio to the figure's
    baseline (`kind="ratio"`, machine noise cancels), as the value itself (`kind="value"`), or
    as how far it is above the baseline's value (`kind="excess"`: "within 100 ms of bare
    python")."""

    description: str
    figure: str
    contender: str
    limit: float
    kind: Literal["ratio", "value", "excess"]
    unit: str = ""

    def judge(self, figures: Mapping[str, Figure]) -> Verdict:
        figure = figures[self.figure]
        value = figure.results[self.contender].value
        measured: float | None = value
        if self.kind != "value":
            if figure.baseline is None:
                raise ValueError(f"{self.figure} has no baseline to compare with")
            base = figure.results[figure.baseline].value
            measured = figure.ratio(self.contender) if self.kind == "ratio" else value - base
        if measured is None:
            raise ValueError(f"{self.figure} has no result for {self.contender}")
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
    if value < 0:
        return f"-{format_number(-value)}"
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


#: Marks a ratio under 1 where the baseline should be the lowest (see `Figure.flagged`).
BELOW_ONE = " (<1!)"


def ratio_cell(figure: Figure, key: str) -> str:
    ratio = figure.ratio(key)
    if ratio is None:
        return "-"
    return f"{ratio:,.2f}{BELOW_ONE if key in figure.flagged() else ''}"


def below_baseline_line(figure: Figure) -> str:
    return (
        f"{figure.key}: {', '.join(figure.flagged())} measured below the baseline"
        f" ({figure.baseline}), which is the cheapest case by construction: the measurement"
        " is off (noise, calibration), not the code faster; re-run before reading that ratio"
    )


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
                row.append(ratio_cell(figure, key))
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
    for figure in suite.figures:
        if figure.flagged():
            lines.append(f"FLAG: {below_baseline_line(figure)}")
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
