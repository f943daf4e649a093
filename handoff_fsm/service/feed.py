"""The effects feed (`GET /centers/{center}/effects?after=&to=&wait=`): at-least-once delivery.

Theory of operation: every effect a center acknowledges is stored with its own `seq` (per center,
increasing, never reused), so a consumer reads "everything after the last seq I handled" and
retries freely. A read that finds nothing waits up to `wait` seconds: the backend publishes the
last effect seq after every acknowledged batch on an `EffectSignal`, and the waiting readers wake
and read again. Nothing is pushed; a reader that goes away loses nothing.

Rules: the mark is taken before the read, so an effect that lands between the read and the wait
wakes the reader at once. Waits are bounded (`MAX_WAIT`), and a stopping service wakes every
reader so that shutdown is not held up by long polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from handoff_fsm.events import JsonValue

MAX_WAIT = 30.0
"""Longest long poll, in seconds (a larger `wait` is cut to it)."""
MAX_LIMIT = 1000
"""Most effects one read answers; the consumer reads again after the last seq it got."""


class EffectSignal:
    """The last acknowledged effect seq of one center, and the readers waiting beyond it."""

    def __init__(self, last: int = 0) -> None:
        self.last = last
        self.stopping = False
        self._condition = asyncio.Condition()

    async def publish(self, last: int) -> None:
        async with self._condition:
            self.last = max(self.last, last)
            self._condition.notify_all()

    async def stop(self) -> None:
        async with self._condition:
            self.stopping = True
            self._condition.notify_all()

    async def wait_beyond(self, mark: int, timeout: float) -> None:
        """Return once an effect after `mark` is acknowledged, the service stops, or `timeout`."""
        if timeout <= 0:
            return
        async with self._condition:
            try:
                async with asyncio.timeout(timeout):
                    await self._condition.wait_for(lambda: self.last > mark or self.stopping)
            except TimeoutError:
                return


Read = Callable[[int, str | None, int], Awaitable[list[dict[str, JsonValue]]]]


async def read_feed(
    signal: EffectSignal, read: Read, *, after: int, to: str | None, wait: float, limit: int
) -> list[dict[str, JsonValue]]:
    """The effects after `after` (to `to` only, if given), waiting up to `wait` seconds for one."""
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    limit = min(max(limit, 1), MAX_LIMIT)
    while True:
        mark = signal.last
        effects = await read(after, to, limit)
        remaining = deadline - time.monotonic()
        if effects or remaining <= 0 or signal.stopping:
            return effects
        # Effects to others may land first: skip past them, and wait for the next ones.
        after = max(after, mark)
        await signal.wait_beyond(mark, remaining)


__all__ = ["MAX_LIMIT", "MAX_WAIT", "EffectSignal", "read_feed"]
