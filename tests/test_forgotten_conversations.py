"""A forgotten conversation leaves nothing behind: once ended and forgotten, its id can start
afresh, and routing treats it as new (whoever held the old one may hold the new one). Driven
through `Switchboard.handle` and `forget` only, judged by the effects."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.effects import Effect
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import CustomerLeft, End, Start, Tick
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard


def board() -> Switchboard:
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=5),
    ]
    return Switchboard(
        Config.build(people, [QueueSpec(name="support", members=("bot-a", "rep-1"))])
    )


def seen(effects: Sequence[Effect]) -> list[tuple[str, str | None]]:
    return [(e.KIND, e.to) for e in effects]


def test_a_forgotten_conversation_starts_afresh_with_the_same_bot() -> None:
    sb = board()
    sb.handle(Start(conversation="c1", queue="support"))
    sb.handle(End(conversation="c1", participant="bot-a"))
    with pytest.raises(StepRefused, match="already exists"):
        sb.handle(Start(conversation="c1", queue="support"))
    sb.forget("c1")
    again = sb.handle(Start(conversation="c1", queue="support"))
    assert seen(again) == [
        ("participant_added", "bot-a"),
        ("context_set", "bot-a"),
        ("greeting", "bot-a"),
    ]
    assert sb.state_of("c1") is State.BOT_ACTIVE


def test_a_forgotten_or_unknown_conversation_has_no_state_and_no_outcome() -> None:
    sb = board()
    sb.handle(Start(conversation="c1", queue="support"))
    sb.handle(End(conversation="c1", participant="bot-a"))
    assert sb.outcome_of("c1") is not None
    sb.forget("c1")
    assert (sb.state_of("c1"), sb.outcome_of("c1")) == (None, None)
    assert (sb.state_of("never"), sb.outcome_of("never")) == (None, None)


def test_the_timers_of_a_forgotten_conversation_never_fire() -> None:
    people = [ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1)]
    support = QueueSpec(name="support", members=("rep-1",), offer_timeout=30, wait_timeout=60)
    sb = Switchboard(Config.build(people, [support]))
    sb.handle(Start(conversation="c1", queue="support"), now=0)  # offered to rep-1, and waiting
    sb.handle(CustomerLeft(conversation="c1"), now=1)
    sb.forget("c1")
    assert sb.next_deadline() is None
    assert sb.handle(Tick(now=100)) == []
