"""The pusher's backoff: doubling from `first`, never above `cap`; and a pusher delivers in order
through failures, recording each delivery (a bot server on 127.0.0.1 in a thread)."""

from __future__ import annotations

import asyncio

from bot_server import BotServer
from service_server import need_service

need_service()

from handoff_fsm.events import JsonValue  # noqa: E402
from handoff_fsm.service.push import Backoff, Pusher  # noqa: E402


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first=0.5, factor=2.0, cap=3.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_pusher_delivers_in_order_through_failures_and_records_each() -> None:
    feed: list[dict[str, JsonValue]] = [{"id": f"bot-a:{n}", "text": f"m{n}"} for n in (1, 2, 3)]
    saved: list[int] = []

    async def save(number: int) -> None:
        saved.append(number)

    async def scenario(url: str) -> Pusher:
        pusher = Pusher(
            bot="bot-a", url=url, pushed=1, pending=lambda after: feed[after:], save=save,
            backoff=Backoff(first=0.01, cap=0.05),
        )  # fmt: skip
        pusher.start()
        for _ in range(200):
            if len(saved) == 2:
                break
            await asyncio.sleep(0.02)
        await pusher.stop()
        return pusher

    with BotServer(failures=2) as bot:
        pusher = asyncio.run(scenario(bot.url))
    assert [a["id"] for a in bot.received] == ["bot-a:2", "bot-a:3"]
    assert (bot.attempts, saved, pusher.pushed, pusher.failures) == (4, [2, 3], 3, 0)
