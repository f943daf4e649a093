"""Which module may import which, and how big a module or class may grow.

Reads every module's source with `ast` (nothing is executed), so a violation is caught even on a
path no other test runs. The rules are drawn in docs/architecture.md.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "handoff_fsm"
#: The core: pure, and what every other part builds on.
CORE_PARTS = ("vocabulary", "values", "errors", "events", "effects", "config", "lifecycle",
              "model", "routing", "switchboard", "event_checks")  # fmt: skip
#: Everything outside the core: adapters (I/O), tools (analysis, diagrams), the testing kit.
NOT_CORE = ("handoff_fsm.adapters", "handoff_fsm.tools", "handoff_fsm.testing",
            "handoff_fsm.invariants", "handoff_fsm.reference", "handoff_fsm.analysis",
            "handoff_fsm.diagrams")  # fmt: skip
#: Third-party packages the core may import (a plain install carries only these).
CORE_THIRD_PARTY = {"attrs", "yaml"}
#: Standard-library modules that do I/O, read a clock or draw random numbers.
IMPURE = {"os", "io", "sys", "time", "datetime", "random", "socket", "subprocess", "sqlite3",
          "pathlib", "threading", "asyncio", "secrets", "uuid", "shutil", "tempfile"}  # fmt: skip
#: Core modules allowed one impure import, and why.
EXCEPTIONS = {
    "model.py": {"pathlib"},  # reads the model files once, at import
}
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 400
#: Modules still too big, each split by the issue that owns it (strict: remove the entry then).
OVERSIZED: dict[str, str] = {}


def _core_modules() -> list[Path]:
    found: list[Path] = []
    for part in CORE_PARTS:
        if (PACKAGE / f"{part}.py").exists():
            found.append(PACKAGE / f"{part}.py")
        found.extend(sorted((PACKAGE / part).rglob("*.py")) if (PACKAGE / part).is_dir() else [])
    return found


CORE = _core_modules()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_the_core_is_found() -> None:
    names = {_name(p) for p in CORE}
    assert {"vocabulary.py", "errors.py", "routing/router.py"} <= names


@pytest.mark.parametrize("module", CORE, ids=_name)
def test_core_modules_import_no_adapter_tool_or_testing_kit(module: Path) -> None:
    assert not {n for n in _imports(module) if n.startswith(NOT_CORE)}


@pytest.mark.parametrize("module", CORE, ids=_name)
def test_core_modules_import_only_attrs_and_yaml_outside_the_standard_library(
    module: Path,
) -> None:
    roots = {name.split(".")[0] for name in _imports(module)}
    third_party = roots - set(sys.stdlib_module_names) - {"handoff_fsm", "__future__"}
    assert third_party <= CORE_THIRD_PARTY


@pytest.mark.parametrize("module", CORE, ids=_name)
def test_core_modules_do_no_io_and_read_no_clock(module: Path) -> None:
    roots = {name.split(".")[0] for name in _imports(module)}
    assert roots & IMPURE <= EXCEPTIONS.get(module.name, set())


def test_only_the_reference_interpreter_imports_transitions() -> None:
    users = {
        _name(path)
        for path in PACKAGE.rglob("*.py")
        if any(n == "transitions" or n.startswith("transitions.") for n in _imports(path))
    }
    assert users == {"testing/reference.py"}


def _sized(path: Path) -> object:
    reason = OVERSIZED.get(_name(path))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(path, id=_name(path), marks=marks)


@pytest.mark.parametrize("module", [_sized(p) for p in sorted(PACKAGE.rglob("*.py"))])
def test_no_module_is_over_500_lines_and_no_class_over_400(module: Path) -> None:
    text = module.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
            assert node.end_lineno - node.lineno + 1 <= MAX_CLASS_LINES, node.name
