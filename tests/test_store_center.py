"""The group-commit center (`center`): many threads and asyncio tasks, one order, each step
acknowledged once its batch is on disk; a bad step and a bad disk told apart."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import threading
from pathlib import Path

import pytest
from store_kit import CONFIG, board_state

from handoff_fsm.adapters.store import (
    DurableCenter,
    StepNotStorable,
    Store,
    StoreClosedError,
    StoreWriteError,
)
from handoff_fsm.adapters.store.maintenance import verify
from handoff_fsm.effects import Effect
from handoff_fsm.errors import InvalidStep, StepRefused
from handoff_fsm.events import Accept, CustomerMessage, SetVariable, Start, Tick, Wanted
from handoff_fsm.switchboard import Switchboard

THREADS, STEPS = 8, 60


def _producer(center: DurableCenter, thread: int, acknowledged: list[str]) -> None:
    for n in range(STEPS):
        step_id = f"{thread}:{n}"
        event = (
            Start(conversation=f"t{thread}", queue="q1")
            if n == 0
            else CustomerMessage(conversation=f"t{thread}", text=f"message {n}")
        )
        center.handle(event, step_id=step_id)
        acknowledged.append(step_id)


def test_steps_from_eight_threads_are_logged_once_each_in_one_order(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    acknowledged: list[str] = []
    with DurableCenter.open(path, CONFIG, batch_size=32, checkpoint_every=50) as center:
        threads = [
            threading.Thread(target=_producer, args=(center, t, acknowledged))
            for t in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert center.batches < THREADS * STEPS  # steps shared commits
    with Store.open(path, readonly=True) as store:
        logged = [step.step_id or "" for step in store.steps()]
        assert sorted(logged) == sorted(acknowledged) and len(set(logged)) == len(logged)
        for t in range(THREADS):
            mine = [s for s in logged if s.startswith(f"{t}:")]
            assert mine == [f"{t}:{n}" for n in range(STEPS)]
        transcript = store.restore().switchboard.context_of("t3").transcript
        assert [entry.text for entry in transcript] == [f"message {n}" for n in range(1, STEPS)]
        verify(store)


def test_asyncio_tasks_share_the_center_without_blocking_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "s.db"

    async def conversation(center: DurableCenter, n: int) -> list[Effect]:
        await center.handle_async(Start(conversation=f"a{n}", queue="q2"), step_id=f"a{n}")
        return await center.handle_async(CustomerMessage(conversation=f"a{n}", text="hi"))

    async def main(center: DurableCenter) -> list[list[Effect]]:
        ticker = asyncio.create_task(asyncio.sleep(0))
        results = await asyncio.gather(*(conversation(center, n) for n in range(50)))
        await ticker
        return list(results)

    with DurableCenter.open(path, CONFIG) as center:
        results = asyncio.run(main(center))
        assert len(results) == 50
        assert center.seq == 100
    with Store.open(path, readonly=True) as store:
        assert sorted(s.step_id for s in store.steps() if s.step_id) == sorted(
            f"a{n}" for n in range(50)
        )


def test_a_refused_step_and_an_unstorable_one_leave_the_center_usable(tmp_path: Path) -> None:
    with DurableCenter.open(tmp_path / "s.db", CONFIG) as center:
        center.handle(Start(conversation="c1", queue="q1"))
        with pytest.raises(StepRefused):
            center.handle(Accept(conversation="c1", participant="rep-1"))
        unstorable = SetVariable(conversation="c1", participant="bot-a", name="x", value=(1, 2))  # type: ignore[arg-type]
        with pytest.raises(StepNotStorable):
            center.handle(unstorable)
        malformed = SetVariable(conversation="c1", participant="bot-a", name="x", value=math.nan)
        with pytest.raises(InvalidStep):
            center.handle(malformed, step_id="m1")
        assert center.usable and center.seq == 2  # the refusal is logged, the bad steps are not
        assert center.step(Tick(now=1), step_id="m1").status == "applied"  # the id is not burnt
        assert center.seq == 3
        assert center.state_of("c1") == "bot_active"


def test_step_answers_applied_refused_and_duplicate_once_on_disk(tmp_path: Path) -> None:
    with DurableCenter.open(tmp_path / "s.db", CONFIG) as center:
        first = center.step(Start(conversation="c1", queue="q1"), now=0, step_id="s1")
        assert first.status == "applied" and first.effects and center.seq == 1
        again = center.step(Start(conversation="c1", queue="q1"), now=0, step_id="s1")
        assert again.status == "duplicate" and again.effects == ()
        refused = center.step(Accept(conversation="c1", participant="rep-1"), now=1)
        assert refused.status == "refused" and refused.code == "wrong_state"
        assert center.seq == 3  # all three are logged (replay gives the same answers)


def test_a_failed_disk_is_a_store_write_error_and_the_center_stops(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    center = DurableCenter.open(path, CONFIG)
    center.handle(Tick(now=1))
    intruder = sqlite3.connect(path)  # a write the center does not know of: its commit fails
    intruder.execute("DELETE FROM steps")
    intruder.commit()
    intruder.close()
    with pytest.raises(StoreWriteError):
        center.handle(Tick(now=2))
    assert not center.usable
    with pytest.raises(StoreClosedError):
        center.handle(Tick(now=3))
    center.close()


def test_the_writer_fires_timers_from_its_clock(tmp_path: Path) -> None:
    clock = [0.0]
    fired: list[list[Effect]] = []
    ready = threading.Event()

    def on_timer(effects: list[Effect]) -> None:
        fired.append(effects)
        ready.set()

    with DurableCenter.open(
        tmp_path / "s.db", CONFIG, clock=lambda: clock[0], on_timer=on_timer
    ) as center:
        center.handle(
            Start(conversation="c1", queue="q2", kind=Wanted.HUMAN), now=0.0
        )  # waits at most 20 s
        assert center.next_deadline() == 20.0
        clock[0] = 21.0
        center.handle(Start(conversation="c2", queue="q1"), now=0.5)  # wakes the writer
        assert ready.wait(10)
        assert fired[0] and all(e.conversation == "c1" for e in fired[0])
        assert center.next_deadline() != 20.0
    reference = Switchboard(CONFIG)
    with Store.open(tmp_path / "s.db", readonly=True) as store:
        for step in store.steps():
            with contextlib.suppress(StepRefused):
                reference.handle(step.event, now=step.now, step_id=step.step_id)
        assert board_state(store.restore().switchboard) == board_state(reference)
