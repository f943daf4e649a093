"""Checkpoints: the state at one seq, kept as checksummed JSON rows, at the cost of what changed.

Theory of operation: the `state` table holds the switchboard as rows (one per conversation, one
per participant, one `globals`, written by the checkpoint codec), and the `checkpoints` row
`live` says which seq they are the state after, the chain hash of the log at that seq and the
digest of all the rows. The writer notes which conversations and participants each step touched;
every `checkpoint_every` steps, inside the transaction of the batch that reaches it, it rewrites
only those rows (and `globals`): a checkpoint costs O(what changed since the last), never a pause
that grows with the history or the number of conversations. Restore is the live checkpoint plus
the log after it.

A `base` checkpoint is the same rows as one JSON document; `handoff-fsm store compact` writes one
at the live checkpoint's seq and drops the log before it, so replay starts from it.

Rules and checks:
- Every row carries sha256 over (kind, key, body); the checkpoint's digest is the sum of those
  (mod 2**256), so it is kept up to date by adding and subtracting the rows a batch rewrites;
  the `checkpoints` row carries a checksum of its own columns.
- Loading checks the checkpoint's checksum, that its chain hash is the log's at its seq (it follows
  this log, not another), every row's checksum and the digest (no row added or removed), and
  refuses any mismatch with one line naming the row. A row edited with valid checksums is caught
  by `store verify`, which re-derives the state from the log and compares digests.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from handoff_fsm.adapters.store import checkpoint_codec as codec
from handoff_fsm.adapters.store.encoding import canonical, checksum, dumps
from handoff_fsm.adapters.store.errors import StoreCorruptError, StoreError
from handoff_fsm.adapters.store.log import Store
from handoff_fsm.effects import Effect
from handoff_fsm.events import Event
from handoff_fsm.switchboard import Switchboard

DEFAULT_CHECKPOINT_EVERY: Final = 1000
DEFAULT_CHECKPOINT_ROWS: Final = 128
"""A checkpoint is also due once this many rows wait to be rewritten: what bounds its pause."""
_MODULUS = 2**256
GLOBALS, PARTICIPANT, CONVERSATION = "globals", "participant", "conversation"


def row_hash(kind: str, key: str, body: str) -> str:
    return checksum(f"{kind}\0{key}\0{body}")


def marker_checksum(
    name: str, seq: int, chain: str, digest: str, info: str, body: str | None
) -> str:
    return checksum(canonical([name, seq, chain, digest, info, body]))


def digest_of(hashes: Iterable[str]) -> str:
    return f"{sum(int(h, 16) for h in hashes) % _MODULUS:064x}"


@attrs.frozen(kw_only=True)
class StateRows:
    """A whole state as row texts: what a checkpoint holds and what `verify` re-derives."""

    globals: str
    participants: dict[str, str]
    conversations: dict[str, str]  # in the board's order

    @classmethod
    def of(cls, board: Switchboard) -> StateRows:
        g, participants, conversations = codec.encode_all(board)
        return cls(
            globals=dumps(g),
            participants={k: dumps(v) for k, v in participants.items()},
            conversations={k: dumps(v) for k, v in conversations.items()},
        )

    def hashes(self) -> dict[tuple[str, str], str]:
        found = {(GLOBALS, ""): row_hash(GLOBALS, "", self.globals)}
        for kind, rows in ((PARTICIPANT, self.participants), (CONVERSATION, self.conversations)):
            for key, body in rows.items():
                found[(kind, key)] = row_hash(kind, key, body)
        return found

    @property
    def digest(self) -> str:
        return digest_of(self.hashes().values())

    def document(self) -> str:
        return dumps({
            "codec": codec.CODEC_VERSION,
            "globals": json.loads(self.globals),
            "participants": {k: json.loads(v) for k, v in self.participants.items()},
            "conversations": [[k, json.loads(v)] for k, v in self.conversations.items()],
        })  # fmt: skip

    def board(self, store: Store, where: str) -> Switchboard:
        return codec.load(
            store.config,
            json.loads(self.globals),
            {k: json.loads(v) for k, v in self.participants.items()},
            ((k, json.loads(v)) for k, v in self.conversations.items()),
            where,
        )


@attrs.frozen(kw_only=True)
class Checkpoint:
    """A checkpoint read back and checked: the state after `seq`."""

    name: str
    seq: int
    chain: str
    digest: str
    info: dict[str, int]
    rows: StateRows


class LiveCheckpoint:
    """The writer's side of the live checkpoint: which rows its steps touched since the last
    one, and the row hashes it needs to keep the digest without reading everything back."""

    def __init__(
        self, store: Store, every: int = DEFAULT_CHECKPOINT_EVERY, *, stale: bool = False
    ) -> None:
        if every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        self.store = store
        self.every = every
        marker = store.query("SELECT seq FROM checkpoints WHERE name = 'live'").fetchone()
        # -1: none yet, or `stale` (steps were re-applied after it at restore, and what they
        # touched is not known): the next checkpoint rewrites every row.
        self.seq = -1 if marker is None or stale else int(marker[0])
        self._hashes: dict[tuple[str, str], int] = {}
        self._ordinal = 0
        for kind, key, ordinal, hashed in store.query(
            "SELECT kind, key, ordinal, checksum FROM state"
        ):
            self._hashes[(str(kind), str(key))] = int(str(hashed), 16)
            self._ordinal = max(self._ordinal, int(ordinal))
        self._digest = sum(self._hashes.values()) % _MODULUS
        self._conversations: set[str] = set()
        self._participants: set[str] = set()
        self._all_participants = False  # a live change: any participant's row may have changed
        self.since = 0

    def note(
        self,
        event: Event,
        effects: Sequence[Effect],
        before: set[str],
        participants: set[str] | None = None,
    ) -> None:
        """Remember what one applied step touched (`before`: `codec.touched_before`;
        `participants`: `codec.participants_before`)."""
        self._conversations |= before
        self._participants |= participants or set()
        codec.touched(event, effects, self._conversations, self._participants)
        self._all_participants |= codec.changes_world(event)
        self.since += 1

    @property
    def due(self) -> bool:
        pending = len(self._conversations) + len(self._participants)
        return self.since >= self.every or pending >= DEFAULT_CHECKPOINT_ROWS or self.seq < 0

    def rows_now(self, board: Switchboard, seq: int) -> _Writes:
        """The rows to write for a checkpoint at `seq` (the board must be at `seq`); computed
        now, written by the returned callable inside the batch's transaction."""
        codec.check_shape(board)
        writes = _Writes(self, seq)
        everything = self.seq < 0
        participants = codec.router_of(board)._agents
        pids: Iterable[str] = self._participants
        if everything or self._all_participants:
            stored = [k for kind, k in self._hashes if kind == PARTICIPANT]
            pids = dict.fromkeys([*participants, *stored])
        for pid in pids:
            if pid in participants:
                writes.put(PARTICIPANT, pid, dumps(codec.encode_participant(board, pid)))
            else:  # removed by a live change
                writes.delete(PARTICIPANT, pid)
        cids: Iterable[str] = self._in_board_order(board, self._conversations)
        if everything:
            kept = [key for kind, key in self._hashes if kind == CONVERSATION]
            cids = [*board._conversations, *(k for k in kept if k not in board._conversations)]
        timers = codec.live_timers(board, None if everything else self._conversations)
        for cid in cids:
            row = codec.encode_conversation(board, cid, timers.get(cid, ()))
            if row is None:
                writes.delete(CONVERSATION, cid)
            else:
                writes.put(CONVERSATION, cid, dumps(row))
        writes.put(GLOBALS, "", dumps(codec.encode_globals(board)))
        return writes

    def _in_board_order(self, board: Switchboard, cids: set[str]) -> list[str]:
        """Known rows first; then the new conversations in the board's order (the order
        `conversations()` shows), found at the end of the board's dict, so in O(new)."""
        known = [c for c in cids if (CONVERSATION, c) in self._hashes]
        new = {c for c in cids.difference(known) if c in board._conversations}
        found: list[str] = []
        for cid in reversed(board._conversations):
            if len(found) == len(new):
                break
            if cid in new:
                found.append(cid)
        gone = [c for c in cids.difference(known) if c not in board._conversations]
        return [*known, *reversed(found), *gone]

    def written(self, seq: int) -> None:
        self.seq = seq
        self.since = 0
        self._conversations = set()
        self._participants = set()
        self._all_participants = False


