"""Due timers in PostgreSQL: each center's next deadline, claimed by whichever process is alive.

Theory of operation: every commit of a center writes its next deadline (`set_due`, in the same
transaction as the steps). Each `serve` process runs one loop that claims due rows with
`FOR UPDATE SKIP LOCKED` and a lease (`claim_due`): two processes never claim the same row at the
same time, and a process that dies with a claim only delays that center's timers by the lease,
after which any survivor claims it. No leader, no membership: the database is the arbiter.

Rules: the claim only says who should send the tick; the tick itself is a step like any other,
applied under the center's lock, so a tick sent twice fires nothing twice (the second finds
nothing due). The commit that logs a step releases the lease.
"""

from __future__ import annotations

from typing import Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

LEASE: Final = 5.0
"""Seconds a claim keeps other processes off a center's timers."""

Conn = AsyncConnection[TupleRow]


async def set_due(conn: Conn, name: str, due_at: float | None) -> None:
    """Record `name`'s next deadline (none: no row) and release any claim on it."""
    if due_at is None:
        await conn.execute("DELETE FROM handoff_due_timers WHERE center = %s", (name,))
        return
    await conn.execute(
        "INSERT INTO handoff_due_timers (center, due_at, lease_until) VALUES (%s, %s, 0) "
        "ON CONFLICT (center) DO UPDATE SET due_at = excluded.due_at, lease_until = 0",
        (name, due_at),
    )


async def claim_due(conn: Conn, now: float, *, limit: int = 16, lease: float = LEASE) -> list[str]:
    """Claim up to `limit` centers whose deadline is at or before `now` and that no live claim
    holds; the names claimed (committed at once, so the claim outlives this call)."""
    async with conn.transaction():
        cursor = await conn.execute(
            "UPDATE handoff_due_timers SET lease_until = %(until)s WHERE center IN ("
            " SELECT center FROM handoff_due_timers"
            " WHERE due_at <= %(now)s AND lease_until <= %(now)s"
            " ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) RETURNING center",
            {"now": now, "until": now + lease, "limit": limit},
        )
        return [str(name) for (name,) in await cursor.fetchall()]


async def next_due(conn: Conn) -> float | None:
    """The earliest deadline of any center (a claim loop sleeps until it)."""
    cursor = await conn.execute("SELECT min(due_at) FROM handoff_due_timers")
    row = await cursor.fetchone()
    return None if row is None or row[0] is None else float(row[0])


__all__ = ["LEASE", "claim_due", "next_due", "set_due"]
