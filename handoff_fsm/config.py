"""Configuration of a contact center: participants, queues and handoff settings.

Theory of operation: these are plain frozen values that an embedder builds (or the scenario
adapter parses from a file) and hands to the switchboard once. They describe the world; they hold
no live state (load, presence, lines live in `handoff_fsm.routing`). Defaults are the contract's:
capacity is in whole units, a conversation uses 1 unit unless its queue says otherwise, the
strategy is `highest_capacity`, a wait that runs out ends the conversation `unserved`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import attrs

from handoff_fsm.vocabulary import Kind, PresenceStatus, Strategy


class Levels(Mapping[str, int]):
    """An immutable, hashable, picklable mapping of skill name to level: a participant's skills
    stay a value (a spec compares and hashes by content, and a switchboard snapshot pickles)."""

    __slots__ = ("_levels",)

    def __init__(self, levels: Mapping[str, int] | Iterable[tuple[str, int]] = ()) -> None:
        self._levels = dict(levels)

    def __getitem__(self, skill: str) -> int:
        return self._levels[skill]

    def __iter__(self) -> Iterator[str]:
        return iter(self._levels)

    def __len__(self) -> int:
        return len(self._levels)

    def __hash__(self) -> int:
        return hash(frozenset(self._levels.items()))

    def __repr__(self) -> str:
        return f"Levels({self._levels!r})"

    def __reduce__(self) -> tuple[type[Levels], tuple[dict[str, int]]]:
        return (Levels, (self._levels,))


@attrs.frozen(kw_only=True)
class ParticipantSpec:
    """A participant's definition. `presence` is where it starts (a fresh center offers nothing
    to one defined `offline`); `skills` are stored and replaced by the live changes, and matched
    by routing against a request's requirements."""

    id: str
    kind: Kind
    capacity: int
    presence: PresenceStatus = PresenceStatus.AVAILABLE
    skills: Mapping[str, int] = attrs.field(factory=Levels, converter=Levels)


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
    #: Seconds an ended conversation is kept after it ended (None: kept until `forget`).
    retention: float | None = None
    #: Seconds a step id is remembered after its step was processed (None: for ever).
    dedup_window: float | None = None


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
    "Levels",
    "Overflow",
    "OverflowEnd",
    "OverflowReturnToBot",
    "OverflowTransfer",
    "ParticipantSpec",
    "QueueSpec",
    "Settings",
    "Strategy",
]
