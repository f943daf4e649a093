"""`SqliteCenter` and `Centers`: batches in one order, replies to retried ids, the feed, a failed
commit, reopening, and PUT's three answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from service_server import center_config

pytest.importorskip("starlette", reason="the service extra is not installed")

from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.adapters.store import Store
from handoff_fsm.events import Accept, CustomerMessage, Escalate, Start
from handoff_fsm.service.sqlite_center import Centers, SqliteCenter

CONFIG = center_config()
START = Start(conversation="a", queue="support")
ESCALATE = Escalate(conversation="a", participant="bot-a")


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=30))


def test_concurrent_steps_get_one_order_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"

    async def first() -> list[Any]:
        center = await SqliteCenter.open("c", path, CONFIG)
        await center.submit(START, at=None, step_id=None)
        replies = await asyncio.gather(
            *(
                center.submit(
                    CustomerMessage(conversation="a", text=f"m{n}"), at=None, step_id=f"s{n}"
                )
                for n in range(40)
            )
        )
        await center.close()
        return [reply.body for reply in replies]

    bodies = run(first())
    assert sorted(body["seq"] for body in bodies) == list(range(2, 42))

    async def second() -> tuple[list[Any], list[Any], Any]:
        center = await SqliteCenter.open("c", path, None)
        again = await center.submit(
            CustomerMessage(conversation="a", text="m7"), at=None, step_id="s7"
        )
        feed = await center.effects_after(0, None, 1000)
        view = await center.conversation("a")
        await center.close()
        return [again.body, again.duplicate], feed, view

    (body, duplicate), feed, view = run(second())
    assert (body, duplicate) == (bodies[7], True)
    assert [line["seq"] for line in feed] == list(range(1, 44))
    assert view["context"]["transcript"][-1]["text"] in {f"m{n}" for n in range(40)}
    with Store.open(path, readonly=True) as store:
        assert store.head == 41  # the log is the store's own: `replay` reads it


def test_a_refused_step_is_logged_changes_nothing_and_adds_nothing_to_the_feed(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[Any, Any, Any, Any]:
        center = await SqliteCenter.open("c", tmp_path / "c.sqlite", CONFIG)
        await center.submit(START, at=5, step_id=None)
        before = (await center.conversation("a"), await center.effects_after(0, None, 100))
        reply = await center.submit(
            Accept(conversation="a", participant="rep-1"), at=None, step_id="x"
        )
        after = (await center.conversation("a"), await center.effects_after(0, None, 100))
        retry = await center.submit(ESCALATE, at=None, step_id="x")  # same id, other step
        await center.close()
        return before, reply, after, retry

    before, reply, after, retry = run(scenario())
    assert (reply.status, reply.code) == (409, "wrong_state")
    assert after == before
    assert (retry.status, retry.body) == (409, reply.body)


def test_a_commit_that_fails_stops_the_center_and_loses_only_unacknowledged_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.sqlite"

    async def scenario() -> tuple[Any, Any, bool]:
        center = await SqliteCenter.open("c", path, CONFIG)
        ok = await center.submit(START, at=None, step_id=None)

        def broken(*args: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(center, "_commit", broken)
        failed = await center.submit(ESCALATE, at=None, step_id=None)
        usable = center.usable
        await center.close()
        return ok, failed, usable

    ok, failed, usable = run(scenario())
    assert ok.status == 200 and failed.status == 503 and not usable

    async def reopened() -> Any:
        center = await SqliteCenter.open("c", path, None)
        view = await center.conversation("a")
        await center.close()
        return view

    assert run(reopened())["state"] == "bot_active"  # the escalation was never acknowledged


def test_centers_put_creates_accepts_the_same_and_refuses_another(tmp_path: Path) -> None:
    other = parse_scenario({"participants": {"x": {"kind": "bot"}}, "steps": []}, "c").config

    async def scenario() -> list[int]:
        centers = Centers(tmp_path)
        statuses = [await centers.put("c", CONFIG), await centers.put("c", CONFIG)]
        statuses.append(await centers.put("c", other))
        await centers.close_all()
        again = Centers(tmp_path)
        await again.open_all()
        statuses.append(await again.put("c", CONFIG))
        await again.close_all()
        return statuses

    assert run(scenario()) == [201, 200, 409, 200]


def test_a_snapshot_follows_between_batches_once_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handoff_fsm.service import sqlite_center

    monkeypatch.setattr(sqlite_center, "SNAPSHOT_EVERY", 5)
    path = tmp_path / "c.sqlite"

    async def scenario() -> int:
        center = await SqliteCenter.open("c", path, CONFIG)
        await center.submit(START, at=None, step_id=None)
        for n in range(6):
            await center.submit(
                CustomerMessage(conversation="a", text=f"m{n}"), at=None, step_id=None
            )
        with Store.open(path, readonly=True) as store:  # while the center is open
            restored = store.restore()
        await center.close()
        return restored.snapshot_seq

    assert run(scenario()) >= 5
