"""Read-only views of one center, as the service's GET routes answer them (SPEC §6).

Theory of operation: plain functions from the core's public views (`Switchboard.conversation`,
`queue_views`, `participant_views`) to JSON values. The backend calls them through
`DurableCenter.read`, under the lock its writer holds while it applies a batch, so a view never
sees a step half applied. Nothing here reads the engine's internals or changes anything.

Rules: `estimated_wait` is null (unknown) until the core computes it; `oldest_wait` is the
service's clock minus the core's `oldest_wait_start` (never negative).
"""

from __future__ import annotations

from handoff_fsm.events import JsonValue
from handoff_fsm.switchboard import Switchboard


def conversation_view(board: Switchboard, conversation: str) -> dict[str, JsonValue] | None:
    """None for a conversation the center does not know."""
    view = board.conversation(conversation)
    if view is None:
        return None
    return {
        "conversation": view.id,
        "state": view.state.value,
        "outcome": None if view.outcome is None else view.outcome.value,
        "holder": view.holder,
        "monitors": list(view.monitors),
        "queue": view.queue,
        "position": view.position,
        "context": view.context.to_json(),
    }


def queue_views(board: Switchboard, now: float) -> list[dict[str, JsonValue]]:
    return [
        {
            "queue": view.name,
            "length": view.waiting,
            "oldest_wait": None
            if view.oldest_wait_start is None
            else max(0.0, now - view.oldest_wait_start),
            "estimated_wait": None,
        }
        for view in board.queue_views()
    ]


def participant_views(board: Switchboard) -> list[dict[str, JsonValue]]:
    return [
        {
            "participant": view.id,
            "kind": view.kind.value,
            "presence": view.presence.value,
            "load": view.load,
            "capacity": view.capacity,
            "holds": list(view.holds),
            "offers": list(view.offers),
        }
        for view in board.participant_views()
    ]


__all__ = ["conversation_view", "participant_views", "queue_views"]
