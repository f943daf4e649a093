"""A transfer that names a participant goes to that participant, even when the queue's strategy
ranks someone else first. Driven through `Switchboard.handle` only, judged by the effects."""

from __future__ import annotations

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.effects import Offer
from handoff_fsm.events import Accept, Escalate, Start, Transfer, Wanted
from handoff_fsm.switchboard import Switchboard


def test_a_named_transfer_is_offered_to_the_named_human_only() -> None:
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="rep-big", kind=Kind.HUMAN, capacity=9),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=2),
    ]
    members = ("bot-a", "rep-1", "rep-big", "rep-2")
    sb = Switchboard(Config.build(people, [QueueSpec(name="support", members=members)]))
    sb.handle(Start(conversation="c1", queue="support"))
    sb.handle(Escalate(conversation="c1", participant="bot-a"))  # offered to rep-big
    sb.handle(Accept(conversation="c1", participant="rep-big"))
    handed = sb.handle(
        Transfer(
            conversation="c1", participant="rep-big", queue="support", kind=Wanted.HUMAN, to="rep-1"
        )
    )
    assert handed[-1] == Offer(conversation="c1", to="rep-1", queue="support")
