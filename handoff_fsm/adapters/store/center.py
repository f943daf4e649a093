"""Group commit: one writer thread owns the switchboard; any thread or asyncio task hands it steps.

Theory of operation: `DurableCenter` starts one writer thread. `submit` (behind `handle` and
`handle_async`) encodes the event on the caller's side, queues a request and returns a future.
The writer takes every request waiting (up to `batch_size`), applies them to the switchboard in
the order it took them, commits them in ONE transaction (`synchronous=FULL`, WAL) and only then
resolves their futures: a step is acknowledged once its batch is on disk. While a batch commits,
SQLite releases the GIL and the next requests queue up, so the batch grows with the load: one
fsync serves many steps.

Rules:
- One order: the log's order is the order the writer applied the steps; every acknowledged step
  is logged once.
- `step` answers a `StepResult` (applied, refused with its code, or duplicate) once its batch is
  on disk (a refusal is logged too); `handle` raises `StepRefused` for a refused step. A malformed
  step raises the core's `InvalidStep`, and one that cannot be stored `StepNotStorable`, before
  it is queued;
  a failed disk raises `StoreWriteError` for every step of the batch, and the center becomes
  unusable (`usable` is False): later calls raise `StoreClosedError`.
- Queries (`state_of`, `next_deadline`, `read`) run under the same lock the writer holds while it
  applies a batch; they may see steps whose batch is still being committed.
- Timers: with a `clock`, the writer also sends a `Tick` when `next_deadline()` passes and hands
  its effects to `on_timer` (a tick is logged like any step).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import TypeVar

import attrs

from handoff_fsm.adapters.store.checkpoints import DEFAULT_CHECKPOINT_EVERY
from handoff_fsm.adapters.store.durable import StepWriter
from handoff_fsm.adapters.store.errors import StoreClosedError, StoreWriteError
from handoff_fsm.adapters.store.log import Store
from handoff_fsm.config import Config
from handoff_fsm.effects import Effect
from handoff_fsm.events import Event, Tick
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.switchboard import StepResult, Switchboard

T = TypeVar("T")
DEFAULT_BATCH_SIZE = 512
DEFAULT_LINGER = 0.0004
"""Seconds the writer waits, at most, for the producers it just acknowledged to hand in their
next steps, so that they share the next commit instead of waiting for the one after it."""
WAL_CHECKPOINT_EVERY = 0.25


@attrs.frozen(kw_only=True)
class Acknowledgement:
    """A step on disk: its `seq` in the log and the engine's `StepResult`."""

    seq: int
    result: StepResult


@attrs.define(kw_only=True, eq=False)
class _Request:
    event: Event
    text: str
    now: float | None
    step_id: str | None
    step_index: int | None
    future: Future[Acknowledgement]
    result: StepResult | None = None
    seq: int = 0
    failed: BaseException | None = None


_CLOSE = object()


