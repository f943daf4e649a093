"""The input events: every field checked by `validate()`, and the conversation each names."""

from __future__ import annotations

import math

import attrs
import pytest

from handoff_fsm.errors import ErrorCode, InvalidStep
from handoff_fsm.events import (
    EVENT_TYPES,
    FIELD_CHECKS,
    CustomerMessage,
    Presence,
    SetVariable,
    Start,
    Tick,
    Transfer,
)
from handoff_fsm.vocabulary import PresenceStatus, Wanted


def test_every_field_of_every_event_has_a_check() -> None:
    for cls in EVENT_TYPES:
        for field in attrs.fields(cls):
            assert field.type in FIELD_CHECKS, (cls.STEP, field.name)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (CustomerMessage(conversation="c1", text=None), "text"),  # type: ignore[arg-type]
        (CustomerMessage(conversation=1, text="hi"), "conversation"),  # type: ignore[arg-type]
        (Tick(now=math.nan), "now"),
        (Tick(now="5"), "now"),  # type: ignore[arg-type]
        (Transfer(conversation="c", participant="p", queue="q", kind="robot"), "kind"),  # type: ignore[arg-type]
        (Presence(participant="p", status="gone"), "status"),  # type: ignore[arg-type]
        (Start(conversation="c", queue="q", variables=[]), "variables"),  # type: ignore[arg-type]
        (SetVariable(conversation="c", participant="p", name="n", value=object()), "value"),  # type: ignore[arg-type]
    ],
)
def test_validate_names_the_step_and_field_in_one_line(event: object, field: str) -> None:
    assert hasattr(event, "validate")
    with pytest.raises(InvalidStep) as rejected:
        event.validate()
    error = rejected.value
    assert (error.code, error.field) == (ErrorCode.INVALID_STEP, field)
    assert str(error).startswith(f"{error.step}.{field} ") and "\n" not in str(error)


def test_well_formed_events_pass() -> None:
    Start(conversation="c", queue="q", variables={"a": [1]}).validate()
    Transfer(conversation="c", participant="p", queue="q", kind=Wanted.BOT).validate()
    Presence(participant="p", status=PresenceStatus.AWAY).validate()
    Tick(now=0).validate()


def test_each_event_names_its_conversation_or_none() -> None:
    assert CustomerMessage(conversation="c1", text="hi").conversation == "c1"
    assert Presence(participant="p", status=PresenceStatus.AWAY).conversation is None
    assert Tick(now=1).conversation is None
