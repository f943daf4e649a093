"""Durable conversations: an SQLite event log of every step, snapshots, restore and replay.

Theory of operation: the switchboard is a pure, deterministic function of its config and the
sequence of `handle(event, now=, step_id=)` calls it was given (time and ids are inputs). So the
calls themselves are the truth to keep: `Store` is an append-only log of them, one row per step
handed in, refused steps and retried duplicates included (replay must reproduce their error lines
and the duplicate-id bookkeeping). A snapshot (a pickle of the whole `Switchboard`) is only a
cache that saves re-running the log from the beginning: restore loads the latest usable snapshot
and re-applies the log after it; a snapshot that cannot be used (another handoff-fsm version
wrote it, or it does not unpickle) is skipped and the log is replayed from step 1.

`DurableSwitchboard` wraps a restored switchboard: it runs a step in memory, then appends it to
the log (and a snapshot, every `snapshot_every` steps) in ONE SQLite transaction, and only when
that transaction has committed does it return the effects: the return is the acknowledgement.
SQLite in WAL mode with `synchronous=FULL` makes a committed transaction survive a killed process
and a power cut (as far as the disk honours fsync); a transaction cut short leaves nothing, so
after a crash every acknowledged step is there and no half-applied one is.

Rules:
- One writer per store. A writer holds an advisory lock on `STORE-lock` (POSIX `flock`, freed by
  the OS when the process dies, so a crash never leaves a stale lock); a second writer fails with
  a `StoreError` at once, or waits up to `lock_timeout` seconds. Independently of the lock, every
  append checks, inside its `BEGIN IMMEDIATE` transaction, that the log still ends where this
  writer left it; if anything else wrote, the append is refused and the wrapper stops, so two
  writers can never interleave two histories into one log. Readers (replay) need no lock.
- The log's event column holds a step in the scenario format of SPEC §5 (`{"transfer": {...}}`,
  every field written, enums as values) and the config is stored in the scenario format too;
  both are read back with the scenario reader, so there is one format and one validator. A step
  or config that would not read back equal is refused before anything changes.
- Each logged step records how many effects it returned and whether it was refused; restore and
  replay check that re-running it gives the same, and fail loudly if not (a store written by an
  engine whose decisions differ from this one's).
- A store is trusted data: snapshots are pickles, and unpickling runs code. Open only stores you
  (or your service) wrote. The schema version in `meta` guards the format; an unknown version, or
  a file that is not a handoff-fsm store, is refused before anything is written to it.
- The core knows nothing of this module; it depends on the core.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

import attrs

from handoff_fsm import __version__
from handoff_fsm.adapters.jsonl import dumps
from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.config import (
    Config,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    QueueSpec,
)
from handoff_fsm.effects import Effect
from handoff_fsm.errors import InvalidStep, ScenarioError, StepRefused, StoreError
from handoff_fsm.events import Event, JsonValue
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.switchboard import StepResult, Switchboard

if sys.platform != "win32":
    import fcntl

SCHEMA_VERSION: Final = 1
"""The store format this module reads and writes. Bump it (with a migration) on any change to
the tables, the event or config encoding, or what a snapshot pickles."""

APPLICATION_ID: Final = 0x48464D53
"""`PRAGMA application_id` of a store ("HFMS"): tells a store from any other SQLite file by its
header alone, before SQLite is asked to open it."""

FORMAT: Final = "handoff-fsm store"
DEFAULT_SNAPSHOT_EVERY: Final = 100
KEEP_SNAPSHOTS: Final = 2
"""Older snapshots are deleted: the log is the truth and one spare covers a bad latest one."""
BUSY_TIMEOUT: Final = 5.0
"""Seconds SQLite waits for another connection's lock (a reader's checkpoint) before failing."""
PICKLE_PROTOCOL: Final = 5
LOCK_SUFFIX: Final = "-lock"

_SQLITE_MAGIC = b"SQLite format 3\x00"
_StepRow = tuple[int, int, str, float | None, str | None, int, int]

_SCHEMA = (
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
        refused INTEGER NOT NULL CHECK (refused IN (0, 1)),
        effects INTEGER NOT NULL CHECK (effects >= 0)
    )""",
    """CREATE TABLE snapshots (
        after_seq INTEGER PRIMARY KEY,
        engine TEXT NOT NULL,
        blob BLOB NOT NULL
    )""",
)


