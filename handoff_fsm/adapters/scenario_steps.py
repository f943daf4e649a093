"""Reading one step of a scenario file into a `ScenarioStep`: its event, time and id.

Theory of operation: the fields of each step kind come from the event classes of
`handoff_fsm.events` themselves (`EVENT_BY_STEP`): a field without a default is required, and its
annotation picks its reader (`_FIELD_READERS`, or any `StrEnum` of `handoff_fsm.events`). Adding a
step kind is one class in `events.py`; an annotation without a reader fails at import.

Rules: a step is a mapping with exactly one known step kind; `at` and `id` may sit beside the kind
or inside its mapping, not both; unknown keys are errors; a `tick` with `at` must give the same
time as its `now`. Whether a conversation, participant or queue named by a step exists, and
whether `at` goes backwards, depends on the run and is not checked here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from handoff_fsm import events
from handoff_fsm.adapters.scenario_values import OVERFLOW_FORMS, ValueReader
from handoff_fsm.errors import InvalidStep
from handoff_fsm.events import EVENT_BY_STEP, Event, Tick

STEP_META_KEYS = ("at", "id")


@attrs.frozen
class ScenarioStep:
    """One step of the file: its index (from 0), the event, and its optional time and id."""

    index: int
    event: Event
    at: float | None = None
    id: str | None = None

    @property
    def now(self) -> float | None:
        """The time to hand to the switchboard: `at`, or a tick's own `now`, or None (time does
        not move)."""
        if self.at is not None:
            return self.at
        if isinstance(self.event, Tick):
            return self.event.now
        return None


def read_step(reader: ValueReader, value: object, index: int) -> ScenarioStep:
    """The step at `index` of the file's `steps`, or `ScenarioError` naming its place."""
    place = f"steps[{index}]"
    entry = reader.mapping(value, place)
    kinds = [key for key in entry if key not in STEP_META_KEYS]
    if len(kinds) != 1 or kinds[0] not in EVENT_BY_STEP:
        known = ", ".join(EVENT_BY_STEP)
        if len(kinds) == 1:
            reader.fail(place, f"unknown step kind {kinds[0]!r} (known: {known})")
        found = ", ".join(kinds) if kinds else "none"
        reader.fail(place, f"must be exactly one step kind, found keys: {found} (known: {known})")
    step = kinds[0]
    fields = _STEP_FIELDS[step]
    body_place = f"{place}.{step}"
    body = dict(reader.section(entry[step], body_place))  # a copy: `at`/`id` are popped
    meta: dict[str, tuple[object, str]] = {}
    for key in STEP_META_KEYS:
        if key in entry:
            meta[key] = (entry[key], f"{place}.{key}")
        if key in body and key not in fields:
            if key in meta:
                reader.fail(
                    f"{place}.{key}", f"is given both beside and inside {step!r}; give it once"
                )
            meta[key] = (body.pop(key), f"{body_place}.{key}")
    reader.known_keys(body, body_place, (*fields, *STEP_META_KEYS))
    given: dict[str, Any] = {}
    for name, field in fields.items():
        if name in body:
            given[name] = field.read(reader, body[name], f"{body_place}.{name}")
        elif field.required:
            reader.fail(f"{body_place}.{name}", f"is missing ({field.expects})")
    event = EVENT_BY_STEP[step](**given)
    try:
        event.validate()  # the rules beyond one field's shape (a queue's units >= 1)
    except InvalidStep as exc:
        reader.fail(f"{body_place}.{exc.field}" if exc.field else body_place, str(exc))
    at_value, at_place = meta.get("at", (None, ""))
    at = None if at_value is None else reader.time(at_value, at_place)
    id_value, id_place = meta.get("id", (None, ""))
    if isinstance(event, Tick) and at is not None and at != event.now:
        reader.fail(at_place, f"is {at_value!r} but the tick's now is {event.now!r}; give one")
    return ScenarioStep(
        index=index, event=event, at=at, id=reader.optional_text(id_value, id_place)
    )


# -- step fields, read off the event classes ----------------------------------------------------

_Read = Callable[[ValueReader, object, str], object]


@attrs.frozen
class _StepField:
    required: bool
    read: _Read
    expects: str


_FIELD_READERS: dict[str, tuple[_Read, str]] = {
    "str": (ValueReader.text, "text"),
    "str | None": (ValueReader.optional_text, "text or null"),
    "bool": (ValueReader.boolean, "true or false"),
    "float": (ValueReader.time, "a number >= 0"),
    "JsonValue": (ValueReader.json_value, "any JSON value"),
    "Mapping[str, JsonValue]": (ValueReader.json_object, "a mapping of text to JSON values"),
    "int": (lambda reader, value, place: reader.whole(value, place, 0), "a whole number >= 0"),
    "float | None": (ValueReader.timeout, "a number of seconds > 0, or null"),
    "tuple[str, ...]": (ValueReader.names, "a list of ids"),
    "Mapping[str, int]": (ValueReader.levels, "a mapping of skill to level (1 to 10)"),
    "Overflow": (ValueReader.overflow_form, OVERFLOW_FORMS),
    "Wanted | None": (ValueReader.optional_wanted, "bot, human or any"),
    "int | None": (ValueReader.priority, "a whole number from -1000 to 1000"),
    "tuple[Requirement, ...]": (ValueReader.requirements, "a list of {skill, level, for}"),
    "tuple[Entry, ...]": (ValueReader.entries, "a list of {from, text}"),
}
"""Readers by the field's annotation as written in `handoff_fsm.events`."""


def _reader_for(annotation: str) -> tuple[_Read, str]:
    annotation = annotation.replace(" | Unchanged", "")  # absent: the default, UNCHANGED
    if annotation in _FIELD_READERS:
        return _FIELD_READERS[annotation]
    named = getattr(events, annotation, None)
    if isinstance(named, type) and issubclass(named, enum.StrEnum):
        choices: type[enum.StrEnum] = named

        def read(reader: ValueReader, value: object, place: str) -> object:
            return reader.choice(value, place, choices)

        return read, " or ".join(member.value for member in choices)
    raise TypeError(f"scenario: no reader for step field type {annotation!r}; add one")


def _fields_of(cls: type[Event]) -> dict[str, _StepField]:
    fields = {}
    for field in attrs.fields(cls):
        annotation = field.type if isinstance(field.type, str) else repr(field.type)
        read, expects = _reader_for(annotation)
        fields[field.name] = _StepField(
            required=field.default is attrs.NOTHING, read=read, expects=expects
        )
    return fields


_STEP_FIELDS: dict[str, dict[str, _StepField]] = {
    step: _fields_of(cls) for step, cls in EVENT_BY_STEP.items()
}
