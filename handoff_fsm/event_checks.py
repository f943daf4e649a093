"""The checks of event fields, by their annotation: the one place a step's field types are known.

Theory of operation: every event class of `handoff_fsm.events` declares its fields with
annotations; `checks_of` maps each annotation (as written, a string) to its check from
`FIELD_CHECKS`, so a new field is checked as soon as it is declared, and a field of a type nobody
knows how to check fails at import. The checks themselves are the value checks of
`handoff_fsm.values` (one-line problems, or None).

Rules: `UNCHANGED` is the "left as it is" of `update_queue` (None is a value there: no timeout);
a field that may be `UNCHANGED` is checked like its other type when given.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from handoff_fsm.config import OverflowEnd, OverflowReturnToBot, OverflowTransfer, Requirement
from handoff_fsm.effects import Entry
from handoff_fsm.values import (
    describe,
    json_problem,
    levels_problem,
    mapping_problem,
    names_problem,
    text_problem,
    time_problem,
    timeout_problem,
    whole_problem,
)
from handoff_fsm.vocabulary import Kind, PresenceStatus, Strategy, Wanted


class Unchanged(enum.Enum):
    """A field of `update_queue` left as it is."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED

Check = Callable[[object], "str | None"]


def _optional_text(value: object) -> str | None:
    return None if value is None else text_problem(value)


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {describe(value)}"


def _choice(choices: type[enum.StrEnum]) -> Check:
    names = " or ".join(member.value for member in choices)

    def check(value: object) -> str | None:
        if isinstance(value, choices):
            return None
        return f"must be {names}, got {describe(value)}"

    return check


def _overflow(value: object) -> str | None:
    if isinstance(value, OverflowEnd | OverflowReturnToBot):
        return None
    if isinstance(value, OverflowTransfer):
        return text_problem(value.queue)
    return f"must be end, return_to_bot or a transfer to a queue, got {describe(value)}"


def _priority(value: object) -> str | None:
    if value is None or (
        isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 1000
    ):
        return None
    return f"must be a whole number from -1000 to 1000, got {describe(value)}"


def _requirements(value: object) -> str | None:
    if not isinstance(value, tuple):
        return f"must be a list of requirements, got {describe(value)}"
    for i, item in enumerate(value):
        if not isinstance(item, Requirement):
            return f"[{i}] must be a requirement {{skill, level, for}}, got {describe(item)}"
        problem = text_problem(item.skill)
        if problem is not None:
            return f"[{i}].skill {problem}"
        if isinstance(item.level, bool) or not isinstance(item.level, int):
            return f"[{i}].level must be a whole number 1 to 10, got {describe(item.level)}"
        if not 1 <= item.level <= 10:
            return f"[{i}].level must be a whole number 1 to 10, got {item.level}"
        if item.for_ is not None and (time_problem(item.for_) is not None or not item.for_ > 0):
            return f"[{i}].for must be a number of seconds > 0, got {describe(item.for_)}"
    return None


def _entries(value: object) -> str | None:
    if not isinstance(value, tuple):
        return f"must be a list of {{from, text}}, got {describe(value)}"
    for i, item in enumerate(value):
        if not isinstance(item, Entry):
            return f"[{i}] must be a transcript entry {{from, text}}, got {describe(item)}"
        problem = text_problem(item.sender) or text_problem(item.text)
        if problem is not None:
            return f"[{i}] {problem}"
    return None


def _or_unchanged(check: Check) -> Check:
    def either(value: object) -> str | None:
        return None if value is UNCHANGED else check(value)

    return either


FIELD_CHECKS: dict[str, Check] = {
    "str": text_problem,
    "str | None": _optional_text,
    "bool": _boolean,
    "float": time_problem,
    "JsonValue": json_problem,
    "Mapping[str, JsonValue]": mapping_problem,
    "Wanted": _choice(Wanted),
    "PresenceStatus": _choice(PresenceStatus),
    "Kind": _choice(Kind),
    "Strategy": _choice(Strategy),
    "int": whole_problem,
    "float | None": timeout_problem,
    "tuple[str, ...]": names_problem,
    "Mapping[str, int]": levels_problem,
    "Overflow": _overflow,
    "Strategy | Unchanged": _or_unchanged(_choice(Strategy)),
    "int | Unchanged": _or_unchanged(whole_problem),
    "float | Unchanged | None": _or_unchanged(timeout_problem),
    "Overflow | Unchanged": _or_unchanged(_overflow),
    "Wanted | None": lambda value: None if value is None else _choice(Wanted)(value),
    "int | None": _priority,
    "tuple[Requirement, ...]": _requirements,
    "tuple[Entry, ...]": _entries,
}
"""The check of a field, by its annotation as written in `handoff_fsm.events`."""


def checks_of(cls: Any) -> tuple[tuple[str, Check], ...]:
    """(field name, check) for every field of an attrs event class."""
    checks = []
    for field in attrs.fields(cls):
        annotation = field.type if isinstance(field.type, str) else repr(field.type)
        if annotation not in FIELD_CHECKS:
            raise TypeError(f"events: no check for field type {annotation!r}; add one")
        checks.append((field.name, FIELD_CHECKS[annotation]))
    return tuple(checks)


__all__ = ["FIELD_CHECKS", "UNCHANGED", "Check", "Unchanged", "checks_of"]
