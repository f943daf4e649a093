"""Checks of single values of a scenario file (`handoff_fsm.adapters.scenario_values`).

The sections and steps that use them are tested through whole files in tests/test_scenario.py.
"""

from __future__ import annotations

import datetime

import pytest

from handoff_fsm.adapters.scenario_values import ValueReader, describe, join
from handoff_fsm.errors import ScenarioError
from handoff_fsm.events import PresenceStatus

READER = ValueReader("f.yaml")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "null"),
        (True, "a boolean (true)"),
        (2.5, "a number (2.5)"),
        ("é\n", 'text ("é\\n")'),
        ("x" * 50, f'text ("{"x" * 37}...")'),
        ([1], "a list"),
        ({}, "a mapping"),
        (datetime.date(2024, 5, 1), "a date (2024-05-01)"),
    ],
)
def test_a_value_is_described_as_the_file_shows_it(value: object, shown: str) -> None:
    assert describe(value) == shown


def test_places_join_with_dots() -> None:
    assert (join("", "steps"), join("queues", "support")) == ("steps", "queues.support")


def test_a_failure_is_one_line_naming_file_and_place() -> None:
    with pytest.raises(ScenarioError) as caught:
        READER.fail("a\nb", "is\nwrong")
    assert str(caught.value) == "f.yaml: a b: is wrong"
    assert caught.value.code == "scenario_invalid"


def test_booleans_are_not_numbers_and_whole_numbers_not_fractions() -> None:
    with pytest.raises(ScenarioError, match="must be a number, got a boolean"):
        READER.number(True, "x")
    with pytest.raises(ScenarioError, match="whole number >= 0, got a number"):
        READER.whole(2.0, "x", 0)
    assert READER.number(2, "x") == 2.0


def test_times_and_timeouts_keep_their_bounds() -> None:
    assert READER.time(0, "x") == 0.0
    assert READER.timeout(None, "x") is None
    with pytest.raises(ScenarioError, match=">= 0"):
        READER.time(-1, "x")
    with pytest.raises(ScenarioError, match="> 0"):
        READER.timeout(0, "x")


def test_a_choice_names_every_allowed_value() -> None:
    assert READER.choice("away", "x", PresenceStatus) is PresenceStatus.AWAY
    with pytest.raises(ScenarioError, match="must be one of available, away, offline"):
        READER.choice("gone", "x", PresenceStatus)


def test_json_values_keep_their_shape_and_refuse_what_json_cannot_carry() -> None:
    value: dict[str, object] = {"a": [1, 2.5, None, True, "t", {"b": []}]}
    assert READER.json_value(value, "v") == value
    with pytest.raises(ScenarioError) as caught:
        READER.json_value({"a": [datetime.date(2024, 5, 1)]}, "v")
    assert caught.value.place == "v.a[0]"
