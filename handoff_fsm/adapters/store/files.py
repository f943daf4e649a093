"""The SQLite file of a store: recognising it, creating it atomically, opening it.

Theory of operation: a store is one SQLite file in WAL mode, marked with
`PRAGMA application_id = 0x48464D53` ("HFMS") so that it is recognised by its header alone,
before SQLite is asked to open it. A store is built beside its path and moved into place, so the
path is either absent or a complete store whenever the process dies. Readers open it read-only;
on media they cannot write (a read-only disk, a directory without write permission) they open it
`immutable`, which SQLite allows only when no writer can be active: then a WAL file left beside
it cannot be read, and the opener is warned.

Rules: nothing is written to a file that is not a store of a known schema version (not even the
`-lock` file); every SQLite failure becomes one `StoreError` line naming the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from pathlib import Path
from typing import Final

from handoff_fsm.adapters.store.errors import StoreError, warn

SCHEMA_VERSION: Final = 2
"""The store format this module reads and writes (1 had pickled snapshots; it is refused)."""
APPLICATION_ID: Final = 0x48464D53
FORMAT: Final = "handoff-fsm store"
BUSY_TIMEOUT: Final = 5.0
_SQLITE_MAGIC = b"SQLite format 3\x00"

SCHEMA: Final = (
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE steps (
        seq INTEGER PRIMARY KEY,
        step_index INTEGER NOT NULL,
        event TEXT NOT NULL,
        now REAL,
        step_id TEXT,
        refused INTEGER NOT NULL,
        effects INTEGER NOT NULL,
        delivered TEXT NOT NULL,
        chain TEXT NOT NULL
    )""",
    """CREATE TABLE state (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        ordinal INTEGER NOT NULL,
        body TEXT NOT NULL,
        checksum TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    )""",
    """CREATE TABLE checkpoints (
        name TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        chain TEXT NOT NULL,
        digest TEXT NOT NULL,
        info TEXT NOT NULL,
        body TEXT,
        checksum TEXT NOT NULL
    )""",
    """CREATE TABLE seen_ids (
        step_id TEXT PRIMARY KEY
    )""",
)


def check_header(path: Path) -> None:
    """Tell a store from anything else by its first bytes, without letting SQLite touch it."""
    try:
        with path.open("rb") as file:
            header = file.read(100)
    except FileNotFoundError:
        raise StoreError(f"{path}: no store here") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise StoreError(f"{path}: is not a handoff-fsm store (not an SQLite database)")
    if int.from_bytes(header[68:72], "big", signed=False) != APPLICATION_ID:
        raise StoreError(
            f"{path}: is not a handoff-fsm store (an SQLite database of another application)"
        )


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """A connection for writing, or for reading (immutable on media a reader cannot write)."""
    uri = path.resolve().as_uri()
    if not readonly:
        return _open(f"{uri}?mode=rw", path)
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        # Read-write underneath so that SQLite removes its -wal/-shm files when the last
        # connection closes; `query_only` keeps this connection from writing anything.
        connection = _open(f"{uri}?mode=rw", path)
        connection.execute("PRAGMA query_only = ON")
        return connection
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        warn(
            f"{path}: is on media this process cannot write, and its WAL file ({wal.name}) "
            "cannot be read without writing: steps committed since the last WAL checkpoint "
            "are not seen"
        )
    return _open(f"{uri}?mode=ro&immutable=1", path)


def _open(uri: str, path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(
            uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot be opened ({exc})") from None


def read_meta(connection: sqlite3.Connection, path: Path) -> dict[str, str]:
    try:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: is a damaged handoff-fsm store ({exc})") from None
    if meta.get("format") != FORMAT:
        raise StoreError(f"{path}: is a damaged handoff-fsm store (no format mark)")
    version = meta.get("schema_version")
    if version != str(SCHEMA_VERSION):
        from handoff_fsm import __version__

        old = " (version 1 stores kept pickled snapshots, which are never loaded)"
        raise StoreError(
            f"{path}: has schema version {version}, which this handoff-fsm ({__version__}) does "
            f"not know (it reads version {SCHEMA_VERSION}){old if version == '1' else ''}; "
            "nothing was changed"
        )
    return {str(k): str(v) for k, v in meta.items()}


def set_writer_pragmas(connection: sqlite3.Connection, path: Path) -> None:
    try:
        (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
        connection.execute("PRAGMA synchronous = FULL")  # a commit is on disk when it returns
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot be opened for writing ({exc})") from None
    if str(mode).lower() != "wal":
        raise StoreError(f"{path}: cannot switch to WAL mode (journal mode is {mode})")


def create_file(path: Path, meta: dict[str, str]) -> None:
    """Build the store beside `path` and move it into place, so that `path` is either absent or
    a complete store, whenever the process dies."""
    temporary = path.with_name(f".{path.name}.creating-{os.getpid()}")
    for leftover in (temporary, *side_files(temporary)):
        leftover.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA:
                connection.execute(statement)
            connection.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute("COMMIT")
        finally:
            connection.close()  # the last connection: checkpoints the WAL into the file
        if any(side.exists() for side in side_files(temporary)):
            raise StoreError(f"{path}: cannot be created (SQLite left its WAL behind)")
        fsync(temporary)
        os.replace(temporary, path)
        fsync(path.parent)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot be created ({exc})") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot be created ({exc.strerror or exc})") from None
    finally:
        for leftover in (temporary, *side_files(temporary)):
            leftover.unlink(missing_ok=True)


def side_files(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def fsync(path: Path) -> None:
    if sys.platform == "win32" and path.is_dir():  # pragma: no cover - not possible there
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # gone already: nothing was committed
            db.execute("ROLLBACK")


__all__ = [
    "APPLICATION_ID",
    "FORMAT",
    "SCHEMA",
    "SCHEMA_VERSION",
    "check_header",
    "connect",
    "create_file",
    "read_meta",
    "rollback",
    "set_writer_pragmas",
]
