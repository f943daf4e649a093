"""The one place the benchmarks reach past the switchboard's public API.

Theory of operation: a benchmark drives the core through `Switchboard(config)` and
`Switchboard.handle(event, now=..., step_id=...)` only. Two things need more: the synthetic
contact center's crowd reads who holds a conversation and who has its offer (to send valid
steps), and the routing suite times the router on its own. Both go through this module, so when
the router becomes private to the switchboard (and per-conversation accessors move to an
inspection module) this file is the only one to repoint.
"""

from __future__ import annotations

from handoff_fsm.routing import Offered, Router
from handoff_fsm.switchboard import Switchboard

__all__ = ["Offered", "Router", "router_of"]


def router_of(board: Switchboard) -> Router:
    """The switchboard's router, for reading holders, offers and loads (never for changing
    anything). Integrator: repoint to the inspection module once `Switchboard.router` is private."""
    return board.router


def line_length(board: Switchboard, queue: str) -> int:
    """How many conversations wait in `queue`'s line (the backlog the notes report)."""
    return len(board.router.line(queue))