class _Writes:
    """Row writes of one checkpoint, applied inside a transaction by calling it; the digest is
    the live one with the rewritten rows' old hashes taken out and their new ones put in."""

    def __init__(self, live: LiveCheckpoint, seq: int) -> None:
        self.live = live
        self.seq = seq
        self.puts: list[tuple[str, str, int, str, str]] = []
        self.deletes: list[tuple[str, str]] = []
        self.changed: dict[tuple[str, str], int | None] = {}
        self.ordinal = live._ordinal

    def put(self, kind: str, key: str, body: str) -> None:
        hashed = row_hash(kind, key, body)
        if (kind, key) not in self.live._hashes and (kind, key) not in self.changed:
            self.ordinal += 1
        self.changed[(kind, key)] = int(hashed, 16)
        self.puts.append((kind, key, self.ordinal, body, hashed))

    def delete(self, kind: str, key: str) -> None:
        if (kind, key) in self.live._hashes or self.changed.get((kind, key)) is not None:
            self.changed[(kind, key)] = None
            self.deletes.append((kind, key))

    def digest(self) -> int:
        total = self.live._digest
        for key, new in self.changed.items():
            total += (new or 0) - self.live._hashes.get(key, 0)
        return total % _MODULUS

    def __call__(self, db: sqlite3.Connection, chain: str) -> None:
        db.executemany(
            "INSERT INTO state (kind, key, ordinal, body, checksum) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body, "
            "checksum = excluded.checksum",
            self.puts,
        )
        db.executemany("DELETE FROM state WHERE kind = ? AND key = ?", self.deletes)
        write_marker(db, "live", self.seq, chain, f"{self.digest():064x}", {}, None)

    def committed(self) -> None:
        live = self.live
        live._digest = self.digest()
        for key, new in self.changed.items():
            if new is None:
                live._hashes.pop(key, None)
            else:
                live._hashes[key] = new
        live._ordinal = self.ordinal
        live.written(self.seq)


