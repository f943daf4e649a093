"""The values a step may carry, checked and copied: text, times, ids and JSON values.

Theory of operation: every input the switchboard accepts is checked here before anything changes
(`handoff_fsm.events` uses these checks for every field of every event), and every JSON value that
goes into a conversation's state is copied in (`copy_json`), so that a caller who later changes
the mapping it handed over changes nothing inside, and one handed out is a copy too.

Rules:
- A check returns a one-line problem (a sentence fragment: "must be text, got None") or None; the
  caller puts the place in front. Checks never raise and never change the value.
- Text must be encodable as UTF-8 (a lone surrogate such as "x\\ud800" is refused: it could not be
  written to any output later). Numbers must be finite; whole numbers fit in 64 bits (as SQLite
  and most JSON readers keep them); JSON nests at most `MAX_DEPTH` levels; mapping keys are text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from handoff_fsm.vocabulary import JsonValue

MAX_DEPTH = 64
MAX_WHOLE = 2**63 - 1


def describe(value: object) -> str:
    """A short name of what was given, for messages (never the whole value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 80:
        return f"a whole number of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 24 else f"a number of {len(text)} characters"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def text_problem(value: object) -> str | None:
    if type(value) is str and value.isascii():
        return None  # the common case, first
    if not isinstance(value, str):
        return f"must be text, got {describe(value)}"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (it holds an unpaired surrogate)"
    return None


def time_problem(value: object) -> str | None:
    """A point in time, in seconds: a finite number. (Whether it comes after the switchboard's
    time is a refusal, `time_backwards`, not a malformed input.)"""
    if type(value) is float and math.isfinite(value):
        return None  # the common case, first
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number of seconds, got {describe(value)}"
    if isinstance(value, int) and abs(value) > MAX_WHOLE:
        return f"must be a number of seconds, got {describe(value)}"
    if not math.isfinite(value):
        return f"must be a finite number, got {describe(value)}"
    return None


def json_problem(value: object, depth: int = 0) -> str | None:
    """None if `value` is a JSON value (None, bool, whole number, finite number, text, list,
    mapping of text keys), else what is wrong and where inside it."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) <= MAX_WHOLE else "holds a whole number too large (over 64 bits)"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"holds a number that is not finite ({value!r})"
    if isinstance(value, str):
        return text_problem(value)
    if depth >= MAX_DEPTH:
        return f"nests deeper than {MAX_DEPTH} levels"
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = json_problem(item, depth + 1)
            if problem is not None:
                return f"[{index}] {problem}"
        return None
    if isinstance(value, Mapping):
        return mapping_problem(value, depth)
    return f"must be a JSON value, got {describe(value)}"


def mapping_problem(value: object, depth: int = 0) -> str | None:
    """None if `value` is a mapping of text to JSON values."""
    if not isinstance(value, Mapping):
        return f"must be a mapping of text to JSON values, got {describe(value)}"
    for key, item in value.items():
        problem = text_problem(key)
        if problem is not None:
            return f"has a key that {problem}"
        problem = json_problem(item, depth + 1)
        if problem is not None:
            return f"[{key!r}] {problem}"
    return None


def copy_json(value: JsonValue) -> JsonValue:
    """A deep copy of a checked JSON value (tuples become lists), sharing nothing mutable."""
    if isinstance(value, dict | Mapping):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [copy_json(item) for item in value]
    return value


def whole_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WHOLE:
        return f"must be a whole number >= 0, got {describe(value)}"
    return None


def timeout_problem(value: object) -> str | None:
    """A duration in seconds, > 0, or None for none."""
    if value is None:
        return None
    problem = time_problem(value)
    if problem is None and value <= 0:  # type: ignore[operator]
        problem = f"must be a number of seconds > 0 (or null), got {describe(value)}"
    return problem


def names_problem(value: object) -> str | None:
    """A tuple of distinct ids."""
    if not isinstance(value, tuple):
        return f"must be a tuple of text, got {describe(value)}"
    for item in value:
        problem = text_problem(item)
        if problem is not None:
            return f"item {problem}"
    if len(set(value)) != len(value):
        return "names one id twice"
    return None


def levels_problem(value: object) -> str | None:
    """Skills: a mapping of skill name to a level from 1 to 10."""
    if not isinstance(value, Mapping):
        return f"must be a mapping of skill to level, got {describe(value)}"
    for skill, level in value.items():
        problem = text_problem(skill)
        if problem is not None:
            return f"skill name {problem}"
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
            return f"level of {skill!r} must be a whole number from 1 to 10, got {describe(level)}"
    return None


def copy_mapping(value: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """A deep copy of a checked mapping of text to JSON values."""
    return {key: item if type(item) in _SCALARS else copy_json(item) for key, item in value.items()}


_SCALARS = frozenset({str, int, float, bool, type(None)})


__all__ = [
    "MAX_DEPTH",
    "MAX_WHOLE",
    "copy_json",
    "copy_mapping",
    "describe",
    "json_problem",
    "levels_problem",
    "mapping_problem",
    "names_problem",
    "text_problem",
    "time_problem",
    "timeout_problem",
    "whole_problem",
]
