"""Checking and compacting a store: `handoff-fsm store verify` and `handoff-fsm store compact`.

Theory of operation: `verify` trusts nothing it can re-derive. It walks the whole log from its
start (step 1, or the base checkpoint a compaction left) checking the hash chain row by row and
re-applying every step, and at the live checkpoint's seq compares the state it derived with the
checkpoint's rows, row by row: a checkpoint edited with valid checksums (a customer's name
changed) is caught there, with the row named. `compact` turns the live checkpoint into the base
checkpoint (one JSON document, checksummed) and drops the log rows up to it, keeping their step
ids (a retried delivery must still be a duplicate); replay and restore then start from the base.

Rules: both stop at the first problem with one line naming the row (`StoreCorruptError`);
`compact` changes nothing unless every check passes first, and does its work in one transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3

import attrs

from handoff_fsm.adapters.store.checkpoints import (
    CONVERSATION,
    PARTICIPANT,
    Checkpoint,
    StateRows,
    read_checkpoint,
    write_marker,
)
from handoff_fsm.adapters.store.errors import StoreCorruptError, StoreError
from handoff_fsm.adapters.store.log import Store
from handoff_fsm.adapters.store.restore import apply_logged, starting_point


@attrs.frozen(kw_only=True)
class Verified:
    """What `verify` checked: the steps it re-applied and the checkpoints it compared."""

    first_seq: int
    head: int
    checkpoints: tuple[str, ...]

    def render(self, path: object) -> str:
        compared = ", ".join(self.checkpoints) or "no checkpoint"
        return (
            f"{path}: ok: steps {self.first_seq + 1}..{self.head} chain intact and replayed; "
            f"{compared}"
        )


def verify(store: Store) -> Verified:
    """Re-derive the state from the log and compare every checkpoint with it."""
    base = read_checkpoint(store, "base")
    live = read_checkpoint(store, "live")
    start = store.first_seq()
    board, _ = starting_point(store, start)
    checked: list[str] = []
    if base is not None:
        checked.append(f"base at seq {base.seq} self-consistent")
    if live is not None and live.seq == start:
        _compare(store, live, StateRows.of(board))
        checked.append(f"live at seq {live.seq} matches the log")
    for step in store.steps(after=start):
        apply_logged(board, step)
        if live is not None and step.seq == live.seq:
            _compare(store, live, StateRows.of(board))
            checked.append(f"live at seq {live.seq} matches the log")
    return Verified(first_seq=start, head=store.head, checkpoints=tuple(checked))


def _compare(store: Store, checkpoint: Checkpoint, derived: StateRows) -> None:
    where = f"{store.path}: checkpoint {checkpoint.name!r} (seq {checkpoint.seq})"
    kept = checkpoint.rows
    if kept.globals != derived.globals:
        raise StoreCorruptError(f"{where}: its globals row is not the state the log gives")
    for kind, ours, theirs in (
        (PARTICIPANT, kept.participants, derived.participants),
        (CONVERSATION, kept.conversations, derived.conversations),
    ):
        for key in sorted(ours.keys() | theirs.keys()):
            if ours.get(key) != theirs.get(key):
                what = "is missing" if key not in ours else (
                    "should not exist" if key not in theirs else "is not the state the log gives"
                )  # fmt: skip
                raise StoreCorruptError(f"{where}: {kind} {key!r} {what}")


def compact(store: Store) -> int:
    """Make the live checkpoint the base and drop the log up to it; returns how many rows were
    dropped. The store must be open for writing, with a live checkpoint."""
    if not store.writable:
        raise StoreError(f"{store.path}: compacting needs the store open for writing")
    live = read_checkpoint(store, "live")
    if live is None:
        raise StoreError(f"{store.path}: has no checkpoint yet; nothing to compact")
    first = store.first_seq()
    if live.seq <= first:
        return 0
    old = store.info_of("base")
    (lines,) = store.query(
        "SELECT COALESCE(SUM(effects + refused), 0) FROM steps WHERE seq <= ?", (live.seq,)
    ).fetchone()
    (last_index,) = store.query(
        "SELECT step_index FROM steps WHERE seq = ?", (live.seq,)
    ).fetchone()
    info = {"lines": old.get("lines", 0) + int(lines), "last_index": int(last_index)}
    body = live.rows.document()

    def work(db: sqlite3.Connection, chain: str) -> None:
        del chain
        db.execute(
            "INSERT OR IGNORE INTO seen_ids (step_id) SELECT step_id FROM steps "
            "WHERE seq <= ? AND step_id IS NOT NULL",
            (live.seq,),
        )
        write_marker(db, "base", live.seq, live.chain, live.digest, info, body)
        db.execute("DELETE FROM steps WHERE seq <= ?", (live.seq,))

    store.write(work)
    with contextlib.suppress(StoreError):  # space is reclaimed later; the compaction holds
        store.query("VACUUM")
    return live.seq - first


__all__ = ["Verified", "compact", "verify"]
