"""Checks of single values of a scenario file, each naming the place it was reading.

Theory of operation: `ValueReader` holds the file name and offers one method per shape a value of
the file may take (a mapping, a list, text, a whole number, a time, a timeout, one of an enum's
values, any JSON value...). Each returns the value typed, or raises `ScenarioError(file, place,
problem)`. The sections of a scenario (`handoff_fsm.adapters.scenario`) and its steps
(`handoff_fsm.adapters.scenario_steps`) are read with these methods only.

Rules: nothing is guessed. Booleans are not numbers (YAML `true` is a boolean), numbers are not
text, a whole number is an `int`. The data handed in has already passed
`handoff_fsm.loading.check_plain` (text is valid Unicode, keys hold no control character, numbers
are finite and of at most 100 digits), so places built from keys stay on one line and every
number converts to a float. Every problem is one line.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import NoReturn, TypeVar

import attrs

from handoff_fsm.config import (
    Overflow,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    Requirement,
)
from handoff_fsm.effects import Entry
from handoff_fsm.errors import ScenarioError
from handoff_fsm.events import JsonValue
from handoff_fsm.loading import one_line
from handoff_fsm.vocabulary import Wanted

MAX_PRIORITY = 1000
"""Priorities run from -MAX_PRIORITY to MAX_PRIORITY (a ticket's place folds them in)."""

_Choice = TypeVar("_Choice", bound=enum.StrEnum)

OVERFLOW_FORMS = "end, return_to_bot or {transfer: QUEUE}"


def describe(value: object) -> str:
    """Name a value the way a person editing the file sees it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = json.dumps(value if len(value) <= 40 else value[:37] + "...", ensure_ascii=False)
        return f"text ({shown})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return one_line(f"a {type(value).__name__} ({value!s:.40})")


def join(place: str, key: str) -> str:
    """The dotted place of `key` inside `place`."""
    return f"{place}.{key}" if place else key


@attrs.frozen
class ValueReader:
    """Type checks that raise `ScenarioError` with the place they were reading."""

    file: str

    def fail(self, place: str, problem: str) -> NoReturn:
        raise ScenarioError(self.file, one_line(place), one_line(problem))

    # shapes

    def mapping(self, value: object, place: str) -> dict[str, object]:
        if not isinstance(value, dict):
            self.fail(place or "top level", f"must be a mapping, got {describe(value)}")
        for key in value:
            if not isinstance(key, str):
                self.fail(place or "top level", f"has a key that is not text: {describe(key)}")
        return value

    def section(self, value: object, place: str) -> dict[str, object]:
        """A mapping where `null` (a YAML key with nothing after it) means empty."""
        return {} if value is None else self.mapping(value, place)

    def known_keys(self, table: Mapping[str, object], place: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                self.fail(join(place, key), f"unknown key (allowed: {', '.join(allowed)})")

    def sequence(self, value: object, place: str) -> list[object]:
        if not isinstance(value, list):
            self.fail(place, f"must be a list, got {describe(value)}")
        return value

    # scalars

    def text(self, value: object, place: str) -> str:
        if not isinstance(value, str):
            self.fail(place, f"must be text, got {describe(value)}")
        return value

    def optional_text(self, value: object, place: str) -> str | None:
        return None if value is None else self.text(value, place)

    def phrases(self, value: object, place: str) -> tuple[str, ...]:
        items = self.sequence(value, place)
        phrases = tuple(self.text(item, f"{place}[{i}]") for i, item in enumerate(items))
        for i, phrase in enumerate(phrases):
            if not phrase.strip():
                self.fail(f"{place}[{i}]", "must not be blank (it would match every message)")
        return phrases

    def boolean(self, value: object, place: str) -> bool:
        if not isinstance(value, bool):
            self.fail(place, f"must be true or false, got {describe(value)}")
        return value

    def whole(self, value: object, place: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(place, f"must be a whole number >= {minimum}, got {describe(value)}")
        if value < minimum:
            self.fail(place, f"must be a whole number >= {minimum}, got {value}")
        return value

    def number(self, value: object, place: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(place, f"must be a number, got {describe(value)}")
        return float(value)

    def time(self, value: object, place: str) -> float:
        """A point in time, in seconds: a number >= 0."""
        number = self.number(value, place)
        if number < 0:
            self.fail(place, f"must be a number >= 0 (seconds), got {value!r}")
        return number

    def timeout(self, value: object, place: str) -> float | None:
        """A duration in seconds, > 0; null for none."""
        if value is None:
            return None
        number = self.number(value, place)
        if number <= 0:
            self.fail(place, f"must be a number of seconds > 0, got {value!r}")
        return number

    def priority(self, value: object, place: str) -> int | None:
        """A priority: a whole number from -1000 to 1000 (higher first); null for the queue's."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_PRIORITY:
            self.fail(place, f"must be a whole number from -1000 to 1000, got {describe(value)}")
        return value

    def requirements(self, value: object, place: str) -> tuple[Requirement, ...]:
        """`[{skill, level (default 1), for (seconds, optional)}]`."""
        found = []
        for i, item in enumerate(self.sequence(value, place)):
            at = f"{place}[{i}]"
            table = self.mapping(item, at)
            self.known_keys(table, at, ("skill", "level", "for"))
            if "skill" not in table:
                self.fail(f"{at}.skill", "is missing (a skill name)")
            skill = self.text(table["skill"], f"{at}.skill")
            level = table.get("level", 1)
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
                self.fail(f"{at}.level", f"must be a whole number 1 to 10, got {describe(level)}")
            found.append(
                Requirement(
                    skill=skill, level=level, for_=self.timeout(table.get("for"), f"{at}.for")
                )
            )
        return tuple(found)

    def entries(self, value: object, place: str) -> tuple[Entry, ...]:
        """A transcript: `[{from, text}]`."""
        found = []
        for i, item in enumerate(self.sequence(value, place)):
            at = f"{place}[{i}]"
            table = self.mapping(item, at)
            self.known_keys(table, at, ("from", "text"))
            for key in ("from", "text"):
                if key not in table:
                    self.fail(f"{at}.{key}", "is missing (text)")
            found.append(
                Entry(
                    sender=self.text(table["from"], f"{at}.from"),
                    text=self.text(table["text"], f"{at}.text"),
                )
            )
        return tuple(found)

    def optional_wanted(self, value: object, place: str) -> Wanted | None:
        return None if value is None else self.choice(value, place, Wanted)

    def choice(self, value: object, place: str, choices: type[_Choice]) -> _Choice:
        allowed = ", ".join(member.value for member in choices)
        if not isinstance(value, str) or value not in choices._value2member_map_:
            self.fail(place, f"must be one of {allowed}, got {describe(value)}")
        return choices(value)

    def names(self, value: object, place: str) -> tuple[str, ...]:
        """A list of distinct ids (participants of a queue, queues of a participant)."""
        items = self.sequence(value, place)
        names: list[str] = []
        for i, item in enumerate(items):
            name = self.text(item, f"{place}[{i}]")
            if name in names:
                self.fail(f"{place}[{i}]", f"lists {name!r} a second time")
            names.append(name)
        return tuple(names)

    def levels(self, value: object, place: str) -> dict[str, int]:
        """Skills: a mapping of skill name to level, a whole number from 1 to 10."""
        table = self.section(value, place)
        levels = {}
        for skill, level in table.items():
            levels[skill] = self.whole(level, join(place, skill), 1)
            if levels[skill] > 10:
                self.fail(join(place, skill), f"must be a whole number from 1 to 10, got {level}")
        return levels

    def overflow_form(self, value: object, place: str) -> Overflow:
        """end, return_to_bot or {transfer: QUEUE} (whether QUEUE exists is the caller's)."""
        if value == "end":
            return OverflowEnd()
        if value == "return_to_bot":
            return OverflowReturnToBot()
        if not isinstance(value, dict):
            self.fail(place, f"must be {OVERFLOW_FORMS}, got {describe(value)}")
        table = self.mapping(value, place)
        if list(table) != ["transfer"]:
            self.fail(place, f"must be {OVERFLOW_FORMS}, got keys {', '.join(table) or 'none'}")
        return OverflowTransfer(queue=self.text(table["transfer"], f"{place}.transfer"))

    # any JSON

    def json_value(self, value: object, place: str) -> JsonValue:
        """Any JSON value (YAML may also give dates, sets or binary: those are refused)."""
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [self.json_value(item, f"{place}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, dict):
            return self.json_object(value, place)
        self.fail(place, f"must be a JSON value, got {describe(value)}")

    def json_object(self, value: object, place: str) -> dict[str, JsonValue]:
        table = self.mapping(value, place)
        return {key: self.json_value(item, join(place, key)) for key, item in table.items()}