def write_marker(
    db: sqlite3.Connection, name: str, seq: int, chain: str, digest: str, info: dict[str, int],
    body: str | None,
) -> None:  # fmt: skip
    text = canonical(info)
    db.execute(
        "INSERT OR REPLACE INTO checkpoints (name, seq, chain, digest, info, body, checksum) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            seq,
            chain,
            digest,
            text,
            body,
            marker_checksum(name, seq, chain, digest, text, body),
        ),
    )


def seed(store: Store, board: Switchboard) -> None:
    """Make a new, empty store start from `board`'s state: a base and a live checkpoint at seq 0
    (and the step ids it has seen). For importing a running switchboard, and for benchmarks
    that need a store of many live conversations without logging the steps that made them."""
    if store.head != 0 or store.first_seq() != 0 or read_checkpoint(store, "live") is not None:
        raise StoreError(f"{store.path}: only a new, empty store can be seeded")
    if board.config != store.config:
        raise StoreError(f"{store.path}: the switchboard has another config than the store")
    rows = StateRows.of(board)
    live = LiveCheckpoint(store)
    writes = live.rows_now(board, 0)
    seen = [(step_id,) for step_id in codec.seen_ids(board)]

    def work(db: sqlite3.Connection, chain: str) -> None:
        writes(db, chain)
        info = {"lines": 0, "last_index": -1}
        write_marker(db, "base", 0, chain, rows.digest, info, rows.document())
        db.executemany("INSERT OR IGNORE INTO seen_ids (step_id) VALUES (?)", seen)

    store.write(work)
    store.fold_wal()


