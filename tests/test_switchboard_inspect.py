"""What the switchboard's inspection module reads: the fallbacks of the current bot hold (none
for a conversation never held), the live timers at their deadlines, the router's work counter;
and the field a malformed step is refused for."""

from __future__ import annotations

import pytest

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec, Settings
from handoff_fsm.errors import InvalidStep
from handoff_fsm.events import (
    Fallback,
    Presence,
    PresenceStatus,
    Start,
    Wanted,
)
from handoff_fsm.routing import inspect as routing_inspect
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect


def board() -> Switchboard:
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=1),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
    ]
    sales = QueueSpec(name="sales", members=("bot-a", "rep-1"), offer_timeout=30, wait_timeout=100)
    return Switchboard(Config.build(people, [sales], Settings(fallback_limit=3)))


def test_a_conversation_never_held_has_no_fallbacks_and_a_held_one_counts_them() -> None:
    b = board()
    b.handle(Presence(participant="bot-a", status=PresenceStatus.AWAY), now=0)
    b.handle(Start(conversation="c1", queue="sales"), now=0)  # offered to rep-1, never held
    assert switchboard_inspect.fallbacks_of(b, "c1") == 0
    b.handle(Presence(participant="bot-a", status=PresenceStatus.AVAILABLE), now=1)
    b.handle(Start(conversation="c2", queue="sales"), now=1)  # bot-a holds c2
    b.handle(Fallback(conversation="c2", participant="bot-a"), now=2)
    assert switchboard_inspect.fallbacks_of(b, "c2") == 1


def test_pending_timers_show_the_offer_and_the_wait_at_their_deadlines() -> None:
    b = board()
    b.handle(Presence(participant="bot-a", status=PresenceStatus.AWAY), now=0)
    b.handle(Start(conversation="c1", queue="sales"), now=5)
    assert switchboard_inspect.pending_timers(b) == (
        (35, "offer", "c1", "rep-1"),
        (105, "wait", "c1", ""),
    )


def test_a_step_id_that_is_not_text_is_named_as_the_field_at_fault() -> None:
    with pytest.raises(InvalidStep, match="step_id must be text") as caught:
        board().handle(Start(conversation="c1", queue="sales"), now=0, step_id=5)  # type: ignore[arg-type]
    assert caught.value.field == "step_id"


def test_a_named_wait_costs_one_named_check_not_a_scan() -> None:
    b = board()
    router = switchboard_inspect.router_of(b)
    router.enqueue("c1", "sales", 0, wanted=Wanted.HUMAN, named="rep-1")
    before = routing_inspect.selection_steps(router)
    assert router.best_candidate("c1") == "rep-1"
    assert routing_inspect.selection_steps(router) == before + 1
