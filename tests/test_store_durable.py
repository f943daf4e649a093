"""The single-threaded durable switchboard (`durable`): its contract, and when it stops."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from store_kit import CONFIG, SPEC_EXAMPLE, calls_of, drive

from handoff_fsm.adapters.scenario import load_scenario
from handoff_fsm.adapters.store import (
    DurableSwitchboard,
    Store,
    StoreClosedError,
    StoreError,
    StoreWriteError,
    encode_event,
)
from handoff_fsm.effects import Effect
from handoff_fsm.errors import InvalidStep, StepRefused
from handoff_fsm.events import Accept, CustomerMessage, Start, Tick


def _checkpoint_seq(path: Path) -> int | None:
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT seq FROM checkpoints WHERE name = 'live'").fetchone()
        return None if row is None else int(row[0])
    finally:
        db.close()


def test_checkpoints_follow_every_n_steps_and_close(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=3) as board:
        seen = []
        for second in range(1, 8):
            board.handle(Tick(now=second))
            seen.append(_checkpoint_seq(path))
        assert seen == [0, 0, 3, 3, 3, 6, 6]
        board.handle(Tick(now=8))
    assert _checkpoint_seq(path) == 8  # on close
    with DurableSwitchboard(Store.open(path), checkpoint_every=3) as board:
        assert board.restored_from == 8


def test_a_refused_step_is_logged_then_raised_with_the_timeouts_that_fired(tmp_path: Path) -> None:
    with DurableSwitchboard(Store.create(tmp_path / "s.db", CONFIG)) as board:
        board.handle(Start(conversation="c1", queue="q2"), now=0)  # offered to rep-2
        with pytest.raises(StepRefused) as refused:
            board.handle(Accept(conversation="c1", participant="rep-2"), now=50)
        assert [e.KIND for e in refused.value.effects][:1] == ["offer_withdrawn"]
        logged = list(board.store.steps())[-1]
        assert (logged.refused, logged.effects) == (True, len(refused.value.effects))
        assert board.usable  # a refused step is the caller's business, not a broken wrapper


def test_a_retried_id_is_logged_and_gives_nothing_again_after_a_restore(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=1) as board:
        assert board.handle(Start(conversation="c1", queue="q1"), step_id="x") != []
        assert board.handle(Start(conversation="c1", queue="q1"), step_id="x") == []
    with DurableSwitchboard(Store.open(path)) as board:
        assert board.handle(CustomerMessage(conversation="c1", text="hi"), step_id="x") == []
        assert [s.effects for s in board.store.steps()] == [3, 0, 0]


def test_when_another_writer_changed_the_log_the_step_is_not_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    board = DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=10)
    board.handle(Tick(now=1))
    intruder = sqlite3.connect(path)  # bypasses the lock: only the log's head check can tell
    intruder.execute(
        "INSERT INTO steps VALUES (2, 1, ?, NULL, NULL, 0, 0, '[]', 'x')",
        (encode_event(Tick(now=2)),),
    )
    intruder.commit()
    intruder.close()
    with pytest.raises(StoreWriteError, match="another writer changed the log"):
        board.handle(Tick(now=3))
    assert not board.usable
    with pytest.raises(StoreClosedError, match="ran but were not logged; reopen the store"):
        board.handle(Tick(now=4))
    board.close()  # no checkpoint of a memory the log does not match
    assert _checkpoint_seq(path) == 0


def test_a_step_that_fails_inside_the_switchboard_breaks_the_wrapper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    board = DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=10)
    board.handle(Start(conversation="c1", queue="q1"))

    def explode(*args: object, **kwargs: object) -> list[Effect]:
        raise RuntimeError("bug")

    monkeypatch.setattr(board.switchboard, "step", explode)
    with pytest.raises(RuntimeError):
        board.handle(Tick(now=1))
    with pytest.raises(StoreError, match="failed in the middle of a step"):
        board.handle(Tick(now=2))
    board.close()  # its memory may be half-changed: no checkpoint of it
    assert (board.store.head, _checkpoint_seq(path)) == (1, 0)


def test_a_log_that_does_not_replay_to_what_was_acknowledged_is_a_store_error(
    tmp_path: Path,
) -> None:
    from store_kit import rechain

    path = tmp_path / "s.db"
    config = load_scenario(SPEC_EXAMPLE).config
    board = DurableSwitchboard(Store.create(path, config), checkpoint_every=1000)
    drive(board, calls_of(SPEC_EXAMPLE)[:5])
    board.store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE steps SET effects = 2 WHERE seq = 3")
    db.commit()
    db.close()
    rechain(path)
    with (
        Store.open(path) as store,
        pytest.raises(StoreError, match=r"seq 3 \(index 2, bot\) does not replay: it gave 2"),
    ):
        store.restore()


def test_a_malformed_step_is_checked_before_it_is_encoded_run_or_logged(tmp_path: Path) -> None:
    """The core's `InvalidStep` is raised as is: nothing runs, nothing is logged, and the step id
    is not remembered, so the corrected retry is processed."""
    with DurableSwitchboard(Store.create(tmp_path / "s.db", CONFIG), checkpoint_every=10) as board:
        board.handle(Start(conversation="c1", queue="q1"), now=0)
        bad = CustomerMessage(conversation="c1", text=None)  # type: ignore[arg-type]
        with pytest.raises(InvalidStep):
            board.step(bad, now=1, step_id="m1")
        with pytest.raises(InvalidStep):
            board.step(CustomerMessage(conversation="c1", text="hi"), now=math.nan)
        assert board.store.head == 1 and board.usable
        retried = board.step(CustomerMessage(conversation="c1", text="hi"), now=1, step_id="m1")
        assert retried.status == "applied" and board.store.head == 2


def test_step_gives_the_core_result_and_a_duplicate_is_logged_with_no_effects(
    tmp_path: Path,
) -> None:
    with DurableSwitchboard(Store.create(tmp_path / "s.db", CONFIG)) as board:
        first = board.step(Start(conversation="c1", queue="q1"), now=0, step_id="a")
        assert first.status == "applied" and first.effects
        again = board.step(Start(conversation="c1", queue="q1"), now=0, step_id="a")
        assert again.status == "duplicate" and again.effects == ()
        refused = board.step(Accept(conversation="c1", participant="rep-1"), now=1)
        assert refused.status == "refused" and refused.code == "wrong_state"
        assert [s.refused for s in board.store.steps()] == [False, False, True]
