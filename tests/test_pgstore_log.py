"""The PostgreSQL log against a real server: centers, the hash chain, step ids once, a catch-up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from pg_kit import fresh_database
from service_server import center_config

T = TypeVar("T")


@pytest.fixture
def database() -> Iterator[str]:
    yield from fresh_database()


def _run(body: Callable[[Any], Awaitable[T]], url: str) -> T:
    """`body(conn)` on an autocommit connection to `url`, schema created, bounded in time."""
    import psycopg

    from handoff_fsm.adapters.pgstore import ensure_schema

    async def main() -> T:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await ensure_schema(conn)
            return await body(conn)

    return asyncio.run(asyncio.wait_for(main(), timeout=30))


def _rows(first: int, count: int) -> list[Any]:
    from handoff_fsm.adapters.pgstore import LoggedRow

    return [
        LoggedRow(
            seq=seq,
            event=f'{{"tick":{{"now":{seq}}}}}',
            now=float(seq),
            step_id=f"s{seq}",
            refused=False,
            effects=0,
            delivered="[]",
        )
        for seq in range(first, first + count)
    ]


async def _append(conn: Any, name: str, first: int, count: int) -> Any:
    from handoff_fsm.adapters.pgstore import append_steps, lock_center

    async with conn.transaction():
        locked = await lock_center(conn, name)
        return await append_steps(conn, locked, _rows(first, count), [], [], 0)


def test_a_center_is_created_once_and_its_config_compared(database: str) -> None:
    import attrs

    from handoff_fsm.adapters.pgstore import create_center, read_center

    config = center_config()
    other = attrs.evolve(config, settings=attrs.evolve(config.settings, fallback_limit=4))

    async def body(conn: Any) -> list[int]:
        statuses = [await create_center(conn, "c", c) for c in (config, config, other)]
        head = await read_center(conn, "c")
        assert head is not None and head.config == config and head.chain == head.genesis
        return [*statuses, head.head]

    assert _run(body, database) == [201, 200, 409, 0]


def test_appended_steps_read_back_in_order_with_the_chain_checked(database: str) -> None:
    from handoff_fsm.adapters.pgstore import create_center, read_center, steps_after, verify_center

    async def body(conn: Any) -> tuple[list[int], list[int], int]:
        await create_center(conn, "c", center_config())
        await _append(conn, "c", 1, 3)
        head = await _append(conn, "c", 4, 2)
        start = await read_center(conn, "c")
        assert start is not None and head.head == start.head == 5
        everything = await steps_after(conn, "c", 0, start.genesis)
        tail = await steps_after(conn, "c", 3, everything[2].chain)
        return [r.seq for r in everything], [r.seq for r in tail], await verify_center(conn, "c")

    assert _run(body, database) == ([1, 2, 3, 4, 5], [4, 5], 5)


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE handoff_steps SET now = 99 WHERE seq = 2",
        'UPDATE handoff_steps SET event = \'{"tick":{"now":9}}\' WHERE seq = 3',
        "DELETE FROM handoff_steps WHERE seq = 2",
    ],
)
def test_a_changed_or_missing_row_is_found_and_named(database: str, damage: str) -> None:
    from handoff_fsm.adapters.pgstore import create_center, verify_center
    from handoff_fsm.adapters.store.errors import StoreCorruptError

    async def body(conn: Any) -> str:
        await create_center(conn, "c", center_config())
        await _append(conn, "c", 1, 4)
        await conn.execute(damage)
        with pytest.raises(StoreCorruptError) as caught:
            await verify_center(conn, "c")
        return str(caught.value)

    message = _run(body, database)
    assert message.startswith("center c: step ") and message.split()[3] in {"2", "3"}


def test_a_step_id_is_logged_once_per_center(database: str) -> None:
    import psycopg

    from handoff_fsm.adapters.pgstore import LoggedRow, append_steps, create_center, lock_center

    async def body(conn: Any) -> int:
        await create_center(conn, "c", center_config())
        head = await _append(conn, "c", 1, 2)
        again = LoggedRow(seq=3, event="{}", now=None, step_id="s1", refused=False, effects=0,
                          delivered="[]")  # fmt: skip
        with pytest.raises(psycopg.errors.UniqueViolation):
            async with conn.transaction():
                await append_steps(conn, await lock_center(conn, "c"), [again], [], [], 0)
        from handoff_fsm.adapters.pgstore import verify_center

        assert head.head == 2
        return await verify_center(conn, "c")  # nothing of the failed transaction is kept

    assert _run(body, database) == 2


def test_a_second_writer_waits_for_the_center_lock(database: str) -> None:
    import psycopg

    from handoff_fsm.adapters.pgstore import create_center, lock_center

    async def body(conn: Any) -> list[str]:
        await create_center(conn, "c", center_config())
        order: list[str] = []
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as other:

            async def second() -> None:
                async with other.transaction():
                    locked = await lock_center(other, "c")
                    order.append(f"second saw {locked.head}")

            async with conn.transaction():
                await lock_center(conn, "c")
                waiting = asyncio.create_task(second())
                await asyncio.sleep(0.3)
                order.append("first commits")
                from handoff_fsm.adapters.pgstore import append_steps

                await append_steps(conn, await lock_center(conn, "c"), _rows(1, 1), [], [], 0)
            await waiting
        return order

    assert _run(body, database) == ["first commits", "second saw 1"]


def test_replies_are_found_by_step_id(database: str) -> None:
    from handoff_fsm.adapters.pgstore import (
        append_steps,
        create_center,
        lock_center,
        replies_for,
    )

    async def body(conn: Any) -> dict[str, tuple[int, str]]:
        await create_center(conn, "c", center_config())
        async with conn.transaction():
            locked = await lock_center(conn, "c")
            replies = [("s1", 1, 200, '{"seq":1}')]
            await append_steps(conn, locked, _rows(1, 1), [], replies, 0)
        return await replies_for(conn, "c", ["s1", "nope"])

    assert _run(body, database) == {"s1": (200, '{"seq":1}')}
