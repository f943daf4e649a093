"""The result of one step, and the checks an input passes before anything changes.

Theory of operation: `Switchboard.step` answers every well-formed input with a `StepResult`:
`applied` (with its effects), `refused` (with the `StepRefused` saying why, its code, step and
state, and the effects of the timeouts that fired before the refusal) or `duplicate` (a retried
delivery: nothing happens, nothing is said). An input that is not a well-formed step at all never
gets a result: `check_input` raises `InvalidStep` before the switchboard looks at it.

Rules: results are frozen; `unwrap()` is the one place that turns a refusal into an exception
(`Switchboard.handle`, the raising convenience, is built on it).
"""

from __future__ import annotations

import enum

import attrs

from handoff_fsm.effects import Effect
from handoff_fsm.errors import ErrorCode, InvalidStep, StepRefused
from handoff_fsm.events import EVENT_TYPES, Event
from handoff_fsm.values import describe, text_problem, time_problem


class StepStatus(enum.StrEnum):
    APPLIED = "applied"
    REFUSED = "refused"
    DUPLICATE = "duplicate"


@attrs.frozen(kw_only=True)
class StepResult:
    """What one step did. `effects` are to be delivered in order whatever the status (a refused
    step's are those of the timeouts that fired before it); `error` is set when refused."""

    status: StepStatus
    effects: tuple[Effect, ...] = ()
    error: StepRefused | None = None

    @property
    def code(self) -> ErrorCode | None:
        """The refusal's code, or None for an applied or duplicate step."""
        return None if self.error is None else self.error.code

    def unwrap(self) -> list[Effect]:
        """The effects, or the refusal raised (carrying the effects as `StepRefused.effects`):
        for callers that prefer an exception to a status."""
        if self.error is not None:
            self.error.effects = self.effects
            raise self.error
        return list(self.effects)


#: The result of every retried delivery: nothing happens, nothing is said.
DUPLICATE = StepResult(status=StepStatus.DUPLICATE)


def check_input(event: Event, now: object, step_id: object) -> None:
    """Everything about an input that can be checked without the state, before any change."""
    if type(event) not in EVENT_CLASSES:
        raise InvalidStep(f"not a step event: {describe(event)}")
    event.validate()
    if now is not None:
        problem = time_problem(now)
        if problem is not None:
            raise InvalidStep(f"now {problem}", step=event.STEP, field="now")
    if step_id is not None:
        problem = text_problem(step_id)
        if problem is not None:
            raise InvalidStep(f"step_id {problem}", step=event.STEP, field="step_id")


EVENT_CLASSES = frozenset(EVENT_TYPES)


__all__ = ["DUPLICATE", "EVENT_CLASSES", "StepResult", "StepStatus", "check_input"]
