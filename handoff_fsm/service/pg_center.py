"""`CenterBackend` on PostgreSQL: any number of `serve` processes serving the same centers.

Theory of operation: the database (`handoff_fsm.adapters.pgstore`) is the one source of truth;
a process keeps, for each center it served, a warm switchboard and the head seq it reflects.
Steps submitted to a center queue up in this process; one pump per center takes all of them (up
to `MAX_BATCH`) into ONE transaction that locks the center's row (`lock_center`), replays the
steps other processes logged since this process last looked (`steps_after`, hash chain checked),
applies the batch, logs steps, feed effects, replies and the next deadline, and commits. Only
then are the requests answered: the answer is the acknowledgement.

Timers: one loop per process claims due centers with `SKIP LOCKED` and a lease
(`pgstore.timers.claim_due`) and submits a tick to each, through the same pump. Feed: every
commit sends `NOTIFY handoff_effects` (its last effect seq and the center); one listener per
process wakes the long polls of that center, so a consumer polling process B sees effects
acknowledged by process A at once.

Rules:
- A retried step `id` is answered from `handoff_replies`, read under the center's lock, so it is
  never applied twice whichever process receives it; the unique index on (center, step id) in the
  log backs that up.
- If a transaction fails, this process's switchboard may hold steps the log does not: it is
  dropped (the center goes cold) and rebuilt from the log at its next use; the requests of that
  batch get 503 and may be retried with their ids.
- A center created by another process is found on first use: `get` looks the name up (one short
  blocking query, only for a name this process has not seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any, Final

import attrs
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from handoff_fsm.adapters.pgstore import (
    CenterHead,
    LoggedRow,
    append_steps,
    claim_due,
    create_center,
    ensure_schema,
    lock_center,
    read_center,
    replies_for,
    set_due,
    steps_after,
)
from handoff_fsm.adapters.pgstore.log import center_names
from handoff_fsm.adapters.store.encoding import dumps, event_from_json, event_to_json
from handoff_fsm.adapters.store.errors import StoreCorruptError
from handoff_fsm.config import Config
from handoff_fsm.errors import StepRefused, StoreError
from handoff_fsm.events import Event, JsonValue, Tick
from handoff_fsm.service.backend import (
    CENTER_NAME,
    CenterBackend,
    Reply,
    refusal_code,
    unavailable,
    with_service_defaults,
)
from handoff_fsm.service.clock import ServiceClock
from handoff_fsm.service.feed import EffectSignal
from handoff_fsm.service.views import conversation_view, participant_views, queue_views
from handoff_fsm.switchboard import Switchboard

MAX_BATCH: Final = 512
CLAIM_PAUSE: Final = 0.1
"""Seconds the timer loop waits when no center was due."""
CHANNEL: Final = "handoff_effects"

Conn = AsyncConnection[TupleRow]


@attrs.define
class _Job:
    event: Event | None  # None: a timer tick, timed after the catch-up
    at: float | None
    step_id: str | None
    future: asyncio.Future[Reply]


@attrs.define
class _Batch:
    """What one batch writes, built while the switchboard applies it."""

    rows: list[LoggedRow] = attrs.Factory(list)
    effects: list[tuple[int, int, str | None, float, str]] = attrs.Factory(list)
    replies: list[tuple[str, int, int, str]] = attrs.Factory(list)
    answers: list[Reply] = attrs.Factory(list)


def _stored_reply(status: int, body: str) -> Reply:
    data = json.loads(body)
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return Reply(status=status, body=data, code=code, duplicate=True)


class PgCenter:
    """One center of the database, as this process serves it."""

    def __init__(self, name: str, config: Config, pool: AsyncConnectionPool[Conn]) -> None:
        self.name = name
        self.config = config
        self._pool = pool
        self.signal = EffectSignal()
        self.deadline_changed = asyncio.Event()
        self.clock = ServiceClock()
        self._jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._mutex = asyncio.Lock()
        self._closed = False
        self._board: Switchboard | None = None  # None: cold, rebuilt from the log at next use
        self._head = 0
        self._chain = ""
        self._effect_seq = 0
        self.catch_ups = 0
        """Steps replayed from the log that other processes wrote (a figure of the bench)."""
        self._pump = asyncio.create_task(self._run_pump(), name=f"center-{name}-pump")

    @property
    def usable(self) -> bool:
        return not self._closed

    @property
    def next_deadline(self) -> float | None:
        return None if self._board is None else self._board.next_deadline()

    async def submit(self, event: Event, *, at: float | None, step_id: str | None) -> Reply:
        return await self._enqueue(event, at, step_id)

    async def fire_timers(self) -> Reply:
        return await self._enqueue(None, None, None)

    async def _enqueue(self, event: Event | None, at: float | None, step_id: str | None) -> Reply:
        if self._closed:
            return unavailable(f"center {self.name!r} is closed")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._jobs.put_nowait(_Job(event=event, at=at, step_id=step_id, future=future))
        return await future

    async def _run_pump(self) -> None:
        while True:
            first = await self._jobs.get()
            if first is None:
                return
            jobs, stop = [first], False
            while len(jobs) < MAX_BATCH and not self._jobs.empty():
                job = self._jobs.get_nowait()
                if job is None:
                    stop = True
                    break
                jobs.append(job)
            try:
                async with self._mutex:
                    replies = await self._apply_batch(jobs)
            except Exception as exc:  # the database, a bug: nothing acknowledged, go cold
                self._board = None
                replies = [unavailable(f"center {self.name!r}: the step was not logged ({exc})")]
                replies *= len(jobs)
            for job, reply in zip(jobs, replies, strict=True):
                if not job.future.done():
                    job.future.set_result(reply)
            self.deadline_changed.set()
            await self.signal.publish(self._effect_seq)
            if stop:
                return

    # -- catching up with the log

    def _board_at(self, head: CenterHead) -> Switchboard:
        """The warm switchboard, or a fresh one at seq 0 when cold."""
        if self._board is None or head.head < self._head:
            self._board, self._head, self._chain = Switchboard(self.config), 0, head.genesis
        return self._board

    async def _catch_up(self, conn: Conn, head: CenterHead) -> Switchboard:
        """Replay the steps logged (by any process) after this process's head."""
        board = self._board_at(head)
        if head.head > self._head:
            rows = await steps_after(conn, self.name, self._head, self._chain)
            for row in rows:
                event = event_from_json(json.loads(row.event), f"center {self.name}: step")
                refused = False
                try:
                    out = board.handle(event, now=row.now, step_id=row.step_id)
                except StepRefused as exc:
                    out, refused = list(exc.effects), True
                if len(out) != row.effects or refused != row.refused:
                    self._board = None
                    raise StoreCorruptError(
                        f"center {self.name}: step {row.seq} replays to other effects"
                    )
            if not rows or rows[-1].seq != head.head:
                self._board = None
                raise StoreCorruptError(f"center {self.name}: the log ends before its head")
            self.catch_ups += len(rows)
            self._head, self._chain = rows[-1].seq, rows[-1].chain
            self.clock.observe(board.now)
        self._effect_seq = head.effect_seq
        return board

    async def _refresh(self) -> Switchboard:
        """The switchboard as of the log's head now (for reads)."""
        async with self._mutex, self._pool.connection() as conn:
            head = await read_center(conn, self.name)
            if head is None:
                raise StoreError(f"no center {self.name!r} in the database")
            return await self._catch_up(conn, head)

    # -- one batch, one transaction

    async def _apply_batch(self, jobs: list[_Job]) -> list[Reply]:
        async with self._pool.connection() as conn, conn.transaction():
            locked = await lock_center(conn, self.name)
            board = await self._catch_up(conn, locked)
            ids = [job.step_id for job in jobs if job.step_id is not None]
            stored = await replies_for(conn, self.name, ids)
            batch, seen = _Batch(), {i: _stored_reply(*reply) for i, reply in stored.items()}
            for job in jobs:
                prior = seen.get(job.step_id) if job.step_id is not None else None
                if prior is not None:
                    batch.answers.append(attrs.evolve(prior, duplicate=True))
                    continue
                answer = self._apply(board, job, batch)
                if job.step_id is not None:
                    seen[job.step_id] = answer
            if batch.rows:
                head = await append_steps(
                    conn, locked, batch.rows, batch.effects, batch.replies, self._effect_seq
                )
                await set_due(conn, self.name, board.next_deadline())
                payload = f"{self._effect_seq} {self.name}"
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        if batch.rows:
            self._head, self._chain = head.head, head.chain
        return batch.answers

    def _apply(self, board: Switchboard, job: _Job, batch: _Batch) -> Reply:
        """One step on the switchboard: its log row, feed lines and answer added to `batch`."""
        event = job.event if job.event is not None else Tick(now=self.clock.now())
        now = job.at
        if now is None:
            now = event.now if isinstance(event, Tick) else self.clock.now()
        refused: StepRefused | None = None
        try:
            out = board.handle(event, now=now, step_id=job.step_id)
        except StepRefused as exc:
            refused, out = exc, list(exc.effects)
        seq = self._head + len(batch.rows) + 1
        self.clock.observe(board.now)
        touched = dict.fromkeys(e.conversation for e in out if e.conversation is not None)
        conversation = getattr(event, "conversation", None)
        if isinstance(conversation, str):
            touched[conversation] = None
        states = {c: board.state_of(c) for c in touched}
        lines: list[JsonValue] = []
        for effect in out:
            self._effect_seq += 1
            state = states.get(effect.conversation) if effect.conversation else None
            line: dict[str, JsonValue] = {
                "seq": self._effect_seq,
                "kind": effect.KIND,
                "conversation": effect.conversation,
                "to": effect.to,
                "state": None if state is None else state.value,
                **effect.fields(),
            }
            lines.append(line)
            batch.effects.append((self._effect_seq, seq, effect.to, board.now, dumps(line)))
        if refused is None:
            answer = Reply(status=200, body={"seq": seq, "effects": lines})
        else:
            code = refusal_code(refused)
            error: dict[str, JsonValue] = {"code": code, "message": f"{event.STEP} step: {refused}"}
            answer = Reply(status=409, body={"error": error}, code=code)
        batch.answers.append(answer)
        batch.rows.append(
            LoggedRow(
                seq=seq,
                event=dumps(event_to_json(event)),
                now=now,
                step_id=job.step_id,
                refused=refused is not None,
                effects=len(out),
                delivered=dumps(lines),
            )
        )
        if job.step_id is not None:
            batch.replies.append((job.step_id, seq, answer.status, dumps(answer.body)))
        return answer

    # -- reads

    async def effects_after(
        self, after: int, to: str | None, limit: int
    ) -> list[dict[str, JsonValue]]:
        query = "SELECT line FROM handoff_effects WHERE center = %s AND seq > %s"
        params: tuple[Any, ...] = (self.name, after)
        if to is not None:
            query, params = query + " AND recipient = %s", (*params, to)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query + " ORDER BY seq LIMIT %s", (*params, limit))
            return [json.loads(line) for (line,) in await cursor.fetchall()]

    async def conversation(self, conversation: str) -> dict[str, JsonValue] | None:
        return conversation_view(await self._refresh(), conversation)

    async def queues(self) -> list[dict[str, JsonValue]]:
        board = await self._refresh()
        return queue_views(board, self.clock.now())

    async def participants(self) -> list[dict[str, JsonValue]]:
        return participant_views(await self._refresh())

    async def close(self) -> None:
        """Finish every step already submitted."""
        if not self._closed:
            self._jobs.put_nowait(None)
            await self._pump
        self._closed = True
        await self.signal.stop()


