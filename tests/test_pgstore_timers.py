"""Due timers in PostgreSQL: claimed by one process at a time, with a lease; a commit releases."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pg_kit import fresh_database
from service_server import center_config


@pytest.fixture
def database() -> Iterator[str]:
    yield from fresh_database()


async def _connect(url: str) -> Any:
    import psycopg

    return await psycopg.AsyncConnection.connect(url, autocommit=True)


def _with_due(url: str, body: Any) -> Any:
    """`body(conn, other)` after three centers were given deadlines 10, 20 and 30."""
    from handoff_fsm.adapters.pgstore import create_center, ensure_schema, set_due

    async def main() -> Any:
        async with await _connect(url) as conn, await _connect(url) as other:
            await ensure_schema(conn)
            for name, due in (("a", 10.0), ("b", 20.0), ("c", 30.0)):
                await create_center(conn, name, center_config())
                await set_due(conn, name, due)
            return await body(conn, other)

    return asyncio.run(asyncio.wait_for(main(), timeout=30))


def test_only_due_centers_are_claimed_earliest_first(database: str) -> None:
    from handoff_fsm.adapters.pgstore import claim_due

    async def body(conn: Any, other: Any) -> Any:
        return await claim_due(conn, 25.0), await claim_due(conn, 5.0)

    assert _with_due(database, body) == (["a", "b"], [])


def test_a_claim_keeps_others_off_until_its_lease_ends(database: str) -> None:
    from handoff_fsm.adapters.pgstore import claim_due

    async def body(conn: Any, other: Any) -> Any:
        mine = await claim_due(conn, 15.0, lease=5.0)
        during = await claim_due(other, 16.0)
        after = await claim_due(other, 20.5)  # a's lease ended (15 + 5), b is due now
        return mine, during, sorted(after)

    assert _with_due(database, body) == (["a"], [], ["a", "b"])


def test_a_row_being_claimed_is_skipped_not_waited_for(database: str) -> None:
    from handoff_fsm.adapters.pgstore import claim_due

    async def body(conn: Any, other: Any) -> Any:
        async with conn.transaction():  # holds a's row lock, as a claim in progress does
            await conn.execute("SELECT * FROM handoff_due_timers WHERE center = 'a' FOR UPDATE")
            return await asyncio.wait_for(claim_due(other, 25.0), timeout=5)

    assert _with_due(database, body) == ["b"]


def test_a_commit_moves_the_deadline_and_releases_the_claim(database: str) -> None:
    from handoff_fsm.adapters.pgstore import claim_due, set_due
    from handoff_fsm.adapters.pgstore.timers import next_due

    async def body(conn: Any, other: Any) -> Any:
        claimed = await claim_due(conn, 12.0, lease=100.0)
        await set_due(conn, "a", 11.0)  # the tick's commit: still due, no longer claimed
        again = await claim_due(other, 12.0)
        await set_due(conn, "a", None)
        return claimed, again, await next_due(conn)

    assert _with_due(database, body) == (["a"], ["a"], 20.0)
