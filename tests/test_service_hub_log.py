"""The hub's log: rows read back as written, endpoints and push counts kept, and a restart that
finds an activity logged without its answer finishes it, once (an in-memory center stands in for
the store, through the `CenterBackend` interface only)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from service_server import center_config, need_service

need_service()

from handoff_fsm.errors import StepRefused  # noqa: E402
from handoff_fsm.events import Event, JsonValue, Start  # noqa: E402
from handoff_fsm.service.backend import Reply  # noqa: E402
from handoff_fsm.service.botframework import CenterHub  # noqa: E402
from handoff_fsm.service.clock import ServiceClock  # noqa: E402
from handoff_fsm.service.feed import EffectSignal  # noqa: E402
from handoff_fsm.service.hub_log import HubLog, LogRow  # noqa: E402
from handoff_fsm.switchboard import Switchboard  # noqa: E402


class MemoryCenter:
    """Enough of `CenterBackend` for a hub: submit, the feed, the conversation and participants."""

    name = "m"

    def __init__(self) -> None:
        self.config = center_config()
        self.board = Switchboard(self.config)
        self.clock = ServiceClock(wall=lambda: 1_700_000_000.0)
        self.signal = EffectSignal()
        self.deadline_changed = asyncio.Event()
        self.lines: list[dict[str, JsonValue]] = []
        self.replies: dict[str, Reply] = {}
        self.submitted: list[str | None] = []

    @property
    def usable(self) -> bool:
        return True

    @property
    def next_deadline(self) -> float | None:
        return None

    async def fire_timers(self) -> Reply:
        raise AssertionError("no timers here")

    async def queues(self) -> list[dict[str, JsonValue]]:
        return []

    async def close(self) -> None:
        pass

    async def submit(self, event: Event, *, at: float | None, step_id: str | None) -> Reply:
        self.submitted.append(step_id)
        if step_id in self.replies:
            return self.replies[step_id]
        try:
            effects = self.board.handle(event, now=self.clock.now(), step_id=step_id)
            lines = [
                {"seq": len(self.lines) + n, "kind": e.KIND, "conversation": e.conversation,
                 "to": e.to, **e.fields()}
                for n, e in enumerate(effects, start=1)
            ]  # fmt: skip
            self.lines += lines
            body: dict[str, JsonValue] = {"seq": len(self.submitted), "effects": list(lines)}
            reply = Reply(status=200, body=body)
        except StepRefused as exc:
            reply = Reply(status=409, body={"error": {"code": str(exc.code), "message": str(exc)}})
        if step_id is not None:
            self.replies[step_id] = reply
        await self.signal.publish(len(self.lines))
        return reply

    async def effects_after(
        self, after: int, to: str | None, limit: int
    ) -> list[dict[str, JsonValue]]:
        return self.lines[after : after + limit]

    async def conversation(self, conversation: str) -> dict[str, JsonValue] | None:
        state = self.board.state_of(conversation)
        return None if state is None else {"state": state.value}

    async def participants(self) -> list[dict[str, JsonValue]]:
        return [{"participant": p.id, "kind": p.kind.value} for p in self.config.participants]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_rows_endpoints_and_push_counts_read_back_as_written(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[LogRow], dict[str, tuple[str, int]]]:
        log = await HubLog.open(tmp_path / "m.botframework")
        await log.append(LogRow(kind="feed", through=3, now=1.5))
        await log.append(LogRow(kind="receive", through=3, now=2.0, step_id="s", body={"a": [1]}))
        await log.set_endpoint("bot-a", "http://127.0.0.1:9/x", 0)
        await log.set_pushed("bot-a", 2)
        await log.close()
        log = await HubLog.open(tmp_path / "m.botframework")
        try:
            return await log.rows(), await log.endpoints()
        finally:
            await log.close()

    rows, endpoints = run(scenario())
    assert rows == [
        LogRow(kind="feed", through=3, now=1.5),
        LogRow(kind="receive", through=3, now=2.0, step_id="s", body={"a": [1]}),
    ]
    assert endpoints == {"bot-a": ("http://127.0.0.1:9/x", 2)}


MESSAGE: dict[str, JsonValue] = {
    "type": "message", "id": "m1", "conversation": {"id": "c1"}, "text": "hello",
}  # fmt: skip
STEP_ID = "botframework:bot-a:m1"
RECEIVE: dict[str, JsonValue] = {
    "activity": MESSAGE, "participant": "bot-a", "known": True, "queue": "support",
}  # fmt: skip


@pytest.mark.parametrize("applied_before_the_crash", [False, True])
def test_an_activity_logged_without_its_answer_is_finished_once_at_the_next_start(
    tmp_path: Path, applied_before_the_crash: bool
) -> None:
    path = tmp_path / "m.botframework"

    async def scenario() -> tuple[MemoryCenter, list[LogRow], tuple[int, Any]]:
        center = MemoryCenter()
        await center.submit(Start(conversation="c1", queue="support"), at=None, step_id="s0")
        log = await HubLog.open(path)
        through = len(center.lines)
        row = LogRow(kind="receive", through=through, now=5.0, step_id=STEP_ID, body=RECEIVE)
        await log.append(row)
        await log.close()
        if applied_before_the_crash:
            hub = await CenterHub.open(center, tmp_path / "other.botframework")
            await hub.post("bot-a", MESSAGE, None)
            await hub.close()
        hub = await CenterHub.open(center, path)
        answer = await hub.post("bot-a", MESSAGE, None)  # the bot's retry
        await hub.close()
        hub = await CenterHub.open(center, path)  # a second start: nothing left to finish
        await hub.close()
        log = await HubLog.open(path)
        try:
            return center, await log.rows(), answer
        finally:
            await log.close()

    center, rows, answer = run(scenario())
    assert [row.kind for row in rows] == ["receive", "outcome"]
    assert [e["kind"] for e in center.lines].count("message") == 1
    assert answer[0] == 200 and answer[1]["step"]["bot"]["text"] == "hello"
