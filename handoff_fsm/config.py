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


class Skills(Mapping[str, int]):
    """A participant's skills (name -> level 1..10): an immutable mapping that pickles and
    compares by value, so a spec stays a frozen value."""

    __slots__ = ("_levels",)

    def __init__(self, levels: Mapping[str, int] | Iterable[tuple[str, int]] | None = None) -> None:
        given = dict(levels or {})
        try:  # by name, so two equal mappings print alike; unsortable names are refused later
            self._levels = dict(sorted(given.items()))
        except TypeError:
            self._levels = given

    def __getitem__(self, name: str) -> int:
        return self._levels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._levels)

    def __len__(self) -> int:
        return len(self._levels)

    def __hash__(self) -> int:
        return hash(frozenset(self._levels.items()))

    def __repr__(self) -> str:
        return f"Skills({self._levels!r})"

    def __reduce__(self) -> tuple[type[Skills], tuple[dict[str, int]]]:
        return (Skills, (self._levels,))


def _skills(value: Mapping[str, int] | None) -> Skills:
    return value if isinstance(value, Skills) else Skills(value)


@attrs.frozen(kw_only=True)
class ParticipantSpec:
    """A participant's definition. `presence` is where it starts (a fresh center offers nothing
    to one defined `offline`); `skills` are stored and replaced by the live changes, and matched
    by routing against a request's requirements."""

    id: str
    kind: Kind
    capacity: int
    presence: PresenceStatus = PresenceStatus.AVAILABLE
    skills: Mapping[str, int] = attrs.field(factory=Skills, converter=_skills)


@attrs.frozen(kw_only=True)
class Requirement:
    """What a request asks of whoever takes it: `skill` at `level` or above; with `for`
    (seconds), only until the current wait has lasted that long (the wait relaxes)."""

    skill: str
    level: int = 1
    for_: float | None = None

    def met_by(self, skills: Mapping[str, int]) -> bool:
        return skills.get(self.skill, 0) >= self.level

    def to_json(self) -> dict[str, str | int | float | None]:
        return {"skill": self.skill, "level": self.level, "for": self.for_}


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
    priority: int = 0
    wrap_up: float | None = None


DEFAULT_ESCALATION_PHRASES = ("talk to agent", "speak to agent", "chat with an agent")
DEFAULT_CANCEL_PHRASES = ("never mind", "cancel")


@attrs.frozen(kw_only=True)
class Settings:
    """Handoff settings. Escalation phrases match case-insensitively anywhere in a customer
    message; a cancel phrase must be the whole message (case, surrounding white space and a
    trailing `.`, `!` or `?` aside)."""

    fallback_limit: int = 3
    escalation_phrases: tuple[str, ...] = DEFAULT_ESCALATION_PHRASES
    cancel_phrases: tuple[str, ...] = DEFAULT_CANCEL_PHRASES
    survey_timeout: float | None = None
    #: Seconds an ended conversation is kept after it ended (None: kept until `forget`).
    retention: float | None = None
    #: Seconds a step id is remembered after its step was processed (None: for ever).
    dedup_window: float | None = None
    missed_offers_to_away: int = 0


def whole_message(text: str) -> str:
    """A message as cancel phrases compare it: case, surrounding white space and trailing
    `.`, `!`, `?` aside ("Never mind!" is "never mind")."""
    return text.strip().rstrip(".!?").strip().casefold()


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
    "Requirement",
    "Settings",
    "Skills",
    "Strategy",
    "whole_message",
]
