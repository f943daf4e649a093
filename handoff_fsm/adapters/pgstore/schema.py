"""The tables of the PostgreSQL store, created if absent (idempotent, safe from many processes).

Theory of operation: one row per center (`handoff_centers`: its config, the head of its log and
the chain there, the last effect seq; the row whose lock serialises the center's writers); the
log (`handoff_steps`, one row per step, numbered per center without gaps, the step `id` unique per
center so a retried step can never be logged twice); the feed (`handoff_effects`); the first
answer to each step `id` (`handoff_replies`); and the next deadline of each center
(`handoff_due_timers`, claimed by any process with `SKIP LOCKED`).

Rules: every statement is `IF NOT EXISTS`, and creation runs under a transaction-scoped advisory
lock, so that processes starting together do not race on the catalog.
"""

from __future__ import annotations

from typing import Final

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

SCHEMA_LOCK: Final = 0x68616E64  # "hand": the advisory lock key creation runs under

STATEMENTS: Final = (
    """CREATE TABLE IF NOT EXISTS handoff_centers (
        name text PRIMARY KEY,
        config text NOT NULL,
        genesis text NOT NULL,
        head bigint NOT NULL DEFAULT 0,
        chain text NOT NULL,
        effect_seq bigint NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS handoff_steps (
        center text NOT NULL REFERENCES handoff_centers (name),
        seq bigint NOT NULL,
        event text NOT NULL,
        now double precision,
        step_id text,
        refused boolean NOT NULL,
        effects integer NOT NULL,
        delivered text NOT NULL,
        chain text NOT NULL,
        PRIMARY KEY (center, seq)
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS handoff_steps_step_id
        ON handoff_steps (center, step_id) WHERE step_id IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS handoff_effects (
        center text NOT NULL,
        seq bigint NOT NULL,
        step_seq bigint NOT NULL,
        recipient text,
        at double precision NOT NULL,
        line text NOT NULL,
        PRIMARY KEY (center, seq)
    )""",
    """CREATE INDEX IF NOT EXISTS handoff_effects_to
        ON handoff_effects (center, recipient, seq)""",
    """CREATE TABLE IF NOT EXISTS handoff_replies (
        center text NOT NULL,
        step_id text NOT NULL,
        step_seq bigint NOT NULL,
        status integer NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (center, step_id)
    )""",
    """CREATE TABLE IF NOT EXISTS handoff_due_timers (
        center text PRIMARY KEY,
        due_at double precision NOT NULL,
        lease_until double precision NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS handoff_due_timers_due ON handoff_due_timers (due_at)",
)


async def ensure_schema(conn: AsyncConnection[TupleRow]) -> None:
    """Create the tables if absent, in one transaction."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for statement in STATEMENTS:
            await conn.execute(statement)


__all__ = ["STATEMENTS", "ensure_schema"]
