"""A supervisor who goes offline leaves every conversation it monitors, however many it joined
and whichever of them ended first. Driven through `Switchboard.handle` only, judged by the
effects."""

from __future__ import annotations

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.effects import ParticipantRemoved
from handoff_fsm.events import End, Monitor, Presence, PresenceStatus, Start
from handoff_fsm.switchboard import Switchboard


def board() -> Switchboard:
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="sup", kind=Kind.HUMAN, capacity=1),
    ]
    return Switchboard(Config.build(people, [QueueSpec(name="support", members=("bot-a",))]))


def test_going_offline_leaves_the_monitored_conversations_still_open() -> None:
    sb = board()
    for cid in ("c1", "c2", "c3"):
        sb.handle(Start(conversation=cid, queue="support"))
        sb.handle(Monitor(conversation=cid, participant="sup"))
    sb.handle(End(conversation="c2", participant="bot-a"))  # sup leaves c2 with it
    offline = sb.handle(Presence(participant="sup", status=PresenceStatus.OFFLINE))
    assert offline == [
        ParticipantRemoved(conversation="c1", to="sup"),
        ParticipantRemoved(conversation="c3", to="sup"),
    ]
    assert sb.monitors_of("c1") == sb.monitors_of("c3") == ()


def test_a_supervisor_that_monitored_only_ended_conversations_goes_offline_quietly() -> None:
    sb = board()
    sb.handle(Start(conversation="c1", queue="support"))
    sb.handle(Monitor(conversation="c1", participant="sup"))
    sb.handle(End(conversation="c1", participant="bot-a"))
    assert sb.handle(Presence(participant="sup", status=PresenceStatus.OFFLINE)) == []
