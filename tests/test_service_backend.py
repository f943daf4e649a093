"""The service's interface words: the refusal codes, and the defaults a center gets."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest
from service_server import center_config

pytest.importorskip("starlette", reason="the service extra is not installed")

from handoff_fsm.config import Settings
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import Accept, CustomerMessage, Escalate, Event, Start
from handoff_fsm.service.backend import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_RETENTION,
    refusal_code,
    with_service_defaults,
)
from handoff_fsm.switchboard import Switchboard

CONFIG = center_config()


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=30))


def refusal(event: Event, *before: Event) -> StepRefused:
    board = Switchboard(CONFIG)
    for step in before:
        board.handle(step, now=1)
    with pytest.raises(StepRefused) as caught:
        board.handle(event, now=1)
    return caught.value


START = Start(conversation="a", queue="support")
ESCALATE = Escalate(conversation="a", participant="bot-a")


@pytest.mark.parametrize(
    ("event", "before", "code"),
    [
        (CustomerMessage(conversation="zz", text="x"), (), "unknown_conversation"),
        (START, (START,), "already_exists"),
        (Accept(conversation="a", participant="rep-1"), (START,), "wrong_state"),
        (Accept(conversation="a", participant="bot-a"), (START, ESCALATE), "no_offer"),
        (Escalate(conversation="a", participant="rep-1"), (START,), "not_holder"),
        (Start(conversation="b", queue="nowhere"), (), "unknown_queue"),
        (Accept(conversation="a", participant="nobody"), (START, ESCALATE), "unknown_participant"),
    ],
)
def test_refusal_codes_of_todays_messages(
    event: Event, before: tuple[Event, ...], code: str
) -> None:
    assert refusal_code(refusal(event, *before)) == code


def test_an_exception_with_its_own_code_keeps_it() -> None:
    error = StepRefused(ErrorCode.NOT_HOLDER, "unknown conversation 'x'")
    assert refusal_code(error) == "not_holder"


def test_a_center_gets_finite_windows_when_the_config_gives_none() -> None:
    filled = with_service_defaults(CONFIG).settings
    assert CONFIG.settings.retention is None and CONFIG.settings.dedup_window is None
    assert (filled.retention, filled.dedup_window) == (DEFAULT_RETENTION, DEFAULT_DEDUP_WINDOW)
    given = attrs.evolve(CONFIG, settings=Settings(retention=60, dedup_window=5))
    assert with_service_defaults(given) == given
