"""The one place the benchmarks reach past the switchboard's public API.

Theory of operation: a benchmark drives the core through `Switchboard(config)` and
`Switchboard.handle(event, now=..., step_id=...)` only. Some things need more: the synthetic
contact center's crowd reads where each conversation is, who holds it and who has its offer (to
send valid steps), the start figure checks what its starts made, and the routing suite times the
router on its own. All of it goes through this module, so when the router becomes private to the
switchboard and the per-conversation accessors move to an inspection module, this file is the
only one to repoint (the routing suite's `Router` too: it is imported from here).
"""

from __future__ import annotations

from handoff_fsm.lifecycle import State
from handoff_fsm.routing import Explanation, Offered, Router
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect

__all__ = [
    "Explanation",
    "Offered",
    "Router",
    "conversations",
    "line_length",
    "pending_timers",
    "remembered_ids",
    "router_of",
    "state_of",
]


def router_of(board: Switchboard) -> Router:
    """The switchboard's router, for reading holders, offers and loads (never for changing
    anything), through the switchboard's inspection module (the router is private to it)."""
    return switchboard_inspect.router_of(board)


def line_length(board: Switchboard, queue: str) -> int:
    """How many conversations wait in `queue`'s line (the backlog the notes report)."""
    return len(router_of(board).line(queue))


def state_of(board: Switchboard, conversation: str) -> State | None:
    """Where a conversation's lifecycle is (None: unknown)."""
    return board.state_of(conversation)


def conversations(board: Switchboard) -> tuple[str, ...]:
    """Every conversation the switchboard holds."""
    return board.conversations()


def pending_timers(board: Switchboard) -> tuple[tuple[float, str, str, str], ...]:
    """The timers not yet fired (the tests check a warm center has some)."""
    return switchboard_inspect.pending_timers(board)


def remembered_ids(board: Switchboard) -> int:
    """How many step ids the switchboard remembers (the long-run suite shows the dedup window
    keeps them bounded)."""
    return len(board._seen_ids)
