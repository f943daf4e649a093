"""The registry of benchmark suites: what `make bench` runs, in order.

Theory of operation: a suite is a module with `run(settings, log) -> SuiteResult` (see
`benchmarks.report`). `SUITES` lists them, one line each, by module name: a suite is imported
only when it runs, so a suite that needs an extra (the service, PostgreSQL) costs the others
nothing, and `--suite NAME` runs one alone. To add a suite: write the module, add its line here,
run `make bench`; its table and targets then appear in the output, in
`benchmarks/results/latest.json` and in the generated section of `docs/performance.md`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.harness import Settings
from benchmarks.report import SuiteResult

Log = Callable[[str], None]
SuiteRun = Callable[[Settings, Log], SuiteResult]


@dataclass(frozen=True)
class Suite:
    key: str  # the suite's key in the JSON and for `--suite`
    module: str  # the module whose `run(settings, log)` measures it
    summary: str  # one line for `--help`

    def load(self) -> SuiteRun:
        run: SuiteRun = importlib.import_module(self.module).run
        return run


SUITES: tuple[Suite, ...] = (
    Suite("lifecycle", "benchmarks.lifecycle_figures", "lifecycle against libraries and a floor"),
    Suite("switchboard", "benchmarks.switchboard_figures", "one step of a contact center"),
    Suite("routing", "benchmarks.routing_figures", "selection in queues of 100 to 100,000"),
    Suite(
        "routing_rules",
        "benchmarks.routing_rules_figures",
        "skills and priority at 100 and 100,000 members; a backlog one human declines",
    ),
    Suite("startup", "benchmarks.startup_figures", "CLI start-up against bare python"),
    Suite("simulate", "benchmarks.simulate_figures", "a simulated day of a 50-agent center"),
    Suite("check", "benchmarks.check_figures", "check of a 10-queue, 50-participant deployment"),
    Suite("durable", "benchmarks.durable_figures", "group commit beside raw sqlite3, stalls"),
    Suite("service", "benchmarks.service_figures", "serve under load, 32 and 128 clients"),
    Suite(
        "postgres", "benchmarks.postgres_figures", "serve --store postgresql:// with 1-3 processes"
    ),
    Suite("longrun", "benchmarks.longrun_figures", "1M conversations with retention, GC pause"),
)


def by_key() -> dict[str, Suite]:
    return {suite.key: suite for suite in SUITES}
