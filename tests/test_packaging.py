"""The built wheel carries the models and py.typed, so an installed package reads its own models."""

from __future__ import annotations

import zipfile
from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_models_and_py_typed(tmp_path: Path) -> None:
    wheel = next(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "handoff_fsm/py.typed" in names
    models = {p.name for p in (ROOT / "models").glob("*.yaml")}
    assert models and {f"handoff_fsm/models/{m}" for m in models} <= names
