"""Timers on the service's clock: offers, waits, surveys fire with no request needed.

Theory of operation: the core fires a timeout only when a step brings time past its deadline. So
one task per center sleeps until the center's `next_deadline` (by the center's clock), then submits
a `tick` at the clock's time through the same writer as every other step: the tick is logged and
acknowledged like them, and its effects (an `offer_withdrawn` with reason `timeout`, an `ended`)
reach the feed. A step that changes the deadline wakes the task (`deadline_changed`), so a new
earlier deadline is never slept past.

Rules: the sleep is capped (`MAX_SLEEP`) so that a wall clock that jumps forward is noticed; a tick
that did not move the deadline (nothing was due after all) is not repeated at once.
"""

from __future__ import annotations

import asyncio
import contextlib

from handoff_fsm.service.backend import CenterBackend

MAX_SLEEP = 5.0
IDLE_PAUSE = 0.05


async def run_timers(center: CenterBackend) -> None:
    """Fire `center`'s timers as they fall due, until cancelled or the center stops."""
    while center.usable:
        center.deadline_changed.clear()
        deadline = center.next_deadline
        now = center.clock.now()
        if deadline is not None and deadline <= now:
            await center.fire_timers()
            if center.next_deadline == deadline:
                await asyncio.sleep(IDLE_PAUSE)
            continue
        delay = MAX_SLEEP if deadline is None else min(MAX_SLEEP, deadline - now)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await center.deadline_changed.wait()


__all__ = ["run_timers"]
