"""The timer task fires a center's timeouts when they fall due, with no request, and wakes when a
step brings a deadline nearer."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("starlette", reason="the service extra is not installed")

from handoff_fsm.service import timers
from handoff_fsm.service.backend import Reply
from handoff_fsm.service.clock import ServiceClock


class FakeCenter:
    """Just what `run_timers` reads: a clock, a deadline, and a tick that clears it."""

    def __init__(self, deadline: float | None) -> None:
        self.clock = ServiceClock()
        self.next_deadline = deadline
        self.deadline_changed = asyncio.Event()
        self.usable = True
        self.ticks: list[float] = []

    async def fire_timers(self) -> Reply:
        self.ticks.append(self.clock.now())
        self.next_deadline = None
        return Reply(status=200, body={})


async def run_for(center: FakeCenter, seconds: float) -> None:
    task = asyncio.create_task(timers.run_timers(center))  # type: ignore[arg-type]
    await asyncio.sleep(seconds)
    center.usable = False
    center.deadline_changed.set()
    await asyncio.wait_for(task, timeout=5)


def test_a_due_deadline_fires_once_at_or_after_it() -> None:
    async def scenario() -> tuple[float, list[float]]:
        center = FakeCenter(time.time() + 0.2)
        deadline = center.next_deadline
        assert deadline is not None
        await run_for(center, 0.6)
        return deadline, center.ticks

    deadline, ticks = asyncio.run(scenario())
    assert len(ticks) == 1 and ticks[0] >= deadline


def test_a_nearer_deadline_wakes_the_task() -> None:
    async def scenario() -> list[float]:
        center = FakeCenter(None)
        task = asyncio.create_task(timers.run_timers(center))  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        center.next_deadline = time.time() + 0.1
        center.deadline_changed.set()
        await asyncio.sleep(0.5)  # far less than MAX_SLEEP: only the wake-up can fire it
        center.usable = False
        center.deadline_changed.set()
        await asyncio.wait_for(task, timeout=5)
        return center.ticks

    assert len(asyncio.run(scenario())) == 1


def test_no_deadline_no_tick() -> None:
    async def scenario() -> list[float]:
        center = FakeCenter(None)
        await run_for(center, 0.2)
        return center.ticks

    assert asyncio.run(scenario()) == []
