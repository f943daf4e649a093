"""Fingerprints: every observable of a switchboard at one moment, as plain frozen values.

Theory of operation: `fingerprint(board)` reads a switchboard through its read API and its
inspection module (`handoff_fsm.switchboard.inspect`, `handoff_fsm.routing.inspect`) and changes
nothing; two fingerprints taken around a step show what the step changed, and `differences` names
each difference, which is how the auditor proves that a refused or duplicate step changed nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from handoff_fsm.config import Requirement
from handoff_fsm.effects import (
    Context,
)
from handoff_fsm.events import (
    JsonValue,
    PresenceStatus,
    Wanted,
)
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.routing import inspect as routing_inspect
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect


@attrs.frozen(kw_only=True)
class ConversationPrint:
    """Everything observable about one conversation."""

    state: State
    outcome: Outcome | None
    context: Context
    monitors: tuple[str, ...]
    holder: str | None
    held_in: str | None
    offer: str | None
    offer_expires: float | None
    queue: str | None
    position: int | None
    ticket: int | None
    wanted: Wanted | None
    named: str | None
    held_before: frozenset[str]
    declined: frozenset[str]
    fallbacks: int
    return_bot: str | None
    proposals: tuple[tuple[str, str, str], ...]
    survey_answers: Mapping[str, JsonValue]
    requires: tuple[Requirement, ...] = ()
    priority: int | None = None  # the priority its request asked (None: its queue's)


@attrs.frozen(kw_only=True)
class ParticipantPrint:
    presence: PresenceStatus
    load: int
    holds: tuple[str, ...]
    offers: tuple[str, ...]
    idle_since: float
    missed_offers: int = 0
    wrapping: Mapping[str, float] = attrs.field(factory=dict)  # conversation -> until


@attrs.frozen(kw_only=True)
class QueuePrint:
    line: tuple[str, ...]
    last_picked: str | None


@attrs.frozen(kw_only=True)
class Fingerprint:
    """Every observable of a switchboard at one moment. Two switchboards with equal fingerprints
    answer every query alike and decide alike (the router's own `dump` is part of it)."""

    now: float
    conversations: Mapping[str, ConversationPrint]
    participants: Mapping[str, ParticipantPrint]
    queues: Mapping[str, QueuePrint]
    timers: tuple[tuple[float, str, str, str], ...]
    router: Mapping[str, object]


def fingerprint(board: Switchboard) -> Fingerprint:
    """Read every observable of `board` through its public API (nothing is changed)."""
    router = switchboard_inspect.router_of(board)
    conversations = {
        cid: ConversationPrint(
            state=_known_state(board, cid),
            outcome=board.outcome_of(cid),
            context=board.context_of(cid),
            monitors=board.monitors_of(cid),
            holder=router.holder(cid),
            held_in=router.held_in(cid),
            offer=router.offer_of(cid),
            offer_expires=router.offer_expires_at(cid),
            queue=router.queue_of(cid),
            position=router.position(cid),
            ticket=router.ticket(cid),
            wanted=router.wanted(cid),
            named=router.named(cid),
            held_before=router.held_before(cid),
            declined=router.declined(cid),
            fallbacks=switchboard_inspect.fallbacks_of(board, cid),
            return_bot=switchboard_inspect.return_bot_of(board, cid),
            proposals=switchboard_inspect.proposals_of(board, cid),
            survey_answers=switchboard_inspect.survey_answers_of(board, cid),
            requires=router.requires(cid),
            priority=router.priority(cid),
        )
        for cid in board.conversations()
    }
    participants = {
        spec.id: ParticipantPrint(
            presence=router.presence(spec.id),
            load=router.load(spec.id),
            holds=router.holds_of(spec.id),
            offers=router.offers_of(spec.id),
            idle_since=router.idle_since(spec.id),
            missed_offers=router.missed_offers(spec.id),
            wrapping=router.wrapping(spec.id),
        )
        for spec in board.world.participants
    }
    queues = {
        spec.name: QueuePrint(
            line=router.line(spec.name), last_picked=router.last_picked(spec.name)
        )
        for spec in board.world.queues
    }
    return Fingerprint(
        now=board.now,
        conversations=conversations,
        participants=participants,
        queues=queues,
        timers=switchboard_inspect.pending_timers(board),
        router=routing_inspect.dump(router),
    )


def _known_state(board: Switchboard, cid: str) -> State:
    state = board.state_of(cid)
    assert state is not None, f"{cid} is listed by conversations() but has no state"
    return state


def differences(a: Fingerprint, b: Fingerprint) -> list[str]:
    """What differs between two fingerprints, one short line per observable."""
    found: list[str] = []
    if a.now != b.now:
        found.append(f"now: {a.now:g} -> {b.now:g}")
    for label, left, right in (
        ("conversation", a.conversations, b.conversations),
        ("participant", a.participants, b.participants),
        ("queue", a.queues, b.queues),
    ):
        for key in sorted(set(left) | set(right)):
            x, y = left.get(key), right.get(key)
            if x == y:
                continue
            if x is None or y is None:
                found.append(f"{label} {key}: {'appeared' if x is None else 'disappeared'}")
                continue
            for field in attrs.fields(type(x)):
                fx, fy = getattr(x, field.name), getattr(y, field.name)
                if fx != fy:
                    found.append(f"{label} {key}.{field.name}: {fx!r} -> {fy!r}")
    if a.timers != b.timers:
        found.append(f"timers: {a.timers!r} -> {b.timers!r}")
    if a.router != b.router and not found:
        found.append("router: internal books differ (see Router.dump)")
    return found


__all__ = [
    "ConversationPrint",
    "Fingerprint",
    "ParticipantPrint",
    "QueuePrint",
    "differences",
    "fingerprint",
]
