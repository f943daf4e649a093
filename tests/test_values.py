"""The value checks every step passes, and the deep copies that keep the state unshared."""

from __future__ import annotations

import math

import pytest

from handoff_fsm.values import (
    MAX_DEPTH,
    copy_json,
    copy_mapping,
    describe,
    json_problem,
    mapping_problem,
    text_problem,
    time_problem,
)
from handoff_fsm.vocabulary import JsonValue


@pytest.mark.parametrize("value", [None, True, 0, -3, 2.5, "x", [], {}, [1, {"a": [None]}]])
def test_json_values_pass(value: object) -> None:
    assert json_problem(value) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (math.nan, "not finite"),
        (math.inf, "not finite"),
        (10**30, "too large"),
        ({1, 2}, "JSON value"),
        (b"x", "JSON value"),
        ("x\ud800", "surrogate"),
        ({1: "a"}, "key"),
        ([0, [math.nan]], "[1] [0]"),
    ],
)
def test_what_json_cannot_carry_is_named(value: object, words: str) -> None:
    problem = json_problem(value)
    assert problem is not None and words in problem and "\n" not in problem


def test_nesting_is_bounded() -> None:
    deep: JsonValue = []
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    problem = json_problem(deep)
    assert problem is not None and "nests deeper" in problem


def test_text_time_and_mapping_checks() -> None:
    assert text_problem("ok") is None and text_problem(None) == "must be text, got null"
    assert time_problem(5) is None and time_problem(-1.5) is None  # order is checked elsewhere
    assert time_problem("5") == "must be a number of seconds, got text"
    assert time_problem(True) is not None and time_problem(math.nan) is not None
    assert mapping_problem({"a": 1}) is None and mapping_problem([1]) is not None


def test_describe_never_prints_a_huge_value() -> None:
    assert describe(10**5000) == "a whole number of about 5001 digits"
    assert describe("secret text") == "text"


def test_copies_share_nothing_mutable() -> None:
    original: dict[str, JsonValue] = {"a": [1, {"b": [2]}], "c": "x"}
    copied = copy_mapping(original)
    assert copied == original
    inner = original["a"]
    assert isinstance(inner, list)
    inner.append(3)
    assert copied == {"a": [1, {"b": [2]}], "c": "x"}
    assert copy_json([1, [2]]) == [1, [2]]
