"""Read-only views for embedders: one conversation, the queues, the participants.

Theory of operation: what a service needs to answer "where is this conversation?", "how long are
the lines?" and "who is busy?" (SPEC §6: `GET .../conversations/{id}`, `/queues`,
`/participants`), as frozen values built on demand from the switchboard's state. A view shares
nothing with the state: holding one, or changing the context's copy inside it, changes nothing.
"""

from __future__ import annotations

import attrs

from handoff_fsm.effects import Context
from handoff_fsm.vocabulary import Kind, Outcome, PresenceStatus, State


@attrs.frozen(kw_only=True)
class ConversationView:
    """One conversation as a service shows it (SPEC §6)."""

    id: str
    state: State
    outcome: Outcome | None
    holder: str | None
    monitors: tuple[str, ...]
    queue: str | None  # the queue it waits in, while waiting
    position: int | None  # its place in that line (1 = next)
    context: Context


@attrs.frozen(kw_only=True)
class QueueView:
    """One queue's line: how many wait, and since when the longest waiting one has waited."""

    name: str
    waiting: int
    oldest_wait_start: float | None


@attrs.frozen(kw_only=True)
class ParticipantView:
    """One participant's presence and load (holds and offers out, in units) against capacity."""

    id: str
    kind: Kind
    presence: PresenceStatus
    load: int
    capacity: int
    holds: tuple[str, ...]
    offers: tuple[str, ...]


__all__ = ["ConversationView", "ParticipantView", "QueueView"]
