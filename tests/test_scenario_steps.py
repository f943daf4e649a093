"""One step of a scenario file (`handoff_fsm.adapters.scenario_steps`): its event, time and id.

The bad steps, one case per rule, are in tests/test_scenario.py (`BAD`), read through the whole
file as a user meets them.
"""

from __future__ import annotations

import pytest

from handoff_fsm.adapters.scenario_steps import STEP_META_KEYS, ScenarioStep, read_step
from handoff_fsm.adapters.scenario_values import ValueReader
from handoff_fsm.errors import ScenarioError
from handoff_fsm.events import EVENT_BY_STEP, Accept, Tick

READER = ValueReader("f")
ACCEPT = {"conversation": "c1", "participant": "rep-1"}


def test_at_and_id_are_read_beside_or_inside_the_step_kind() -> None:
    event = Accept(conversation="c1", participant="rep-1")
    assert read_step(READER, {"accept": ACCEPT, "at": 5, "id": "m-1"}, 0) == ScenarioStep(
        0, event, 5.0, "m-1"
    )
    assert read_step(READER, {"accept": {**ACCEPT, "at": 6, "id": "m-2"}}, 1) == ScenarioStep(
        1, event, 6.0, "m-2"
    )
    assert read_step(READER, {"accept": ACCEPT, "at": None, "id": None}, 2) == ScenarioStep(
        2, event, None, None
    )


def test_the_time_of_a_step_is_its_at_or_a_ticks_now() -> None:
    assert read_step(READER, {"accept": ACCEPT, "at": 5}, 0).now == 5.0
    assert read_step(READER, {"accept": ACCEPT}, 0).now is None
    tick = read_step(READER, {"tick": {"now": 120}}, 0)
    assert (tick.at, tick.now, tick.event) == (None, 120.0, Tick(now=120))
    assert read_step(READER, {"tick": {"now": 130}, "at": 130}, 0).now == 130.0


def test_at_given_twice_is_refused_at_the_outer_place() -> None:
    with pytest.raises(ScenarioError) as caught:
        read_step(READER, {"accept": {**ACCEPT, "at": 1}, "at": 1}, 3)
    assert caught.value.place == "steps[3].at"


def test_a_missing_field_names_what_it_expects() -> None:
    with pytest.raises(ScenarioError) as caught:
        read_step(READER, {"accept": {"conversation": "c1"}}, 0)
    assert (caught.value.place, caught.value.problem) == (
        "steps[0].accept.participant",
        "is missing (text)",
    )


def test_every_step_kind_has_a_reader_for_each_field() -> None:
    # the table is built at import; a kind whose fields all read proves its readers exist
    for step in EVENT_BY_STEP:
        with pytest.raises(ScenarioError, match=f"steps\\[0\\]\\.{step}"):
            read_step(READER, {step: {"no_such_field": 1}}, 0)
    assert STEP_META_KEYS == ("at", "id")
