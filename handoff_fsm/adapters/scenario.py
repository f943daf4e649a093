"""Reading scenario files (SPEC §5) into a `Scenario`: the contact center's `Config` and the steps.

Theory of operation: `load_scenario` reads the bytes, picks the parser by extension (`.yaml`/`.yml`
is YAML, anything else JSON) and hands the plain data to `parse_scenario`, which checks the whole
shape and builds typed values: `Settings`, `ParticipantSpec`s and `QueueSpec`s from
`handoff_fsm.config`, and one event from `handoff_fsm.events` per step. The runner (and any other
adapter that replays a file) then only has to feed `Scenario.steps` to a switchboard.

Rules:
- Everything SPEC §5 calls a bad *file* is found here, before any step runs, and raised as a
  `ScenarioError(file, place, problem)` whose place is a dotted path into the file
  (`participants.rep-1.capacity`, `steps[3].accept.participant`) and whose problem is one line.
- What depends on the run is not checked here: whether a conversation, participant or queue named
  by a step exists, and whether `at` goes backwards. The switchboard refuses those when the step
  runs, as an embedding service would meet them, and the runner prints an `error` line.
- Step fields come from the event classes themselves: a field without a default is required, and
  its annotation picks its reader (`_FIELD_READERS`, or any `StrEnum` of `handoff_fsm.events`).
  Adding a step kind is one class in `events.py`; an annotation without a reader fails at import.
- Nothing is guessed: booleans are not numbers (YAML `true` is a boolean), numbers are not text,
  a whole number is an `int`, a key given twice in one mapping is an error (JSON and YAML would
  both keep the last one silently), unknown keys are errors. `null` stands for "none" only where
  "none" is a value (timeouts, `at`, `id`, a transfer's `to`) and for an empty section or body.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import attrs
import yaml

from handoff_fsm import events
from handoff_fsm.config import (
    Config,
    Kind,
    Overflow,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Settings,
    Strategy,
)
from handoff_fsm.effects import CUSTOMER
from handoff_fsm.errors import ScenarioError
from handoff_fsm.events import EVENT_BY_STEP, Event, JsonValue, Tick

YAML_SUFFIXES = frozenset({".yaml", ".yml"})
TOP_KEYS = ("settings", "participants", "queues", "steps")
SETTINGS_KEYS = ("fallback_limit", "escalation_phrases", "cancel_phrases", "survey_timeout")
PARTICIPANT_KEYS = ("kind", "capacity")
QUEUE_KEYS = ("participants", "strategy", "units", "offer_timeout", "wait_timeout", "overflow")
STEP_META_KEYS = ("at", "id")
DEFAULT_CAPACITY = 1
"""A participant's capacity when the file does not give one (SPEC §5 is silent; one at a time)."""

_OVERFLOW_FORMS = "end, return_to_bot or {transfer: QUEUE}"

_Choice = TypeVar("_Choice", bound=enum.StrEnum)


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


@attrs.frozen
class Scenario:
    config: Config
    steps: tuple[ScenarioStep, ...]


