"""Input events of the switchboard: one small frozen class per step kind of the contract.

Theory of operation: an embedding service (or the scenario runner) turns whatever arrives on its
wire into one of these and hands it to `Switchboard.step`, with the time and, optionally, a
delivery id. Field names follow the scenario format of SPEC §5 (`participant` is the actor of the
step). Every event answers `conversation` (the conversation it names, None for `presence` and
`tick`) and `validate()`: the one check of its fields' types and values, shared by the Python API
(the switchboard calls it before anything changes) and the scenario reader.

Rules: keyword-only, frozen; `STEP` is the step kind's name in the scenario format. The checks are
derived from the field annotations, so a new field is checked as soon as it is declared (and a
field of a type nobody knows how to check fails at import).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, TypeAlias

import attrs

from handoff_fsm.config import Requirement
from handoff_fsm.effects import Entry
from handoff_fsm.errors import InvalidStep
from handoff_fsm.values import describe, json_problem, mapping_problem, text_problem, time_problem
from handoff_fsm.vocabulary import JsonValue, PresenceStatus, Wanted


def _requirements_of(value: Iterable[Requirement]) -> tuple[Requirement, ...]:
    """A request's requirements, as a tuple (a list is accepted from the Python API)."""
    return tuple(value)


def _entries_of(value: Iterable[Entry]) -> tuple[Entry, ...]:
    return tuple(value)


class _Step:
    """What every event class shares: its field checks."""

    __slots__ = ()
    STEP: ClassVar[str]

    def validate(self) -> None:
        """Raise `InvalidStep` (code `invalid_step`) naming the first field that is wrong."""
        for name, check in _CHECKS[type(self)]:
            problem = check(getattr(self, name))
            if problem is not None:
                raise InvalidStep(f"{self.STEP}.{name} {problem}", step=self.STEP, field=name)


@attrs.frozen(kw_only=True)
class Start(_Step):
    STEP: ClassVar[str] = "start"
    conversation: str
    queue: str
    variables: Mapping[str, JsonValue] = attrs.field(factory=dict)
    # None: anyone, bots before humans (bots take first when the queue has bots).
    kind: Wanted | None = None
    to: str | None = None
    requires: tuple[Requirement, ...] = attrs.field(default=(), converter=_requirements_of)
    priority: int | None = None  # None: the queue's
    transcript: tuple[Entry, ...] = attrs.field(default=(), converter=_entries_of)


@attrs.frozen(kw_only=True)
class CustomerMessage(_Step):
    STEP: ClassVar[str] = "customer"
    conversation: str
    text: str


@attrs.frozen(kw_only=True)
class BotMessage(_Step):
    STEP: ClassVar[str] = "bot"
    conversation: str
    participant: str
    text: str


@attrs.frozen(kw_only=True)
class AgentMessage(_Step):
    STEP: ClassVar[str] = "agent"
    conversation: str
    participant: str
    text: str


@attrs.frozen(kw_only=True)
class Fallback(_Step):
    """The bot did not understand a customer message (counts toward `fallback_limit`)."""

    STEP: ClassVar[str] = "fallback"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class SetVariable(_Step):
    STEP: ClassVar[str] = "set_variable"
    conversation: str
    participant: str
    name: str
    value: JsonValue


@attrs.frozen(kw_only=True)
class Escalate(_Step):
    """A bot's explicit "transfer to agent" step."""

    STEP: ClassVar[str] = "escalate"
    conversation: str
    participant: str
    reason: str = "explicit"
    variables: Mapping[str, JsonValue] = attrs.field(factory=dict)
    requires: tuple[Requirement, ...] = attrs.field(default=(), converter=_requirements_of)
    priority: int | None = None


@attrs.frozen(kw_only=True)
class Accept(_Step):
    STEP: ClassVar[str] = "accept"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class Decline(_Step):
    STEP: ClassVar[str] = "decline"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class Transfer(_Step):
    """The holder hands the conversation to a queue, optionally for a kind or a participant."""

    STEP: ClassVar[str] = "transfer"
    conversation: str
    participant: str
    queue: str
    kind: Wanted = Wanted.ANY
    to: str | None = None
    reason: str | None = None
    variables: Mapping[str, JsonValue] = attrs.field(factory=dict)
    requires: tuple[Requirement, ...] = attrs.field(default=(), converter=_requirements_of)
    priority: int | None = None


@attrs.frozen(kw_only=True)
class Cancel(_Step):
    """The customer cancels a wait (a cancel phrase is turned into this too)."""

    STEP: ClassVar[str] = "cancel"
    conversation: str


@attrs.frozen(kw_only=True)
class Presence(_Step):
    STEP: ClassVar[str] = "presence"
    participant: str
    status: PresenceStatus

    @property
    def conversation(self) -> None:
        return None


@attrs.frozen(kw_only=True)
class Propose(_Step):
    """A bot asks a named human to approve an action."""

    STEP: ClassVar[str] = "propose"
    conversation: str
    participant: str
    supervisor: str
    action: str


@attrs.frozen(kw_only=True)
class Approve(_Step):
    STEP: ClassVar[str] = "approve"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class Reject(_Step):
    STEP: ClassVar[str] = "reject"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class Monitor(_Step):
    STEP: ClassVar[str] = "monitor"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class TakeOver(_Step):
    STEP: ClassVar[str] = "take_over"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class End(_Step):
    STEP: ClassVar[str] = "end"
    conversation: str
    participant: str
    survey: bool = False


