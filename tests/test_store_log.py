"""The log and the store file (`log`, `files`, `lock`): format, opening, refusals, the hash chain,
tampered rows and columns, read-only media, a removed WAL, and two writers as two processes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import warnings
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
    StoreConfigError,
    StoreCorruptError,
    StoreError,
    StoreWarning,
    config_to_json,
)
from handoff_fsm.adapters.store.log import StepRow
from handoff_fsm.config import (
    Config,
    Kind,
    ParticipantSpec,
)
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import Accept, Start, Tick

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


def test_a_step_is_logged_with_its_time_id_outcome_effects_and_chain(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG)) as board:
        board.handle(Start(conversation="c1", queue="q1"), now=1.5, step_id="s-1")
        with pytest.raises(StepRefused):
            board.handle(Accept(conversation="c1", participant="rep-1"))
    db = sqlite3.connect(path)
    rows = db.execute("SELECT * FROM steps ORDER BY seq").fetchall()
    assert [row[:7] for row in rows] == [
        (1, 0, '{"start":{"conversation":"c1","queue":"q1","variables":{}}}', 1.5, "s-1", 0, 3),
        (2, 1, '{"accept":{"conversation":"c1","participant":"rep-1"}}', None, None, 1, 0),
    ]
    assert [e["kind"] for e in json.loads(rows[0][7])] == [
        "participant_added", "context_set", "greeting"
    ]  # fmt: skip
    assert rows[1][7] == "[]" and all(len(row[8]) == 64 for row in rows)


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


def test_open_with_another_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    with pytest.raises(StoreConfigError, match="the config given is not the store's"):
        Store.open(path, SPEC_CONFIG)
    with Store.open(path, CONFIG) as store:
        assert store.config == CONFIG


def test_a_read_only_store_cannot_back_a_durable_switchboard(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    with Store.open(path, readonly=True) as store, pytest.raises(StoreError, match="writable"):
        DurableSwitchboard(store)
    with Store.open(path, readonly=True) as store, pytest.raises(StoreError, match="read-only"):
        store.append_batch(
            [
                StepRow(
                    seq=1,
                    index=0,
                    event="{}",
                    now=None,
                    step_id=None,
                    refused=False,
                    effects=0,
                    delivered="[]",
                )
            ]
        )


# -- the hash chain and tampered rows -----------------------------------------------------------


def _logged_store(path: Path) -> None:
    with DurableSwitchboard(Store.create(path, SPEC_CONFIG), checkpoint_every=1000) as board:
        drive(board, calls_of(SPEC_EXAMPLE))


def _edit(path: Path, sql: str, *parameters: object) -> None:
    db = sqlite3.connect(path)
    db.execute(sql, parameters)
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("UPDATE steps SET event = replace(event, 'a', 'e') WHERE seq = 4",
         "step seq 4: does not match its checksum"),
        ("UPDATE steps SET now = 'soon' WHERE seq = 3", "step seq 3: column now holds 'soon'"),
        ("UPDATE steps SET step_index = 'x' WHERE seq = 5",
         "step seq 5: column step_index holds 'x'"),
        ("UPDATE steps SET now = 1000.5 WHERE seq = 6", "step seq 6: does not match its checksum"),
        ("UPDATE steps SET delivered = '[]' WHERE seq = 2",
         "step seq 2: does not match its checksum"),
        ("DELETE FROM steps WHERE seq = 7", "step seq 8: the log has a gap"),
    ],
    ids=["flipped-byte", "text-now", "text-index", "moved-now", "effects", "gap"],
)  # fmt: skip
def test_a_changed_row_or_column_is_one_line_naming_the_row(
    sql: str, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "s.db"
    _logged_store(path)
    _edit(path, sql)
    with Store.open(path, readonly=True) as store, pytest.raises(StoreCorruptError) as caught:
        list(store.steps())
    assert problem in str(caught.value) and "\n" not in str(caught.value)
    done = subprocess.run(
        [sys.executable, "-m", "handoff_fsm.adapters.cli", "replay", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert problem in done.stderr


def test_reopening_needs_no_config_and_a_config_that_differs_names_the_first_difference(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    with Store.open(path) as store:
        assert store.config == CONFIG
    people = list(CONFIG.participants)
    people[2] = ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=3)
    other = Config(settings=CONFIG.settings, participants=tuple(people), queues=CONFIG.queues)
    with pytest.raises(StoreConfigError) as caught:
        Store.open(path, other)
    assert "(participants.rep-1.capacity: store has 1, given 3)" in str(caught.value)
    with DurableSwitchboard.open(path) as board:  # no config: the store's own
        assert board.switchboard.config == CONFIG


# -- read-only media and a removed WAL ----------------------------------------------------------


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


def test_a_store_read_immutable_gives_the_same_replay(tmp_path: Path) -> None:
    """The read path used on media that cannot be written, taken here on purpose."""
    path = tmp_path / "s.db"
    _logged_store(path)
    from handoff_fsm.adapters.store import files

    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    db = sqlite3.connect(uri, uri=True)
    assert files.read_meta(db, path)["schema_version"] == "2"
    assert db.execute("SELECT COUNT(*) FROM steps").fetchone() == (21,)
    db.close()


def test_a_removed_wal_gives_a_warning_that_acknowledged_steps_may_be_missing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    board = DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=1000)
    for second in range(1, 6):
        board.handle(Tick(now=second))
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)  # the main file alone: the steps are still in the WAL
    shutil.copyfile(tmp_path / "s.db-lock", tmp_path / "copy.db-lock")
    board.store.close()
    with pytest.warns(StoreWarning, match=r"acknowledged steps \d+\.\.5 may be missing"):
        Store.open(copy, readonly=True).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Store.open(path, readonly=True).close()  # the healthy store: no warning


# -- two writers, as two real processes ---------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from handoff_fsm.adapters.store import DurableSwitchboard, Store
    from handoff_fsm.events import Tick

    path, steps, timeout, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    board = DurableSwitchboard(Store.open(path, lock_timeout=timeout), checkpoint_every=2)
    print("open", board.seq, flush=True)
    for number in range(steps):
        board.handle(Tick(now=board.switchboard.now + 1))
        if hold == "hold" and number == 0:
            print("holding", flush=True)
            sys.stdin.readline()
    board.close()
    print("done", board.seq, flush=True)
    """
)
#: Any config: the writers only tick. The first seed scenario's, so `run --store` can try too.
WRITERS_FILE = SCENARIO_FILES[0]


