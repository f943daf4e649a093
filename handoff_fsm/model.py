"""Reading machine models (`models/*.yaml`) into typed, frozen values.

Theory of operation: a model file describes one state machine as data: its states (each with a
meaning), the initial state, the final states, the outcomes a final state may carry, the guard
names, and the transitions. Every transition names its trigger, its explicit source states, its
destination, the guards that must hold (`guards`), the guards that must not (`unless`) and, into a
final state, the `outcome`. This module checks the *shape* of a file and that it only names
declared states and outcomes; what the graph means (reachability, traps, guard exclusivity,
undeclared guards) is the analysis's business (`handoff_fsm.analysis`), so that `verify` can
report it rather than refuse to load.

Rules: loading never guesses; an unknown key, a wrong type or an undeclared state is a
`ModelError` naming the file and the dotted place inside it.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import attrs

from handoff_fsm.errors import ModelError
from handoff_fsm.loading import DocumentError, parse_yaml

_TOP_KEYS = frozenset(
    {"name", "description", "states", "initial", "final", "outcomes", "guards", "transitions"}
)
_TRANSITION_KEYS = frozenset({"trigger", "source", "dest", "guards", "unless", "outcome"})


@attrs.frozen(kw_only=True)
class TransitionSpec:
    """One row of the transition table, exactly as the model file states it."""

    trigger: str
    sources: tuple[str, ...]
    dest: str
    guards: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    outcome: str | None = None

    def excludes(self, other: TransitionSpec) -> bool:
        """True when the two can never both fire: a guard one needs, the other forbids."""
        return bool(set(self.guards) & set(other.unless) or set(self.unless) & set(other.guards))


@attrs.frozen(kw_only=True)
class MachineModel:
    """A whole machine model. `transitions` keeps the file's order, which is the order guards are
    tried in."""

    name: str
    description: str
    source_file: str
    states: Mapping[str, str]
    initial: str
    final: tuple[str, ...]
    outcomes: Mapping[str, str]
    guards: Mapping[str, str]
    transitions: tuple[TransitionSpec, ...]

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger, in order of first appearance."""
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    def allowed_triggers(self, state: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions if state in t.sources))


def bundled_models_dir() -> Path:
    """Where the models shipped with the package live.

    In a wheel they are packaged as `handoff_fsm/models/`; in a source checkout (and an editable
    install) they are the top-level `models/` folder beside the package.
    """
    packaged = Path(str(importlib.resources.files("handoff_fsm"))) / "models"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "models"


def load_bundled(name: str) -> MachineModel:
    return load_model(bundled_models_dir() / f"{name}.yaml")


def load_model(path: Path) -> MachineModel:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(file, "", f"cannot be read ({exc.strerror or exc})") from None
    try:
        data = parse_yaml(text)
    except DocumentError as exc:
        raise ModelError(file, exc.place, exc.problem) from None
    return parse_model(data, file)


def parse_model(data: object, file: str) -> MachineModel:
    reader = _Reader(file)
    top = reader.mapping(data, "")
    unknown = sorted(set(top) - _TOP_KEYS)
    if unknown:
        reader.fail(unknown[0], f"unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})")
    for key in ("name", "states", "initial", "final", "transitions"):
        if key not in top:
            reader.fail(key, "is missing")
    states = reader.described_names(top["states"], "states")
    if not states:
        reader.fail("states", "must declare at least one state")
    outcomes = reader.described_names(top.get("outcomes", {}), "outcomes")
    guards = reader.described_names(top.get("guards", {}), "guards")
    initial = reader.state(top["initial"], "initial", states)
    final = tuple(
        reader.state(item, f"final[{i}]", states)
        for i, item in enumerate(reader.sequence(top["final"], "final"))
    )
    transitions = tuple(
        reader.transition(item, f"transitions[{i}]", states, outcomes)
        for i, item in enumerate(reader.sequence(top["transitions"], "transitions"))
    )
    return MachineModel(
        name=reader.text(top["name"], "name"),
        description=reader.text(top.get("description", ""), "description"),
        source_file=file,
        states=states,
        initial=initial,
        final=final,
        outcomes=outcomes,
        guards=guards,
        transitions=transitions,
    )


