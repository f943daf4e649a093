"""Configuration of a contact center: participants, queues and handoff settings.

Theory of operation: these are plain frozen values that an embedder builds (or the scenario
adapter parses from a file) and hands to the switchboard once. They describe the world; they hold
no live state (load, presence, lines live in `handoff_fsm.routing`). Defaults are the contract's:
capacity is in whole units, a conversation uses 1 unit unless its queue says otherwise, the
strategy is `highest_capacity`, a wait that runs out ends the conversation `unserved`.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from handoff_fsm.vocabulary import Kind, Strategy


@attrs.frozen(kw_only=True)
class ParticipantSpec:
    id: str
    kind: Kind
    capacity: int


@attrs.frozen(kw_only=True)
class OverflowEnd:
    """A wait that runs out ends the conversation with outcome `unserved`."""


@attrs.frozen(kw_only=True)
class OverflowReturnToBot:
    """A wait that runs out goes back to the bot that handed it over (`unserved` if none)."""


@attrs.frozen(kw_only=True)
class OverflowTransfer:
    """A wait that runs out moves to another queue's line."""

    queue: str


Overflow = OverflowEnd | OverflowReturnToBot | OverflowTransfer


@attrs.frozen(kw_only=True)
class QueueSpec:
    name: str
    members: tuple[str, ...]
    strategy: Strategy = Strategy.HIGHEST_CAPACITY
    units: int = 1
    offer_timeout: float | None = None
    wait_timeout: float | None = None
    overflow: Overflow = attrs.field(factory=OverflowEnd)


DEFAULT_ESCALATION_PHRASES = ("talk to agent", "speak to agent", "chat with an agent")
DEFAULT_CANCEL_PHRASES = ("never mind", "cancel")


@attrs.frozen(kw_only=True)
class Settings:
    """Handoff settings. Phrases match case-insensitively anywhere in a customer message."""

    fallback_limit: int = 3
    escalation_phrases: tuple[str, ...] = DEFAULT_ESCALATION_PHRASES
    cancel_phrases: tuple[str, ...] = DEFAULT_CANCEL_PHRASES
    survey_timeout: float | None = None


@attrs.frozen(kw_only=True)
class Config:
    settings: Settings = attrs.field(factory=Settings)
    participants: tuple[ParticipantSpec, ...] = ()
    queues: tuple[QueueSpec, ...] = ()

    @classmethod
    def build(
        cls,
        participants: Iterable[ParticipantSpec],
        queues: Iterable[QueueSpec],
        settings: Settings | None = None,
    ) -> Config:
        return cls(
            settings=settings or Settings(), participants=tuple(participants), queues=tuple(queues)
        )


__all__ = [
    "DEFAULT_CANCEL_PHRASES",
    "DEFAULT_ESCALATION_PHRASES",
    "Config",
    "Kind",
    "Overflow",
    "OverflowEnd",
    "OverflowReturnToBot",
    "OverflowTransfer",
    "ParticipantSpec",
    "QueueSpec",
    "Settings",
    "Strategy",
]
