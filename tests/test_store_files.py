"""The store file (`files`): recognised by its header, created atomically, refused when it is
not a store of a known version (and left as it was), read immutable on read-only media."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from store_kit import (
    CONFIG,
    SCENARIO_FILES,
    SPEC_EXAMPLE,
    calls_of,
    digest,
    drive,
    replayed,
    side_files,
)

from handoff_fsm.adapters.scenario import load_scenario
from handoff_fsm.adapters.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    DurableSwitchboard,
    Store,
    StoreError,
    config_to_json,
)
from handoff_fsm.config import (
    Config,
    Kind,
    ParticipantSpec,
)

SPEC_CONFIG = load_scenario(SPEC_EXAMPLE).config


def test_a_new_store_has_the_schema_version_the_mark_and_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    db = sqlite3.connect(path)
    meta = dict(db.execute("SELECT key, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION) == "2"
    assert meta["format"] == "handoff-fsm store"
    assert json.loads(meta["config"]) == config_to_json(CONFIG)
    assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"meta", "steps", "state", "checkpoints", "seen_ids"}
    db.close()
    assert side_files(path) == ["s.db-lock"]  # no half-built temporary left beside it


def test_a_config_no_scenario_could_state_is_refused_and_no_store_is_made(tmp_path: Path) -> None:
    bad = Config(participants=(ParticipantSpec(id="customer", kind=Kind.BOT, capacity=1),))
    with pytest.raises(StoreError, match="config cannot be stored"):
        Store.create(tmp_path / "s.db", bad)
    assert list(tmp_path.iterdir()) == []


# -- opening: what is not a store, and what it must not touch -----------------------------------


def _foreign_sqlite(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.write_text("steps: []\n"), "not an SQLite database"),
        (lambda p: p.write_bytes(b""), "not an SQLite database"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + bytes(200)), "another application"),
        (_foreign_sqlite, "another application"),
    ],
    ids=["text", "empty", "sqlite-magic-only", "other-sqlite"],
)
@pytest.mark.parametrize("readonly", [False, True], ids=["write", "read"])
def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_was(
    make: object, problem: str, readonly: bool, tmp_path: Path
) -> None:
    path = tmp_path / "s.db"
    make(path)  # type: ignore[operator]
    before = digest(path)
    with pytest.raises(StoreError, match=f"is not a handoff-fsm store .*{problem}"):
        Store.open(path, readonly=readonly)
    assert digest(path) == before
    assert side_files(path) == []


def _store_of_version(path: Path, version: str) -> None:
    Store.create(path, CONFIG).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    db.commit()
    db.close()
    (path.parent / f"{path.name}-lock").unlink()


@pytest.mark.parametrize("readonly", [False, True], ids=["write", "read"])
def test_a_store_of_an_unknown_schema_version_is_refused_and_left_as_it_was(
    readonly: bool, tmp_path: Path
) -> None:
    path = tmp_path / "s.db"
    _store_of_version(path, "3")
    before = digest(path)
    with pytest.raises(StoreError, match=r"schema version 3, which this handoff-fsm .*version 2"):
        Store.open(path, readonly=readonly)
    assert digest(path) == before
    assert side_files(path) == []  # not even the writer's lock file


def test_the_unknown_version_is_also_refused_by_the_commands(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _store_of_version(path, "7")
    for command in (["replay", str(path)], ["run", str(SCENARIO_FILES[0]), "--store", str(path)]):
        done = subprocess.run(
            [sys.executable, "-m", "handoff_fsm.adapters.cli", *command],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.count("\n") == 1 and "schema version 7" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store here"):
        Store.open(tmp_path / "absent.db")
    assert list(tmp_path.iterdir()) == []


def test_create_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_text("precious")
    with pytest.raises(StoreError, match="already exists"):
        Store.create(path, CONFIG)
    assert path.read_text() == "precious"


def test_create_in_a_directory_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot be created \\(no directory"):
        Store.create(tmp_path / "absent" / "s.db", CONFIG)
    assert list(tmp_path.iterdir()) == []


def _logged_store(path: Path) -> None:
    with DurableSwitchboard(Store.create(path, SPEC_CONFIG), checkpoint_every=1000) as board:
        drive(board, calls_of(SPEC_EXAMPLE))


# -- read-only media ----------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_healthy_store_on_read_only_media_opens_for_replay(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    path = directory / "s.db"
    _logged_store(path)
    expected = replayed(path)
    (directory / "s.db-lock").unlink()
    path.chmod(stat.S_IRUSR)
    directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert replayed(path) == expected
        with pytest.raises(StoreError):
            Store.open(path)  # a writer cannot
    finally:
        directory.chmod(stat.S_IRWXU)
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_a_store_on_media_this_process_cannot_write_is_replayed_immutable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read path taken on read-only media, forced here (tests may run as root, whom
    permissions do not stop): same replay, nothing written beside the store."""
    path = tmp_path / "s.db"
    _logged_store(path)
    expected = replayed(path)
    before = side_files(path)
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    assert replayed(path) == expected
    assert side_files(path) == before


def test_a_writer_commits_with_synchronous_full_in_wal_mode(tmp_path: Path) -> None:
    """What makes an acknowledged step survive a power cut, not only a killed process (which
    the crash tests cover); read off the writer's own connection."""
    with Store.create(tmp_path / "s.db", CONFIG) as store:
        assert store.query("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert store.query("PRAGMA journal_mode").fetchone() == ("wal",)
