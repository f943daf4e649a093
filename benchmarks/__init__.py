"""Benchmarks of handoff-fsm against the state-machine libraries it could have been built on.

Theory of operation: `make bench` runs `python -m benchmarks` (see `benchmarks.__main__`), which
runs every suite in one process, prints one table per suite and writes all the figures as JSON to
`benchmarks/results/latest.json`. Every figure of a suite is measured in the same run, and the
targets are ratios against a floor measured in that run too, so that the speed of the machine
cancels out. `benchmarks.harness` holds what suites share for measuring
(timing, memory), `benchmarks.report` what they share for reporting (figures, targets, the table
and the JSON); each suite is a module with a `run(settings, log) -> SuiteResult`, listed in the
registry `benchmarks.suites.SUITES`. Benchmarks are not part of `make test`:
`tests/test_benchmarks.py` only checks that the harness runs and that the contenders are the same
machine.
"""
