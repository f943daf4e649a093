"""The store's text: events, configs and effects as JSON, canonical bytes and their checksums.

Theory of operation: everything a store keeps is plain JSON text written by this module and read
back by explicit code; nothing stored ever chooses a code path (no pickle, no class names). An
event is a step in the scenario format of SPEC §5 (`{"transfer": {...}}`, every field written,
enums as their values) and a config is the scenario format's shape, both read back through the
scenario reader, so the store and the files share one format and one validator. Effects are
stored as the lines a service delivers (`{"kind": ..., "conversation": ..., "to": ..., ...}`).

Rules:
- Whatever is acknowledged can be restored: an event or config that would not read back equal
  (NaN, a tuple, a non-text key, a participant named `customer`) is refused with a `StoreError`
  before it runs.
- Canonical JSON (`canonical`) is compact, key-sorted, UTF-8 and refuses NaN and infinities; it is
  what checksums are taken over, so that the same value always hashes alike.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping, Sequence

import attrs

from handoff_fsm import events
from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.config import (
    Config,
    Overflow,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    QueueSpec,
)
from handoff_fsm.effects import Effect
from handoff_fsm.errors import ScenarioError, StoreError
from handoff_fsm.events import EVENT_TYPES, UNCHANGED, Event, JsonValue

_FIELDS: dict[type[object], tuple[str, ...]] = {}


def event_to_json(event: Event) -> dict[str, JsonValue]:
    """A step as the scenario format writes it, every field included so that reading it back
    never depends on today's defaults; except a field left `UNCHANGED` (`update_queue`), which
    the format states by leaving it out."""
    names = _FIELDS.get(type(event))
    if names is None:
        names = _FIELDS[type(event)] = tuple(f.name for f in attrs.fields(type(event)))
    body: dict[str, JsonValue] = {}
    for name in names:
        value = getattr(event, name)
        if value is not UNCHANGED:
            body[name] = _plain(value)
    return {event.STEP: body}


def event_from_json(data: object, where: str = "event") -> Event:
    """Read a step written by `event_to_json` (the scenario reader checks it)."""
    try:
        return parse_scenario({"steps": [data]}, where).steps[0].event
    except ScenarioError as exc:
        raise StoreError(f"{where}: cannot be read back ({_problem(exc)})") from None


def config_to_json(config: Config) -> dict[str, JsonValue]:
    """A config in the scenario format's shape (`settings`, `participants`, `queues`)."""
    settings = config.settings
    return {
        "settings": {
            "fallback_limit": settings.fallback_limit,
            "escalation_phrases": list(settings.escalation_phrases),
            "cancel_phrases": list(settings.cancel_phrases),
            "survey_timeout": settings.survey_timeout,
            "retention": settings.retention,
            "dedup_window": settings.dedup_window,
            "missed_offers_to_away": settings.missed_offers_to_away,
        },
        "participants": {
            spec.id: {
                "kind": spec.kind.value,
                "capacity": spec.capacity,
                "presence": spec.presence.value,
                "skills": dict(spec.skills),
            }
            for spec in config.participants
        },
        "queues": {queue.name: _queue_to_json(queue) for queue in config.queues},
    }


def _overflow_to_json(overflow: Overflow) -> JsonValue:
    if isinstance(overflow, OverflowTransfer):
        return {"transfer": overflow.queue}
    if isinstance(overflow, OverflowReturnToBot):
        return "return_to_bot"
    assert isinstance(overflow, OverflowEnd)
    return "end"


def _queue_to_json(queue: QueueSpec) -> dict[str, JsonValue]:
    return {
        "participants": list(queue.members),
        "strategy": queue.strategy.value,
        "units": queue.units,
        "offer_timeout": queue.offer_timeout,
        "wait_timeout": queue.wait_timeout,
        "overflow": _overflow_to_json(queue.overflow),
        "priority": queue.priority,
        "wrap_up": queue.wrap_up,
    }


def config_from_json(data: object, where: str = "config") -> Config:
    if not isinstance(data, dict):
        raise StoreError(f"{where}: cannot be read back (not a mapping)")
    try:
        return parse_scenario({**data, "steps": []}, where).config
    except ScenarioError as exc:
        raise StoreError(f"{where}: cannot be read back ({_problem(exc)})") from None


def first_difference(stored: object, given: object, place: str = "") -> str | None:
    """The first place where two JSON values differ, as `place: store has X, given Y`, so that
    a refused config says what differs rather than only that something does."""
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in list(stored) + [k for k in given if k not in stored]:
            inner = f"{place}.{key}" if place else str(key)
            if key not in given:
                return f"{inner}: store has it, given has not"
            if key not in stored:
                return f"{inner}: given has it, store has not"
            found = first_difference(stored[key], given[key], inner)
            if found is not None:
                return found
        return None
    if isinstance(stored, list) and isinstance(given, list) and len(stored) == len(given):
        for n, (a, b) in enumerate(zip(stored, given, strict=True)):
            found = first_difference(a, b, f"{place}[{n}]")
            if found is not None:
                return found
        return None
    if stored == given and type(stored) is type(given):
        return None
    return f"{place or 'config'}: store has {_show(stored)}, given {_show(given)}"


