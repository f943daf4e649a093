"""`PgCenter`: two "processes" (two `PgCenters`, two pools) on one database, in one event loop.

The multi-process promises are checked here in-process, where defects can be seeded: without the
center's row lock, or without the catch-up from the log, the same checks must fail. The real
processes, killed with SIGKILL, are `tests/test_serve_postgres.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from pg_kit import fresh_database
from service_server import center_config

from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.events import Event

T = TypeVar("T")


@pytest.fixture
def database() -> Iterator[str]:
    yield from fresh_database()


def _event(step: dict[str, Any]) -> Event:
    return parse_scenario({"steps": [step]}, "").steps[0].event


def _step(conversation: str, index: int) -> Event:
    if index == 0:
        return _event({"start": {"conversation": conversation, "queue": "support"}})
    return _event({"customer": {"conversation": conversation, "text": f"m{index}"}})


def _two(url: str, body: Callable[[Any, Any], Awaitable[T]]) -> T:
    """`body(a, b)` with two `PgCenters` on `url` sharing the center "c", closed afterwards."""
    from handoff_fsm.service.pg_center import PgCenters

    async def main() -> T:
        a, b = PgCenters(url), PgCenters(url)
        await a.open_all()
        await b.open_all()
        try:
            assert await a.put("c", center_config()) == 201
            assert await b.put("c", center_config()) == 200
            return await body(a.get("c"), b.get("c"))
        finally:
            await a.close_all()
            await b.close_all()

    return asyncio.run(asyncio.wait_for(main(), timeout=60))


async def _interleaved(a: Any, b: Any, clients: int = 4, steps: int = 15) -> list[Any]:
    """`clients` conversations, each sending its steps alternately to a and b, all at once."""

    async def client(number: int) -> list[Any]:
        replies = []
        for index in range(steps):
            center = (a, b)[(number + index) % 2]
            reply = await center.submit(
                _step(f"k{number}", index), at=None, step_id=f"{number}-{index}"
            )
            replies.append(reply)
        return replies

    results = await asyncio.gather(*(client(n) for n in range(clients)))
    return [reply for replies in results for reply in replies]


def _verified(url: str) -> int:
    import psycopg

    from handoff_fsm.adapters.pgstore import verify_center

    async def read() -> int:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await verify_center(conn, "c")

    return asyncio.run(read())


def test_steps_sent_to_both_are_applied_once_in_one_order(database: str) -> None:
    async def body(a: Any, b: Any) -> tuple[list[int], Any, Any]:
        replies = await _interleaved(a, b)
        assert all(reply.status == 200 for reply in replies), replies
        return (
            sorted(r.body["seq"] for r in replies),
            await a.conversation("k1"),
            await b.conversation("k1"),
        )

    seqs, seen_by_a, seen_by_b = _two(database, body)
    assert seqs == list(range(1, 61))
    assert _verified(database) == 60
    assert seen_by_a == seen_by_b
    assert [m["text"] for m in seen_by_a["context"]["transcript"]] == [
        f"m{i}" for i in range(1, 15)
    ]


def test_a_retry_on_the_other_process_is_answered_from_the_log(database: str) -> None:
    async def body(a: Any, b: Any) -> tuple[Any, Any]:
        first = await a.submit(_step("r", 0), at=None, step_id="once")
        again = await b.submit(_step("r", 0), at=None, step_id="once")
        return first, again

    first, again = _two(database, body)
    assert (again.status, again.body, again.duplicate) == (first.status, first.body, True)
    assert _verified(database) == 1


def test_seeded_defect_without_the_center_lock_steps_are_lost(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that reads the head without locking the row: two writers append at the same
    seq, one transaction fails, its steps are not acknowledged (and the check above fails)."""
    from handoff_fsm.adapters import pgstore
    from handoff_fsm.service import pg_center

    async def unlocked(conn: Any, name: str) -> Any:
        head = await pgstore.read_center(conn, name)
        await asyncio.sleep(0.01)  # the window another writer gets in
        return head

    monkeypatch.setattr(pg_center, "lock_center", unlocked)

    async def body(a: Any, b: Any) -> list[int]:
        return [reply.status for reply in await _interleaved(a, b)]

    statuses = _two(database, body)
    assert 503 in statuses


def test_seeded_defect_without_the_catch_up_the_states_diverge(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that does not replay what the other logged: it applies steps to a stale state,
    so a step that needs the other's work (a message to a conversation started there) fails."""
    from handoff_fsm.service import pg_center

    async def nothing(conn: Any, name: str, after: int, chain: str) -> list[Any]:
        return []

    monkeypatch.setattr(pg_center, "steps_after", nothing)

    async def body(a: Any, b: Any) -> list[int]:
        return [reply.status for reply in await _interleaved(a, b, clients=1, steps=4)]

    assert _two(database, body) != [200] * 4
