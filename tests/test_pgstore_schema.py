"""The PostgreSQL schema: created once, safely, by any number of processes starting together."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pg_kit import fresh_database


@pytest.fixture
def database() -> Iterator[str]:
    yield from fresh_database()


def test_processes_starting_together_create_the_tables_once(database: str) -> None:
    import psycopg

    from handoff_fsm.adapters.pgstore import ensure_schema

    async def one() -> None:
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            await ensure_schema(conn)

    async def main() -> list[str]:
        await asyncio.gather(*(one() for _ in range(4)))
        await one()  # and again, later: nothing changes
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'handoff_%' ORDER BY 1"
            )
            return [str(name) for (name,) in await cursor.fetchall()]

    assert asyncio.run(asyncio.wait_for(main(), timeout=30)) == [
        "handoff_centers",
        "handoff_due_timers",
        "handoff_effects",
        "handoff_replies",
        "handoff_steps",
    ]
