"""Helpers the routing tests share: participants, queues, a one-queue router, and arrivals."""

from __future__ import annotations

from collections.abc import Iterable

from handoff_fsm.config import Kind, ParticipantSpec, QueueSpec, Strategy
from handoff_fsm.events import PresenceStatus, Wanted
from handoff_fsm.routing import (
    Decision,
    Router,
    Verdict,
)
from handoff_fsm.routing import inspect as routing_inspect

AVAILABLE, AWAY, OFFLINE = PresenceStatus.AVAILABLE, PresenceStatus.AWAY, PresenceStatus.OFFLINE


def bot(pid: str, capacity: int = 10) -> ParticipantSpec:
    return ParticipantSpec(id=pid, kind=Kind.BOT, capacity=capacity)


def human(pid: str, capacity: int = 10) -> ParticipantSpec:
    return ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=capacity)


def queue(
    name: str,
    *members: str,
    strategy: Strategy = Strategy.HIGHEST_CAPACITY,
    units: int = 1,
    offer_timeout: float | None = None,
) -> QueueSpec:
    return QueueSpec(
        name=name, members=members, strategy=strategy, units=units, offer_timeout=offer_timeout
    )


def one_queue(
    *participants: ParticipantSpec,
    strategy: Strategy = Strategy.HIGHEST_CAPACITY,
    units: int = 1,
    offer_timeout: float | None = None,
) -> Router:
    """A router with one queue `q` holding every participant, in the given order."""
    members = (p.id for p in participants)
    spec = queue("q", *members, strategy=strategy, units=units, offer_timeout=offer_timeout)
    return Router(participants, [spec])


def picks(decisions: Iterable[Decision]) -> list[tuple[str, str]]:
    return [(d.conversation, d.participant) for d in decisions]


def arrive(
    router: Router,
    conversation: str,
    now: float = 0.0,
    *,
    wanted: Wanted = Wanted.ANY,
    named: str | None = None,
) -> list[Decision]:
    """A conversation joins queue `q` and the router serves at once, as the switchboard does."""
    router.enqueue(conversation, "q", now, wanted=wanted, named=named)
    return router.serve(now)


def verdicts(router: Router, conversation: str) -> dict[str, Verdict]:
    return {c.participant: c.verdict for c in router.explain(conversation).considered}


def settled(router: Router) -> None:
    """The router's own invariants hold (checked on the raw state)."""
    assert routing_inspect.audit(router) == []


__all__ = [
    "AVAILABLE",
    "AWAY",
    "OFFLINE",
    "arrive",
    "bot",
    "human",
    "one_queue",
    "picks",
    "queue",
    "settled",
    "verdicts",
]
