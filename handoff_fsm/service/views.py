"""Read-only views of one center, as the service's GET routes answer them (SPEC §6).

Theory of operation: plain functions from a switchboard to JSON values, called by the backend in
the center's writer thread (so a view never sees a step half applied, and only acknowledged
steps). Nothing here changes the switchboard.

Rules: `estimated_wait` is null (unknown) until the core computes it; `oldest_wait` counts from
the moment the service saw the conversation begin its wait (`WaitClock`), which after a restart is
the restart for the conversations already waiting. Both move to the core's own views
(`board.queue_views()`, `board.participant_views()`) when it offers them.
"""

from __future__ import annotations

from collections.abc import Iterable

from handoff_fsm.events import JsonValue
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect


class WaitClock:
    """When each waiting conversation began its current wait, as the service saw it."""

    def __init__(self) -> None:
        self.since: dict[str, float] = {}

    def restored(self, board: Switchboard, now: float) -> None:
        for conversation in board.conversations():
            if board.state_of(conversation) is State.WAITING:
                self.since.setdefault(conversation, now)

    def saw(self, board: Switchboard, conversations: Iterable[str], now: float) -> None:
        for conversation in conversations:
            if board.state_of(conversation) is State.WAITING:
                self.since.setdefault(conversation, now)
            else:
                self.since.pop(conversation, None)


def conversation_view(board: Switchboard, conversation: str) -> dict[str, JsonValue] | None:
    """None for a conversation the center does not know."""
    state = board.state_of(conversation)
    if state is None:
        return None
    outcome = board.outcome_of(conversation)
    router = switchboard_inspect.router_of(board)
    return {
        "conversation": conversation,
        "state": state.value,
        "outcome": None if outcome is None else outcome.value,
        "holder": router.holder(conversation),
        "monitors": list(board.monitors_of(conversation)),
        "queue": router.queue_of(conversation) or router.held_in(conversation),
        "position": router.position(conversation),
        "offer": router.offer_of(conversation),
        "context": board.context_of(conversation).to_json(),
    }


def queue_views(board: Switchboard, waits: WaitClock, now: float) -> list[dict[str, JsonValue]]:
    views: list[dict[str, JsonValue]] = []
    for spec in board.config.queues:
        line = switchboard_inspect.router_of(board).line(spec.name)
        starts = [waits.since[c] for c in line if c in waits.since]
        views.append(
            {
                "queue": spec.name,
                "length": len(line),
                "oldest_wait": max(0.0, now - min(starts)) if starts else None,
                "estimated_wait": None,
                "waiting": list(line),
            }
        )
    return views


def participant_views(board: Switchboard) -> list[dict[str, JsonValue]]:
    router = switchboard_inspect.router_of(board)
    return [
        {
            "participant": spec.id,
            "kind": spec.kind.value,
            "presence": router.presence(spec.id).value,
            "load": router.load(spec.id),
            "capacity": spec.capacity,
            "holds": list(router.holds_of(spec.id)),
            "offers": list(router.offers_of(spec.id)),
        }
        for spec in board.config.participants
    ]


__all__ = ["WaitClock", "conversation_view", "participant_views", "queue_views"]
