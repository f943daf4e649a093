"""The auditor: drives a switchboard one step at a time and checks every invariant after each.

Theory of operation: `Auditor.handle(event, now=..., step_id=...)` behaves exactly like
`Switchboard.handle`; around the step it takes fingerprints (before, at the action once the
timeouts that time passing fired are done, after), builds a `StepRecord` and runs every check of
`CHECKS` on it, raising `InvariantViolation` (or only collecting, with `strict=False`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable

import attrs

from handoff_fsm.effects import (
    Effect,
)
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import (
    Event,
    Tick,
)
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.testing.checks import CHECKS
from handoff_fsm.testing.checks.base import (
    Check,
    InvariantViolation,
    StepRecord,
    Violation,
    World,
)
from handoff_fsm.testing.fingerprint import (
    fingerprint,
)


class Auditor:
    """Drives a switchboard one step at a time, exactly like `Switchboard.handle`, and checks
    every invariant after each step. Raises `InvariantViolation` (strict) or collects them in
    `violations`. Costs two fingerprints per step and, when a step's date makes timeouts fire, a
    deep copy of the switchboard (to learn what time passing alone does), and it remembers a
    little about every conversation it saw: meant for tests, audits and canaries, not for every
    step of a busy production switchboard."""

    def __init__(
        self,
        board: Switchboard,
        *,
        checks: Iterable[type[Check]] = CHECKS,
        strict: bool = True,
    ) -> None:
        self.board = board
        self.world = World(board.config)
        start = fingerprint(board)
        self.checks = [check(self.world, start) for check in checks]
        self.strict = strict
        self.violations: list[Violation] = []
        self.steps = 0
        # step id -> until when it is a duplicate (the contract's rule, kept independently)
        self._ids: dict[str, float] = {}

    def handle(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> list[Effect]:
        """Apply one step to the switchboard, check it, and return its effects (re-raising its
        `StepRefused` if it was refused, after the checks)."""
        board = self.board
        before = fingerprint(board)
        date = now if now is not None else (event.now if isinstance(event, Tick) else None)
        until = self._ids.get(step_id) if step_id is not None else None
        duplicate = (
            until is not None and (before.now if date is None else max(date, before.now)) < until
        )
        timeouts: tuple[Effect, ...] = ()
        at_action = before
        if not duplicate and date is not None and date >= before.now:
            # Time passing fires timeouts and, under retention, forgets ended conversations.
            passing = any(timer[0] <= date for timer in before.timers) or (
                board.settings.retention is not None
            )
            if passing and not isinstance(event, Tick):
                twin = copy.deepcopy(board)
                timeouts = tuple(twin.handle(Tick(now=date)))
                at_action = fingerprint(twin)
            else:
                at_action = attrs.evolve(before, now=date)
        refusal: StepRefused | None = None
        try:
            effects = tuple(board.handle(event, now=now, step_id=step_id))
        except StepRefused as refused:
            refusal = refused
            effects = tuple(refused.effects)
        if refusal is None and not duplicate:
            self.world.apply(event)
        after = fingerprint(board)
        if isinstance(event, Tick) and refusal is None and not duplicate:
            timeouts, at_action = effects, after
        if step_id is not None and not duplicate:
            window = board.settings.dedup_window
            self._ids[step_id] = math.inf if window is None else after.now + window
        record = StepRecord(
            index=self.steps,
            event=event,
            date=date,
            step_id=step_id,
            duplicate=duplicate,
            effects=effects,
            refusal=None if refusal is None else str(refusal),
            timeouts=timeouts,
            before=before,
            at_action=at_action,
            after=after,
        )
        self.steps += 1
        found = self.observe(record)
        if found and self.strict:
            raise InvariantViolation(found, event)
        if refusal is not None:
            raise refusal
        return list(effects)

    def observe(self, step: StepRecord) -> list[Violation]:
        """Run every check on one step record (also for records made by hand)."""
        found = [violation for check in self.checks for violation in check.observe(step)]
        self.violations.extend(found)
        return found


__all__ = [
    "Auditor",
]
