"""A center's row and its hash-chained log in PostgreSQL: create, lock, read after a seq, append.

Theory of operation: `handoff_centers` holds, per center, the stored config, the head of the log
and the chain at the head. A writer takes the row with `lock_center` (`SELECT ... FOR UPDATE`)
inside its transaction: from then until commit no other process can append to that center, and
the head it read is the truth. Steps are chained exactly as the SQLite store chains them
(`handoff_fsm.adapters.store.log.chain_next` over the same eight values, from `genesis` of the
config text), so a flipped byte, a lost or reordered row, is found by whoever reads past it.

Rules:
- `append_steps` is given the head it locked; seqs follow it without gaps; the unique index on
  (center, step_id) makes a second logging of a step id fail the whole transaction (nothing of it
  is kept), never a silent duplicate.
- Reading (`steps_after`, `verify_center`) checks seq continuity and the chain and raises
  `StoreCorruptError` naming the center and seq at the first bad row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from handoff_fsm.adapters.store.encoding import config_from_json, encode_config
from handoff_fsm.adapters.store.errors import StoreCorruptError
from handoff_fsm.adapters.store.log import chain_next, genesis
from handoff_fsm.config import Config
from handoff_fsm.errors import StoreError

Conn = AsyncConnection[TupleRow]


@attrs.frozen(kw_only=True)
class CenterHead:
    """A center's row: its config and where its log ends."""

    name: str
    config_text: str
    head: int
    chain: str
    effect_seq: int

    @property
    def config(self) -> Config:
        import json

        return config_from_json(json.loads(self.config_text), f"center {self.name}: config")

    @property
    def genesis(self) -> str:
        return genesis(self.config_text)


@attrs.frozen(kw_only=True)
class LoggedRow:
    """One step of the log, as stored: the event in the scenario format, what it gave."""

    seq: int
    event: str
    now: float | None
    step_id: str | None
    refused: bool
    effects: int
    delivered: str
    chain: str = ""

    def values(self) -> list[object]:
        """The values the chain is taken over (the SQLite store's `StepRow.values`)."""
        now = None if self.now is None else float(self.now)
        return [self.seq, self.seq - 1, self.event, now, self.step_id, int(self.refused),
                self.effects, self.delivered]  # fmt: skip


_CENTER = "SELECT name, config, head, chain, effect_seq FROM handoff_centers WHERE name = %s"


def _head(row: TupleRow | None) -> CenterHead | None:
    if row is None:
        return None
    name, config, head, chain, effect_seq = row
    return CenterHead(
        name=str(name),
        config_text=str(config),
        head=int(head),
        chain=str(chain),
        effect_seq=int(effect_seq),
    )


async def create_center(conn: Conn, name: str, config: Config) -> int:
    """201 created, 200 the same config is stored, 409 another config is stored."""
    text = encode_config(config)
    async with conn.transaction():
        cursor = await conn.execute(
            "INSERT INTO handoff_centers (name, config, genesis, chain) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            (name, text, genesis(text), genesis(text)),
        )
        if cursor.rowcount == 1:
            return 201
        stored = await read_center(conn, name)
    return 200 if stored is not None and stored.config == config else 409


async def center_names(conn: Conn) -> list[str]:
    cursor = await conn.execute("SELECT name FROM handoff_centers ORDER BY name")
    return [str(name) for (name,) in await cursor.fetchall()]


async def read_center(conn: Conn, name: str) -> CenterHead | None:
    cursor = await conn.execute(_CENTER, (name,))
    return _head(await cursor.fetchone())


async def lock_center(conn: Conn, name: str) -> CenterHead:
    """The center's row, locked until the transaction ends (call inside one)."""
    cursor = await conn.execute(_CENTER + " FOR UPDATE", (name,))
    head = _head(await cursor.fetchone())
    if head is None:
        raise StoreError(f"no center {name!r} in the database")
    return head


