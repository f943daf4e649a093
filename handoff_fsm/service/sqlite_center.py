"""`CenterBackend` on today's SQLite store: the one module of the service that touches a store.

Theory of operation: `SqliteCenter` implements `handoff_fsm.service.backend.CenterBackend` on
today's SQLite store (`handoff_fsm.adapters.store`): one file per center under the data
directory, the step log and snapshots as `Store` keeps them, plus two service tables in the same
file: `service_effects` (the feed: every acknowledged effect as its JSON line, numbered per
center) and `service_replies` (the first answer to each step `id`, so a retry gets the same
status and body, across restarts too).

Every read and write of a center runs in its own single writer thread, so the switchboard and the
SQLite connection are only ever touched by one thread. Steps are grouped: requests queue up while
a batch commits, and the next batch takes all of them (up to `MAX_BATCH`) into ONE transaction
(steps, effects, replies) with one fsync; a snapshot follows between batches. A request
is answered only after its batch committed: the answer is the acknowledgement, and a `kill -9` at
any moment leaves every acknowledged step, its effects and its reply on disk, and no half batch.

Rules:
- A refused step is logged (its `id` remembered, its reply kept) but adds to the feed only the
  timeouts that fired before it; a retried `id` is answered from `service_replies` and logs
  nothing; a malformed step never reaches this module.
- If a commit fails, memory holds steps the log does not: the center stops (`usable` is False,
  every later request gets 503) until the service is restarted, which restores the last
  acknowledged state.
- Touches `Store` privates (`_db`, `_insert_snapshot`) to put a batch in one transaction: the
  stop-gap until the group-commit store offers batches, effects after a seq, and replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import attrs

from handoff_fsm.adapters.store import PICKLE_PROTOCOL, Store, event_to_json
from handoff_fsm.config import Config
from handoff_fsm.errors import StepRefused, StoreError
from handoff_fsm.events import Event, JsonValue, Tick
from handoff_fsm.service.backend import (
    CENTER_NAME,
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_RETENTION,
    CenterBackend,
    Reply,
    refusal_code,
    unavailable,
    window,
    with_service_defaults,
)
from handoff_fsm.service.clock import ServiceClock
from handoff_fsm.service.feed import EffectSignal
from handoff_fsm.service.views import WaitClock, conversation_view, participant_views, queue_views
from handoff_fsm.switchboard import Switchboard

if sys.platform != "win32":
    import fcntl

MAX_BATCH: Final = 512
SNAPSHOT_EVERY: Final = 1000
"""Steps after which a snapshot is taken, as soon as no step waits (a snapshot is a cache)."""
SNAPSHOT_OVERDUE: Final = 20_000
"""Steps after which a snapshot is taken even under load (bounds the replay at a restart)."""
SUFFIX: Final = ".sqlite"
LOCK_NAME: Final = ".serve-lock"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS service_effects (
        seq INTEGER PRIMARY KEY,
        step_seq INTEGER NOT NULL,
        recipient TEXT,
        at REAL NOT NULL,
        line TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS service_effects_to ON service_effects (recipient, seq)",
    """CREATE TABLE IF NOT EXISTS service_replies (
        step_id TEXT PRIMARY KEY,
        step_seq INTEGER NOT NULL,
        at REAL NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL
    )""",
)


@attrs.define
class _Job:
    event: Event | None  # None: a timer tick, timed when the writer runs it
    at: float | None
    step_id: str | None
    future: asyncio.Future[Reply]


def _dumps(value: JsonValue) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class SqliteCenter:
    """One center on one SQLite file; build it with `await SqliteCenter.open(...)`."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"center-{name}")
        self._jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self.signal = EffectSignal()
        self.deadline_changed = asyncio.Event()
        self.clock = ServiceClock()
        self._deadline: float | None = None
        self._broken: str | None = None
        self._pump: asyncio.Task[None] | None = None
        # Writer-thread state (set by _open_sync):
        self.config = Config()
        self._store: Store | None = None
        self._board = Switchboard(Config())
        self._head = 0
        self._effect_seq = 0
        self._since_snapshot = 0
        self._waits = WaitClock()

    @classmethod
    async def open(cls, name: str, path: Path, config: Config | None) -> SqliteCenter:
        """Open (or, with `config`, create) the center's store and restore its switchboard."""
        center = cls(name, path)
        await center._in_writer(center._open_sync, config)
        center.signal.last = center._effect_seq
        center._deadline = center._board.next_deadline()
        center._pump = asyncio.create_task(center._run_pump(), name=f"center-{name}-pump")
        return center

    # -- the asyncio side

    @property
    def usable(self) -> bool:
        return self._broken is None and self._pump is not None

    @property
    def next_deadline(self) -> float | None:
        return self._deadline

    async def submit(self, event: Event, *, at: float | None, step_id: str | None) -> Reply:
        return await self._enqueue(event, at, step_id)

    async def fire_timers(self) -> Reply:
        return await self._enqueue(None, None, None)

    async def _enqueue(self, event: Event | None, at: float | None, step_id: str | None) -> Reply:
        if not self.usable:
            return unavailable(f"center {self.name!r} is stopped ({self._broken or 'closed'})")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._jobs.put_nowait(_Job(event=event, at=at, step_id=step_id, future=future))
        return await future

    async def _run_pump(self) -> None:
        while True:
            first = await self._jobs.get()
            if first is None:
                return
            jobs = [first]
            stop = False
            while len(jobs) < MAX_BATCH and not self._jobs.empty():
                job = self._jobs.get_nowait()
                if job is None:
                    stop = True
                    break
                jobs.append(job)
            try:
                replies = await self._in_writer(self._apply_batch, jobs)
            except Exception as exc:  # a bug, not a refusal: stop the center, answer 503
                self._broken = f"a batch failed: {exc}"
                replies = [unavailable(self._broken)] * len(jobs)
            for job, reply in zip(jobs, replies, strict=True):
                if not job.future.done():
                    job.future.set_result(reply)
            self._deadline = self._board_deadline
            self.deadline_changed.set()
            await self.signal.publish(self._effect_seq)
            due = self._since_snapshot >= SNAPSHOT_EVERY
            if due and (self._jobs.empty() or self._since_snapshot >= SNAPSHOT_OVERDUE):
                with contextlib.suppress(sqlite3.Error, StoreError):
                    await self._in_writer(self._snapshot_sync)
            if stop:
                return

    async def _in_writer(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def effects_after(
        self, after: int, to: str | None, limit: int
    ) -> list[dict[str, JsonValue]]:
        result: list[dict[str, JsonValue]] = await self._in_writer(
            self._effects_sync, after, to, limit
        )
        return result

    async def conversation(self, conversation: str) -> dict[str, JsonValue] | None:
        result: dict[str, JsonValue] | None = await self._in_writer(
            conversation_view, self._board, conversation
        )
        return result

    async def queues(self) -> list[dict[str, JsonValue]]:
        result: list[dict[str, JsonValue]] = await self._in_writer(
            lambda: queue_views(self._board, self._waits, self.clock.now())
        )
        return result

    async def participants(self) -> list[dict[str, JsonValue]]:
        result: list[dict[str, JsonValue]] = await self._in_writer(participant_views, self._board)
        return result

    async def close(self) -> None:
        """Finish every step already submitted, snapshot, close the store."""
        if self._pump is not None:
            self._jobs.put_nowait(None)
            await self._pump
        self._broken = self._broken or "closed"
        await self.signal.stop()
        await self._in_writer(self._close_sync)
        self._executor.shutdown(wait=True)

    # -- the writer thread

    def _open_sync(self, config: Config | None) -> None:
        store = Store.open(self.path) if config is None else Store.open_or_create(self.path, config)
        try:
            db = store._db
            assert db is not None
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("COMMIT")
            restored = store.restore()
            (effect_seq,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM service_effects"
            ).fetchone()
        except BaseException:
            store.close()
            raise
        self._store = store
        self.config = store.config
        self._board = restored.switchboard
        self._head = restored.seq
        self._since_snapshot = restored.replayed
        self._effect_seq = int(effect_seq)
        self.clock = ServiceClock(floor=self._board.now)
        self._waits.restored(self._board, self.clock.now())

    @property
    def _board_deadline(self) -> float | None:
        return self._board.next_deadline()

    def _db(self) -> sqlite3.Connection:
        store = self._store
        if store is None or store._db is None:
            raise StoreError(f"{self.path}: the store is closed")
        return store._db

    def _stored_reply(self, step_id: str) -> Reply | None:
        row = (
            self._db()
            .execute("SELECT status, body FROM service_replies WHERE step_id = ?", (step_id,))
            .fetchone()
        )
        if row is None:
            return None
        body = json.loads(row[1])
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return Reply(status=int(row[0]), body=body, code=code, duplicate=True)

    def _apply_batch(self, jobs: list[_Job]) -> list[Reply]:
        if self._broken is not None:
            return [unavailable(f"center {self.name!r} is stopped ({self._broken})")] * len(jobs)
        board, head, effect_seq = self._board, self._head, self._effect_seq
        steps: list[tuple[Any, ...]] = []
        effects: list[tuple[Any, ...]] = []
        replies: list[tuple[Any, ...]] = []
        answers: list[Reply] = []
        seen: dict[str, Reply] = {}
        for job in jobs:
            if job.step_id is not None:
                prior = seen.get(job.step_id) or self._stored_reply(job.step_id)
                if prior is not None:
                    answers.append(attrs.evolve(prior, duplicate=True))
                    continue
            event = job.event if job.event is not None else Tick(now=self.clock.now())
            now = job.at
            if now is None:
                now = event.now if isinstance(event, Tick) else self.clock.now()
            # The scenario reader built this event, so its scenario form reads back equal (the
            # store's `encode_event` would parse it again to prove so, at a third of a step's cost).
            text = _dumps(event_to_json(event))
            refused: StepRefused | None = None
            try:
                out = board.handle(event, now=now, step_id=job.step_id)
            except StepRefused as exc:
                refused, out = exc, list(exc.effects)
            head += 1
            self.clock.observe(board.now)
            touched = dict.fromkeys(e.conversation for e in out)
            conversation = getattr(event, "conversation", None)
            if isinstance(conversation, str):
                touched[conversation] = None
            states = {c: board.state_of(c) for c in touched if c is not None}
            lines: list[JsonValue] = []
            for effect in out:
                effect_seq += 1
                state = states.get(effect.conversation) if effect.conversation else None
                line: dict[str, JsonValue] = {
                    "seq": effect_seq,
                    "kind": effect.KIND,
                    "conversation": effect.conversation,
                    "to": effect.to,
                    "state": None if state is None else state.value,
                    **effect.fields(),
                }
                lines.append(line)
                effects.append((effect_seq, head, effect.to, board.now, _dumps(line)))
            self._waits.saw(board, (c for c in touched if c is not None), board.now)
            if refused is None:
                answer = Reply(status=200, body={"seq": head, "effects": lines})
            else:
                code = refusal_code(refused)
                message = f"{event.STEP} step: {refused}"
                error: dict[str, JsonValue] = {"code": code, "message": message}
                answer = Reply(status=409, body={"error": error}, code=code)
            answers.append(answer)
            steps.append(
                (head, head - 1, text, now, job.step_id, int(refused is not None), len(out))
            )
            if job.step_id is not None:
                seen[job.step_id] = answer
                replies.append((job.step_id, head, board.now, answer.status, _dumps(answer.body)))
        if steps:
            try:
                self._commit(steps, effects, replies)
            except Exception as exc:
                self._broken = f"the log could not be written ({exc})"
                return [unavailable(self._broken)] * len(jobs)
        self._head, self._effect_seq = head, effect_seq
        return answers

    def _commit(
        self,
        steps: list[tuple[Any, ...]],
        effects: list[tuple[Any, ...]],
        replies: list[tuple[Any, ...]],
    ) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM steps").fetchone()
            if last != self._head:
                raise StoreError(f"{self.path}: another writer changed the log")
            db.executemany(
                "INSERT INTO steps (seq, step_index, event, now, step_id, refused, effects) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                steps,
            )
            db.executemany(
                "INSERT INTO service_effects (seq, step_seq, recipient, at, line) "
                "VALUES (?, ?, ?, ?, ?)",
                effects,
            )
            db.executemany(
                "INSERT OR REPLACE INTO service_replies (step_id, step_seq, at, status, body) "
                "VALUES (?, ?, ?, ?, ?)",
                replies,
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._since_snapshot += len(steps)

    def _snapshot_sync(self) -> None:
        """Snapshot the switchboard after the last acknowledged step, and prune the feed and the
        replies, in one transaction. Only a cache: it never holds up an answer (the pump takes
        it between batches), and a failed one costs a longer replay at the next start."""
        store, db = self._store, self._db()
        assert store is not None
        if self._broken not in (None, "closed") or self._since_snapshot == 0:
            return
        blob = pickle.dumps(self._board, protocol=PICKLE_PROTOCOL)
        db.execute("BEGIN IMMEDIATE")
        try:
            store._insert_snapshot(db, self._head, blob)
            self._prune(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._since_snapshot = 0

    def _prune(self, db: sqlite3.Connection) -> None:
        """Forget feed effects and step replies past their windows (never the last effect, so
        the effect seq is never reused)."""
        now = self._board.now
        db.execute(
            "DELETE FROM service_effects WHERE at < ? "
            "AND seq < (SELECT MAX(seq) FROM service_effects)",
            (now - window(self.config, "retention", DEFAULT_RETENTION),),
        )
        dedup = window(self.config, "dedup_window", DEFAULT_DEDUP_WINDOW)
        db.execute("DELETE FROM service_replies WHERE at < ?", (now - dedup,))

    def _effects_sync(self, after: int, to: str | None, limit: int) -> list[dict[str, JsonValue]]:
        if to is None:
            rows = self._db().execute(
                "SELECT line FROM service_effects WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
        else:
            rows = self._db().execute(
                "SELECT line FROM service_effects WHERE recipient = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (to, after, limit),
            )
        return [json.loads(line) for (line,) in rows]

    def _close_sync(self) -> None:
        store = self._store
        if store is None or store.closed:
            return
        try:
            if self._broken == "closed":
                self._snapshot_sync()
                self._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            store.close()


def claim_data_dir(data: Path) -> int:
    """Check, before the service starts, that `data` can hold the centers and that every center
    file in it is a store this service can open; take the directory for this process (an
    exclusive `flock` on `DATA/.serve-lock`, freed by the OS when the process ends). Returns the
    lock's descriptor (keep it open); `StoreError`, one line, otherwise."""
    try:
        data.mkdir(parents=True, exist_ok=True)
        fd = os.open(data / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{data}: cannot be used as the data directory ({exc.strerror})") from None
    if sys.platform != "win32":
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(f"{data}: another handoff-fsm serve uses this directory") from None
    try:
        for path in sorted(data.glob(f"*{SUFFIX}")):
            Store.open(path, readonly=True).close()  # a StoreError names the file and problem
    except BaseException:
        os.close(fd)
        raise
    return fd


class Centers:
    """Every center of one service, one SQLite file each under `data`."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self._centers: dict[str, CenterBackend] = {}
        self._lock = asyncio.Lock()

    async def open_all(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.data.glob(f"*{SUFFIX}")):
            name = path.name.removesuffix(SUFFIX)
            if CENTER_NAME.fullmatch(name):
                self._centers[name] = await SqliteCenter.open(name, path, None)

    def get(self, name: str) -> CenterBackend | None:
        return self._centers.get(name)

    def all(self) -> list[CenterBackend]:
        return list(self._centers.values())

    async def put(self, name: str, config: Config) -> int:
        """201 created, 200 the same config exists, 409 another config exists."""
        config = with_service_defaults(config)
        async with self._lock:
            existing = self._centers.get(name)
            if existing is not None:
                return 200 if existing.config == config else 409
            path = self.data / f"{name}{SUFFIX}"
            self._centers[name] = await SqliteCenter.open(name, path, config)
            return 201

    async def close_all(self) -> None:
        for center in list(self._centers.values()):
            await center.close()
        self._centers.clear()


__all__ = [
    "MAX_BATCH",
    "SNAPSHOT_EVERY",
    "SNAPSHOT_OVERDUE",
    "Centers",
    "SqliteCenter",
    "claim_data_dir",
]
