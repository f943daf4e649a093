"""Looking inside a switchboard: what only the auditor, the tests and the benchmarks read.

Theory of operation: the runtime auditor (`handoff_fsm.testing`) fingerprints every piece of state
a step may change, so it needs to see what an embedder never should: the fallback counter, the
bot to return to, pending proposals, survey answers, the live timers, and the router itself.
These functions read a switchboard's private state and change nothing; they are not the public
API (`Switchboard.conversation`, `queue_views`, `participant_views` are).
"""

from __future__ import annotations

from handoff_fsm.routing import Router
from handoff_fsm.switchboard.engine import Switchboard
from handoff_fsm.values import copy_mapping
from handoff_fsm.vocabulary import JsonValue


def router_of(board: Switchboard) -> Router:
    """The switchboard's router (for `handoff_fsm.routing.inspect` and routing queries)."""
    return board._router


def fallbacks_of(board: Switchboard, conversation: str) -> int:
    """Fallbacks counted during the current bot hold (every new holder starts at 0)."""
    return board._known(conversation).fallbacks


def return_bot_of(board: Switchboard, conversation: str) -> str | None:
    """The bot that handed this conversation to its current wait (a cancel brings it back)."""
    return board._known(conversation).return_bot


def proposals_of(board: Switchboard, conversation: str) -> tuple[tuple[str, str, str], ...]:
    """Pending approvals as (bot, supervisor, action), oldest first."""
    return tuple((p.bot, p.supervisor, p.action) for p in board._known(conversation).proposals)


def survey_answers_of(board: Switchboard, conversation: str) -> dict[str, JsonValue]:
    """The answers of the survey response, if one came (a copy)."""
    return copy_mapping(board._known(conversation).survey_answers or {})


def pending_timers(board: Switchboard) -> tuple[tuple[float, str, str, str], ...]:
    """Every live timer as (deadline, kind, conversation, participant), in firing order; kind
    is `offer`, `wait` or `survey`, participant is empty but for offers. Unlike
    `Switchboard.next_deadline`, it leaves the timer heap untouched."""
    live = board._timers.live(board._timer_is_live)
    return tuple((t.deadline, t.kind, t.conversation, t.participant) for t in live)


__all__ = [
    "fallbacks_of",
    "pending_timers",
    "proposals_of",
    "return_bot_of",
    "router_of",
    "survey_answers_of",
]
