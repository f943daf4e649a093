"""The log: one checksummed row per step handed in, in one hash chain, and the `Store` that owns it.

Theory of operation: the switchboard is a deterministic function of its config and of the calls
it was given, so the calls are the truth to keep. `Store` appends them, refused steps and retried
duplicates included, in batches of one transaction each (`append_batch`), with what each step
gave (refused or not, its effects as the JSON lines a service delivers). Every row carries
`chain` = sha256(chain of the row before + its canonical bytes), starting from a hash of the
stored config: a flipped byte in any column of any row, a removed or reordered row, breaks the
chain at that row, and reading says which. A checkpoint names the chain at its seq, so it is
tied to the exact log it follows.

Rules:
- One writer (see `lock`); every batch checks, inside its `BEGIN IMMEDIATE` transaction, that the
  log still ends where this writer left it, so two histories never interleave.
- A batch is one transaction at `synchronous=FULL` in WAL mode: when `append_batch` returns, every
  step of it is on disk; when it raises `StoreWriteError`, none is.
- Reading checks every column's type and the chain, and stops at the first bad row with one line
  naming it (`StoreCorruptError`): never a traceback, never a silently different step.
- Reopening needs no config: the store keeps its own. A config given that differs is refused
  naming the first difference (`participants.rep-1.capacity: store has 5, given 3`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import attrs

from handoff_fsm import __version__
from handoff_fsm.adapters.store import files
from handoff_fsm.adapters.store.encoding import (
    canonical,
    checksum,
    config_from_json,
    config_to_json,
    encode_config,
    event_from_json,
    first_difference,
)
from handoff_fsm.adapters.store.errors import (
    StoreConfigError,
    StoreCorruptError,
    StoreError,
    StoreWriteError,
    warn,
)
from handoff_fsm.adapters.store.lock import WriterLock, recorded_head
from handoff_fsm.config import Config
from handoff_fsm.events import Event

if TYPE_CHECKING:
    from handoff_fsm.adapters.store.restore import Restored


@attrs.frozen(kw_only=True)
class LoggedStep:
    """One call to `handle`, as it was made, and what it gave: `seq` numbers the log from 1
    without gaps; `index` is the caller's step index (the scenario's, for `run --store`);
    `effects` counts the effects returned (those fired before a refusal included) and
    `delivered` holds them as JSON lines."""

    seq: int
    index: int
    event: Event
    now: float | None = None
    step_id: str | None = None
    refused: bool = False
    effects: int = 0
    delivered: str = "[]"

    @property
    def call(self) -> tuple[Event, float | None, str | None]:
        """What `handle` was given: the event, `now` and `step_id`."""
        return (self.event, self.now, self.step_id)

    @property
    def lines(self) -> int:
        """How many JSONL lines the runner wrote for it: one per effect, one more if refused."""
        return self.effects + int(self.refused)


@attrs.frozen(kw_only=True)
class StepRow:
    """A step ready to be logged: the event already encoded."""

    seq: int
    index: int
    event: str
    now: float | None
    step_id: str | None
    refused: bool
    effects: int
    delivered: str

    def values(self) -> list[object]:
        now = None if self.now is None else float(self.now)
        return [self.seq, self.index, self.event, now, self.step_id, int(self.refused),
                self.effects, self.delivered]  # fmt: skip


def chain_next(previous: str, values: Sequence[object]) -> str:
    return checksum(previous + "\n" + canonical(list(values)))


def genesis(config_text: str) -> str:
    """The chain before the first step: it binds the log to the config it was written for."""
    return checksum(f"{files.FORMAT} {files.SCHEMA_VERSION}\n{config_text}")


class Store:
    """An open store: its config, the step log, the checkpoints and the seen ids.

    Open with `Store.open`, `Store.create` or `Store.open_or_create`; close it (or use `with`).
    A writable store holds the writer lock until closed. One thread at a time."""

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        meta: dict[str, str],
        lock: WriterLock | None,
    ) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = connection
        self._lock = lock
        self.config_text = meta["config"]
        try:
            data = json.loads(self.config_text)
        except ValueError:
            raise StoreCorruptError(f"{path}: the stored config is not JSON") from None
        self.config: Config = config_from_json(data, f"{path}: config")
        self.genesis = genesis(self.config_text)
        self._head, self._chain = self._read_head()
        hinted = recorded_head(path)
        if hinted is not None and hinted > self._head:
            warn(
                f"{path}: its log ends at seq {self._head}, but its last writer committed up to "
                f"seq {hinted}: acknowledged steps {self._head + 1}..{hinted} may be missing "
                "(was the -wal file removed or the store copied without it?)"
            )

    # -- opening and closing

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        *,
        readonly: bool = False,
        lock_timeout: float = 0.0,
    ) -> Store:
        """Open an existing store (it keeps its own config); a `config` given that differs is
        refused with `StoreConfigError` naming the first difference."""
        path = Path(path)
        files.check_header(path)
        connection = files.connect(path, readonly=readonly)
        lock: WriterLock | None = None
        try:
            meta = files.read_meta(connection, path)
            if config is not None:
                check_config(path, meta["config"], config)
            if not readonly:
                lock = WriterLock(path, lock_timeout)
                files.set_writer_pragmas(connection, path)
            return cls(path, connection, meta, lock)
        except BaseException:
            connection.close()
            if lock is not None:
                lock.release()
            raise

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], config: Config, *, lock_timeout: float = 0.0
    ) -> Store:
        """Create a new store for `config`, open for writing; refuse if `path` exists."""
        path = Path(path)
        text = encode_config(config)
        if not path.parent.is_dir():
            raise StoreError(f"{path}: cannot be created (no directory {path.parent})")
        lock = WriterLock(path, lock_timeout)
        try:
            if path.exists():
                raise StoreError(f"{path}: already exists; open it, or create the store elsewhere")
            files.create_file(
                path,
                {
                    "format": files.FORMAT,
                    "schema_version": str(files.SCHEMA_VERSION),
                    "config": text,
                    "created_by": f"handoff-fsm {__version__}",
                },
            )
            lock.record_head(0)
            connection = files.connect(path, readonly=False)
        except BaseException:
            lock.release()
            raise
        try:
            files.set_writer_pragmas(connection, path)
            return cls(path, connection, files.read_meta(connection, path), lock)
        except BaseException:
            connection.close()
            lock.release()
            raise

    @classmethod
    def open_or_create(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        *,
        lock_timeout: float = 0.0,
    ) -> Store:
        """Open the store at `path` (a `config` given must be its own), or create it for
        `config` (then required)."""
        if Path(path).exists():
            return cls.open(path, config, lock_timeout=lock_timeout)
        if config is None:
            raise StoreError(f"{path}: no store here, and no config given to create one")
        try:
            return cls.create(path, config, lock_timeout=lock_timeout)
        except StoreError:
            if Path(path).exists():  # another process created it meanwhile
                return cls.open(path, config, lock_timeout=lock_timeout)
            raise

    @property
    def writable(self) -> bool:
        return self._lock is not None

    @property
    def closed(self) -> bool:
        return self._db is None

    def close(self) -> None:
        """Close the connection and release the writer lock. Closing twice is harmless."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading

    @property
    def head(self) -> int:
        """The `seq` of the last logged step this store knows of (0: none)."""
        return self._head

    @property
    def head_chain(self) -> str:
        return self._chain

    def refresh(self) -> int:
        """Re-read the head: a read-only store opened beside a live writer (a service's feed)
        sees the steps committed since it opened or last refreshed. Returns the head."""
        self._head, self._chain = self._read_head()
        return self._head

    def _read_head(self) -> tuple[int, str]:
        row = self.query("SELECT seq, chain FROM steps ORDER BY seq DESC LIMIT 1").fetchone()
        if row is not None:
            return int(row[0]), str(row[1])
        base = self.query("SELECT seq, chain FROM checkpoints WHERE name = 'base'").fetchone()
        if base is not None:
            return int(base[0]), str(base[1])
        return 0, self.genesis

    def first_seq(self) -> int:
        """The seq the log starts after (0, or the base checkpoint's after a compaction)."""
        row = self.query("SELECT MIN(seq) FROM steps").fetchone()
        if row is None or row[0] is None:
            return self._head
        return int(row[0]) - 1

    def chain_at(self, seq: int) -> str:
        """The chain after step `seq`, as the log (or the base checkpoint) records it."""
        if seq == 0:
            return self.genesis
        row = self.query("SELECT chain FROM steps WHERE seq = ?", (seq,)).fetchone()
        if row is not None:
            return str(row[0])
        base = self.query("SELECT seq, chain FROM checkpoints WHERE name = 'base'").fetchone()
        if base is not None and int(base[0]) == seq:
            return str(base[1])
        raise StoreCorruptError(f"{self.path}: the log has no step seq {seq}")

    def info_of(self, name: str) -> dict[str, int]:
        row = self.query("SELECT info FROM checkpoints WHERE name = ?", (name,)).fetchone()
        if row is None:
            return {}
        try:
            info = json.loads(row[0])
        except (TypeError, ValueError):
            raise StoreCorruptError(f"{self.path}: checkpoint {name!r} has damaged info") from None
        return {str(k): int(v) for k, v in info.items()} if isinstance(info, dict) else {}

    def last_step_index(self) -> int | None:
        row = self.query("SELECT step_index FROM steps ORDER BY seq DESC LIMIT 1").fetchone()
        if row is not None:
            return int(row[0])
        base = self.info_of("base")
        return base.get("last_index") if base.get("last_index", -1) >= 0 else None

    def line_count(self) -> int:
        """How many JSONL lines the logged steps made (so a continued run numbers on from it)."""
        (total,) = self.query("SELECT COALESCE(SUM(effects + refused), 0) FROM steps").fetchone()
        return int(total) + self.info_of("base").get("lines", 0)

    def steps(self, after: int | None = None, *, upto: int | None = None) -> Iterator[LoggedStep]:
        """The logged steps with `seq > after` (default: all the log holds), in order, each
        checked against the hash chain."""
        start = self.first_seq() if after is None else after
        chain = self.chain_at(start)
        rows = self.query(
            "SELECT seq, step_index, event, now, step_id, refused, effects, delivered, chain "
            "FROM steps WHERE seq > ? AND seq <= ? ORDER BY seq",
            (start, self._head if upto is None else upto),
        )
        expected = start + 1
        for row in rows:
            step, chain = self._logged(row, expected, chain)
            yield step
            expected += 1

    def _logged(
        self, row: Sequence[object], expected: int, previous: str
    ) -> tuple[LoggedStep, str]:
        seq, index, event, now, step_id, refused, effects, delivered, chain = row
        where = f"{self.path}: step seq {seq}"
        if seq != expected:
            raise StoreCorruptError(f"{where}: the log has a gap (expected seq {expected})")
        _column(where, "step_index", index, int)
        _column(where, "event", event, str)
        if now is not None:
            _column(where, "now", now, float)
        if step_id is not None:
            _column(where, "step_id", step_id, str)
        if refused not in (0, 1) or isinstance(refused, bool):
            raise StoreCorruptError(f"{where}: column refused holds {refused!r}, not 0 or 1")
        _column(where, "effects", effects, int)
        _column(where, "delivered", delivered, str)
        assert isinstance(event, str) and isinstance(delivered, str)
        assert isinstance(index, int) and isinstance(effects, int)
        values = [seq, index, event, now, step_id, refused, effects, delivered]
        if chain_next(previous, values) != chain:
            raise StoreCorruptError(
                f"{where}: does not match its checksum (the row was changed after it was "
                "written, or a row before it was)"
            )
        try:
            data = json.loads(event)
        except ValueError:
            raise StoreCorruptError(f"{where}: the event is not JSON") from None
        step = LoggedStep(
            seq=expected,
            index=index,
            event=event_from_json(data, where),
            now=None if now is None else float(str(now)),
            step_id=None if step_id is None else str(step_id),
            refused=bool(refused),
            effects=effects,
            delivered=delivered,
        )
        return step, str(chain)

    def restore(self) -> Restored:
        """The switchboard after the last logged step (`restore.state_at`)."""
        from handoff_fsm.adapters.store.restore import state_at

        return state_at(self)

    def query(self, sql: str, parameters: Sequence[object] = ()) -> sqlite3.Cursor:
        try:
            return self._connection().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot be read ({exc})") from None

    # -- writing

    def append_batch(
        self,
        rows: Sequence[StepRow],
        also: Callable[[sqlite3.Connection, str], None] | None = None,
    ) -> None:
        """Log `rows` (which must follow the head), and whatever `also` writes, in ONE
        transaction; returns once it is on disk, or raises `StoreWriteError` (nothing logged)."""
        db = self._writer()
        chain = self._chain
        values: list[list[object]] = []
        for n, row in enumerate(rows, start=self._head + 1):
            if row.seq != n:
                raise StoreWriteError(f"{self.path}: step seq {row.seq} does not follow {n - 1}")
            fields = row.values()
            chain = chain_next(chain, fields)
            values.append([*fields, chain])
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._check_head(db)
                db.executemany(
                    "INSERT INTO steps (seq, step_index, event, now, step_id, refused, effects, "
                    "delivered, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                if also is not None:
                    also(db, chain)
                db.execute("COMMIT")
            except BaseException:
                files.rollback(db)
                raise
        except sqlite3.Error as exc:
            first = rows[0].seq if rows else self._head
            raise StoreWriteError(
                f"{self.path}: steps from seq {first} were not logged ({exc})"
            ) from None
        if rows:
            self._head, self._chain = rows[-1].seq, chain
        assert self._lock is not None
        self._lock.record_head(self._head)

    def fold_wal(self) -> None:
        """Copy the WAL into the database and empty it, now: after a large write made while
        opening (a first checkpoint, a seed), so that copying it does not fall on steps later."""
        with contextlib.suppress(sqlite3.Error):
            self._writer().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def write(self, also: Callable[[sqlite3.Connection, str], None]) -> None:
        """Run `also` in one write transaction (checkpoints, compaction)."""
        self.append_batch((), also)

    def _check_head(self, db: sqlite3.Connection) -> None:
        head = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM steps").fetchone()[0])
        if head == 0:  # an empty log goes on from the base checkpoint, if compacted
            base = db.execute("SELECT seq FROM checkpoints WHERE name = 'base'").fetchone()
            head = 0 if base is None else int(base[0])
        if head != self._head:
            raise StoreWriteError(
                f"{self.path}: another writer changed the log (it ends at seq {head}, this "
                f"writer left it at {self._head}); reopen the store to go on from its state"
            )

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._db

    def _writer(self) -> sqlite3.Connection:
        db = self._connection()
        if self._lock is None:
            raise StoreError(f"{self.path}: the store is open read-only")
        return db


def check_config(path: Path, stored_text: str, given: Config) -> None:
    stored = json.loads(stored_text)
    difference = first_difference(stored, config_to_json(given))
    if difference is not None:
        raise StoreConfigError(
            f"{path}: the config given is not the store's ({difference}); reopen it without a "
            "config to use its own"
        )


def _column(where: str, name: str, value: object, kind: type) -> None:
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        wanted = {int: "an integer", float: "a number", str: "text"}[kind]
        raise StoreCorruptError(f"{where}: column {name} holds {value!r}, not {wanted}")


__all__ = ["LoggedStep", "StepRow", "Store", "chain_next", "check_config", "genesis"]
