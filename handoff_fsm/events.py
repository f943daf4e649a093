"""Input events of the switchboard: one small frozen class per step kind of the contract.

Theory of operation: an embedding service (or the scenario runner) turns whatever arrives on its
wire into one of these and hands it to `Switchboard.handle`, with the time and, optionally, a
delivery id. The classes carry data only: no behaviour, no validation beyond their types. Field
names follow the scenario format of SPEC §5 (`participant` is the actor of the step).

Rules: keyword-only, frozen; `STEP` is the step kind's name in the scenario format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, TypeAlias

import attrs

from handoff_fsm.vocabulary import JsonValue, PresenceStatus, Wanted


@attrs.frozen(kw_only=True)
class Start:
    STEP: ClassVar[str] = "start"
    conversation: str
    queue: str
    variables: Mapping[str, JsonValue] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class CustomerMessage:
    STEP: ClassVar[str] = "customer"
    conversation: str
    text: str


@attrs.frozen(kw_only=True)
class BotMessage:
    STEP: ClassVar[str] = "bot"
    conversation: str
    participant: str
    text: str


@attrs.frozen(kw_only=True)
class AgentMessage:
    STEP: ClassVar[str] = "agent"
    conversation: str
    participant: str
    text: str


@attrs.frozen(kw_only=True)
class Fallback:
    """The bot did not understand a customer message (counts toward `fallback_limit`)."""

    STEP: ClassVar[str] = "fallback"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class SetVariable:
    STEP: ClassVar[str] = "set_variable"
    conversation: str
    participant: str
    name: str
    value: JsonValue


@attrs.frozen(kw_only=True)
class Escalate:
    """A bot's explicit "transfer to agent" step."""

    STEP: ClassVar[str] = "escalate"
    conversation: str
    participant: str
    reason: str = "explicit"


@attrs.frozen(kw_only=True)
class Accept:
    STEP: ClassVar[str] = "accept"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class Decline:
    STEP: ClassVar[str] = "decline"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class Transfer:
    """The holder hands the conversation to a queue, optionally for a kind or a participant."""

    STEP: ClassVar[str] = "transfer"
    conversation: str
    participant: str
    queue: str
    kind: Wanted = Wanted.ANY
    to: str | None = None


@attrs.frozen(kw_only=True)
class Cancel:
    """The customer cancels a wait (a cancel phrase is turned into this too)."""

    STEP: ClassVar[str] = "cancel"
    conversation: str


@attrs.frozen(kw_only=True)
class Presence:
    STEP: ClassVar[str] = "presence"
    participant: str
    status: PresenceStatus


@attrs.frozen(kw_only=True)
class Propose:
    """A bot asks a named human to approve an action."""

    STEP: ClassVar[str] = "propose"
    conversation: str
    participant: str
    supervisor: str
    action: str


@attrs.frozen(kw_only=True)
class Approve:
    STEP: ClassVar[str] = "approve"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class Reject:
    STEP: ClassVar[str] = "reject"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class Monitor:
    STEP: ClassVar[str] = "monitor"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class TakeOver:
    STEP: ClassVar[str] = "take_over"
    conversation: str
    participant: str


@attrs.frozen(kw_only=True)
class End:
    STEP: ClassVar[str] = "end"
    conversation: str
    participant: str
    survey: bool = False


@attrs.frozen(kw_only=True)
class SurveyResponse:
    STEP: ClassVar[str] = "survey_response"
    conversation: str
    answers: Mapping[str, JsonValue] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class CustomerLeft:
    STEP: ClassVar[str] = "customer_left"
    conversation: str


@attrs.frozen(kw_only=True)
class Tick:
    """Only moves time (to `now`)."""

    STEP: ClassVar[str] = "tick"
    now: float


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
)

EVENT_TYPES: tuple[type[Event], ...] = (
    Start, CustomerMessage, BotMessage, Fallback, SetVariable, Escalate, Accept, Decline,
    AgentMessage, Transfer, Cancel, Presence, Propose, Approve, Reject, Monitor, TakeOver, End,
    SurveyResponse, CustomerLeft, Tick,
)  # fmt: skip
EVENT_BY_STEP: dict[str, type[Event]] = {cls.STEP: cls for cls in EVENT_TYPES}


__all__ = [
    "EVENT_BY_STEP",
    "EVENT_TYPES",
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
]
