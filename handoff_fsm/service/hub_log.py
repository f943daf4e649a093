"""The Bot Framework hub's own log: what a restarted service needs to rebuild the bots' feeds.

Theory of operation: a `BotFrameworkHub` is deterministic: fed the same activities, refusals and
effect lines, in the same order and with the same `now`, it says the same things, ids and
timestamps included. The center's log keeps the effect lines (its feed); this log keeps the rest,
one row per input, each placed in the effect stream by `through` (the last effect seq the hub had
read when the input came):

- `receive`: an activity the hub took (the activity, the bot, whether the conversation was known,
  the queue), written BEFORE its step is submitted (write-ahead);
- `outcome`: that step's answer (status and body, and the refusal the bot is told), written
  before the answer is sent; a `receive` with no `outcome` after it is a step in flight when the
  service stopped, finished at the next start by submitting it again (the center answers a
  retried step id from its own record, or applies it then);
- `feed`: the `now` of a read of the feed that told a bot something (a read that told nobody
  anything needs no row: any `now` gives the same nothing).

Beside them, each bot's push endpoint and how far pushing got. One SQLite file per center beside
the center's store, `{center}.botframework` (not `.sqlite`: the data directory's `*.sqlite` are
the centers' stores). Every write commits with `synchronous=FULL` before the caller goes on.

Rules: one thread (the log's executor) touches the connection; rows are never updated, only added.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import attrs

from handoff_fsm.events import JsonValue

SUFFIX: Final = ".botframework"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS hub_log (
        row INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        through INTEGER NOT NULL,
        now REAL NOT NULL,
        step_id TEXT,
        body TEXT
    )""",
    "CREATE TABLE IF NOT EXISTS endpoints (bot TEXT PRIMARY KEY, url TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pushed (bot TEXT PRIMARY KEY, number INTEGER NOT NULL)",
)


@attrs.frozen(kw_only=True)
class LogRow:
    """One input of the hub: `kind` is `receive`, `outcome` or `feed`."""

    kind: str
    through: int
    now: float
    step_id: str | None = None
    body: dict[str, JsonValue] | None = None


class HubLog:
    """The log of one center's hub; `await HubLog.open(path)`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"hub-{path.stem}")
        self._db: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path) -> HubLog:
        log = cls(path)
        await log._run(log._open_sync)
        return log

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _open_sync(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            db.execute(statement)
        self._db = db

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"{self.path}: the hub log is closed")
        return self._db

    async def rows(self) -> list[LogRow]:
        found: list[LogRow] = await self._run(self._rows_sync)
        return found

    def _rows_sync(self) -> list[LogRow]:
        rows = self._connection().execute(
            "SELECT kind, through, now, step_id, body FROM hub_log ORDER BY row"
        )
        return [
            LogRow(
                kind=kind,
                through=int(through),
                now=float(now),
                step_id=step_id,
                body=None if body is None else json.loads(body),
            )
            for kind, through, now, step_id, body in rows
        ]

    async def append(self, row: LogRow) -> None:
        await self._run(self._append_sync, row)

    def _append_sync(self, row: LogRow) -> None:
        body = None if row.body is None else json.dumps(row.body, separators=(",", ":"))
        self._connection().execute(
            "INSERT INTO hub_log (kind, through, now, step_id, body) VALUES (?, ?, ?, ?, ?)",
            (row.kind, row.through, row.now, row.step_id, body),
        )

    async def endpoints(self) -> dict[str, tuple[str, int]]:
        """Each bot with an endpoint: its URL and the number of activities pushed."""
        found: dict[str, tuple[str, int]] = await self._run(self._endpoints_sync)
        return found

    def _endpoints_sync(self) -> dict[str, tuple[str, int]]:
        rows = self._connection().execute(
            "SELECT e.bot, e.url, COALESCE(p.number, 0) FROM endpoints e "
            "LEFT JOIN pushed p ON p.bot = e.bot ORDER BY e.bot"
        )
        return {bot: (url, int(number)) for bot, url, number in rows}

    async def set_endpoint(self, bot: str, url: str | None, pushed: int | None) -> None:
        await self._run(self._set_endpoint_sync, bot, url, pushed)

    def _set_endpoint_sync(self, bot: str, url: str | None, pushed: int | None) -> None:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            if url is None:
                db.execute("DELETE FROM endpoints WHERE bot = ?", (bot,))
            else:
                db.execute("INSERT OR REPLACE INTO endpoints (bot, url) VALUES (?, ?)", (bot, url))
            if pushed is not None:
                self._set_pushed_sync(bot, pushed)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    async def set_pushed(self, bot: str, number: int) -> None:
        await self._run(self._set_pushed_sync, bot, number)

    def _set_pushed_sync(self, bot: str, number: int) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO pushed (bot, number) VALUES (?, ?)", (bot, number)
        )

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)


__all__ = ["SUFFIX", "HubLog", "LogRow"]
