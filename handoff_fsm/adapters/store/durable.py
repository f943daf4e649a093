"""The durable switchboard: every step logged before it is acknowledged (one thread, one step at a
time), and the step writer it shares with the group-commit center.

Theory of operation: `StepWriter` owns a restored switchboard and its store. `apply` runs one step
on the switchboard in memory and queues its log row (event, time, id, what it gave); `commit`
writes every queued row in ONE transaction, with the live checkpoint's changed rows when one is
due, and returns once it is on disk. `DurableSwitchboard` applies and commits each step alone:
its `step` returns (and `handle` returns or raises `StepRefused`) only once the step is durable.
`DurableCenter` (`center`) batches many steps per commit.

Rules:
- A malformed step raises the core's `InvalidStep` as is (the engine's own input check, run
  before the step is encoded, queued, run or logged); a well-formed step that the store could
  not read back equal raises `StepNotStorable`. Either way nothing changes and nothing is logged,
  and the step id is not remembered, so a corrected retry is processed.
- If a commit fails (`StoreWriteError`) or the switchboard fails in the middle of a step, memory
  holds steps the log does not: the writer is unusable (`usable` is False) and refuses every
  later call (`StoreClosedError`); reopen the store to go on from the last acknowledged step.
- Never call the restored switchboard's `step`, `handle` or `forget` yourself: the log would
  not know.
"""

from __future__ import annotations

import gc
import os
from types import TracebackType

from handoff_fsm.adapters.store import checkpoint_codec as codec
from handoff_fsm.adapters.store.checkpoints import DEFAULT_CHECKPOINT_EVERY, LiveCheckpoint
from handoff_fsm.adapters.store.encoding import encode_effects, encode_event
from handoff_fsm.adapters.store.errors import StoreClosedError, StoreError, StoreWriteError
from handoff_fsm.adapters.store.log import StepRow, Store
from handoff_fsm.adapters.store.restore import restore
from handoff_fsm.config import Config
from handoff_fsm.effects import Effect
from handoff_fsm.errors import ErrorCode
from handoff_fsm.events import Event
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.switchboard import StepResult, StepStatus, Switchboard
from handoff_fsm.switchboard.result import check_input


class StepNotStorable(StoreError):
    """A well-formed event the store could not read back equal (a tuple where a list belongs, a
    key that is not text...): refused before it runs. A malformed one is the core's
    `InvalidStep`, raised as is."""

    code = ErrorCode.STEP_NOT_STORABLE


class StepWriter:
    """Applies steps to a restored switchboard and commits their rows in batches."""

    def __init__(self, store: Store, *, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY) -> None:
        if not store.writable:
            raise StoreError(f"{store.path}: a durable switchboard needs a writable store")
        restored = restore(store)
        # The restored state lives as long as the process: out of the collector's sight, a full
        # collection walks only what comes after (seconds at a million conversations otherwise).
        gc.freeze()
        self.store = store
        self.board = restored.switchboard
        self.restored_from = restored.snapshot_seq
        self.live = LiveCheckpoint(store, checkpoint_every, stale=restored.replayed > 0)
        codec.check_shape(self.board)
        last = store.last_step_index()
        self.next_index = 0 if last is None else last + 1
        self.pending: list[StepRow] = []
        self.broken: str | None = None
        if self.live.seq < 0:  # none yet, or stale: write every row now, not on a step's path
            self.checkpoint()
            store.fold_wal()

    def check_usable(self) -> None:
        if self.broken is not None:
            raise StoreClosedError(f"{self.store.path}: {self.broken}; reopen the store to go on")
        if self.store.closed:
            raise StoreClosedError(f"{self.store.path}: the store is closed")

    @staticmethod
    def encode(event: Event, now: float | None = None, step_id: str | None = None) -> str:
        """The log text of a step, after the engine's own input check (`InvalidStep`)."""
        check_input(event, now, step_id)
        try:
            return encode_event(event)
        except StoreError as exc:
            raise StepNotStorable(str(exc)) from None

    def apply(
        self,
        event: Event,
        text: str,
        now: float | None,
        step_id: str | None,
        step_index: int | None,
    ) -> StepResult:
        """Run one step in memory and queue its row; the caller must `commit` before it
        acknowledges. `text` is `encode(event, now, step_id)`, so the step is well formed."""
        self.check_usable()
        before = codec.touched_before(self.board, event, now)
        silent = codec.participants_before(self.board, event, now)
        try:
            result = self.board.step(event, now=now, step_id=step_id)
        except BaseException:
            self.broken = "the switchboard failed in the middle of a step"
            raise
        index = self.next_index if step_index is None else step_index
        self.pending.append(
            StepRow(
                seq=self.store.head + len(self.pending) + 1,
                index=index,
                event=text,
                now=now,
                step_id=step_id,
                refused=result.status is StepStatus.REFUSED,
                effects=len(result.effects),
                delivered=encode_effects(result.effects, self._states(result)),
            )
        )
        self.next_index = index + 1
        self.live.note(event, result.effects, before, silent)
        return result

    def _states(self, result: StepResult) -> dict[str, str | None]:
        """Each effect's conversation's state after the step (the lines a service delivers)."""
        states: dict[str, str | None] = {}
        for effect in result.effects:
            if effect.conversation is not None and effect.conversation not in states:
                state = self.board.state_of(effect.conversation)
                states[effect.conversation] = None if state is None else state.value
        return states

    def commit(self) -> None:
        """Write the queued rows (and a due checkpoint) in one transaction; on disk when it
        returns. `StoreWriteError` (and the writer is broken) if not."""
        rows, self.pending = self.pending, []
        if not rows:
            return
        writes = self.live.rows_now(self.board, rows[-1].seq) if self.live.due else None
        try:
            self.store.append_batch(rows, writes)
        except BaseException as exc:
            self.broken = f"steps from seq {rows[0].seq} ran but were not logged"
            if isinstance(exc, StoreError) and not isinstance(exc, StoreWriteError):
                raise StoreWriteError(str(exc)) from None
            raise
        if writes is not None:
            writes.committed()

    def checkpoint(self) -> None:
        """Bring the live checkpoint to the last committed step (restore re-applies nothing)."""
        self.check_usable()
        if self.live.since == 0 and self.live.seq == self.store.head:
            return
        writes = self.live.rows_now(self.board, self.store.head)
        self.store.write(writes)
        writes.committed()

    def close(self) -> None:
        """Checkpoint if steps were committed since the last one, then close the store. A
        broken writer closes without one: its memory is not what the log says."""
        if self.store.closed:
            return
        try:
            if self.broken is None:
                self.checkpoint()
        finally:
            self.store.close()


