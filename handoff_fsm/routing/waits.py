"""The wait model and the values routing hands out: decisions, withdrawals, presence changes.

Theory of operation: each wait (a conversation in a queue's line, from `enqueue` until it is held
or leaves) moves through `models/routing.yaml` (queued, offered, assigned, left) and only through
the table compiled here; a model whose names differ from these enums is refused at import. What
`Router.serve` and the offer calls decide comes out as the frozen values below, which the
switchboard turns into effects.
"""

from __future__ import annotations

import enum

import attrs

from handoff_fsm.model import MachineModel, guard_free_table, load_bundled, require_names
from handoff_fsm.vocabulary import WithdrawReason


class WaitStatus(enum.StrEnum):
    """Where one wait is, exactly as `models/routing.yaml` names its states."""

    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    LEFT = "left"


class WaitTrigger(enum.StrEnum):
    BOT_SELECTED = "bot_selected"
    HUMAN_SELECTED = "human_selected"
    ACCEPT = "accept"
    DECLINE = "decline"
    OFFER_TIMEOUT = "offer_timeout"
    WITHDRAW = "withdraw"
    LEAVE = "leave"


def compile_wait_table(model: MachineModel) -> dict[tuple[WaitStatus, WaitTrigger], WaitStatus]:
    """The routing model as a lookup table; a model whose names differ from the code is refused,
    so that the file cannot silently drift from what this package drives."""
    require_names(
        model,
        "handoff_fsm.routing",
        {"states": {s.value for s in WaitStatus}, "transitions": {t.value for t in WaitTrigger}},
        initial=WaitStatus.QUEUED.value,
    )
    return {
        (WaitStatus(state), WaitTrigger(trigger)): WaitStatus(dest)
        for (state, trigger), dest in guard_free_table(model).items()
    }


MODEL = load_bundled("routing")
WAIT_TABLE = compile_wait_table(MODEL)
#: Every wait starts here (a fresh `enqueue`, or a hold dropped back into its line).
WAIT_START = WaitStatus(MODEL.initial)


@attrs.frozen(kw_only=True)
class Assigned:
    """A bot took the conversation at once (bots are never offered)."""

    conversation: str
    participant: str
    queue: str


@attrs.frozen(kw_only=True)
class Offered:
    """An offer is out to a human; its load counts it already."""

    conversation: str
    participant: str
    queue: str
    expires_at: float | None


@attrs.frozen(kw_only=True)
class Withdrawn:
    """An offer that ended without an accept."""

    conversation: str
    participant: str
    queue: str
    reason: WithdrawReason


Decision = Assigned | Offered


@attrs.frozen(kw_only=True)
class PresenceChange:
    """What a presence change undid: offers withdrawn, and (going offline) holds dropped back
    into their lines. Both in ticket order, so replays give the same effects."""

    withdrawn: tuple[Withdrawn, ...]
    dropped: tuple[str, ...]


__all__ = [
    "MODEL",
    "WAIT_START",
    "WAIT_TABLE",
    "Assigned",
    "Decision",
    "Offered",
    "PresenceChange",
    "WaitStatus",
    "WaitTrigger",
    "Withdrawn",
    "compile_wait_table",
]
