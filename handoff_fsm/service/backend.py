"""The one small interface between the HTTP layer and a center: `CenterBackend`, and its words.

Theory of operation: the routes of `handoff_fsm.service.app` see a center only through
`CenterBackend`: submit a step and get its `Reply` (status and body, the acknowledgement), read
the feed and the views, fire due timers, close. `handoff_fsm.service.store_center` implements it
on the group-commit store (`DurableCenter`); another store implements the same protocol, and
nothing else in the service changes. Here also: the refusal codes, and the defaults a center gets.

Rules:
- A refusal's code is the exception's own `code` when it has one, else `refusal_code`'s reading
  of today's messages: the one function to delete when the core's exceptions carry codes.
- A center created without `retention` or `dedup_window` gets finite defaults
  (`with_service_defaults`), so a service that runs for months stays bounded.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final, Protocol

import attrs

from handoff_fsm.config import Config
from handoff_fsm.errors import HandoffError
from handoff_fsm.events import Event, JsonValue
from handoff_fsm.service.clock import ServiceClock
from handoff_fsm.service.feed import EffectSignal

DEFAULT_RETENTION: Final = 7 * 86400.0
"""Seconds an acknowledged effect stays in the feed (and, once the core supports
`settings.retention`, an ended conversation in memory) when the config gives none."""
DEFAULT_DEDUP_WINDOW: Final = 86400.0
"""Seconds a step `id`'s first answer is kept for retries when the config gives none."""
CENTER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@attrs.frozen(kw_only=True)
class Reply:
    """The answer to one submitted step: HTTP status and JSON body; `code` for a refusal."""

    status: int
    body: dict[str, JsonValue]
    code: str | None = None
    duplicate: bool = False


def refusal_code(error: HandoffError) -> str:
    """The stable code of a refusal, as the answer's `error.code` carries it (docs/errors.md)."""
    return str(error.code)


def with_service_defaults(config: Config) -> Config:
    """The config a center is created with: finite `retention` and `dedup_window` where the
    config leaves them unset, once the core's `Settings` has them (a no-op before that)."""
    names = {field.name for field in attrs.fields(type(config.settings))}
    defaults = {"retention": DEFAULT_RETENTION, "dedup_window": DEFAULT_DEDUP_WINDOW}
    changes: dict[str, Any] = {
        name: value
        for name, value in defaults.items()
        if name in names and getattr(config.settings, name) is None
    }
    if not changes:
        return config
    return attrs.evolve(config, settings=attrs.evolve(config.settings, **changes))


def window(config: Config, name: str, default: float) -> float:
    value = getattr(config.settings, name, None)
    return float(value) if isinstance(value, int | float) else default


def unavailable(message: str) -> Reply:
    return Reply(status=503, body={"error": {"code": "unavailable", "message": message}})


class CenterBackend(Protocol):
    """What the HTTP layer needs of a center (`store_center.StoreCenter` implements it)."""

    name: str
    config: Config
    clock: ServiceClock
    signal: EffectSignal
    deadline_changed: asyncio.Event

    @property
    def usable(self) -> bool: ...

    @property
    def next_deadline(self) -> float | None: ...

    async def submit(self, event: Event, *, at: float | None, step_id: str | None) -> Reply: ...

    async def fire_timers(self) -> Reply: ...

    async def effects_after(
        self, after: int, to: str | None, limit: int
    ) -> list[dict[str, JsonValue]]: ...

    async def conversation(self, conversation: str) -> dict[str, JsonValue] | None: ...

    async def queues(self) -> list[dict[str, JsonValue]]: ...

    async def participants(self) -> list[dict[str, JsonValue]]: ...

    async def close(self) -> None: ...


__all__ = [
    "CENTER_NAME",
    "DEFAULT_DEDUP_WINDOW",
    "DEFAULT_RETENTION",
    "CenterBackend",
    "Reply",
    "refusal_code",
    "unavailable",
    "window",
    "with_service_defaults",
]
