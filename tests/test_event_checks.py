"""The field checks of the live-change events (handoff_fsm/event_checks.py): every malformed
field is an `InvalidStep` naming the field, before anything changes."""

from __future__ import annotations

import pytest

from handoff_fsm.config import Config, OverflowTransfer, ParticipantSpec
from handoff_fsm.errors import InvalidStep
from handoff_fsm.event_checks import FIELD_CHECKS, UNCHANGED
from handoff_fsm.events import (
    EVENT_TYPES,
    AddParticipant,
    AddQueue,
    Event,
    Kind,
    SetCapacity,
    SetSkills,
    UpdateQueue,
)
from handoff_fsm.switchboard import Switchboard


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (SetCapacity(participant="r", capacity=-1), "capacity"),
        (SetCapacity(participant="r", capacity=True), "capacity"),
        (SetSkills(participant="r", skills={"billing": 11}), "skills"),
        (SetSkills(participant="r", skills={"billing": 0}), "skills"),
        (AddParticipant(participant="r", kind="robot"), "kind"),  # type: ignore[arg-type]
        (AddParticipant(participant="r", kind=Kind.BOT, queues=("q", "q")), "queues"),
        (AddQueue(queue="q", units=0), "units"),
        (AddQueue(queue="q", offer_timeout=0), "offer_timeout"),
        (AddQueue(queue="q", overflow="later"), "overflow"),  # type: ignore[arg-type]
        (UpdateQueue(queue="q", wait_timeout=-1.0), "wait_timeout"),
        (UpdateQueue(queue="q", units=0), "units"),
    ],
    ids=lambda value: getattr(value, "STEP", value),
)
def test_a_malformed_field_is_named_and_changes_nothing(event: Event, field: str) -> None:
    board = Switchboard(Config(participants=(ParticipantSpec(id="r", kind=Kind.BOT, capacity=1),)))
    with pytest.raises(InvalidStep) as raised:
        board.step(event, now=1, step_id="x")
    assert raised.value.field == field
    assert (
        board.now == 0
        and board.step(SetCapacity(participant="r", capacity=2), step_id="x").status == "applied"
    )


def test_unchanged_fields_pass_and_a_transfer_overflow_is_checked() -> None:
    UpdateQueue(queue="q").validate()
    assert UpdateQueue(queue="q").units is UNCHANGED
    AddQueue(queue="q", overflow=OverflowTransfer(queue="other")).validate()


def test_every_field_of_every_event_has_a_check() -> None:
    import attrs

    for cls in EVENT_TYPES:
        for field in attrs.fields(cls):
            assert str(field.type) in FIELD_CHECKS, (cls.STEP, field.name)