def _show(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _problem(error: ScenarioError) -> str:
    """The scenario reader's complaint, placed in the event or config rather than a file."""
    place = error.place.removeprefix("steps[0].")
    return f"{place}: {error.problem}" if place else error.problem


def _plain(value: object) -> JsonValue:
    to_json = getattr(value, "to_json", None)  # a requirement, a transcript entry
    if callable(to_json):
        return _plain(to_json())
    if isinstance(value, str):  # a StrEnum member becomes its value
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, OverflowEnd | OverflowReturnToBot | OverflowTransfer):
        return _overflow_to_json(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not a JSON value")


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_CANONICAL = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
)


def dumps(data: object) -> str:
    """Compact JSON in insertion order (the log's event and effect columns, state rows)."""
    return _COMPACT.encode(data)


def canonical(data: object) -> str:
    """Compact, key-sorted JSON: the text checksums are taken over."""
    return _CANONICAL.encode(data)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _flat_fields_read_back(event: Event) -> bool:
    """Whether every field of `event` is of a kind the scenario reader takes back as it is
    (text, text or null, a flag, a finite time >= 0, an enum member): then the event reads back
    equal without running the reader, which costs more than the step itself. Events with JSON
    values (start, set_variable, survey_response) always take the reader."""
    kinds = _KINDS.get(type(event))
    if kinds is None:
        return False
    for name, kind in kinds:
        value = getattr(event, name)
        if kind == "str | None" and value is None:
            continue
        if kind in {"str", "str | None"} and type(value) is str:
            continue
        if kind == "bool" and isinstance(value, bool):
            continue
        if (kind == "float" and isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value) and value >= 0):  # fmt: skip
            continue
        if kind == "enum" and isinstance(value, enum.StrEnum):
            continue
        return False
    return True


def _kinds_of(cls: type[Event]) -> tuple[tuple[str, str], ...] | None:
    found = []
    for field in attrs.fields(cls):
        annotation = str(field.type)
        if annotation in {"str", "str | None", "bool", "float"}:
            found.append((field.name, annotation))
        elif isinstance(getattr(events, annotation, None), enum.EnumMeta):
            found.append((field.name, "enum"))
        else:
            return None  # JSON values: the reader decides
    return tuple(found)


_KINDS = {cls: kinds for cls in EVENT_TYPES if (kinds := _kinds_of(cls)) is not None}


def encode_event(event: Event) -> str:
    """The log's text for `event`, proven to read back equal, so that whatever is acknowledged
    can be restored; `StoreError` (and nothing changed) otherwise."""
    what = f"a {event.STEP} step cannot be stored"
    try:
        text = dumps(event_to_json(event))
        if _flat_fields_read_back(event):
            return text
        back = parse_scenario({"steps": [json.loads(text)]}, "").steps[0].event
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what}: {exc}") from None
    except ScenarioError as exc:
        raise StoreError(f"{what}: {_problem(exc)}") from None
    if back != event:
        raise StoreError(f"{what}: it would not read back equal ({text})")
    return text


def encode_config(config: Config) -> str:
    """The store's text for `config`, proven to read back equal (the scenario reader's checks
    apply: a config no scenario file could state is refused)."""
    what = "the config cannot be stored"
    try:
        text = dumps(config_to_json(config))
        back = parse_scenario({**json.loads(text), "steps": []}, "").config
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what}: {exc}") from None
    except ScenarioError as exc:
        raise StoreError(f"{what}: {_problem(exc)}") from None
    if back != config:
        raise StoreError(f"{what}: it would not read back equal ({text})")
    return text


def effect_to_json(effect: Effect, state: str | None = None) -> dict[str, JsonValue]:
    """An effect as a service delivers it: kind, conversation, addressee, then its fields; with
    `state`, the conversation's state after the step (as the runner's lines carry it)."""
    head: dict[str, JsonValue] = {"kind": effect.KIND, "conversation": effect.conversation,
                                  "to": effect.to}  # fmt: skip
    if state is not None:
        head["state"] = state
    return {**head, **effect.fields()}


def encode_effects(
    effects: Sequence[Effect], states: Mapping[str, str | None] | None = None
) -> str:
    """The delivered lines of one step; `states` maps a conversation to its state after it."""
    if states is None:
        return dumps([effect_to_json(effect) for effect in effects])
    return dumps([
        effect_to_json(e, None if e.conversation is None else states.get(e.conversation))
        for e in effects
    ])  # fmt: skip


__all__ = [
    "canonical",
    "checksum",
    "config_from_json",
    "config_to_json",
    "dumps",
    "effect_to_json",
    "encode_config",
    "encode_effects",
    "encode_event",
    "event_from_json",
    "event_to_json",
    "first_difference",
]
