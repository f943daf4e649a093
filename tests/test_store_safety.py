"""A store is data, never code: nothing in the package unpickles or evaluates stored bytes, and a
store of the old format with a crafted pickle in it is refused without running it."""

from __future__ import annotations

import ast
import os
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_kit import CONFIG

from handoff_fsm.adapters.store import Store, StoreError

PACKAGE = Path(__file__).resolve().parent.parent / "handoff_fsm"
#: Modules and calls that turn bytes into code or objects chosen by the bytes.
FORBIDDEN_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "copyreg"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


def _python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def forbidden_uses(source: str) -> list[str]:
    """Imports of the forbidden modules and calls of the forbidden builtins in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_CALLS
        ):
            found.append(node.func.id)
    return found


#: Modules that may pickle, and why: none of them reads bytes from a store or a file.
IN_MEMORY_ONLY = {
    # the model checker copies switchboards of its own making in memory (its search frontier)
    "planning/check_explore.py": ["pickle"],
}


def test_nothing_in_the_package_unpickles_or_evaluates() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): uses
        for path in _python_files()
        if (uses := forbidden_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == IN_MEMORY_ONLY


def test_the_scan_finds_a_seeded_unpickler() -> None:
    assert forbidden_uses("import pickle\nboard = pickle.loads(blob)\n") == ["pickle"]
    assert forbidden_uses("from marshal import loads\n") == ["marshal"]
    assert forbidden_uses("x = eval(text)\n") == ["eval"]


class _RunsCode:
    """What a crafted snapshot would do if it were unpickled: create a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.system, (f"touch {self.marker}",))


def _old_store_with_a_crafted_snapshot(path: Path, marker: Path) -> None:
    """A schema-1 store (pickled snapshots) whose snapshot row runs code when unpickled."""
    Store.create(path, CONFIG).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.execute("CREATE TABLE snapshots (after_seq INTEGER PRIMARY KEY, engine TEXT, blob BLOB)")
    db.execute(
        "INSERT INTO snapshots VALUES (0, 'any', ?)", (pickle.dumps(_RunsCode(str(marker))),)
    )
    db.commit()
    db.close()


def test_a_crafted_pickle_snapshot_is_refused_and_never_run(tmp_path: Path) -> None:
    path, marker = tmp_path / "s.db", tmp_path / "ran"
    _old_store_with_a_crafted_snapshot(path, marker)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"schema version 1.*pickled snapshots.*never loaded"):
            Store.open(path, readonly=readonly)
    for command in (["replay", str(path)], ["store", "verify", str(path)]):
        done = subprocess.run(
            [sys.executable, "-m", "handoff_fsm.adapters.cli", *command],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert not marker.exists()


def test_the_crafted_payload_would_run_if_unpickled(tmp_path: Path) -> None:
    """The seeded defect for the test above: the payload is real."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_RunsCode(str(marker))))
    assert marker.exists()