class DurableCenter:
    """A durable switchboard for many threads and tasks, with group commit."""

    def __init__(
        self,
        store: Store,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        clock: Callable[[], float] | None = None,
        on_timer: Callable[[list[Effect]], None] | None = None,
        observe: Callable[[int, float], None] | None = None,
        linger: float = DEFAULT_LINGER,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self._writer = StepWriter(store, checkpoint_every=checkpoint_every)
        self.store = store
        self.batch_size = batch_size
        self._clock = clock
        self._on_timer = on_timer
        self._observe = observe  # (steps, seconds) of each batch: apply, checkpoint, commit
        self._queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closing = False
        self._closed = threading.Event()
        self.batches = 0  # committed batches, for figures and tests
        self._expected = 1  # the last batch's size: how many producers are likely waiting
        self.linger = linger
        # SQLite's own WAL checkpoints run inside a commit (a stall of the acknowledging path);
        # here a background thread copies the WAL into the database instead (`_checkpointer`).
        store.query("PRAGMA wal_autocheckpoint = 0")
        self._wal_stop = threading.Event()
        self._wal_thread = threading.Thread(
            target=self._checkpointer, name=f"store-wal {store.path.name}", daemon=True
        )
        self._wal_thread.start()
        self._thread = threading.Thread(target=self._run, name=f"store-writer {store.path.name}")
        self._thread.daemon = True
        self._thread.start()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        *,
        lock_timeout: float = 0.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        clock: Callable[[], float] | None = None,
        on_timer: Callable[[list[Effect]], None] | None = None,
        observe: Callable[[int, float], None] | None = None,
        linger: float = DEFAULT_LINGER,
    ) -> DurableCenter:
        """Open the store at `path` (created for `config` if missing; an existing store needs
        no config, and refuses one that differs) and start the writer."""
        store = Store.open_or_create(path, config, lock_timeout=lock_timeout)
        try:
            return cls(
                store, batch_size=batch_size, checkpoint_every=checkpoint_every, clock=clock,
                on_timer=on_timer, observe=observe, linger=linger,
            )  # fmt: skip
        except BaseException:
            store.close()
            raise

    # -- taking steps

    @property
    def usable(self) -> bool:
        """Whether the center can still take steps: not closed, and no failed batch."""
        return not self._closing and self._writer.broken is None

    @property
    def seq(self) -> int:
        """The `seq` of the last committed step."""
        return self.store.head

    def submit(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> Future[Acknowledgement]:
        """Queue one step; the future resolves to its `Acknowledgement` (seq and `StepResult`)
        once its batch is on disk (safe from any thread)."""
        if not self.usable:
            self._writer.check_usable()
            raise StoreClosedError(f"{self.store.path}: the center is closed")
        text = self._writer.encode(event, now, step_id)
        future: Future[Acknowledgement] = Future()
        self._queue.put(_Request(event=event, text=text, now=now, step_id=step_id,
                                 step_index=step_index, future=future))  # fmt: skip
        return future

    def step(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> StepResult:
        """Apply one step and return its result once it is on disk (from any thread)."""
        return self.submit(event, now=now, step_id=step_id, step_index=step_index).result().result

    async def step_async(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> StepResult:
        """`step` for asyncio: awaits the acknowledgement without blocking the event loop."""
        return (
            await self.acknowledge(event, now=now, step_id=step_id, step_index=step_index)
        ).result

    async def acknowledge(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> Acknowledgement:
        """`step_async` with the step's `seq` in the log (what a service numbers its answers by)."""
        future = self.submit(event, now=now, step_id=step_id, step_index=step_index)
        return await asyncio.wrap_future(future)

    def handle(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> list[Effect]:
        """`step`, raising: the effects once on disk, or `StepRefused` (from any thread)."""
        return self.step(event, now=now, step_id=step_id, step_index=step_index).unwrap()

    async def handle_async(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> list[Effect]:
        """`handle` for asyncio: awaits the acknowledgement without blocking the event loop."""
        result = await self.step_async(event, now=now, step_id=step_id, step_index=step_index)
        return result.unwrap()

    # -- queries

    def read(self, query: Callable[[Switchboard], T]) -> T:
        """Run `query` on the switchboard while no batch is being applied."""
        with self._lock:
            return query(self._writer.board)

    def state_of(self, conversation: str) -> State | None:
        return self.read(lambda board: board.state_of(conversation))

    def outcome_of(self, conversation: str) -> Outcome | None:
        return self.read(lambda board: board.outcome_of(conversation))

    def next_deadline(self) -> float | None:
        """When the earliest pending timer is due (send a `Tick` then, or give a `clock`)."""
        return self.read(lambda board: board.next_deadline())

    # -- closing

    def close(self) -> None:
        """Take no more steps, commit what is queued, checkpoint, close the store."""
        if not self._closing:
            self._closing = True
            self._queue.put(_CLOSE)
        self._thread.join()

    def __enter__(self) -> DurableCenter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the writer thread

    def _run(self) -> None:
        try:
            closing = False
            while not closing:
                batch, closing = self._take()
                if batch:
                    self._apply_and_commit(batch)
        finally:
            self._wal_stop.set()
            self._wal_thread.join()
            try:
                self._writer.close()
            finally:
                self._fail_waiting()
                self._closed.set()

    def _take(self) -> tuple[list[_Request], bool]:
        first = self._wait_first()
        if first is _CLOSE:
            return [], True
        batch = [first] if isinstance(first, _Request) else []
        until = time.perf_counter() + self.linger
        while len(batch) < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if len(batch) >= self._expected or time.perf_counter() >= until:
                    break
                time.sleep(0.00005)
                continue
            if item is _CLOSE:
                return batch, True
            assert isinstance(item, _Request)
            batch.append(item)
        self._expected = max(len(batch), 1)
        return batch, False

    def _checkpointer(self) -> None:
        """Copy the WAL into the database now and then, off the writer's path (PASSIVE: it
        never blocks the writer; what it could not copy yet is copied next time)."""
        try:
            db = sqlite3.connect(self.store.path, timeout=0.0, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            db.execute("PRAGMA synchronous = FULL")
            while not self._wal_stop.wait(WAL_CHECKPOINT_EVERY):
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            db.close()

    def _wait_first(self) -> _Request | object:
        if self._clock is None:
            return self._queue.get()
        deadline = self.next_deadline()
        timeout = None if deadline is None else max(0.0, deadline - self._clock())
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return self._tick_request()

    def _tick_request(self) -> _Request:
        assert self._clock is not None
        now = max(self._clock(), self._writer.board.now)
        future: Future[Acknowledgement] = Future()
        if self._on_timer is not None:
            on_timer = self._on_timer
            future.add_done_callback(
                lambda done: (
                    on_timer(list(done.result().result.effects))
                    if done.exception() is None
                    else None
                )
            )
        tick = Tick(now=now)
        return _Request(event=tick, text=self._writer.encode(tick, now), now=now, step_id=None,
                        step_index=None, future=future)  # fmt: skip

    def _apply_and_commit(self, batch: list[_Request]) -> None:
        started = time.perf_counter()
        applied: list[_Request] = []
        with self._lock:
            for request in batch:
                try:
                    request.seq = self._writer.store.head + len(self._writer.pending) + 1
                    request.result = self._writer.apply(
                        request.event, request.text, request.now, request.step_id,
                        request.step_index,
                    )  # fmt: skip
                    applied.append(request)
                except BaseException as exc:  # the board failed, or the writer is broken
                    request.failed = exc
            try:
                self._writer.commit()
                self.batches += 1
            except BaseException as exc:
                failure = exc if isinstance(exc, StoreWriteError) else StoreWriteError(str(exc))
                for request in applied:
                    request.failed = failure
        if self._observe is not None:
            self._observe(len(batch), time.perf_counter() - started)
        for request in batch:
            if request.failed is not None:
                request.future.set_exception(request.failed)
            else:
                assert request.result is not None
                request.future.set_result(Acknowledgement(seq=request.seq, result=request.result))

    def _fail_waiting(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Request):
                item.future.set_exception(
                    StoreClosedError(f"{self.store.path}: the center closed before this step")
                )


__all__ = ["DEFAULT_BATCH_SIZE", "Acknowledgement", "DurableCenter"]
