"""The long-polling feed: it answers at once when there is something, waits for the next effect
when there is not, skips effects to others while it waits, and stops waiting when told."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the service extra is not installed")

from handoff_fsm.events import JsonValue
from handoff_fsm.service.feed import EffectSignal, read_feed


class Log:
    """An in-memory feed: effects with seq and to, and the signal that announces them."""

    def __init__(self) -> None:
        self.effects: list[dict[str, JsonValue]] = []
        self.signal = EffectSignal()
        self.reads = 0

    async def add(self, to: str) -> None:
        self.effects.append({"seq": len(self.effects) + 1, "to": to})
        await self.signal.publish(len(self.effects))

    async def read(self, after: int, to: str | None, limit: int) -> list[dict[str, JsonValue]]:
        self.reads += 1
        found = [e for e in self.effects if int(str(e["seq"])) > after]
        return [e for e in found if to is None or e["to"] == to][:limit]


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=10))


def test_it_answers_at_once_when_there_are_effects() -> None:
    async def scenario() -> list[dict[str, JsonValue]]:
        log = Log()
        await log.add("a")
        await log.add("b")
        return await read_feed(log.signal, log.read, after=1, to=None, wait=5, limit=10)

    assert run(scenario()) == [{"seq": 2, "to": "b"}]


def test_it_waits_for_the_next_effect_to_its_recipient() -> None:
    async def scenario() -> tuple[list[dict[str, JsonValue]], int]:
        log = Log()

        async def later() -> None:
            await asyncio.sleep(0.05)
            await log.add("other")
            await asyncio.sleep(0.05)
            await log.add("me")

        task = asyncio.create_task(later())
        got = await read_feed(log.signal, log.read, after=0, to="me", wait=5, limit=10)
        await task
        return got, log.reads

    got, reads = run(scenario())
    assert got == [{"seq": 2, "to": "me"}]
    assert reads == 3  # nothing, then only "other", then "me": no busy loop


def test_with_nothing_new_it_answers_empty_after_its_wait() -> None:
    async def scenario() -> tuple[list[dict[str, JsonValue]], float]:
        log = Log()
        began = time.monotonic()
        got = await read_feed(log.signal, log.read, after=0, to=None, wait=0.2, limit=10)
        return got, time.monotonic() - began

    got, took = run(scenario())
    assert got == [] and 0.15 <= took < 5


def test_a_stopping_service_wakes_the_readers() -> None:
    async def scenario() -> float:
        log = Log()
        began = time.monotonic()
        reader = asyncio.create_task(
            read_feed(log.signal, log.read, after=0, to=None, wait=30, limit=10)
        )
        await asyncio.sleep(0.05)
        await log.signal.stop()
        assert await reader == []
        return time.monotonic() - began

    assert run(scenario()) < 5


def test_the_limit_caps_one_read() -> None:
    async def scenario() -> list[dict[str, JsonValue]]:
        log = Log()
        for _ in range(5):
            await log.add("a")
        return await read_feed(log.signal, log.read, after=0, to=None, wait=0, limit=2)

    assert [e["seq"] for e in run(scenario())] == [1, 2]
