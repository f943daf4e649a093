"""The durable benchmark (`benchmarks/durable_figures.py`) runs end to end on a small center and
reports every figure beside its target; the figures themselves are `make bench`'s business."""

from __future__ import annotations

from benchmarks.durable_figures import measure


def test_the_durable_figures_run_and_name_every_target() -> None:
    figures = measure(quick=True, producers=4, stall_live=1_000)
    assert figures.steps_per_s > 0 and figures.raw_rows_per_s > 0 and figures.mean_batch >= 1
    assert figures.p99_ms > 0 and figures.stall_ms > 0
    targets = figures.targets()
    assert len(targets) == 4 and all(limit > 0 for _, _, limit, _ in targets)
    assert any("stall" in line for line in figures.lines())
