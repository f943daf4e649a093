"""Which module may import which: the core is pure and knows nothing of its adapters.

Reads every module's imports with `ast` (nothing is executed), so a violation is caught even on a
path no other test runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "handoff_fsm"
CORE = sorted(p for p in PACKAGE.glob("*.py"))
#: Standard-library modules that do I/O, read a clock or draw random numbers.
IMPURE = {"os", "io", "sys", "time", "datetime", "random", "socket", "subprocess", "sqlite3",
          "pathlib", "threading", "asyncio", "secrets", "uuid", "shutil", "tempfile"}  # fmt: skip
#: Core modules allowed one impure import, and why.
EXCEPTIONS = {
    "model.py": {"pathlib"},  # reads the model files once, at import
    "reference.py": {"threading"},  # a lock around the one shared transitions.Machine
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", CORE, ids=lambda p: p.name)
def test_core_modules_never_import_adapters(module: Path) -> None:
    assert not {n for n in _imports(module) if n.startswith("handoff_fsm.adapters")}


@pytest.mark.parametrize("module", CORE, ids=lambda p: p.name)
def test_core_modules_do_no_io_and_read_no_clock(module: Path) -> None:
    roots = {name.split(".")[0] for name in _imports(module)}
    assert roots & IMPURE <= EXCEPTIONS.get(module.name, set())


def test_only_the_reference_module_imports_transitions() -> None:
    users = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(n == "transitions" or n.startswith("transitions.") for n in _imports(path))
    }
    assert users == {"reference.py"}
