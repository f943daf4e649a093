"""Checking a deployment before it goes live (SPEC §9, `handoff-fsm check`).

Theory of operation: `check(config)` explores what the deployment can do by driving the real
switchboard (`check_explore`: breadth first, bounded, exhaustive within its bounds, states kept
once by a canonical fingerprint, `check_world`) and reads the findings off the configuration and
the exploration (`check_findings`). A `Report` holds them, errors first, and ends with one `info`
finding that says how much was explored and whether a bound cut the search short.

Rules: pure (no I/O, no clock); the same deployment always gives the same report, witnesses
included. Nothing in the core imports this package.
"""

from __future__ import annotations

import attrs

from handoff_fsm.config import Config
from handoff_fsm.planning.check_explore import Bounds, explore
from handoff_fsm.planning.check_findings import (
    CODES,
    Finding,
    Level,
    behavioural,
    structural,
)  # fmt: skip

_ORDER = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}


@attrs.frozen(kw_only=True)
class Report:
    findings: tuple[Finding, ...]
    states: int  # distinct states explored
    moves: int  # moves the switchboard accepted
    complete: bool  # no bound cut a path short
    bounds: Bounds

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.ERROR)


def check(config: Config, bounds: Bounds | None = None) -> Report:
    bounds = bounds or Bounds()
    found = explore(config, bounds)
    findings = [*structural(config, found), *behavioural(config, found, bounds)]
    findings.sort(key=lambda f: (_ORDER[f.level], f.code, f.place))
    cut = "" if found.complete else ", cut short by a bound (depth or states)"
    findings.append(
        Finding(
            code="explored",
            place="deployment",
            message=f"{found.states} states, {found.moves} moves{cut}; bounds: "
            f"{bounds.conversations} conversations at once, {bounds.absent} human(s) away or "
            f"offline at once, paths of at most {bounds.depth} steps ({bounds.crowded_depth} "
            "while more than one conversation is live)",
        )
    )
    return Report(
        findings=tuple(findings), states=found.states, moves=found.moves,
        complete=found.complete, bounds=bounds,
    )  # fmt: skip


__all__ = ["CODES", "Bounds", "Finding", "Level", "Report", "check"]