async def steps_after(conn: Conn, name: str, after: int, chain: str) -> list[LoggedRow]:
    """The steps after seq `after`, whose chain there is `chain`, checked row by row."""
    cursor = await conn.execute(
        "SELECT seq, event, now, step_id, refused, effects, delivered, chain FROM handoff_steps "
        "WHERE center = %s AND seq > %s ORDER BY seq",
        (name, after),
    )
    rows: list[LoggedRow] = []
    expected = after
    for seq, event, now, step_id, refused, effects, delivered, stored in await cursor.fetchall():
        expected += 1
        row = LoggedRow(
            seq=int(seq),
            event=str(event),
            now=None if now is None else float(now),
            step_id=None if step_id is None else str(step_id),
            refused=bool(refused),
            effects=int(effects),
            delivered=str(delivered),
            chain=str(stored),
        )
        if row.seq != expected:
            raise StoreCorruptError(f"center {name}: step {expected} is missing from the log")
        chain = chain_next(chain, row.values())
        if chain != row.chain:
            raise StoreCorruptError(f"center {name}: step {row.seq} does not match its checksum")
        rows.append(row)
    return rows


async def verify_center(conn: Conn, name: str) -> int:
    """Check the whole log of `name` (seq contiguous from 1, chain valid, head matching); its
    head seq, or `StoreCorruptError` naming the first bad row."""
    head = await read_center(conn, name)
    if head is None:
        raise StoreError(f"no center {name!r} in the database")
    rows = await steps_after(conn, name, 0, head.genesis)
    last = rows[-1] if rows else None
    if (last.seq if last else 0) != head.head or (last.chain if last else head.genesis) != (
        head.chain
    ):
        raise StoreCorruptError(f"center {name}: the head does not match the log")
    return head.head


async def replies_for(conn: Conn, name: str, step_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
    """The stored first answers (status, body) to these step ids."""
    ids = list(step_ids)
    if not ids:
        return {}
    cursor = await conn.execute(
        "SELECT step_id, status, body FROM handoff_replies WHERE center = %s AND step_id = ANY(%s)",
        (name, ids),
    )
    return {str(i): (int(s), str(b)) for i, s, b in await cursor.fetchall()}


async def append_steps(
    conn: Conn,
    locked: CenterHead,
    rows: Sequence[LoggedRow],
    effects: Sequence[tuple[int, int, str | None, float, str]],
    replies: Sequence[tuple[str, int, int, str]],
    effect_seq: int,
) -> CenterHead:
    """Log `rows` (seqs following `locked.head`), their feed `effects` (seq, step seq, recipient,
    at, line) and `replies` (step id, step seq, status, body); move the head. Inside the
    transaction that locked the center; returns the new head."""
    chain = locked.chain
    values = []
    for offset, row in enumerate(rows, start=1):
        if row.seq != locked.head + offset:
            raise StoreError(f"center {locked.name}: step {row.seq} does not follow the head")
        chain = chain_next(chain, row.values())
        values.append((locked.name, *row.values()[:1], *row.values()[2:], chain))
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO handoff_steps (center, seq, event, now, step_id, refused, effects, "
            "delivered, chain) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(n, s, e, t, i, bool(r), c, d, h) for n, s, e, t, i, r, c, d, h in values],
        )
        if effects:
            await cursor.executemany(
                "INSERT INTO handoff_effects (center, seq, step_seq, recipient, at, line) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [(locked.name, *effect) for effect in effects],
            )
        if replies:
            await cursor.executemany(
                "INSERT INTO handoff_replies (center, step_id, step_seq, status, body) "
                "VALUES (%s, %s, %s, %s, %s)",
                [(locked.name, *reply) for reply in replies],
            )
    head = locked.head + len(rows)
    await conn.execute(
        "UPDATE handoff_centers SET head = %s, chain = %s, effect_seq = %s WHERE name = %s",
        (head, chain, effect_seq, locked.name),
    )
    return attrs.evolve(locked, head=head, chain=chain, effect_seq=effect_seq)


__all__ = [
    "CenterHead",
    "LoggedRow",
    "append_steps",
    "center_names",
    "create_center",
    "lock_center",
    "read_center",
    "replies_for",
    "steps_after",
    "verify_center",
]