def load_scenario(path: Path) -> Scenario:
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(file, "", f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            file, "", f"is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    if path.suffix.lower() in YAML_SUFFIXES:
        data = _parse_yaml(text, file)
    else:
        data = _parse_json(text, file)
    return parse_scenario(data, file)


def parse_scenario(data: object, file: str) -> Scenario:
    """Check the shape of already parsed scenario data (JSON values) and build the `Scenario`."""
    reader = _Reader(file)
    try:
        top = reader.mapping(data, "")
        reader.known_keys(top, "", TOP_KEYS)
        if "steps" not in top:
            reader.fail("steps", "is missing")
        settings = reader.settings(top.get("settings"))
        participants = reader.participants(top.get("participants"))
        queues = reader.queues(top.get("queues"), {spec.id for spec in participants})
        steps = reader.steps(top["steps"])
    except RecursionError:
        reader.fail("", "is nested too deeply")
    return Scenario(
        config=Config(settings=settings, participants=participants, queues=queues), steps=steps
    )


# -- parsing ------------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for key, value in pairs:
        if key in table:
            raise _DuplicateKey(key)
        table[key] = value
    return table


def _parse_json(text: str, file: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            file, f"line {exc.lineno}", f"is not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    except _DuplicateKey as exc:
        raise ScenarioError(file, "", f"gives key {str(exc)!r} twice in one JSON object") from None
    except RecursionError:
        raise ScenarioError(file, "", "is nested too deeply") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.safe_load`'s loader, except that a key given twice in one mapping is an error instead
    of the last one silently winning. Keys brought in by a merge (`<<: *anchor`) may still be
    overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _parse_yaml(text: str, file: str) -> object:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # safe: a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        place = f"line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "cannot be parsed"
        raise ScenarioError(file, place, _one_line(f"is not valid YAML ({problem})")) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, "", _one_line(f"is not valid YAML ({exc})")) from None
    except RecursionError:
        raise ScenarioError(file, "", "is nested too deeply") from None


# -- checking -----------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe(value: object) -> str:
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
    return f"a {type(value).__name__} ({value!s:.40})"


def _join(place: str, key: str) -> str:
    return f"{place}.{key}" if place else key


@attrs.frozen
class _Reader:
    """Type checks that raise `ScenarioError` with the place they were reading."""

    file: str

    def fail(self, place: str, problem: str) -> NoReturn:
        raise ScenarioError(self.file, place, _one_line(problem))

    # generic shapes

    def mapping(self, value: object, place: str) -> dict[str, object]:
        if not isinstance(value, dict):
            self.fail(place or "top level", f"must be a mapping, got {_describe(value)}")
        for key in value:
            if not isinstance(key, str):
                self.fail(place or "top level", f"has a key that is not text: {_describe(key)}")
        return value

    def section(self, value: object, place: str) -> dict[str, object]:
        """A mapping where `null` (a YAML key with nothing after it) means empty."""
        return {} if value is None else self.mapping(value, place)

    def known_keys(self, table: Mapping[str, object], place: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                self.fail(_join(place, key), f"unknown key (allowed: {', '.join(allowed)})")

    def sequence(self, value: object, place: str) -> list[object]:
        if not isinstance(value, list):
            self.fail(place, f"must be a list, got {_describe(value)}")
        return value

    def text(self, value: object, place: str) -> str:
        if not isinstance(value, str):
            self.fail(place, f"must be text, got {_describe(value)}")
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
            self.fail(place, f"must be true or false, got {_describe(value)}")
        return value

    def whole(self, value: object, place: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(place, f"must be a whole number >= {minimum}, got {_describe(value)}")
        if value < minimum:
            self.fail(place, f"must be a whole number >= {minimum}, got {value}")
        return value

    def number(self, value: object, place: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(place, f"must be a number, got {_describe(value)}")
        try:
            number = float(value)
        except OverflowError:
            self.fail(place, "is too large")
        if not math.isfinite(number):
            self.fail(place, f"must be a finite number, got {value!r}")
        return number

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

    def choice(self, value: object, place: str, choices: type[_Choice]) -> _Choice:
        allowed = ", ".join(member.value for member in choices)
        if not isinstance(value, str) or value not in choices._value2member_map_:
            self.fail(place, f"must be one of {allowed}, got {_describe(value)}")
        return choices(value)

    def json_value(self, value: object, place: str) -> JsonValue:
        """Any JSON value (YAML may also give dates, sets or binary: those are refused)."""
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(place, f"must be a finite number, got {value!r}")
            return value
        if isinstance(value, list):
            return [self.json_value(item, f"{place}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, dict):
            return self.json_object(value, place)
        self.fail(place, f"must be a JSON value, got {_describe(value)}")

    def json_object(self, value: object, place: str) -> dict[str, JsonValue]:
        table = self.mapping(value, place)
        return {key: self.json_value(item, _join(place, key)) for key, item in table.items()}

    # the sections of a scenario

    def settings(self, value: object) -> Settings:
        table = self.section(value, "settings")
        self.known_keys(table, "settings", SETTINGS_KEYS)
        given: dict[str, Any] = {}
        if "fallback_limit" in table:
            given["fallback_limit"] = self.whole(
                table["fallback_limit"], "settings.fallback_limit", 1
            )
        for key in ("escalation_phrases", "cancel_phrases"):
            if key in table:
                given[key] = self.phrases(table[key], f"settings.{key}")
        if "survey_timeout" in table:
            given["survey_timeout"] = self.timeout(
                table["survey_timeout"], "settings.survey_timeout"
            )
        return Settings(**given)

    def participants(self, value: object) -> tuple[ParticipantSpec, ...]:
        specs = []
        for pid, body in self.section(value, "participants").items():
            place = f"participants.{pid}"
            if pid == CUSTOMER:
                self.fail(
                    place, f"{CUSTOMER!r} is reserved: effects to the customer use it as `to`"
                )
            fields = self.section(body, place)
            self.known_keys(fields, place, PARTICIPANT_KEYS)
            if "kind" not in fields:
                self.fail(f"{place}.kind", "is missing (bot or human)")
            kind = self.choice(fields["kind"], f"{place}.kind", Kind)
            capacity = self.whole(fields.get("capacity", DEFAULT_CAPACITY), f"{place}.capacity", 0)
            specs.append(ParticipantSpec(id=pid, kind=kind, capacity=capacity))
        return tuple(specs)

    def queues(self, value: object, participants: set[str]) -> tuple[QueueSpec, ...]:
        table = self.section(value, "queues")
        return tuple(
            self.queue(name, body, participants, set(table)) for name, body in table.items()
        )

    def queue(self, name: str, body: object, participants: set[str], queues: set[str]) -> QueueSpec:
        place = f"queues.{name}"
        fields = self.section(body, place)
        self.known_keys(fields, place, QUEUE_KEYS)
        if "participants" not in fields:
            self.fail(f"{place}.participants", "is missing (a list of participant ids)")
        members: list[str] = []
        for i, item in enumerate(self.sequence(fields["participants"], f"{place}.participants")):
            member = self.text(item, f"{place}.participants[{i}]")
            if member not in participants:
                self.fail(f"{place}.participants[{i}]", f"names undefined participant {member!r}")
            if member in members:
                self.fail(f"{place}.participants[{i}]", f"lists {member!r} a second time")
            members.append(member)
        given: dict[str, Any] = {}
        if "strategy" in fields:
            given["strategy"] = self.choice(fields["strategy"], f"{place}.strategy", Strategy)
        if "units" in fields:
            given["units"] = self.whole(fields["units"], f"{place}.units", 1)
        for key in ("offer_timeout", "wait_timeout"):
            if key in fields:
                given[key] = self.timeout(fields[key], f"{place}.{key}")
        if "overflow" in fields:
            given["overflow"] = self.overflow(fields["overflow"], f"{place}.overflow", name, queues)
        return QueueSpec(name=name, members=tuple(members), **given)

    def overflow(self, value: object, place: str, queue: str, queues: set[str]) -> Overflow:
        if value == "end":
            return OverflowEnd()
        if value == "return_to_bot":
            return OverflowReturnToBot()
        if not isinstance(value, dict):
            self.fail(place, f"must be {_OVERFLOW_FORMS}, got {_describe(value)}")
        table = self.mapping(value, place)
        if list(table) != ["transfer"]:
            self.fail(place, f"must be {_OVERFLOW_FORMS}, got keys {', '.join(table) or 'none'}")
        target = self.text(table["transfer"], f"{place}.transfer")
        if target == queue:
            self.fail(f"{place}.transfer", "names the queue itself")
        if target not in queues:
            self.fail(f"{place}.transfer", f"names undefined queue {target!r}")
        return OverflowTransfer(queue=target)

    def steps(self, value: object) -> tuple[ScenarioStep, ...]:
        items = self.sequence(value, "steps")
        return tuple(self.step(item, index) for index, item in enumerate(items))

    def step(self, value: object, index: int) -> ScenarioStep:
        place = f"steps[{index}]"
        entry = self.mapping(value, place)
        kinds = [key for key in entry if key not in STEP_META_KEYS]
        if len(kinds) != 1 or kinds[0] not in EVENT_BY_STEP:
            known = ", ".join(EVENT_BY_STEP)
            if len(kinds) == 1:
                self.fail(place, f"unknown step kind {kinds[0]!r} (known: {known})")
            found = ", ".join(kinds) if kinds else "none"
            self.fail(place, f"must be exactly one step kind, found keys: {found} (known: {known})")
        step = kinds[0]
        fields = _STEP_FIELDS[step]
        body_place = f"{place}.{step}"
        body = dict(self.section(entry[step], body_place))  # a copy: `at`/`id` are popped
        meta: dict[str, tuple[object, str]] = {}
        for key in STEP_META_KEYS:
            if key in entry:
                meta[key] = (entry[key], f"{place}.{key}")
            if key in body and key not in fields:
                if key in meta:
                    self.fail(
                        f"{place}.{key}", f"is given both beside and inside {step!r}; give it once"
                    )
                meta[key] = (body.pop(key), f"{body_place}.{key}")
        allowed = (*fields, *STEP_META_KEYS)
        self.known_keys(body, body_place, allowed)
        given: dict[str, Any] = {}
        for name, field in fields.items():
            if name in body:
                given[name] = field.read(self, body[name], f"{body_place}.{name}")
            elif field.required:
                self.fail(f"{body_place}.{name}", f"is missing ({field.expects})")
        event = EVENT_BY_STEP[step](**given)
        at_value, at_place = meta.get("at", (None, ""))
        at = None if at_value is None else self.time(at_value, at_place)
        id_value, id_place = meta.get("id", (None, ""))
        if isinstance(event, Tick) and at is not None and at != event.now:
            self.fail(at_place, f"is {at_value!r} but the tick's now is {event.now!r}; give one")
        return ScenarioStep(
            index=index, event=event, at=at, id=self.optional_text(id_value, id_place)
        )


# -- step fields, read off the event classes ----------------------------------------------------

_Read = Callable[[_Reader, object, str], object]


@attrs.frozen
class _StepField:
    required: bool
    read: _Read
    expects: str


_FIELD_READERS: dict[str, tuple[_Read, str]] = {
    "str": (_Reader.text, "text"),
    "str | None": (_Reader.optional_text, "text or null"),
    "bool": (_Reader.boolean, "true or false"),
    "float": (_Reader.time, "a number >= 0"),
    "JsonValue": (_Reader.json_value, "any JSON value"),
    "Mapping[str, JsonValue]": (_Reader.json_object, "a mapping of text to JSON values"),
}
"""Readers by the field's annotation as written in `handoff_fsm.events`."""


def _reader_for(annotation: str) -> tuple[_Read, str]:
    if annotation in _FIELD_READERS:
        return _FIELD_READERS[annotation]
    named = getattr(events, annotation, None)
    if isinstance(named, type) and issubclass(named, enum.StrEnum):
        choices: type[enum.StrEnum] = named

        def read(reader: _Reader, value: object, place: str) -> object:
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
