"""A wait runs out at its own deadline: the timer of an earlier wait of the same conversation
(one that ended when a human accepted) never ends a later wait. Driven through
`Switchboard.handle` only, judged by the effects."""

from __future__ import annotations

from collections.abc import Sequence

from handoff_fsm.config import Config, Kind, OverflowEnd, ParticipantSpec, QueueSpec
from handoff_fsm.effects import Effect
from handoff_fsm.events import Accept, Escalate, Start, Tick, Transfer, Wanted
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.vocabulary import PresenceStatus

WAIT = 60.0


def board() -> Switchboard:
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
        # Away: a transfer back asking for a human is servable (SPEC §3), yet nobody takes it.
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=1, presence=PresenceStatus.AWAY),
    ]
    support = QueueSpec(
        name="support",
        members=("bot-a", "rep-1", "rep-2"),
        wait_timeout=WAIT,
        overflow=OverflowEnd(),
    )
    return Switchboard(Config.build(people, [support]))


def kinds(effects: Sequence[Effect]) -> list[str]:
    return [e.KIND for e in effects]


def waiting_again(sb: Switchboard, *, transferred_at: float) -> None:
    """c1 waits from 0 (due at 60), rep-1 accepts at 10, and at `transferred_at` hands it back to
    the queue asking for a human: rep-2 is away, so it waits again."""
    sb.handle(Start(conversation="c1", queue="support"), now=0)
    sb.handle(Escalate(conversation="c1", participant="bot-a"), now=0)
    sb.handle(Accept(conversation="c1", participant="rep-1"), now=10)
    handed = sb.handle(
        Transfer(conversation="c1", participant="rep-1", queue="support", kind=Wanted.HUMAN),
        now=transferred_at,
    )
    assert kinds(handed) == ["participant_removed"]
    assert sb.state_of("c1") is State.WAITING


def test_the_first_waits_deadline_does_not_end_the_second_wait() -> None:
    sb = board()
    waiting_again(sb, transferred_at=30)
    assert sb.handle(Tick(now=WAIT)) == []  # the first wait's deadline: it ended at 10
    assert sb.handle(Tick(now=30 + WAIT - 1)) == []
    assert sb.state_of("c1") is State.WAITING
    assert kinds(sb.handle(Tick(now=30 + WAIT))) == ["ended"]
    assert sb.state_of("c1") is State.ENDED


def test_a_wait_runs_out_once() -> None:
    sb = board()
    waiting_again(sb, transferred_at=59)
    assert kinds(sb.handle(Tick(now=1000))) == ["ended"]
