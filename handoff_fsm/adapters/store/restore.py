"""Restore, replay and delivery: a switchboard at any seq, and the effects after any seq.

Theory of operation: the state after step N is the newest checked checkpoint at or before N
(the live one, or the base one a compaction left) with the logged steps after it re-applied
(`apply_logged`, which checks each gives what it gave when it was acknowledged). Ids of steps
seen before the checkpoint come from the log's `step_id` column and the `seen_ids` table.
The effects each step gave are stored with it (`delivered`), so what a service re-sends after
a crash, "the effects after seq N", is read, not recomputed.

Rules: a checkpoint that fails a check refuses the restore with one line naming the row; there is
no silent fallback. A seq before the oldest kept checkpoint of a compacted log is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import attrs

from handoff_fsm.adapters.store import checkpoint_codec as codec
from handoff_fsm.adapters.store.checkpoints import Checkpoint, read_checkpoint
from handoff_fsm.adapters.store.errors import StoreCorruptError, StoreError
from handoff_fsm.adapters.store.log import LoggedStep, Store
from handoff_fsm.effects import Effect
from handoff_fsm.errors import InvalidStep, StepRefused
from handoff_fsm.events import JsonValue
from handoff_fsm.switchboard import Switchboard


@attrs.frozen(kw_only=True)
class Applied:
    """A logged step run again on a switchboard: what it gave this time."""

    step: LoggedStep
    effects: tuple[Effect, ...]
    refused: StepRefused | None


@attrs.frozen(kw_only=True)
class Restored:
    """A switchboard rebuilt from a store; `snapshot_seq` is the checkpoint it started from
    (0: none, the whole log was replayed) and `replayed` how many logged steps were re-applied."""

    switchboard: Switchboard
    seq: int
    snapshot_seq: int
    replayed: int


def apply_logged(board: Switchboard, step: LoggedStep) -> Applied:
    """Make the logged call again; `StoreError` if it does not give what it gave when it was
    acknowledged (same refusal, same number of effects)."""
    try:
        result = board.step(step.event, now=step.now, step_id=step.step_id)
    except InvalidStep as exc:
        raise StoreError(
            f"step seq {step.seq} (index {step.index}) is not a well-formed step: {exc}"
        ) from None
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


def starting_point(store: Store, seq: int) -> tuple[Switchboard, int]:
    """The board at the newest checkpoint at or before `seq` (checked), and that checkpoint's
    seq; a fresh board at 0 if the log is whole and no checkpoint helps."""
    best: Checkpoint | None = None
    for name in ("live", "base"):
        found = read_checkpoint(store, name, upto=seq)
        if found is not None and (best is None or found.seq > best.seq):
            best = found
    if best is None:
        if store.first_seq() > 0:
            raise StoreError(
                f"{store.path}: the log before seq {store.first_seq() + 1} was compacted away; "
                f"the state at seq {seq} cannot be derived"
            )
        return Switchboard(store.config), 0
    board = best.rows.board(store, f"{store.path}: checkpoint {best.name!r} (seq {best.seq})")
    seen = store.query("SELECT step_id FROM seen_ids").fetchall()
    seen += store.query(
        "SELECT step_id FROM steps WHERE seq <= ? AND step_id IS NOT NULL", (best.seq,)
    ).fetchall()
    codec.remember_seen(board, (str(s) for (s,) in seen))
    return board, best.seq


def state_at(store: Store, seq: int | None = None) -> Restored:
    """The switchboard as it was after step `seq` (default: the last logged step)."""
    target = store.head if seq is None else seq
    if not 0 <= target <= store.head:
        raise StoreError(f"{store.path}: has no step seq {target} (the log ends at {store.head})")
    board, start = starting_point(store, target)
    replayed = 0
    for step in store.steps(after=start, upto=target):
        apply_logged(board, step)
        replayed += 1
    return Restored(switchboard=board, seq=target, snapshot_seq=start, replayed=replayed)


def restore(store: Store) -> Restored:
    """The switchboard after the last logged step."""
    return state_at(store)


def effects_after(store: Store, seq: int) -> Iterator[tuple[LoggedStep, list[JsonValue]]]:
    """Every step after `seq` with the effects it gave (as delivered JSON lines), in order:
    what a service re-sends after a crash for the steps its transport may not have delivered."""
    if seq < store.first_seq():
        raise StoreError(
            f"{store.path}: the log before seq {store.first_seq() + 1} was compacted away"
        )
    for step in store.steps(after=seq):
        try:
            lines = json.loads(step.delivered)
        except ValueError:
            raise StoreCorruptError(f"{store.path}: step seq {step.seq}: damaged effects") from None
        yield step, lines


__all__ = ["Applied", "Restored", "apply_logged", "effects_after", "restore", "state_at"]
