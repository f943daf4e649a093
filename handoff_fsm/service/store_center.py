"""`CenterBackend` on the group-commit store: the one module of the service that touches a store.

Theory of operation: `StoreCenter` puts one `DurableCenter` (`handoff_fsm.adapters.store`) behind
the HTTP layer: one SQLite file per center under the data directory. The center's writer thread
applies steps in one order and acknowledges each once its batch is on disk; this module adds no
table of its own. What the service answers is derived from the log:

- the feed: each logged step's `delivered` lines (the effects it gave, with the states after
  it), numbered by one count of effects over the log (`EffectIndex`): effect `n` is the `n`-th
  line the log holds, so a number is never reused and a restart numbers on;
- the answer to a step: 200 with the step's `seq` and its numbered lines, or 409 with the
  refusal's code and message; a retried `id` (the core answers `duplicate`) gets the first
  answer again, from memory while the process lives, else re-derived from the logged step: its
  lines, or for a refusal the same step re-run on the state before it (`state_at`);
- timers: the center's writer fires them on the service's clock (`clock`/`on_timer`), logged
  like any step; their effects reach the feed as every other step's do.

Reads (the feed, re-derived answers) run in one reader thread on a read-only `Store` opened
beside the writer; the views read the switchboard through `DurableCenter.read` and the core's
public views.

Rules:
- A refused step is logged (its `id` remembered) and adds to the feed only the timeouts that
  fired before it; a malformed step never reaches this module (the HTTP layer answers 422).
- If a commit fails the center stops (`usable` is False, every later request gets 503) until the
  service restarts, which restores the last acknowledged state.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import sys
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs

from handoff_fsm.adapters.store import DurableCenter, Store, effects_after, state_at
from handoff_fsm.config import Config
from handoff_fsm.effects import Effect
from handoff_fsm.errors import HandoffError, StepRefused, StoreError
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
from handoff_fsm.switchboard import StepStatus, Switchboard

if sys.platform != "win32":
    import fcntl

T = TypeVar("T")
SUFFIX: Final = ".sqlite"
LOCK_NAME: Final = ".serve-lock"
REPLIES_KEPT: Final = 100_000
"""First answers kept in memory for retried ids; older ones are re-derived from the log."""


class EffectIndex:
    """The count of effects through each logged step, read from the log as it grows."""

    def __init__(self, reader: Store) -> None:
        self._reader = reader
        self.first = reader.first_seq()  # steps up to it were compacted away
        self._ends: list[int] = []  # _ends[i]: effects through step first + 1 + i
        self.refresh()

    def refresh(self) -> int:
        """Take in the steps committed since the last call; the number of the last effect."""
        head = self._reader.refresh()
        known = self.first + len(self._ends)
        if head > known:
            total = self.total
            rows = self._reader.query(
                "SELECT effects FROM steps WHERE seq > ? AND seq <= ? ORDER BY seq", (known, head)
            )
            for (effects,) in rows:
                total += int(effects)
                self._ends.append(total)
        return self.total

    @property
    def total(self) -> int:
        return self._ends[-1] if self._ends else 0

    def before(self, seq: int) -> int:
        """The number of the last effect before step `seq`."""
        i = seq - self.first - 2
        return self._ends[i] if i >= 0 else 0

    def step_of(self, effect: int) -> int:
        """The seq of the step that gave effect `effect` (one past the log if none yet)."""
        return self.first + 1 + bisect.bisect_left(self._ends, effect)


@attrs.define
class _Reads:
    """What lives in the reader thread: the read-only store and the effect index."""

    store: Store
    index: EffectIndex


class StoreCenter:
    """One center on one store; build it with `await StoreCenter.open(...)`."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self.signal = EffectSignal()
        self.deadline_changed = asyncio.Event()
        self.clock = ServiceClock()
        self.config = Config()
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"center-{name}")
        self._replies: OrderedDict[str, Reply] = OrderedDict()
        self._loop = asyncio.get_running_loop()
        self._center: DurableCenter | None = None
        self._reads: _Reads | None = None
        self._broken: str | None = None

    @classmethod
    async def open(cls, name: str, path: Path, config: Config | None) -> StoreCenter:
        """Open (or, with `config`, create) the center's store and restore its switchboard."""
        center = cls(name, path)
        await center._in_reader(center._open_sync, config)
        return center

    def _open_sync(self, config: Config | None) -> None:
        if config is None and not self.path.exists():
            raise StoreError(f"{self.path}: no such store")
        durable = DurableCenter.open(
            self.path, config, clock=lambda: self.clock.now(), on_timer=self._timer_fired
        )
        try:
            self.clock = ServiceClock(floor=durable.read(lambda board: board.now))
            reader = Store.open(self.path, readonly=True)
        except BaseException:
            durable.close()
            raise
        self._center, self.config = durable, durable.store.config
        self._reads = _Reads(store=reader, index=EffectIndex(reader))
        self.signal.last = self._reads.index.total

    async def _in_reader(self, function: Any, *args: Any) -> Any:
        return await self._loop.run_in_executor(self._reader, function, *args)

    # -- CenterBackend

    @property
    def usable(self) -> bool:
        return self._broken is None and self._center is not None and self._center.usable

    @property
    def next_deadline(self) -> float | None:
        return None  # the center's writer fires timers on the service's clock itself

    async def submit(self, event: Event, *, at: float | None, step_id: str | None) -> Reply:
        center = self._center
        if center is None or not self.usable:
            return unavailable(f"center {self.name!r} is stopped ({self._broken or 'closed'})")
        if step_id is not None and step_id in self._replies:
            return attrs.evolve(self._replies[step_id], duplicate=True)
        now = at
        if now is None:
            now = event.now if isinstance(event, Tick) else self.clock.now()
        try:
            done = await center.acknowledge(event, now=now, step_id=step_id)
        except StepRefused:  # pragma: no cover - `acknowledge` answers refusals as results
            raise
        except HandoffError as exc:
            if not center.usable:
                self._broken = f"the log could not be written ({exc})"
                return unavailable(self._broken)
            error: dict[str, JsonValue] = {"code": str(exc.code), "message": str(exc)}
            return Reply(status=422, body={"error": error}, code=str(exc.code))
        self.clock.observe(now)
        if done.result.status is StepStatus.DUPLICATE:
            assert step_id is not None
            reply: Reply = await self._in_reader(self._first_answer, step_id)
            return attrs.evolve(reply, duplicate=True)
        reply = await self._in_reader(self._answer, done.seq, event, done.result.error)
        if step_id is not None:
            self._replies[step_id] = reply
            if len(self._replies) > REPLIES_KEPT:
                self._replies.popitem(last=False)
        await self.signal.publish(self._total())
        self.deadline_changed.set()
        return reply

    async def fire_timers(self) -> Reply:
        return await self.submit(Tick(now=self.clock.now()), at=None, step_id=None)

    async def effects_after(
        self, after: int, to: str | None, limit: int
    ) -> list[dict[str, JsonValue]]:
        result: list[dict[str, JsonValue]] = await self._in_reader(self._feed, after, to, limit)
        return result

    async def conversation(self, conversation: str) -> dict[str, JsonValue] | None:
        return self._read(lambda board: conversation_view(board, conversation))

    async def queues(self) -> list[dict[str, JsonValue]]:
        now = self.clock.now()
        return self._read(lambda board: queue_views(board, now))

    async def participants(self) -> list[dict[str, JsonValue]]:
        return self._read(participant_views)

    async def close(self) -> None:
        """Finish every step already submitted, checkpoint, close the store."""
        self._broken = self._broken or "closed"
        await self.signal.stop()
        await self._in_reader(self._close_sync)
        self._reader.shutdown(wait=True)

    # -- helpers

    def _read(self, query: Callable[[Switchboard], T]) -> T:
        if self._center is None:
            raise StoreError(f"{self.path}: the center is closed")
        return self._center.read(query)

    def _total(self) -> int:
        return self._reads.index.total if self._reads is not None else 0

    def _timer_fired(self, effects: list[Effect]) -> None:
        """Called by the writer thread once a timer tick is on disk: wake the feed."""
        del effects  # they are in the log, numbered there
        self._loop.call_soon_threadsafe(self._after_timer)

    def _after_timer(self) -> None:
        async def publish() -> None:
            if self._reads is not None and self.usable:
                total = await self._in_reader(self._reads.index.refresh)
                await self.signal.publish(total)

        self._loop.create_task(publish())

    def _lines(self, seq: int) -> list[dict[str, JsonValue]]:
        """The numbered lines of step `seq` (reader thread): its `delivered` column as it is (the
        chain was checked when the step was written; the feed's reads check it again)."""
        assert self._reads is not None
        index = self._reads.index
        index.refresh()
        number = index.before(seq)
        row = self._reads.store.query("SELECT delivered FROM steps WHERE seq = ?", (seq,))
        found = row.fetchone()
        if found is None:
            raise StoreError(f"{self.path}: the log has no step seq {seq}")
        delivered = json.loads(found[0])
        return [{"seq": number + n, **line} for n, line in enumerate(delivered, start=1)]

    def _answer(self, seq: int, event: Event, refused: StepRefused | None) -> Reply:
        if refused is None:
            return Reply(status=200, body={"seq": seq, "effects": list(self._lines(seq))})
        code = refusal_code(refused)
        error: dict[str, JsonValue] = {"code": code, "message": f"{event.STEP} step: {refused}"}
        return Reply(status=409, body={"error": error}, code=code)

    def _first_answer(self, step_id: str) -> Reply:
        """The answer the first step with `step_id` got, re-derived from the log."""
        assert self._reads is not None
        store = self._reads.store
        store.refresh()
        row = store.query(
            "SELECT seq FROM steps WHERE step_id = ? ORDER BY seq LIMIT 1", (step_id,)
        ).fetchone()
        if row is None:  # compacted away: the step is known, its answer is not
            return Reply(status=200, body={"seq": None, "effects": []})
        seq = int(row[0])
        logged = next(store.steps(after=seq - 1, upto=seq))
        if not logged.refused:
            return self._answer(seq, logged.event, None)
        board = state_at(store, seq - 1).switchboard
        result = board.step(logged.event, now=logged.now, step_id=logged.step_id)
        return self._answer(seq, logged.event, result.error)

    def _feed(self, after: int, to: str | None, limit: int) -> list[dict[str, JsonValue]]:
        assert self._reads is not None
        index = self._reads.index
        if index.refresh() <= after or limit <= 0:
            return []
        seq = index.step_of(after + 1)
        number = index.before(seq)
        found: list[dict[str, JsonValue]] = []
        for _, delivered in effects_after(self._reads.store, seq - 1):
            for line in delivered:
                number += 1
                assert isinstance(line, dict)
                if number > after and (to is None or line.get("to") == to):
                    found.append({"seq": number, **line})
                    if len(found) >= limit:
                        return found
        return found

    def _close_sync(self) -> None:
        try:
            if self._center is not None:
                self._center.close()
        finally:
            if self._reads is not None:
                self._reads.store.close()


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
    """Every center of one service, one store file each under `data`."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self._centers: dict[str, CenterBackend] = {}
        self._lock = asyncio.Lock()

    async def open_all(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.data.glob(f"*{SUFFIX}")):
            name = path.name.removesuffix(SUFFIX)
            if CENTER_NAME.fullmatch(name):
                self._centers[name] = await StoreCenter.open(name, path, None)

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
            self._centers[name] = await StoreCenter.open(name, path, config)
            return 201

    async def close_all(self) -> None:
        for center in list(self._centers.values()):
            await center.close()
        self._centers.clear()


__all__ = ["Centers", "EffectIndex", "StoreCenter", "claim_data_dir"]