class PgCenters:
    """Every center of one database, as one `serve` process serves them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url, open=False, min_size=2, max_size=16, kwargs={"autocommit": True}
        )
        self._centers: dict[str, PgCenter] = {}
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._lookup: psycopg.Connection[TupleRow] | None = None
        self._lookup_lock = threading.Lock()

    async def open_all(self) -> None:
        await self._pool.open(wait=True)
        async with self._pool.connection() as conn:
            await ensure_schema(conn)
            for name in await center_names(conn):
                head = await read_center(conn, name)
                if head is not None:
                    self._add(head)
        self._tasks = [
            asyncio.create_task(self._claim_timers(), name="pg-timers"),
            asyncio.create_task(self._listen(), name="pg-feed"),
        ]

    def _add(self, head: CenterHead) -> PgCenter:
        center = self._centers.get(head.name)
        if center is None:
            center = self._centers[head.name] = PgCenter(head.name, head.config, self._pool)
        return center

    def get(self, name: str) -> CenterBackend | None:
        center = self._centers.get(name)
        if center is not None or not CENTER_NAME.fullmatch(name):
            return center
        with self._lookup_lock:
            if self._lookup is None or self._lookup.closed:
                self._lookup = psycopg.connect(self.url, autocommit=True)
            row = self._lookup.execute(
                "SELECT config FROM handoff_centers WHERE name = %s", (name,)
            ).fetchone()
        if row is None:
            return None
        return self._add(CenterHead(name=name, config_text=row[0], head=0, chain="", effect_seq=0))

    def all(self) -> list[CenterBackend]:
        return list(self._centers.values())

    async def put(self, name: str, config: Config) -> int:
        """201 created, 200 the same config exists, 409 another config exists."""
        config = with_service_defaults(config)
        async with self._lock, self._pool.connection() as conn:
            status = await create_center(conn, name, config)
            head = await read_center(conn, name)
        if status != 409 and head is not None:
            self._add(head)
        return status

    async def _claim_timers(self) -> None:
        """Tick every center whose deadline passed, whichever process it was served by."""
        while True:
            try:
                async with self._pool.connection() as conn:
                    names = await claim_due(conn, time.time())
            except psycopg.Error:
                names = []
                await asyncio.sleep(1.0)
            centers = [center for name in names if (center := self.get(name)) is not None]
            await asyncio.gather(*(center.fire_timers() for center in centers))
            if not names:
                await asyncio.sleep(CLAIM_PAUSE)

    async def _listen(self) -> None:
        """Wake the long polls of a center whenever any process commits to it."""
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for note in conn.notifies():
                        seq, _, name = note.payload.partition(" ")
                        center = self._centers.get(name)
                        if center is not None and seq.isdigit():
                            await center.signal.publish(int(seq))
            except psycopg.Error:
                await asyncio.sleep(1.0)

    async def close_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for center in list(self._centers.values()):
            await center.close()
        self._centers.clear()
        await self._pool.close()
        if self._lookup is not None:
            self._lookup.close()


def check_database(url: str) -> None:
    """Before the service starts: the database answers and holds (or can hold) the tables;
    `StoreError`, one line, otherwise."""

    async def check() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await ensure_schema(conn)

    try:
        asyncio.run(check())
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"{_redacted(url)}: cannot use the database ({first})") from None


def _redacted(url: str) -> str:
    """The URL without its password (it goes to a terminal or a log)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host, port, dbname = info.get("host"), info.get("port"), info.get("dbname")
    return f"postgresql://{host or ''}{f':{port}' if port else ''}/{dbname or ''}"


__all__ = ["MAX_BATCH", "PgCenter", "PgCenters", "check_database"]