# -- codecs -------------------------------------------------------------------------------------


def event_to_json(event: Event) -> dict[str, JsonValue]:
    """A step as the scenario format writes it (`{"transfer": {...}}`), every field included so
    that reading it back never depends on today's defaults."""
    body: dict[str, JsonValue] = {}
    for field in attrs.fields(type(event)):
        body[field.name] = _plain(getattr(event, field.name))
    return {event.STEP: body}


def event_from_json(data: object, where: str = "event") -> Event:
    """Read a step written by `event_to_json` (the scenario reader checks it); `StoreError`
    names `where` if it is damaged."""
    try:
        return parse_scenario({"steps": [data]}, where).steps[0].event
    except ScenarioError as exc:
        raise StoreError(f"{where}: cannot be read back ({_problem(exc)})") from None


def config_to_json(config: Config) -> dict[str, JsonValue]:
    """A config in the scenario format's shape (`settings`, `participants`, `queues`)."""
    settings = config.settings
    return {
        "settings": {
            "fallback_limit": settings.fallback_limit,
            "escalation_phrases": list(settings.escalation_phrases),
            "cancel_phrases": list(settings.cancel_phrases),
            "survey_timeout": settings.survey_timeout,
            "missed_offers_to_away": settings.missed_offers_to_away,
        },
        "participants": {
            spec.id: {
                "kind": spec.kind.value,
                "capacity": spec.capacity,
                "skills": dict(spec.skills),
            }
            for spec in config.participants
        },
        "queues": {queue.name: _queue_to_json(queue) for queue in config.queues},
    }


def _queue_to_json(queue: QueueSpec) -> dict[str, JsonValue]:
    overflow: JsonValue
    if isinstance(queue.overflow, OverflowTransfer):
        overflow = {"transfer": queue.overflow.queue}
    elif isinstance(queue.overflow, OverflowReturnToBot):
        overflow = "return_to_bot"
    else:
        assert isinstance(queue.overflow, OverflowEnd)
        overflow = "end"
    return {
        "participants": list(queue.members),
        "strategy": queue.strategy.value,
        "units": queue.units,
        "offer_timeout": queue.offer_timeout,
        "wait_timeout": queue.wait_timeout,
        "overflow": overflow,
        "priority": queue.priority,
        "wrap_up": queue.wrap_up,
    }


def config_from_json(data: object, where: str = "config") -> Config:
    if not isinstance(data, dict):
        raise StoreError(f"{where}: cannot be read back (not a mapping)")
    try:
        return parse_scenario({**data, "steps": []}, where).config
    except ScenarioError as exc:
        raise StoreError(f"{where}: cannot be read back ({_problem(exc)})") from None


def _problem(error: ScenarioError) -> str:
    """The scenario reader's complaint, placed in the event or config rather than a file."""
    place = error.place.removeprefix("steps[0].")
    return f"{place}: {error.problem}" if place else error.problem


def _plain(value: object) -> JsonValue:
    to_json = getattr(value, "to_json", None)  # a requirement, a transcript entry
    if callable(to_json):
        return _plain(to_json())
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, str):  # a StrEnum member becomes its value
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def encode_event(event: Event) -> str:
    """The log's text for `event`, proven to read back equal, so that whatever is acknowledged
    can be restored; `StoreError` (and nothing changed) otherwise."""
    what = f"a {event.STEP} step cannot be stored"
    try:
        text = dumps(event_to_json(event))
        back = parse_scenario({"steps": [json.loads(text)]}, "").steps[0].event
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what}: {exc}") from None
    except ScenarioError as exc:
        raise StoreError(f"{what}: {_problem(exc)}") from None
    if back != event:
        raise StoreError(f"{what}: it would not read back equal ({text})")
    return text


def encode_config(config: Config) -> str:
    """The store's text for `config`, proven to read back equal (the scenario reader's checks
    apply: a config no scenario file could state is refused)."""
    what = "the config cannot be stored"
    try:
        text = dumps(config_to_json(config))
        back = parse_scenario({**json.loads(text), "steps": []}, "").config
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what}: {exc}") from None
    except ScenarioError as exc:
        raise StoreError(f"{what}: {_problem(exc)}") from None
    if back != config:
        raise StoreError(f"{what}: it would not read back equal ({text})")
    return text


