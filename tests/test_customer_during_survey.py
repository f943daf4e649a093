"""During the survey a customer message is kept in the transcript and relayed to nobody, and the
survey's own timer is the only one pending. Driven through `Switchboard.handle` and its read-only
views."""

from __future__ import annotations

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec, Settings
from handoff_fsm.effects import CUSTOMER, Entry
from handoff_fsm.events import CustomerMessage, End, Start
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect


def test_a_customer_message_during_the_survey_is_kept_and_relayed_to_nobody() -> None:
    people = [ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=1)]
    sb = Switchboard(
        Config.build(
            people,
            [QueueSpec(name="support", members=("bot-a",))],
            Settings(survey_timeout=300),
        )
    )
    sb.handle(Start(conversation="c1", queue="support"), now=0)
    sb.handle(End(conversation="c1", participant="bot-a", survey=True), now=10)
    assert sb.state_of("c1") is State.SURVEY
    assert switchboard_inspect.pending_timers(sb) == ((310, "survey", "c1", ""),)
    assert sb.handle(CustomerMessage(conversation="c1", text="5 stars"), now=20) == []
    assert sb.context_of("c1").transcript == (Entry(sender=CUSTOMER, text="5 stars"),)
    assert sb.state_of("c1") is State.SURVEY
