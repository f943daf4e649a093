"""`StoreCenter` and `Centers`: batches in one order, replies to retried ids (also across a
restart, re-derived from the log), the feed, a failed commit, reopening, and PUT's three answers."""

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
from handoff_fsm.service.store_center import Centers, StoreCenter

CONFIG = center_config()
START = Start(conversation="a", queue="support")
ESCALATE = Escalate(conversation="a", participant="bot-a")


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=30))


def test_concurrent_steps_get_one_order_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"

    async def first() -> list[Any]:
        center = await StoreCenter.open("c", path, CONFIG)
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
        center = await StoreCenter.open("c", path, None)
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
        assert store.head == 42  # the log is the store's own (the retry is logged as a duplicate)


def test_a_refused_step_is_logged_changes_nothing_and_adds_nothing_to_the_feed(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[Any, Any, Any, Any]:
        center = await StoreCenter.open("c", tmp_path / "c.sqlite", CONFIG)
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
        center = await StoreCenter.open("c", path, CONFIG)
        ok = await center.submit(START, at=None, step_id=None)

        def broken(*args: object) -> None:
            raise OSError("disk full")

        assert center._center is not None
        monkeypatch.setattr(center._center.store, "append_batch", broken)
        failed = await center.submit(ESCALATE, at=None, step_id=None)
        usable = center.usable
        await center.close()
        return ok, failed, usable

    ok, failed, usable = run(scenario())
    assert ok.status == 200 and failed.status == 503 and not usable

    async def reopened() -> Any:
        center = await StoreCenter.open("c", path, None)
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


def test_a_retried_refusal_gets_its_first_answer_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"

    async def first() -> Any:
        center = await StoreCenter.open("c", path, CONFIG)
        await center.submit(START, at=5, step_id="s")
        refused = await center.submit(
            Accept(conversation="a", participant="rep-1"), at=None, step_id="x"
        )
        await center.close()
        return refused

    async def second() -> tuple[Any, Any]:
        center = await StoreCenter.open("c", path, None)
        again = await center.submit(ESCALATE, at=None, step_id="x")  # same id, other step
        start = await center.submit(START, at=None, step_id="s")
        await center.close()
        return again, start

    refused = run(first())
    again, start = run(second())
    assert (again.status, again.body, again.duplicate) == (409, refused.body, True)
    assert refused.body["error"]["code"] == "wrong_state"
    assert start.status == 200 and start.body["seq"] == 1 and start.body["effects"]
    assert [e["seq"] for e in start.body["effects"]] == list(
        range(1, len(start.body["effects"]) + 1)
    )


def test_the_store_is_checkpointed_on_close_and_has_no_service_tables(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"

    async def scenario() -> None:
        center = await StoreCenter.open("c", path, CONFIG)
        await center.submit(START, at=None, step_id=None)
        for n in range(6):
            await center.submit(
                CustomerMessage(conversation="a", text=f"m{n}"), at=None, step_id=None
            )
        await center.close()

    run(scenario())
    with Store.open(path, readonly=True) as store:
        restored = store.restore()
        tables = {name for (name,) in store.query("SELECT name FROM sqlite_master")}
    assert restored.replayed == 0 and restored.seq == 7
    assert not {t for t in tables if t.startswith("service_")}
