"""A wait that overflows into another queue keeps the kind it asked for: an escalation asking for
a human is offered to the overflow queue's human, never taken by its bot, and a transfer asking
for a bot goes to the overflow queue's bot, never offered to its human. Driven through
`Switchboard.handle` only, judged by the effects."""

from __future__ import annotations

from collections.abc import Sequence

from handoff_fsm.config import (
    Config,
    Kind,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
)
from handoff_fsm.effects import Effect, Offer
from handoff_fsm.events import (
    Accept,
    Escalate,
    Presence,
    PresenceStatus,
    Start,
    Tick,
    Transfer,
    Wanted,
)
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard

WAIT = 30.0


def board(*, bot_capacity: int, human_capacity: int) -> Switchboard:
    """`support` overflows after 30 s into `overflow`, which has a bot and a human; the strategy
    (highest capacity left) ranks whichever has more capacity first."""
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
        # Offline: a transfer back to `support` for a bot is servable (SPEC §3), yet not served.
        ParticipantSpec(id="bot-c", kind=Kind.BOT, capacity=1, presence=PresenceStatus.OFFLINE),
        ParticipantSpec(id="bot-b", kind=Kind.BOT, capacity=bot_capacity),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=human_capacity),
    ]
    queues = [
        QueueSpec(
            name="support",
            members=("bot-a", "rep-1", "bot-c"),
            wait_timeout=WAIT,
            overflow=OverflowTransfer(queue="overflow"),
        ),
        QueueSpec(name="overflow", members=("bot-b", "rep-2")),
    ]
    return Switchboard(Config.build(people, queues))


def seen(effects: Sequence[Effect]) -> list[tuple[str, str | None]]:
    return [(e.KIND, e.to) for e in effects]


def test_an_escalation_overflowing_goes_to_the_human_even_when_the_bot_ranks_first() -> None:
    sb = board(bot_capacity=50, human_capacity=1)
    sb.handle(Presence(participant="rep-1", status=PresenceStatus.AWAY), now=0)
    sb.handle(Start(conversation="c1", queue="support"), now=0)
    escalated = sb.handle(Escalate(conversation="c1", participant="bot-a"), now=0)
    assert seen(escalated) == [("participant_removed", "bot-a")]  # nobody to offer it to yet
    overflowed = sb.handle(Tick(now=WAIT))
    assert overflowed == [Offer(conversation="c1", to="rep-2", queue="overflow")]
    assert sb.state_of("c1") is State.WAITING
    accepted = sb.handle(Accept(conversation="c1", participant="rep-2"), now=WAIT + 1)
    assert seen(accepted) == [("participant_added", "rep-2"), ("context_set", "rep-2")]
    assert sb.state_of("c1") is State.AGENT_ENGAGED


def test_an_escalation_overflowing_into_a_queue_whose_human_is_away_waits_for_the_human() -> None:
    sb = board(bot_capacity=50, human_capacity=1)
    sb.handle(Presence(participant="rep-1", status=PresenceStatus.AWAY), now=0)
    sb.handle(Presence(participant="rep-2", status=PresenceStatus.AWAY), now=0)
    sb.handle(Start(conversation="c1", queue="support"), now=0)
    sb.handle(Escalate(conversation="c1", participant="bot-a"), now=0)
    assert sb.handle(Tick(now=WAIT)) == []  # the bot of `overflow` is free, and not asked
    assert sb.state_of("c1") is State.WAITING
    back = sb.handle(Presence(participant="rep-2", status=PresenceStatus.AVAILABLE), now=WAIT + 5)
    assert back == [Offer(conversation="c1", to="rep-2", queue="overflow")]


def test_a_transfer_to_a_bot_overflowing_goes_to_the_bot_even_when_the_human_ranks_first() -> None:
    sb = board(bot_capacity=1, human_capacity=50)
    sb.handle(Start(conversation="c1", queue="support"), now=0)
    sb.handle(Escalate(conversation="c1", participant="bot-a"), now=0)
    sb.handle(Accept(conversation="c1", participant="rep-1"), now=1)
    # bot-a held it before, so only another bot may take it: bot-c, offline.
    handed = sb.handle(
        Transfer(conversation="c1", participant="rep-1", queue="support", kind=Wanted.BOT), now=2
    )
    assert seen(handed) == [("participant_removed", "rep-1")]
    overflowed = sb.handle(Tick(now=2 + WAIT))
    assert seen(overflowed) == [
        ("participant_added", "bot-b"),
        ("context_set", "bot-b"),
        ("greeting", "bot-b"),
    ]
    assert sb.state_of("c1") is State.RETURNED_TO_BOT
