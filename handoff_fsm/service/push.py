"""Pushing a bot's activities to its endpoint: at-least-once, in order, with backoff.

Theory of operation: a `Pusher` follows one bot's activity feed (numbered from 1) and POSTs each
activity, as JSON, to the bot's endpoint URL. An answer 2xx is the bot's acknowledgement: the
pusher records the number (through `save`) and goes on to the next. Anything else (another
status, a refused or timed-out connection) is retried after a delay that doubles from
`Backoff.first` up to `Backoff.cap`, and the next activity waits: a bot sees its activities in
order, each at least once (a crash between the bot's answer and the record sends it again).
Nothing is dropped; the feed (`GET .../activities`) stays the source of truth either way.

Rules: one task per bot with an endpoint, started and stopped by the hub; every wait is bounded
(`Backoff.cap`, `TIMEOUT`); only `httpx` does I/O here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final

import attrs
import httpx

from handoff_fsm.events import JsonValue

TIMEOUT: Final = 10.0
"""Seconds one POST may take before it counts as failed."""
IDLE: Final = 5.0
"""Longest sleep while nothing is new (the hub also wakes the pusher when something is)."""

log = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class Backoff:
    """Delays between attempts: `first`, doubling, never above `cap` (seconds)."""

    first: float = 0.2
    factor: float = 2.0
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.first * self.factor ** max(failures - 1, 0)))


Pending = Callable[[int], Sequence[Mapping[str, JsonValue]]]
"""The activities after a number (the bot's feed)."""
Save = Callable[[int], Awaitable[None]]


class Pusher:
    """Delivers one bot's feed to `url`, from the activity after `pushed`."""

    def __init__(
        self,
        *,
        bot: str,
        url: str,
        pushed: int,
        pending: Pending,
        save: Save,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.bot, self.url, self.pushed = bot, url, pushed
        self.failures = 0
        """Failed attempts at the current activity (0 when the last one went through)."""
        self._pending, self._save, self._backoff = pending, save, backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"push-{self.bot}")

    def wake(self) -> None:
        """Something new is in the feed."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            while True:
                self._wake.clear()
                for activity in self._pending(self.pushed):
                    await self._deliver(client, activity)
                    self.pushed += 1
                    await self._save(self.pushed)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE):
                        await self._wake.wait()

    async def _deliver(self, client: httpx.AsyncClient, activity: Mapping[str, JsonValue]) -> None:
        while True:
            try:
                response = await client.post(self.url, json=dict(activity))
                if response.is_success:
                    self.failures = 0
                    return
                problem = f"answered {response.status_code}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            self.failures += 1
            delay = self._backoff.delay(self.failures)
            log.warning(
                "push to %s (%s) of activity %s %s; retry in %.1f s",
                self.bot, self.url, activity.get("id"), problem, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)


__all__ = ["Backoff", "Pusher"]
