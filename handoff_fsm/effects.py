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

from handoff_fsm.vocabulary import CUSTOMER, JsonValue, Outcome, Role, WithdrawReason


@attrs.frozen(kw_only=True)
class Entry:
    """One transcript line: who said it (`customer` or a participant id) and what."""

    sender: str
    text: str

    def to_json(self) -> dict[str, JsonValue]:
        return {"from": self.sender, "text": self.text}


@attrs.frozen(kw_only=True)
class Context:
    """Everything a joiner must know: every variable and every message so far, in order."""

    variables: Mapping[str, JsonValue]
    transcript: tuple[Entry, ...]

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "variables": dict(self.variables),
            "transcript": [entry.to_json() for entry in self.transcript],
        }


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

    def fields(self) -> dict[str, JsonValue]:
        return {"queue": self.queue, "position": self.position}


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
)

EFFECT_TYPES: tuple[type[Effect], ...] = (
    ParticipantAdded, ContextSet, Greeting, Message, Queued, Offer, OfferWithdrawn,
    ParticipantRemoved, ApprovalRequested, Approval, Survey, Ended,
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
    "JsonValue",
    "Message",
    "Offer",
    "OfferWithdrawn",
    "ParticipantAdded",
    "ParticipantRemoved",
    "Queued",
    "Role",
    "Survey",
    "WithdrawReason",
]
