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

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, TypeAlias

import attrs

from handoff_fsm.config import (
    Overflow,
    OverflowEnd,
    Requirement,
    Skills,
)
from handoff_fsm.effects import Entry
from handoff_fsm.errors import InvalidStep
from handoff_fsm.event_checks import FIELD_CHECKS, UNCHANGED, Check, Unchanged, checks_of
from handoff_fsm.values import text_problem
from handoff_fsm.vocabulary import JsonValue, Kind, PresenceStatus, Strategy, Wanted


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
        texts, others = _CHECKS[type(self)]
        if texts is not None:  # the common case first: plain ASCII text fields
            for value in texts(self):
                if type(value) is not str or not value.isascii():
                    break
            else:
                texts = None
        for name, check in others if texts is None else _ALL_CHECKS[type(self)]:
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


# -- live changes of the world (contract v2): participants and queues -----------------------------


class _WorldChange(_Step):
    """A live change names no conversation."""

    __slots__ = ()

    @property
    def conversation(self) -> None:
        return None


@attrs.frozen(kw_only=True)
class AddParticipant(_WorldChange):
    STEP: ClassVar[str] = "add_participant"
    participant: str
    kind: Kind
    capacity: int = 1
    skills: Mapping[str, int] = attrs.field(factory=Skills, converter=Skills)
    presence: PresenceStatus = PresenceStatus.AVAILABLE
    queues: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class RemoveParticipant(_WorldChange):
    """As if it went offline first; then it leaves every queue and is forgotten."""

    STEP: ClassVar[str] = "remove_participant"
    participant: str


@attrs.frozen(kw_only=True)
class SetCapacity(_WorldChange):
    """Below its load, it keeps what it holds and its offers it cannot carry are withdrawn."""

    STEP: ClassVar[str] = "set_capacity"
    participant: str
    capacity: int


@attrs.frozen(kw_only=True)
class SetSkills(_WorldChange):
    """Replaces its skills."""

    STEP: ClassVar[str] = "set_skills"
    participant: str
    skills: Mapping[str, int] = attrs.field(factory=Skills, converter=Skills)


@attrs.frozen(kw_only=True)
class JoinQueue(_WorldChange):
    """At the end of the queue's order."""

    STEP: ClassVar[str] = "join_queue"
    participant: str
    queue: str


@attrs.frozen(kw_only=True)
class LeaveQueue(_WorldChange):
    """It keeps what it holds; its offers of that queue are withdrawn."""

    STEP: ClassVar[str] = "leave_queue"
    participant: str
    queue: str


@attrs.frozen(kw_only=True)
class AddQueue(_WorldChange):
    STEP: ClassVar[str] = "add_queue"
    queue: str
    participants: tuple[str, ...] = ()
    strategy: Strategy = Strategy.HIGHEST_CAPACITY
    units: int = 1
    offer_timeout: float | None = None
    wait_timeout: float | None = None
    overflow: Overflow = attrs.field(factory=OverflowEnd)

    def validate(self) -> None:
        super().validate()
        _check_units(self, self.units)


@attrs.frozen(kw_only=True)
class UpdateQueue(_WorldChange):
    """Any queue field but its participants; applies to what comes after (offers and deadlines
    out are kept)."""

    STEP: ClassVar[str] = "update_queue"
    queue: str
    strategy: Strategy | Unchanged = UNCHANGED
    units: int | Unchanged = UNCHANGED
    offer_timeout: float | Unchanged | None = UNCHANGED
    wait_timeout: float | Unchanged | None = UNCHANGED
    overflow: Overflow | Unchanged = UNCHANGED

    def validate(self) -> None:
        super().validate()
        if self.units is not UNCHANGED:
            _check_units(self, self.units)


@attrs.frozen(kw_only=True)
class RemoveQueue(_WorldChange):
    """Refused while a conversation waits in it or is held from it, or a queue overflows to it."""

    STEP: ClassVar[str] = "remove_queue"
    queue: str


def _check_units(event: _Step, units: int) -> None:
    if units < 1:
        raise InvalidStep(
            f"{event.STEP}.units must be a whole number >= 1, got {units}",
            step=event.STEP,
            field="units",
        )


Event: TypeAlias = (
    Start | CustomerMessage | BotMessage | AgentMessage | Fallback | SetVariable | Escalate |
    Accept | Decline | Transfer | Cancel | Presence | Propose | Approve | Reject | Monitor |
    TakeOver | End | SurveyResponse | CustomerLeft | Tick | WrapUpDone | AddParticipant |
    RemoveParticipant |
    SetCapacity | SetSkills | JoinQueue | LeaveQueue | AddQueue | UpdateQueue | RemoveQueue
)  # fmt: skip

EVENT_TYPES: tuple[type[Event], ...] = (
    Start, CustomerMessage, BotMessage, Fallback, SetVariable, Escalate, Accept, Decline,
    AgentMessage, Transfer, Cancel, Presence, Propose, Approve, Reject, Monitor, TakeOver, End,
    SurveyResponse, CustomerLeft, Tick, WrapUpDone,
    AddParticipant, RemoveParticipant, SetCapacity, SetSkills, JoinQueue, LeaveQueue, AddQueue,
    UpdateQueue, RemoveQueue,
)  # fmt: skip
#: The step kinds that change the world (participants and queues) rather than a conversation.
WORLD_CHANGES: tuple[type[Event], ...] = EVENT_TYPES[-9:]
EVENT_BY_STEP: dict[str, type[Event]] = {cls.STEP: cls for cls in EVENT_TYPES}


_Checks = tuple[tuple[str, Check], ...]
_ALL_CHECKS: dict[type[_Step], _Checks] = {
    cls: checks_of(cls) for cls in EVENT_TYPES
}  # built at import: a field of a type nobody knows how to check fails here


def _split(checks: _Checks) -> tuple[Callable[[object], tuple[object, ...]] | None, _Checks]:
    """The text fields (read together, for the fast path) and the other checks."""
    texts = [name for name, check in checks if check is text_problem]
    getter = operator.attrgetter(*texts, *texts[:1]) if texts else None  # always a tuple
    return getter, tuple((name, check) for name, check in checks if check is not text_problem)


_CHECKS = {cls: _split(checks) for cls, checks in _ALL_CHECKS.items()}

__all__ = [
    "EVENT_BY_STEP",
    "EVENT_TYPES",
    "FIELD_CHECKS",
    "UNCHANGED",
    "WORLD_CHANGES",
    "Accept",
    "AddParticipant",
    "AddQueue",
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
    "JoinQueue",
    "JsonValue",
    "Kind",
    "LeaveQueue",
    "Monitor",
    "Presence",
    "PresenceStatus",
    "Propose",
    "Reject",
    "RemoveParticipant",
    "RemoveQueue",
    "SetCapacity",
    "SetSkills",
    "SetVariable",
    "Start",
    "Strategy",
    "SurveyResponse",
    "TakeOver",
    "Tick",
    "Transfer",
    "Unchanged",
    "UpdateQueue",
    "Wanted",
    "WrapUpDone",
]  # fmt: skip