@attrs.frozen
class _Reader:
    """Type checks that raise `ModelError` with the place they were reading."""

    file: str

    def fail(self, place: str, problem: str) -> NoReturn:
        raise ModelError(self.file, place, problem)

    def mapping(self, value: object, place: str) -> dict[str, Any]:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.fail(place or "top level", "must be a mapping with text keys")
        return value

    def sequence(self, value: object, place: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(place, "must be a list")
        return value

    def text(self, value: object, place: str) -> str:
        if not isinstance(value, str):
            self.fail(place, f"must be text, not {type(value).__name__}")
        return value

    def described_names(self, value: object, place: str) -> dict[str, str]:
        table = self.mapping(value, place)
        return {name: self.text(meaning, f"{place}.{name}") for name, meaning in table.items()}

    def state(self, value: object, place: str, states: Mapping[str, str]) -> str:
        name = self.text(value, place)
        if name not in states:
            self.fail(place, f"names undeclared state {name!r}")
        return name

    def names(self, value: object, place: str) -> tuple[str, ...]:
        return tuple(
            self.text(v, f"{place}[{i}]") for i, v in enumerate(self.sequence(value, place))
        )

    def transition(
        self, value: object, place: str, states: Mapping[str, str], outcomes: Mapping[str, str]
    ) -> TransitionSpec:
        row = self.mapping(value, place)
        unknown = sorted(set(row) - _TRANSITION_KEYS)
        if unknown:
            self.fail(f"{place}.{unknown[0]}", "unknown key")
        for key in ("trigger", "source", "dest"):
            if key not in row:
                self.fail(f"{place}.{key}", "is missing")
        sources = tuple(
            self.state(s, f"{place}.source[{i}]", states)
            for i, s in enumerate(self.sequence(row["source"], f"{place}.source"))
        )
        if not sources:
            self.fail(f"{place}.source", "must name at least one state")
        outcome = row.get("outcome")
        if outcome is not None:
            outcome = self.text(outcome, f"{place}.outcome")
            if outcome not in outcomes:
                self.fail(f"{place}.outcome", f"names undeclared outcome {outcome!r}")
        return TransitionSpec(
            trigger=self.text(row["trigger"], f"{place}.trigger"),
            sources=sources,
            dest=self.state(row["dest"], f"{place}.dest", states),
            guards=self.names(row.get("guards", []), f"{place}.guards"),
            unless=self.names(row.get("unless", []), f"{place}.unless"),
            outcome=outcome,
        )


def require_names(
    model: MachineModel, owner: str, names: Mapping[str, set[str]], initial: str
) -> None:
    """Refuse a model whose names differ from the enums the code of `owner` is written against.

    `names` maps a section of the model (`states`, `transitions` for its triggers, `outcomes`,
    `guards`) to the names the code expects there; the model file cannot drift silently from
    the code that drives it.
    """
    in_model = {
        "states": set(model.states),
        "transitions": set(model.triggers),
        "outcomes": set(model.outcomes),
        "guards": set(model.guards),
    }
    for place, in_code in names.items():
        if in_model[place] != in_code:
            missing = sorted(in_code - in_model[place])
            extra = sorted(in_model[place] - in_code)
            raise ModelError(
                model.source_file,
                place,
                f"differs from {owner} (missing: {missing}, unknown: {extra})",
            )
    if model.initial != initial:
        raise ModelError(model.source_file, "initial", f"must be {initial!r}")


def guard_free_table(model: MachineModel) -> dict[tuple[str, str], str]:
    """(state, trigger) -> destination, for a model whose transitions carry no guards.

    Small machines (such as `models/routing.yaml`) are served from this dict; a guard in such a
    model is a mistake of the model, reported here with its place.
    """
    table: dict[tuple[str, str], str] = {}
    for row, spec in enumerate(model.transitions):
        if spec.guards or spec.unless:
            raise ModelError(
                model.source_file, f"transitions[{row}]", "guards are not supported here"
            )
        for source in spec.sources:
            if (source, spec.trigger) in table:
                raise ModelError(
                    model.source_file,
                    f"transitions[{row}]",
                    f"second transition for ({source}, {spec.trigger})",
                )
            table[(source, spec.trigger)] = spec.dest
    return table
