"""One exception hierarchy for the whole project, and the one registry of its codes.

Theory of operation: every error the package raises on purpose derives from `HandoffError`, so an
embedder can catch the family with one clause, and carries a stable `code` (an `ErrorCode`, whose
values are the words a service puts in its answers and docs/errors.md lists). Each class says
which side of the contract was broken: a model file (`ModelError`), a lifecycle trigger refused in
the current state (`TriggerRefused`), participants and queues that cannot be routed
(`RoutingConfigError`), an input that is not a well-formed step at all (`InvalidStep`), a step
that is well formed but not allowed now (`StepRefused`, whose code says why), a scenario file that
is ill-shaped (`ScenarioError`), a store that cannot be used (`StoreError`).

Rules:
- A refused or rejected input never changes anything: the caller keeps the state it had.
- Codes are added here and nowhere else; tests/test_errors.py checks that docs/errors.md lists
  exactly these codes. A message is one line (the code is for machines, the message for people).
- This module imports nothing of the package at run time (effects are named for type checkers
  only), so every module may import it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handoff_fsm.effects import Effect


class ErrorCode(enum.StrEnum):
    """Every code an error of handoff-fsm may carry (docs/errors.md explains each)."""

    # A step that is not allowed now (StepRefused).
    UNKNOWN_CONVERSATION = "unknown_conversation"
    UNKNOWN_PARTICIPANT = "unknown_participant"
    UNKNOWN_QUEUE = "unknown_queue"
    ALREADY_EXISTS = "already_exists"
    ENDED = "ended"
    WRONG_STATE = "wrong_state"
    NOT_HOLDER = "not_holder"
    WRONG_KIND = "wrong_kind"
    NOT_MEMBER = "not_member"
    CANNOT_SERVE = "cannot_serve"
    NO_OFFER = "no_offer"
    NOT_WAITING = "not_waiting"
    UNAVAILABLE = "unavailable"
    NO_CAPACITY = "no_capacity"
    NO_PROPOSAL = "no_proposal"
    ALREADY_MONITORS = "already_monitors"
    NOT_MONITOR = "not_monitor"
    SELF_TRANSFER = "self_transfer"
    NOT_ENDED = "not_ended"
    NOT_TRACED = "not_traced"
    TIME_BACKWARDS = "time_backwards"
    ALREADY_MEMBER = "already_member"
    QUEUE_IN_USE = "queue_in_use"
    # Anything else.
    INVALID_STEP = "invalid_step"
    TRIGGER_REFUSED = "trigger_refused"
    MODEL_INVALID = "model_invalid"
    CONFIG_INVALID = "config_invalid"
    SCENARIO_INVALID = "scenario_invalid"
    STORE_UNUSABLE = "store_unusable"
    STORE_WRITE_FAILED = "store_write_failed"
    STORE_CORRUPT = "store_corrupt"
    STORE_CONFIG_DIFFERS = "store_config_differs"
    STEP_NOT_STORABLE = "step_not_storable"
    INVALID_ACTIVITY = "invalid_activity"
    METADATA_TOO_LARGE = "metadata_too_large"
    MISSING_EXTRA = "missing_extra"
    MISSING_PROGRAM = "missing_program"
    CANNOT_WRITE = "cannot_write"
    CANNOT_LISTEN = "cannot_listen"


def one_line(text: str) -> str:
    """A message stays on one line whatever the input held (a key with a newline, say)."""
    return text if "\n" not in text and "\r" not in text else " ".join(text.splitlines())


class HandoffError(Exception):
    """Base of every error raised by handoff-fsm on purpose; `code` says which, for machines."""

    code: ErrorCode = ErrorCode.INVALID_STEP


class ModelError(HandoffError):
    """A model file in `models/` cannot be read or has the wrong shape.

    The message names the file and the place inside it (a dotted path such as
    `transitions[3].source`), so that a person editing the model can go straight there.
    """

    code = ErrorCode.MODEL_INVALID

    def __init__(self, file: str, place: str, problem: str) -> None:
        self.file = file
        self.place = place
        self.problem = problem
        where = f"{file}: {place}" if place else file
        super().__init__(f"{where}: {problem}")


class TriggerRefused(HandoffError):
    """A lifecycle trigger that the model does not allow in the current state (or whose guards
    all fail). The message names the state, the trigger and what would have been allowed."""

    code = ErrorCode.TRIGGER_REFUSED

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


class RoutingConfigError(HandoffError, ValueError):
    """Participants and queues that cannot be routed (a duplicate id, an unknown member...)."""

    code = ErrorCode.CONFIG_INVALID


class InvalidStep(HandoffError, ValueError):
    """An input that is not a well-formed step: a field of the wrong type or value (`now=NaN`,
    `text=None`, a step id that is not a string, a variable JSON cannot carry). Raised before
    anything changes; the step id, if any, is not remembered, so a corrected retry is processed.
    `step` names the step kind, `field` the field at fault."""

    code = ErrorCode.INVALID_STEP

    def __init__(self, message: str, *, step: str | None = None, field: str | None = None) -> None:
        self.step = step
        self.field = field
        super().__init__(one_line(message))


class StepRefused(HandoffError):
    """An input step that is well formed but not allowed now (accept without an offer, an unknown
    conversation, a message to an ended conversation, time going backwards...).

    `code` says why (an `ErrorCode`), `step` names the step kind and `state` the conversation's
    state when it was refused (None when the step names no known conversation). The step itself
    changed nothing. `effects` holds what time passing did before the refusal (timeouts that
    fired on the way to the step's time), which the caller must still deliver;
    `Switchboard.step` hands them out in its result instead.
    """

    effects: tuple[Effect, ...] = ()

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        step: str | None = None,
        state: str | None = None,
    ) -> None:
        self.code = ErrorCode(code)
        self.message = one_line(message)
        self.step = step
        self.state = state
        super().__init__(self.message)


class ScenarioError(HandoffError):
    """A scenario file that cannot be read or parsed, or whose shape is wrong."""

    code = ErrorCode.SCENARIO_INVALID

    def __init__(self, file: str, place: str, problem: str) -> None:
        self.file = file
        self.place = place
        self.problem = problem
        where = f"{file}: {place}" if place else file
        super().__init__(f"{where}: {problem}")


class StoreError(HandoffError):
    """A store that cannot be opened or written (not a store, unknown schema version, locked)."""

    code = ErrorCode.STORE_UNUSABLE


__all__ = [
    "ErrorCode",
    "HandoffError",
    "InvalidStep",
    "ModelError",
    "RoutingConfigError",
    "ScenarioError",
    "StepRefused",
    "StoreError",
    "TriggerRefused",
    "one_line",
]