class DurableSwitchboard:
    """A switchboard whose every step is logged before it is acknowledged, one at a time.

    `step` and `handle` have the contracts of `Switchboard.step` (a `StepResult`) and
    `Switchboard.handle` (effects, or `StepRefused` carrying the effects of timeouts that fired
    first), plus: they return (or raise `StepRefused`) only once the step is durable.
    Not thread-safe: for many threads or asyncio tasks use `DurableCenter`.
    """

    def __init__(self, store: Store, *, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY) -> None:
        self._writer = StepWriter(store, checkpoint_every=checkpoint_every)
        self.store = store
        self.switchboard: Switchboard = self._writer.board
        self.restored_from = self._writer.restored_from

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        *,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        lock_timeout: float = 0.0,
    ) -> DurableSwitchboard:
        """Open the store at `path` (created for `config` if missing; an existing store needs
        no config, and refuses one that differs) and restore from it."""
        store = Store.open_or_create(path, config, lock_timeout=lock_timeout)
        try:
            return cls(store, checkpoint_every=checkpoint_every)
        except BaseException:
            store.close()
            raise

    @property
    def usable(self) -> bool:
        """Whether this wrapper can still take steps (False once closed or after a failure)."""
        return self._writer.broken is None and not self.store.closed

    @property
    def seq(self) -> int:
        """The `seq` of the last acknowledged step (0: none)."""
        return self.store.head

    @property
    def next_index(self) -> int:
        return self._writer.next_index

    def step(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> StepResult:
        """Apply and log one step; `step_index` defaults to the last logged one plus one."""
        self._writer.check_usable()
        text = self._writer.encode(event, now, step_id)
        result = self._writer.apply(event, text, now, step_id, step_index)
        self._writer.commit()
        return result

    def handle(
        self,
        event: Event,
        *,
        now: float | None = None,
        step_id: str | None = None,
        step_index: int | None = None,
    ) -> list[Effect]:
        """`step`, raising: the effects, or `StepRefused` (once the refusal is logged)."""
        return self.step(event, now=now, step_id=step_id, step_index=step_index).unwrap()

    def checkpoint(self) -> None:
        """Checkpoint now (restore then re-applies nothing)."""
        self._writer.checkpoint()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> DurableSwitchboard:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def state_of(self, conversation: str) -> State | None:
        return self.switchboard.state_of(conversation)

    def outcome_of(self, conversation: str) -> Outcome | None:
        return self.switchboard.outcome_of(conversation)

    def next_deadline(self) -> float | None:
        return self.switchboard.next_deadline()


__all__ = ["DurableSwitchboard", "StepNotStorable", "StepWriter"]
