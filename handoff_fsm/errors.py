"""One exception hierarchy for the whole project.

Theory of operation: every error the package raises on purpose derives from `HandoffError`, so an
embedder can catch the family with one clause. Each class says which side of the contract was
broken: a model file (`ModelError`), a lifecycle trigger refused in the current state
(`TriggerRefused`), a step that is not allowed now (`StepRefused`), a scenario file that is
ill-shaped (`ScenarioError`), a store that cannot be used (`StoreError`). A refused trigger or
step never changes anything: the caller keeps the snapshot it had.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handoff_fsm.effects import Effect


class HandoffError(Exception):
    """Base of every error raised by handoff-fsm on purpose."""


class ModelError(HandoffError):
    """A model file in `models/` cannot be read or has the wrong shape.

    The message names the file and the place inside it (a dotted path such as
    `transitions[3].source`), so that a person editing the model can go straight there.
    """

    def __init__(self, file: str, place: str, problem: str) -> None:
        self.file = file
        self.place = place
        self.problem = problem
        where = f"{file}: {place}" if place else file
        super().__init__(f"{where}: {problem}")


class TriggerRefused(HandoffError):
    """A lifecycle trigger that the model does not allow in the current state (or whose guards
    all fail). The message names the state, the trigger and what would have been allowed."""

    def __init__(self, state: str, trigger: str, allowed: Iterable[str], detail: str = "") -> None:
        self.state = str(state)
        self.trigger = str(trigger)
        self.allowed = tuple(sorted(str(a) for a in allowed))
        allowed_text = ", ".join(self.allowed) if self.allowed else "nothing (final state)"
        reason = f" ({detail})" if detail else ""
        super().__init__(
            f"trigger {self.trigger!r} is not allowed in state {self.state!r}{reason}; "
            f"allowed there: {allowed_text}"
        )


class StepRefused(HandoffError):
    """An input step that is well formed but not allowed now (accept without an offer, an unknown
    conversation, a message to an ended conversation, time going backwards...).

    The step itself changed nothing. `effects` holds what time passing did before the refusal
    (timeouts that fired on the way to the step's time), which the caller must still deliver.
    """

    effects: tuple[Effect, ...] = ()


class ScenarioError(HandoffError):
    """A scenario file that cannot be read or parsed, or whose shape is wrong."""

    code = "invalid_file"

    def __init__(self, file: str, place: str, problem: str) -> None:
        self.file = file
        self.place = place
        self.problem = problem
        where = f"{file}: {place}" if place else file
        super().__init__(f"{where}: {problem}")


class StoreError(HandoffError):
    """A store that cannot be opened or written (not a store, unknown schema version, locked)."""