@attrs.frozen(kw_only=True)
class SurveyResponse(_Step):
    STEP: ClassVar[str] = "survey_response"
    conversation: str
    answers: Mapping[str, JsonValue] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class CustomerLeft(_Step):
    STEP: ClassVar[str] = "customer_left"
    conversation: str


@attrs.frozen(kw_only=True)
class Tick(_Step):
    """Only moves time (to `now`)."""

    STEP: ClassVar[str] = "tick"
    now: float

    @property
    def conversation(self) -> None:
        return None


@attrs.frozen(kw_only=True)
class WrapUpDone(_Step):
    """A human ends its wrap-up of every conversation (its units are free again)."""

    STEP: ClassVar[str] = "wrap_up_done"
    participant: str

    @property
    def conversation(self) -> None:
        return None


Event: TypeAlias = (
    Start
    | CustomerMessage
    | BotMessage
    | AgentMessage
    | Fallback
    | SetVariable
    | Escalate
    | Accept
    | Decline
    | Transfer
    | Cancel
    | Presence
    | Propose
    | Approve
    | Reject
    | Monitor
    | TakeOver
    | End
    | SurveyResponse
    | CustomerLeft
    | Tick
    | WrapUpDone
)

EVENT_TYPES: tuple[type[Event], ...] = (
    Start, CustomerMessage, BotMessage, Fallback, SetVariable, Escalate, Accept, Decline,
    AgentMessage, Transfer, Cancel, Presence, Propose, Approve, Reject, Monitor, TakeOver, End,
    SurveyResponse, CustomerLeft, Tick, WrapUpDone,
)  # fmt: skip
EVENT_BY_STEP: dict[str, type[Event]] = {cls.STEP: cls for cls in EVENT_TYPES}


# -- field checks, by annotation ------------------------------------------------------------------

_Check = Callable[[object], "str | None"]


def _optional_text(value: object) -> str | None:
    return None if value is None else text_problem(value)


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {describe(value)}"


def _choice(choices: type[enum.StrEnum]) -> _Check:
    names = " or ".join(member.value for member in choices)

    def check(value: object) -> str | None:
        if isinstance(value, choices):
            return None
        return f"must be {names}, got {describe(value)}"

    return check


def _priority(value: object) -> str | None:
    if value is None or (
        isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 1000
    ):
        return None
    return f"must be a whole number from -1000 to 1000, got {describe(value)}"


def _requirements(value: object) -> str | None:
    if not isinstance(value, tuple):
        return f"must be a list of requirements, got {describe(value)}"
    for i, item in enumerate(value):
        if not isinstance(item, Requirement):
            return f"[{i}] must be a requirement {{skill, level, for}}, got {describe(item)}"
        problem = text_problem(item.skill)
        if problem is not None:
            return f"[{i}].skill {problem}"
        if isinstance(item.level, bool) or not isinstance(item.level, int):
            return f"[{i}].level must be a whole number 1 to 10, got {describe(item.level)}"
        if not 1 <= item.level <= 10:
            return f"[{i}].level must be a whole number 1 to 10, got {item.level}"
        if item.for_ is not None and (time_problem(item.for_) is not None or not item.for_ > 0):
            return f"[{i}].for must be a number of seconds > 0, got {describe(item.for_)}"
    return None


def _entries(value: object) -> str | None:
    if not isinstance(value, tuple):
        return f"must be a list of {{from, text}}, got {describe(value)}"
    for i, item in enumerate(value):
        if not isinstance(item, Entry):
            return f"[{i}] must be a transcript entry {{from, text}}, got {describe(item)}"
        problem = text_problem(item.sender) or text_problem(item.text)
        if problem is not None:
            return f"[{i}] {problem}"
    return None


FIELD_CHECKS: dict[str, _Check] = {
    "str": text_problem,
    "str | None": _optional_text,
    "bool": _boolean,
    "float": time_problem,
    "JsonValue": json_problem,
    "Mapping[str, JsonValue]": mapping_problem,
    "Wanted": _choice(Wanted),
    "PresenceStatus": _choice(PresenceStatus),
    "Wanted | None": lambda value: None if value is None else _choice(Wanted)(value),
    "int | None": _priority,
    "tuple[Requirement, ...]": _requirements,
    "tuple[Entry, ...]": _entries,
}
"""The check of a field, by its annotation as written in this module."""


def _checks_of(cls: type[Event]) -> tuple[tuple[str, _Check], ...]:
    checks = []
    for field in attrs.fields(cls):
        annotation = field.type if isinstance(field.type, str) else repr(field.type)
        if annotation not in FIELD_CHECKS:
            raise TypeError(f"events: no check for field type {annotation!r}; add one")
        checks.append((field.name, FIELD_CHECKS[annotation]))
    return tuple(checks)


_CHECKS: dict[type[_Step], tuple[tuple[str, _Check], ...]] = {
    cls: _checks_of(cls) for cls in EVENT_TYPES
}

__all__ = [
    "EVENT_BY_STEP",
    "EVENT_TYPES",
    "FIELD_CHECKS",
    "Accept",
    "AgentMessage",
    "Approve",
    "BotMessage",
    "Cancel",
    "CustomerLeft",
    "CustomerMessage",
    "Decline",
    "End",
    "Escalate",
    "Event",
    "Fallback",
    "JsonValue",
    "Monitor",
    "Presence",
    "PresenceStatus",
    "Propose",
    "Reject",
    "SetVariable",
    "Start",
    "SurveyResponse",
    "TakeOver",
    "Tick",
    "Transfer",
    "Wanted",
    "WrapUpDone",
]
