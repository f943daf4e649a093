"""What the switchboard's inspection module reads: the fallbacks of the current bot hold (none
for a conversation never held) and the live timers, each kind at its deadline."""

from __future__ import annotations

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec, Settings
from handoff_fsm.events import Fallback, Presence, PresenceStatus, Start
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
