"""Reading model files: the bundled models load, and malformed files name the file and place."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from handoff_fsm.errors import ModelError
from handoff_fsm.model import bundled_models_dir, load_bundled, load_model

LIFECYCLE_FILE = bundled_models_dir() / "lifecycle.yaml"


def _raw() -> dict[str, object]:
    data = yaml.safe_load(LIFECYCLE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bundled_lifecycle_loads_with_contract_state_names() -> None:
    model = load_bundled("lifecycle")
    assert list(model.states) == [
        "new",
        "bot_active",
        "waiting",
        "agent_engaged",
        "returned_to_bot",
        "survey",
        "ended",
    ]
    assert model.initial == "new"
    assert model.final == ("ended",)
    assert set(model.outcomes) == {
        "resolved",
        "survey_completed",
        "survey_skipped",
        "abandoned",
        "unserved",
    }


def test_transitions_keep_the_file_order() -> None:
    model = load_bundled("lifecycle")
    raw = _raw()["transitions"]
    assert isinstance(raw, list)
    assert [t.trigger for t in model.transitions] == [row["trigger"] for row in raw]


def _set(data: dict[str, object], dotted: str, value: object) -> None:
    target: object = data
    *path, last = dotted.split(".")
    for part in path:
        target = target[int(part)] if isinstance(target, list) else target[part]  # type: ignore[index]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        assert isinstance(target, dict)
        target[last] = value


@pytest.mark.parametrize(
    ("edit", "value", "place", "problem"),
    [
        ("colour", "blue", "colour", "unknown key"),
        ("initial", "limbo", "initial", "undeclared state 'limbo'"),
        ("final", "ended", "final", "must be a list"),
        ("transitions.0.source", ["nowhere"], "transitions[0].source[0]", "undeclared state"),
        ("transitions.1.dest", 7, "transitions[1].dest", "must be text"),
        ("transitions.2.sorce", ["new"], "transitions[2].sorce", "unknown key"),
        ("transitions.12.outcome", "happy", "transitions[12].outcome", "undeclared outcome"),
        ("transitions.3.source", [], "transitions[3].source", "at least one state"),
        ("states", ["new"], "states", "must be a mapping"),
    ],
)
def test_malformed_model_names_file_and_place(
    tmp_path: Path, edit: str, value: object, place: str, problem: str
) -> None:
    data = _raw()
    _set(data, edit, value)
    path = _write(tmp_path, data)
    with pytest.raises(ModelError) as caught:
        load_model(path)
    assert caught.value.file == str(path)
    assert caught.value.place == place
    assert problem in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_key_is_named(tmp_path: Path) -> None:
    data = _raw()
    del data["transitions"]
    with pytest.raises(ModelError, match=r"transitions: is missing"):
        load_model(_write(tmp_path, data))


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nstates: {new: [unclosed\n")
    with pytest.raises(ModelError, match=r"broken.yaml: line \d+: is not valid YAML"):
        load_model(path)


def test_unreadable_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(tmp_path / "absent.yaml")


def test_excludes_needs_a_guard_required_by_one_and_forbidden_by_the_other() -> None:
    model = load_bundled("lifecycle")
    cancels = [t for t in model.transitions if t.trigger == "cancel"]
    assert all(a.excludes(b) for a in cancels for b in cancels if a is not b)
    escalate = next(t for t in model.transitions if t.trigger == "escalate")
    assert not escalate.excludes(escalate)
