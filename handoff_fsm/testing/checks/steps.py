"""Checks on steps as a whole: refusals and duplicates change nothing, timeouts fire first, time
never goes back.
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff_fsm.testing.checks.base import (
    Check,
    StepRecord,
    Violation,
)
from handoff_fsm.testing.fingerprint import (
    differences,
)


class RefusalChangesNothing(Check):
    """A refused step changes nothing: the world after it is the world that letting time pass to its
    date gives, and it carries exactly those timeouts' effects.
    """

    name = "refusal_changes_nothing"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if step.refusal is None or step.duplicate:
            return
        if step.effects != step.timeouts:
            detail = (
                f"refusal carries {[e.KIND for e in step.effects]}, "
                f"time passing alone gives {[e.KIND for e in step.timeouts]}"
            )
            yield self.violation(step, step.conversation, detail)
        if step.after != step.at_action:
            changed = "; ".join(differences(step.at_action, step.after))
            yield self.violation(step, step.conversation, f"refused but changed: {changed}")


class DuplicateChangesNothing(Check):
    """A step whose id was processed before (refused or not) gives no effect, is not refused, and
    changes nothing, not even the time.
    """

    name = "duplicate_changes_nothing"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if not step.duplicate:
            return
        if step.effects or step.refusal is not None:
            outcome = f"refused ({step.refusal})" if step.refusal else "processed"
            detail = (
                f"id {step.step_id!r} seen before, yet {outcome}: {[e.KIND for e in step.effects]}"
            )
            yield self.violation(step, step.conversation, detail)
        if step.after != step.before:
            changed = "; ".join(differences(step.before, step.after))
            yield self.violation(step, step.conversation, f"duplicate changed: {changed}")


class TimeoutsFirst(Check):
    """A step's effects begin with exactly the effects that letting time pass to its date gives:
    timeouts fire first, each at its deadline.
    """

    name = "timeouts_first"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if step.accepted and step.effects[: step.fired] != step.timeouts:
            detail = (
                f"effects begin {[e.KIND for e in step.effects]}, "
                f"the timeouts due give {[e.KIND for e in step.timeouts]}"
            )
            yield self.violation(step, step.conversation, detail)


class TimeMonotonic(Check):
    """Time never goes backwards: a step dated before the switchboard's time is refused, and after a
    step the time is its date (unchanged without one).
    """

    name = "time_monotonic"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if step.duplicate:
            return
        then, now, date = step.before.now, step.after.now, step.date
        if date is not None and date < then and step.refusal is None:
            yield self.violation(
                step, step.conversation, f"accepted a step dated {date:g} < {then:g}"
            )
        expected = then if date is None or date < then else date
        if now != expected:
            yield self.violation(
                step, step.conversation, f"time is {now:g}, should be {expected:g}"
            )


__all__ = [
    "DuplicateChangesNothing",
    "RefusalChangesNothing",
    "TimeMonotonic",
    "TimeoutsFirst",
]
