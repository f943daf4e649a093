"""Output effects of the switchboard: what each participant or the customer must be sent.

Theory of operation: the switchboard never sends anything; it returns these, in the order they must
be delivered. The order is part of the contract (SPEC §4): a joiner gets `ParticipantAdded`, then
`ContextSet` with the whole context so far, then, for a bot, `Greeting`, before anything else about
that conversation; a leaver gets `ParticipantRemoved` before the next holder is added and nothing
after. Each class names its `KIND` as the contract spells it and renders its own extra fields with
`fields()`; the adapters add `seq`, `step` and `state`.

Rules: frozen and keyword-only; `to` is a participant id, `"customer"`, or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, TypeAlias

import attrs

from handoff_fsm.vocabulary import (
    CUSTOMER,
    JsonValue,
    Outcome,
    PresenceStatus,
    Role,
    WithdrawReason,
)


@attrs.frozen(kw_only=True)
class Entry:
    """One transcript line: who said it (`customer` or a participant id) and what."""

    sender: str
    text: str

    def to_json(self) -> dict[str, JsonValue]:
        return {"from": self.sender, "text": self.text}


@attrs.frozen(kw_only=True)
class Handover:
    """Who handed the conversation over last, and why (a hand-over that carried a reason)."""

    sender: str
    reason: str

    def to_json(self) -> dict[str, JsonValue]:
        return {"from": self.sender, "reason": self.reason}


@attrs.frozen(kw_only=True)
class Context:
    """Everything a joiner must know: every variable and every message so far, in order, and
    (only after a hand-over that gave a reason) who handed it over and why."""

    variables: Mapping[str, JsonValue]
    transcript: tuple[Entry, ...]
    handover: Handover | None = None

    def to_json(self) -> dict[str, JsonValue]:
        json: dict[str, JsonValue] = {
            "variables": dict(self.variables),
            "transcript": [entry.to_json() for entry in self.transcript],
        }
        if self.handover is not None:
            json["handover"] = self.handover.to_json()
        return json


@attrs.frozen(kw_only=True)
class ParticipantAdded:
    KIND: ClassVar[str] = "participant_added"
    conversation: str
    to: str
    role: Role

    def fields(self) -> dict[str, JsonValue]:
        return {"role": self.role.value}


@attrs.frozen(kw_only=True)
class ContextSet:
    KIND: ClassVar[str] = "context_set"
    conversation: str
    to: str
    context: Context

    def fields(self) -> dict[str, JsonValue]:
        return {"context": self.context.to_json()}


@attrs.frozen(kw_only=True)
class Greeting:
    KIND: ClassVar[str] = "greeting"
    conversation: str
    to: str

    def fields(self) -> dict[str, JsonValue]:
        return {}


@attrs.frozen(kw_only=True)
class Message:
    KIND: ClassVar[str] = "message"
    conversation: str
    to: str
    sender: str
    text: str

    def fields(self) -> dict[str, JsonValue]:
        return {"from": self.sender, "text": self.text}


@attrs.frozen(kw_only=True)
class Queued:
    KIND: ClassVar[str] = "queued"
    conversation: str
    queue: str
    position: int
    to: str = CUSTOMER
    estimated_wait: float | None = None  # seconds; None while unknown

    def fields(self) -> dict[str, JsonValue]:
        fields: dict[str, JsonValue] = {"queue": self.queue, "position": self.position}
        if self.estimated_wait is not None:  # left out while unknown (docs/routing.md)
            fields["estimated_wait"] = self.estimated_wait
        return fields


@attrs.frozen(kw_only=True)
class Offer:
    KIND: ClassVar[str] = "offer"
    conversation: str
    to: str
    queue: str

    def fields(self) -> dict[str, JsonValue]:
        return {"queue": self.queue}


@attrs.frozen(kw_only=True)
class OfferWithdrawn:
    KIND: ClassVar[str] = "offer_withdrawn"
    conversation: str
    to: str
    reason: WithdrawReason

    def fields(self) -> dict[str, JsonValue]:
        return {"reason": self.reason.value}


@attrs.frozen(kw_only=True)
class ParticipantRemoved:
    KIND: ClassVar[str] = "participant_removed"
    conversation: str
    to: str

    def fields(self) -> dict[str, JsonValue]:
        return {}


@attrs.frozen(kw_only=True)
class ApprovalRequested:
    KIND: ClassVar[str] = "approval_requested"
    conversation: str
    to: str
    action: str

    def fields(self) -> dict[str, JsonValue]:
        return {"action": self.action}


@attrs.frozen(kw_only=True)
class Approval:
    KIND: ClassVar[str] = "approval"
    conversation: str
    to: str
    approved: bool

    def fields(self) -> dict[str, JsonValue]:
        return {"approved": self.approved}


@attrs.frozen(kw_only=True)
class Survey:
    KIND: ClassVar[str] = "survey"
    conversation: str
    to: str = CUSTOMER

    def fields(self) -> dict[str, JsonValue]:
        return {}


@attrs.frozen(kw_only=True)
class Ended:
    KIND: ClassVar[str] = "ended"
    conversation: str
    outcome: Outcome
    to: None = None

    def fields(self) -> dict[str, JsonValue]:
        return {"outcome": self.outcome.value}


@attrs.frozen(kw_only=True)
class PresenceChanged:
    """The core changed a participant's presence (missed offers set it away)."""

    KIND: ClassVar[str] = "presence"
    to: str
    status: PresenceStatus
    reason: str
    conversation: None = None

    def fields(self) -> dict[str, JsonValue]:
        return {"status": self.status.value, "reason": self.reason}


@attrs.frozen(kw_only=True)
class WrapUp:
    """A human's wrap-up of a conversation begins: its units stay in use until `until`."""

    KIND: ClassVar[str] = "wrap_up"
    conversation: str
    to: str
    until: float

    def fields(self) -> dict[str, JsonValue]:
        return {"until": self.until}


Effect: TypeAlias = (
    ParticipantAdded
    | ContextSet
    | Greeting
    | Message
    | Queued
    | Offer
    | OfferWithdrawn
    | ParticipantRemoved
    | ApprovalRequested
    | Approval
    | Survey
    | Ended
    | PresenceChanged
    | WrapUp
)

EFFECT_TYPES: tuple[type[Effect], ...] = (
    ParticipantAdded, ContextSet, Greeting, Message, Queued, Offer, OfferWithdrawn,
    ParticipantRemoved, ApprovalRequested, Approval, Survey, Ended, PresenceChanged, WrapUp,
)  # fmt: skip


__all__ = [
    "CUSTOMER",
    "EFFECT_TYPES",
    "Approval",
    "ApprovalRequested",
    "Context",
    "ContextSet",
    "Effect",
    "Ended",
    "Entry",
    "Greeting",
    "Handover",
    "JsonValue",
    "Message",
    "Offer",
    "OfferWithdrawn",
    "ParticipantAdded",
    "ParticipantRemoved",
    "PresenceChanged",
    "Queued",
    "Role",
    "Survey",
    "WithdrawReason",
    "WrapUp",
]
