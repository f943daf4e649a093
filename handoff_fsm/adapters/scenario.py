"""Reading scenario files (SPEC §5) into a `Scenario`: the contact center's `Config` and the steps.

Theory of operation: `load_scenario` reads the bytes (a regular file of at most
`handoff_fsm.loading.MAX_FILE_BYTES`), picks the parser by extension (`.yaml`/`.yml` is YAML,
anything else JSON; both from `handoff_fsm.loading`, which refuses what could hurt the reader) and
hands the plain data to `parse_scenario`, which checks the whole shape and builds typed values:
`Settings`, `ParticipantSpec`s and `QueueSpec`s from `handoff_fsm.config`, and one event from
`handoff_fsm.events` per step (`handoff_fsm.adapters.scenario_steps`). The runner (and any other
adapter that replays a file) then only has to feed `Scenario.steps` to a switchboard.

Rules:
- Everything SPEC §5 calls a bad *file* is found here, before any step runs, and raised as a
  `ScenarioError(file, place, problem)` whose place is a dotted path into the file
  (`participants.rep-1.capacity`, `steps[3].accept.participant`) and whose message is one line.
- `parse_scenario` applies the reader's value rules (`handoff_fsm.loading.check_plain`) to data
  handed in directly too, so a scenario built in Python meets the same limits as a file.
- What depends on the run is not checked here: whether a conversation, participant or queue named
  by a step exists, and whether `at` goes backwards. The switchboard refuses those when the step
  runs, as an embedding service would meet them, and the runner prints an `error` line.
- Nothing is guessed (`handoff_fsm.adapters.scenario_values`): a key given twice in one mapping is
  an error (JSON and YAML would both keep the last one silently), unknown keys are errors. `null`
  stands for "none" only where "none" is a value (timeouts, `at`, `id`, a transfer's `to`) and for
  an empty section or body.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import attrs

from handoff_fsm.adapters.scenario_steps import ScenarioStep, read_step
from handoff_fsm.adapters.scenario_values import ValueReader
from handoff_fsm.config import (
    Config,
    Kind,
    Overflow,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Settings,
    Strategy,
)
from handoff_fsm.effects import CUSTOMER
from handoff_fsm.errors import ScenarioError
from handoff_fsm.loading import (
    MAX_FILE_BYTES,
    DocumentError,
    check_plain,
    decode,
    has_control_character,
    parse_json,
    parse_yaml,
    shown,
)
from handoff_fsm.vocabulary import PresenceStatus

__all__ = ["DEFAULT_CAPACITY", "Scenario", "ScenarioStep", "load_scenario", "parse_scenario"]

YAML_SUFFIXES = frozenset({".yaml", ".yml"})
TOP_KEYS = ("settings", "participants", "queues", "steps", "simulation")  # simulation: simulate's
SETTINGS_KEYS = (
    "fallback_limit",
    "escalation_phrases",
    "cancel_phrases",
    "survey_timeout",
    "retention",
    "dedup_window",
    "missed_offers_to_away",
)
PARTICIPANT_KEYS = ("kind", "capacity", "presence", "skills")
QUEUE_KEYS = (
    "participants",
    "strategy",
    "units",
    "offer_timeout",
    "wait_timeout",
    "overflow",
    "priority",
    "wrap_up",
)
DEFAULT_CAPACITY = 1
"""A participant's capacity when the file does not give one (SPEC §5 is silent; one at a time)."""


@attrs.frozen
class Scenario:
    config: Config
    steps: tuple[ScenarioStep, ...]


def load_scenario(path: Path) -> Scenario:
    data, file = load_document(path)
    return parse_scenario(data, file)


def load_document(path: Path) -> tuple[object, str]:
    """The parsed data of a scenario file (JSON, or YAML by its suffix) within the reader's
    limits, and the file's name as error messages show it. Commands that read more than the
    scenario (`simulate`, `check`) start here, so every file gets the same limits and messages."""
    file = str(path)
    if has_control_character(file):
        file = shown(file)
    try:
        text = decode(read_bounded(path))
        data = parse_yaml(text) if path.suffix.lower() in YAML_SUFFIXES else parse_json(text)
    except DocumentError as exc:
        raise ScenarioError(file, exc.place, exc.problem) from None
    return data, file


def read_bounded(path: Path) -> bytes:
    """The bytes of `path`, which must be a regular file of at most `MAX_FILE_BYTES` (a device
    or a pipe could be endless: `/dev/zero` is refused before a byte is read)."""
    try:
        with open(path, "rb", opener=_open_regular) as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except _NotRegular:
        raise DocumentError("", "is not a regular file") from None
    except OSError as exc:
        raise DocumentError("", f"cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise DocumentError("", f"is larger than {MAX_FILE_BYTES // 2**20} MiB")
    return raw


class _NotRegular(Exception):
    pass


def _open_regular(name: str, flags: int) -> int:
    """Open without blocking (a named pipe would wait for a writer), then refuse anything but a
    regular file."""
    descriptor = os.open(name, flags | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise _NotRegular
    return descriptor


def parse_scenario(data: object, file: str) -> Scenario:
    """Check the shape of already parsed scenario data (JSON values) and build the `Scenario`."""
    reader = _SectionReader(file)
    try:
        check_plain(data)
    except DocumentError as exc:
        reader.fail(exc.place, exc.problem)
    try:
        top = reader.mapping(data, "")
        reader.known_keys(top, "", TOP_KEYS)
        if "steps" not in top:
            reader.fail("steps", "is missing")
        settings = reader.settings(top.get("settings"))
        participants = reader.participants(top.get("participants"))
        queues = reader.queues(top.get("queues"), {spec.id for spec in participants})
        items = reader.sequence(top["steps"], "steps")
        steps = tuple(read_step(reader, item, index) for index, item in enumerate(items))
    except RecursionError:
        reader.fail("", "is nested too deeply")
    return Scenario(
        config=Config(settings=settings, participants=participants, queues=queues), steps=steps
    )


@attrs.frozen
class _SectionReader(ValueReader):
    """The sections of a scenario: settings, participants and queues."""

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
        for key in ("retention", "dedup_window"):
            if key in table and table[key] is not None:
                given[key] = self.time(table[key], f"settings.{key}")
        if "missed_offers_to_away" in table:
            given["missed_offers_to_away"] = self.whole(
                table["missed_offers_to_away"], "settings.missed_offers_to_away", 0
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
            given: dict[str, Any] = {}
            if "presence" in fields:
                given["presence"] = self.choice(
                    fields["presence"], f"{place}.presence", PresenceStatus
                )
            if "skills" in fields:
                given["skills"] = self.levels(fields["skills"], f"{place}.skills")
            specs.append(ParticipantSpec(id=pid, kind=kind, capacity=capacity, **given))
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
        if fields.get("priority") is not None:
            given["priority"] = self.priority(fields["priority"], f"{place}.priority")
        if "wrap_up" in fields:
            given["wrap_up"] = self.timeout(fields["wrap_up"], f"{place}.wrap_up")
        if "overflow" in fields:
            given["overflow"] = self.overflow(fields["overflow"], f"{place}.overflow", name, queues)
        return QueueSpec(name=name, members=tuple(members), **given)

    def overflow(self, value: object, place: str, queue: str, queues: set[str]) -> Overflow:
        overflow = self.overflow_form(value, place)
        if isinstance(overflow, OverflowTransfer):
            if overflow.queue == queue:
                self.fail(f"{place}.transfer", "names the queue itself")
            if overflow.queue not in queues:
                self.fail(f"{place}.transfer", f"names undefined queue {overflow.queue!r}")
        return overflow