def _writer(
    path: Path, steps: int, *, timeout: float = 0.0, hold: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(path),
            str(steps),
            str(timeout),
            "hold" if hold else "-",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_writer_process_fails_clearly_while_the_first_holds_the_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    Store.create(path, load_scenario(WRITERS_FILE).config).close()
    first = _writer(path, 3, hold=True)
    assert first.stdout is not None and first.stdin is not None
    assert [first.stdout.readline().strip() for _ in range(2)] == ["open 0", "holding"]

    second = _writer(path, 3)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1 and "another writer has this store open" in err
    with pytest.raises(StoreError, match="another writer has this store open"):
        Store.open(path)
    command = ["run", str(WRITERS_FILE), "--store", str(path)]
    done = subprocess.run(
        [sys.executable, "-m", "handoff_fsm.adapters.cli", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"handoff-fsm run: {path}: another writer has this store open; one writer at a time "
        "(readers such as `replay` need no lock)\n"
    )
    with Store.open(path, readonly=True) as reader:  # readers need no lock
        assert reader.head == 1

    first.stdin.write("go\n")
    first.stdin.flush()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert out.split()[-2:] == ["done", "3"]
    with Store.open(path) as store:
        assert [s.seq for s in store.steps()] == [1, 2, 3]


def test_writers_that_wait_for_the_lock_take_turns_and_the_log_stays_one_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    writers = [_writer(path, 15, timeout=60) for _ in range(3)]
    results = [w.communicate(timeout=90) for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0], [err for _, err in results]
    opened = sorted(int(out.split()[1]) for out, _ in results)
    assert opened == [0, 15, 30]  # each restored what the one before it had written
    with Store.open(path) as store:
        steps = list(store.steps())
        restored = store.restore().switchboard
    assert [s.seq for s in steps] == list(range(1, 46))
    assert [s.event for s in steps] == [Tick(now=float(n)) for n in range(1, 46)]
    assert restored.now == 45.0
