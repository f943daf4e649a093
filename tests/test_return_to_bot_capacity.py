"""A cancelled wait goes back to the bot that handed it over only if that bot has room for it
now; a bot that filled up meanwhile does not take it back, and the wait is abandoned. Driven
through `Switchboard.handle` only, judged by the effects."""

from __future__ import annotations

from collections.abc import Sequence

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.effects import Effect
from handoff_fsm.events import Cancel, Escalate, Presence, PresenceStatus, Start
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.switchboard import Switchboard


def board() -> Switchboard:
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=1),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
    ]
    sb = Switchboard(Config.build(people, [QueueSpec(name="support", members=("bot-a", "rep-1"))]))
    sb.handle(Presence(participant="rep-1", status=PresenceStatus.AWAY))
    return sb


def kinds(effects: Sequence[Effect]) -> list[tuple[str, str | None]]:
    return [(e.KIND, getattr(e, "to", None)) for e in effects]


def test_a_cancelled_wait_goes_back_to_its_bot_when_it_has_room() -> None:
    sb = board()
    sb.handle(Start(conversation="c1", queue="support"))
    sb.handle(Escalate(conversation="c1", participant="bot-a"))
    back = sb.handle(Cancel(conversation="c1"))
    assert ("participant_added", "bot-a") in kinds(back)
    assert sb.state_of("c1") is State.BOT_ACTIVE  # the bot resumes


def test_a_cancelled_wait_is_abandoned_when_its_bot_is_full() -> None:
    sb = board()
    sb.handle(Start(conversation="c1", queue="support"))
    sb.handle(Escalate(conversation="c1", participant="bot-a"))
    sb.handle(Start(conversation="c2", queue="support"))  # bot-a (capacity 1) takes c2
    assert sb.state_of("c2") is State.BOT_ACTIVE
    cancelled = sb.handle(Cancel(conversation="c1"))
    assert ("participant_added", "bot-a") not in kinds(cancelled)
    assert sb.state_of("c1") is State.ENDED
    assert sb.outcome_of("c1") is Outcome.ABANDONED