def read_checkpoint(store: Store, name: str, upto: int | None = None) -> Checkpoint | None:
    """The checkpoint `name` (`live` or `base`), checked; None if the store has none (or only
    one after seq `upto`, which is then not read at all)."""
    row = store.query(
        "SELECT seq, chain, digest, info, body, checksum FROM checkpoints WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None
    seq, chain, digest, info, body, stored = row
    if upto is not None and isinstance(seq, int) and seq > upto:
        return None
    where = f"{store.path}: checkpoint {name!r}"
    if not (isinstance(seq, int) and isinstance(chain, str) and isinstance(digest, str)
            and isinstance(info, str) and (body is None or isinstance(body, str))):  # fmt: skip
        raise StoreCorruptError(f"{where}: has columns of the wrong type")
    if marker_checksum(name, seq, chain, digest, info, body) != stored:
        raise StoreCorruptError(f"{where} (seq {seq}): does not match its checksum")
    where = f"{where} (seq {seq})"
    if seq > store.head:
        raise StoreCorruptError(f"{where}: is after the end of the log (seq {store.head})")
    logged = store.chain_at(seq)
    if logged != chain:
        raise StoreCorruptError(
            f"{where}: does not follow this log (it names chain {chain[:12]}..., the log's row at "
            f"seq {seq} has {logged[:12]}...)"
        )
    rows = _document_rows(body, where) if body is not None else _table_rows(store, where)
    if rows.digest != digest:
        raise StoreCorruptError(
            f"{where}: its rows do not add up to its digest (a state row was added or removed)"
        )
    parsed = json.loads(info)
    return Checkpoint(
        name=name, seq=seq, chain=chain, digest=digest,
        info={str(k): int(v) for k, v in parsed.items()}, rows=rows,
    )  # fmt: skip


def _table_rows(store: Store, where: str) -> StateRows:
    globals_text: str | None = None
    participants: dict[str, str] = {}
    conversations: dict[str, str] = {}
    for kind, key, body, stored in store.query(
        "SELECT kind, key, body, checksum FROM state ORDER BY ordinal"
    ):
        if not (isinstance(kind, str) and isinstance(key, str) and isinstance(body, str)):
            raise StoreCorruptError(f"{where}: a state row has columns of the wrong type")
        if row_hash(kind, key, body) != stored:
            raise StoreCorruptError(
                f"{where}: state row {kind} {key!r} does not match its checksum"
            )
        if kind == GLOBALS:
            globals_text = body
        elif kind == PARTICIPANT:
            participants[key] = body
        elif kind == CONVERSATION:
            conversations[key] = body
        else:
            raise StoreCorruptError(f"{where}: a state row of unknown kind {kind!r}")
    if globals_text is None:
        raise StoreCorruptError(f"{where}: has no globals row")
    return StateRows(globals=globals_text, participants=participants, conversations=conversations)


def _document_rows(body: str, where: str) -> StateRows:
    try:
        data = json.loads(body)
        conversations = {str(k): dumps(v) for k, v in data["conversations"]}
        return StateRows(
            globals=dumps(data["globals"]),
            participants={str(k): dumps(v) for k, v in data["participants"].items()},
            conversations=conversations,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StoreCorruptError(f"{where}: its document is not a checkpoint") from None


__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_CHECKPOINT_ROWS",
    "Checkpoint",
    "LiveCheckpoint",
    "StateRows",
    "digest_of",
    "read_checkpoint",
    "row_hash",
    "seed",
    "write_marker",
]