# -- the log ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LoggedStep:
    """One call to `handle`, as it was made, and what it gave: `seq` numbers the log from 1
    without gaps; `index` is the caller's step index (the scenario's, for `run --store`);
    `effects` counts the effects returned (those fired before a refusal included)."""

    seq: int
    index: int
    event: Event
    now: float | None = None
    step_id: str | None = None
    refused: bool = False
    effects: int = 0

    @property
    def call(self) -> tuple[Event, float | None, str | None]:
        """What `handle` was given: the event, `now` and `step_id`."""
        return (self.event, self.now, self.step_id)

    @property
    def lines(self) -> int:
        """How many JSONL lines the runner wrote for it: one per effect, one more if refused."""
        return self.effects + int(self.refused)


@attrs.frozen(kw_only=True)
class Applied:
    """A logged step run again on a switchboard: what it gave this time."""

    step: LoggedStep
    effects: tuple[Effect, ...]
    refused: StepRefused | None


@attrs.frozen(kw_only=True)
class Restored:
    """A switchboard rebuilt from a store; `snapshot_seq` is the snapshot it started from (0:
    none, the whole log was replayed) and `replayed` how many logged steps were re-applied."""

    switchboard: Switchboard
    seq: int
    snapshot_seq: int
    replayed: int


def apply_logged(board: Switchboard, step: LoggedStep) -> Applied:
    """Make the logged call again; `StoreError` if it does not give what it gave when it was
    acknowledged (same refusal, same number of effects)."""
    result = board.step(step.event, now=step.now, step_id=step.step_id)
    refused, effects = result.error, result.effects
    if (refused is not None) != step.refused or len(effects) != step.effects:
        was = f"{step.effects} effects{', refused' if step.refused else ''}"
        now = f"{len(effects)} effects{', refused' if refused is not None else ''}"
        raise StoreError(
            f"step seq {step.seq} (index {step.index}, {step.event.STEP}) does not replay: it gave "
            f"{was} when it was acknowledged and {now} now (was the store written by a "
            "handoff-fsm whose decisions differ from this one's?)"
        )
    return Applied(step=step, effects=effects, refused=refused)


class _WriterLock:
    """An exclusive advisory lock on `STORE-lock`, held while a writer has the store open."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path.with_name(path.name + LOCK_SUFFIX)
        self._fd: int | None = None
        if sys.platform == "win32":  # pragma: no cover - no flock; the head check still holds
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the writer lock ({exc.strerror})") from None
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    waited = f" (waited {timeout:g} s)" if timeout > 0 else ""
                    raise StoreError(
                        f"{path}: another writer has this store open{waited}; one writer at "
                        "a time (readers such as `replay` need no lock)"
                    ) from None
                time.sleep(0.02)
            except OSError as exc:
                os.close(fd)
                raise StoreError(f"{self.path}: cannot lock ({exc.strerror})") from None
            else:
                self._fd = fd
                return

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


class Store:
    """An open store: the config it was created with, the step log and the snapshots.

    Open with `Store.open`, `Store.create` or `Store.open_or_create`; close it (or use `with`).
    A writable store holds the writer lock until closed. Not thread-safe, like the switchboard.
    """

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        config: Config,
        lock: _WriterLock | None,
    ) -> None:
        self.path = path
        self.config = config
        self._db: sqlite3.Connection | None = connection
        self._lock = lock
        self._head = self._query_int("SELECT COALESCE(MAX(seq), 0) FROM steps")

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
        """Open an existing store; with `config`, refuse one created with another config."""
        path = Path(path)
        _check_header(path)
        connection = _connect(path)
        lock: _WriterLock | None = None
        try:
            stored = _read_meta(connection, path)
            if config is not None and config != stored:
                raise StoreError(
                    f"{path}: was created with another config than the one given (a store "
                    "keeps the config of its first run; use a new store for a new config)"
                )
            if readonly:
                connection.execute("PRAGMA query_only = ON")
            else:
                lock = _WriterLock(path, lock_timeout)
                _set_writer_pragmas(connection, path)
            return cls(path, connection, stored, lock)
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
        lock = _WriterLock(path, lock_timeout)
        try:
            if path.exists():
                raise StoreError(f"{path}: already exists; open it, or create the store elsewhere")
            _create_file(path, text)
            connection = _connect(path)
        except BaseException:
            lock.release()
            raise
        try:
            _set_writer_pragmas(connection, path)
            return cls(path, connection, config, lock)
        except BaseException:
            connection.close()
            lock.release()
            raise

    @classmethod
    def open_or_create(
        cls, path: str | os.PathLike[str], config: Config, *, lock_timeout: float = 0.0
    ) -> Store:
        """Open the store at `path` (whose config must be `config`), or create it."""
        if Path(path).exists():
            return cls.open(path, config, lock_timeout=lock_timeout)
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

    def last_step_index(self) -> int | None:
        with self._reading():
            row = (
                self._connection()
                .execute("SELECT step_index FROM steps ORDER BY seq DESC LIMIT 1")
                .fetchone()
            )
        return None if row is None else int(row[0])

    def line_count(self) -> int:
        """How many JSONL lines the logged steps made (so a continued run numbers on from it)."""
        return self._query_int("SELECT COALESCE(SUM(effects + refused), 0) FROM steps")

    def steps(self, after: int = 0) -> Iterator[LoggedStep]:
        """The logged steps with `seq > after`, in order (one consistent read)."""
        with self._reading():
            rows = self._connection().execute(
                "SELECT seq, step_index, event, now, step_id, refused, effects FROM steps "
                "WHERE seq > ? ORDER BY seq",
                (after,),
            )
            expected = after + 1
            for row in rows:
                yield self._logged(row, expected)
                expected += 1

    def _logged(self, row: _StepRow, expected: int) -> LoggedStep:
        seq, index, event, now, step_id, refused, effects = row
        where = f"{self.path}: step seq {seq}"
        if seq != expected:
            raise StoreError(f"{where}: the log has a gap (expected seq {expected})")
        try:
            data = json.loads(event)
        except (TypeError, ValueError):
            raise StoreError(f"{where}: the event is not JSON") from None
        return LoggedStep(
            seq=seq,
            index=index,
            event=event_from_json(data, where),
            now=now,
            step_id=step_id,
            refused=bool(refused),
            effects=effects,
        )

    def restore(self) -> Restored:
        """The switchboard as it was after the last logged step: the latest usable snapshot,
        then the log after it."""
        board, snapshot_seq = self._latest_usable_snapshot()
        seq, replayed = snapshot_seq, 0
        for step in self.steps(after=snapshot_seq):
            apply_logged(board, step)
            seq, replayed = step.seq, replayed + 1
        return Restored(switchboard=board, seq=seq, snapshot_seq=snapshot_seq, replayed=replayed)

    def _latest_usable_snapshot(self) -> tuple[Switchboard, int]:
        with self._reading():
            rows = (
                self._connection()
                .execute("SELECT after_seq, engine, blob FROM snapshots ORDER BY after_seq DESC")
                .fetchall()
            )
        for after_seq, engine, blob in rows:
            if engine != __version__ or after_seq > self._head:
                continue
            try:
                board = pickle.loads(blob)
            except Exception:  # a snapshot is only a cache: fall back to the log
                continue
            if isinstance(board, Switchboard) and board.config == self.config:
                return board, int(after_seq)
        return Switchboard(self.config), 0

    # -- writing

    def append(self, step: LoggedStep, snapshot: Switchboard | None = None) -> None:
        """Log one step, with the snapshot of the switchboard after it if given, in one
        transaction. Returns once it is durable; raises `StoreError` if it is not logged."""
        self._append(step, encode_event(step.event), snapshot)

    def _append(self, step: LoggedStep, event: str, snapshot: Switchboard | None) -> None:
        db = self._writer()
        if step.seq != self._head + 1:
            raise StoreError(f"{self.path}: step seq {step.seq} does not follow {self._head}")
        blob = None if snapshot is None else pickle.dumps(snapshot, protocol=PICKLE_PROTOCOL)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._check_head(db)
                db.execute(
                    "INSERT INTO steps (seq, step_index, event, now, step_id, refused, effects) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (step.seq, step.index, event, step.now, step.step_id, int(step.refused),
                     step.effects),
                )  # fmt: skip
                if blob is not None:
                    self._insert_snapshot(db, step.seq, blob)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: step seq {step.seq} was not logged ({exc})") from None
        self._head = step.seq

    def save_snapshot(self, board: Switchboard) -> None:
        """Snapshot `board`, which must be the state after the last logged step."""
        db = self._writer()
        blob = pickle.dumps(board, protocol=PICKLE_PROTOCOL)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._check_head(db)
                self._insert_snapshot(db, self._head, blob)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: the snapshot was not saved ({exc})") from None

    def _check_head(self, db: sqlite3.Connection) -> None:
        (head,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM steps").fetchone()
        if head != self._head:
            raise StoreError(
                f"{self.path}: another writer changed the log (it ends at seq {head}, this "
                f"writer left it at {self._head}); reopen the store to go on from its state"
            )

    def _insert_snapshot(self, db: sqlite3.Connection, after_seq: int, blob: bytes) -> None:
        db.execute(
            "INSERT OR REPLACE INTO snapshots (after_seq, engine, blob) VALUES (?, ?, ?)",
            (after_seq, __version__, blob),
        )
        db.execute(
            "DELETE FROM snapshots WHERE after_seq NOT IN "
            "(SELECT after_seq FROM snapshots ORDER BY after_seq DESC LIMIT ?)",
            (KEEP_SNAPSHOTS,),
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

    def _query_int(self, sql: str) -> int:
        with self._reading():
            (value,) = self._connection().execute(sql).fetchone()
        return int(value)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot be read ({exc})") from None


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # gone already: nothing was committed
            db.execute("ROLLBACK")


def _check_header(path: Path) -> None:
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


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw",
            uri=True,
            isolation_level=None,  # no implicit transactions: BEGIN IMMEDIATE / COMMIT by hand
            timeout=BUSY_TIMEOUT,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot be opened ({exc})") from None


def _read_meta(connection: sqlite3.Connection, path: Path) -> Config:
    try:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: is a damaged handoff-fsm store ({exc})") from None
    if meta.get("format") != FORMAT:
        raise StoreError(f"{path}: is a damaged handoff-fsm store (no format mark)")
    version = meta.get("schema_version")
    if version != str(SCHEMA_VERSION):
        raise StoreError(
            f"{path}: has schema version {version}, which this handoff-fsm ({__version__}) does "
            f"not know (it reads version {SCHEMA_VERSION}); nothing was changed"
        )
    try:
        data = json.loads(meta.get("config", ""))
    except ValueError:
        raise StoreError(f"{path}: is a damaged handoff-fsm store (config is not JSON)") from None
    return config_from_json(data, f"{path}: config")


def _set_writer_pragmas(connection: sqlite3.Connection, path: Path) -> None:
    try:
        (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
        connection.execute("PRAGMA synchronous = FULL")  # a commit is on disk when it returns
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot be opened for writing ({exc})") from None
    if str(mode).lower() != "wal":
        raise StoreError(f"{path}: cannot switch to WAL mode (journal mode is {mode})")


def _create_file(path: Path, config_text: str) -> None:
    """Build the store beside `path` and move it into place, so that `path` is either absent or
    a complete store, whenever the process dies."""
    temporary = path.with_name(f".{path.name}.creating-{os.getpid()}")
    for leftover in (temporary, *_side_files(temporary)):
        leftover.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                connection.execute(statement)
            connection.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("format", FORMAT),
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("config", config_text),
                    ("created_by", f"handoff-fsm {__version__}"),
                ],
            )
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute("COMMIT")
        finally:
            connection.close()  # the last connection: checkpoints the WAL into the file
        if any(side.exists() for side in _side_files(temporary)):
            raise StoreError(f"{path}: cannot be created (SQLite left its WAL behind)")
        _fsync(temporary)
        os.replace(temporary, path)
        _fsync(path.parent)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot be created ({exc})") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot be created ({exc.strerror or exc})") from None
    finally:
        for leftover in (temporary, *_side_files(temporary)):
            leftover.unlink(missing_ok=True)


def _side_files(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _fsync(path: Path) -> None:
    if sys.platform == "win32" and path.is_dir():  # pragma: no cover - not possible there
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the durable switchboard --------------------------------------------------------------------


class DurableSwitchboard:
    """A switchboard whose every step is logged before it is acknowledged.

    Build it on a writable store: it restores the state after the last logged step. `handle`
    has the contract of `Switchboard.handle` (effects, or `StepRefused` carrying the effects of
    timeouts that fired first), plus: it returns (or raises `StepRefused`) only once the step is
    durable. If logging fails, it raises `StoreError` and refuses every later call: its memory
    holds a step the log does not, so reopen the store to go on from the last acknowledged step.
    Queries go to the restored switchboard (`.switchboard`); never call its `handle` or `forget`
    directly, the log would not know.
    """

    def __init__(self, store: Store, *, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> None:
        if not store.writable:
            raise StoreError(f"{store.path}: a durable switchboard needs a writable store")
        if snapshot_every < 1:
            raise ValueError("snapshot_every must be >= 1")
        restored = store.restore()
        if restored.seq != store.head:
            raise StoreError(f"{store.path}: the log changed while it was being restored")
        self.store = store
        self.switchboard = restored.switchboard
        self.restored_from = restored.snapshot_seq
        self.snapshot_every = snapshot_every
        self._since_snapshot = restored.replayed
        last = store.last_step_index()
        self._next_index = 0 if last is None else last + 1
        self._broken: str | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        config: Config,
        *,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        lock_timeout: float = 0.0,
    ) -> DurableSwitchboard:
        """Open the store at `path` (created for `config` if missing) and restore from it."""
        store = Store.open_or_create(path, config, lock_timeout=lock_timeout)
        try:
            return cls(store, snapshot_every=snapshot_every)
        except BaseException:
            store.close()
            raise

    @property
    def seq(self) -> int:
        """The `seq` of the last acknowledged step (0: none)."""
        return self.store.head

    @property
    def next_index(self) -> int:
        return self._next_index

    def step(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> StepResult:
        """Apply and log one step; `step_index` defaults to the last logged one plus one. An
        input that is not a well-formed step (`InvalidStep`) is neither applied nor logged."""
        if self._broken is not None:
            raise StoreError(f"{self.store.path}: {self._broken}; reopen the store to go on")
        text = encode_event(event)  # an event that cannot be logged is refused before it runs
        index = self._next_index if step_index is None else step_index
        try:
            result = self.switchboard.step(event, now=now, step_id=step_id)
        except InvalidStep:
            raise  # checked before anything changed
        except BaseException:
            self._broken = "the switchboard failed in the middle of a step"
            raise
        logged = LoggedStep(
            seq=self.store.head + 1,
            index=index,
            event=event,
            now=now,
            step_id=step_id,
            refused=result.error is not None,
            effects=len(result.effects),
        )
        due = self._since_snapshot + 1 >= self.snapshot_every
        try:
            self.store._append(logged, text, self.switchboard if due else None)
        except BaseException:
            self._broken = f"step seq {logged.seq} ran but was not logged"
            raise
        self._since_snapshot = 0 if due else self._since_snapshot + 1
        self._next_index = index + 1
        return result

    def handle(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> list[Effect]:
        """`step`, raising `StepRefused` (with `.effects`) for a refused step."""
        return self.step(event, now=now, step_id=step_id, step_index=step_index).unwrap()

    def snapshot(self) -> None:
        """Snapshot now (restore then re-applies nothing)."""
        if self._broken is not None:
            raise StoreError(f"{self.store.path}: {self._broken}; reopen the store to go on")
        self.store.save_snapshot(self.switchboard)
        self._since_snapshot = 0

    def close(self) -> None:
        """Snapshot if steps were logged since the last one, then close the store. A broken
        wrapper closes without a snapshot: its memory is not what the log says."""
        if self.store.closed:
            return
        try:
            if self._broken is None and self._since_snapshot > 0 and self.store.head > 0:
                self.snapshot()
        finally:
            self.store.close()

    def __enter__(self) -> DurableSwitchboard:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- queries, passed through

    def state_of(self, conversation: str) -> State | None:
        return self.switchboard.state_of(conversation)

    def outcome_of(self, conversation: str) -> Outcome | None:
        return self.switchboard.outcome_of(conversation)

    def next_deadline(self) -> float | None:
        return self.switchboard.next_deadline()


__all__ = [
    "APPLICATION_ID",
    "DEFAULT_SNAPSHOT_EVERY",
    "SCHEMA_VERSION",
    "Applied",
    "DurableSwitchboard",
    "LoggedStep",
    "Restored",
    "Store",
    "apply_logged",
    "config_from_json",
    "config_to_json",
    "encode_config",
    "encode_event",
    "event_from_json",
    "event_to_json",
]
