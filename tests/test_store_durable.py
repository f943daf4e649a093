"""The single-threaded durable switchboard (`durable`): its contract, and when it stops."""

from __future__ import annotations

import gc
import io
import math
import sqlite3
from pathlib import Path

import attrs
import pytest
from store_kit import CONFIG, SPEC_EXAMPLE, calls_of, drive

from handoff_fsm.adapters.replay import replay
from handoff_fsm.adapters.scenario import load_scenario, parse_scenario
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
from handoff_fsm.events import (
    Accept,
    AddParticipant,
    CustomerMessage,
    End,
    Escalate,
    JoinQueue,
    Kind,
    RemoveQueue,
    Start,
    Tick,
    Wanted,
)
from handoff_fsm.switchboard import StepStatus


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


def test_the_restored_state_is_frozen_out_of_the_collectors_sight(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG)) as board:
        board.handle(Start(conversation="c1", queue="q1"), now=1)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with DurableSwitchboard(Store.open(path)) as board:
        assert board.state_of("c1") is not None
        assert gc.get_freeze_count() > 0
        restored = board.switchboard
        assert not any(tracked is restored for tracked in gc.get_objects())  # frozen
    gc.unfreeze()


def test_a_refused_step_is_logged_then_raised_with_the_timeouts_that_fired(tmp_path: Path) -> None:
    with DurableSwitchboard(Store.create(tmp_path / "s.db", CONFIG)) as board:
        board.handle(
            Start(conversation="c1", queue="q2", kind=Wanted.HUMAN), now=0
        )  # offered to rep-2
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


# -- live changes and retention across a restart: a store's world is its first config plus its
# -- logged changes, and what retention and the dedup window will forget is in the checkpoint


def test_a_participant_added_before_a_restart_is_offered_after_it(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    config = parse_scenario(
        {
            "participants": {
                "bot-a": {"kind": "bot", "capacity": 5},
                "rep-1": {"kind": "human", "capacity": 1, "presence": "offline"},
            },
            "queues": {"support": {"participants": ["bot-a", "rep-1"]}},
            "steps": [],
        },
        "live",
    ).config
    with DurableSwitchboard.open(path, config) as board:
        board.handle(Start(conversation="c1", queue="support"), now=0)
        board.handle(Escalate(conversation="c1", participant="bot-a"), now=1)  # rep-1 offline
        added = board.handle(
            AddParticipant(participant="rep-9", kind=Kind.HUMAN, capacity=1), now=2
        )
        assert added == []  # not a member of support yet
    with DurableSwitchboard.open(path, checkpoint_every=1) as board:  # no config needed
        assert board.restored_from == 3
        assert [p.id for p in board.switchboard.world.participants] == ["bot-a", "rep-1", "rep-9"]
        joined = board.handle(JoinQueue(participant="rep-9", queue="support"), now=3)
        assert [(e.KIND, e.to) for e in joined] == [("offer", "rep-9")]
    with DurableSwitchboard.open(path, config) as board:  # restored from the checkpoint
        assert board.restored_from == 4
        accepted = board.handle(Accept(conversation="c1", participant="rep-9"), now=4)
        assert [(e.KIND, e.to) for e in accepted][:1] == [("participant_added", "rep-9")]
    replayed = io.StringIO()
    with Store.open(path, readonly=True) as store:
        replay(store, replayed)
    assert '"kind":"offer","conversation":"c1","to":"rep-9"' in replayed.getvalue()


def test_a_removed_queue_stays_removed_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    with DurableSwitchboard.open(path, CONFIG) as board:
        board.handle(RemoveQueue(queue="q2"), now=1)
    for every in (1, 1000):  # from the checkpoint, then by re-applying the log
        with DurableSwitchboard.open(path, checkpoint_every=every) as board:
            assert [q.name for q in board.switchboard.world.queues] == ["q1"]
            with pytest.raises(StepRefused) as refused:
                board.handle(Start(conversation="c1", queue="q2"), now=2)
            assert refused.value.code == "unknown_queue"


def test_retention_and_the_dedup_window_go_on_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "windows.db"
    config = attrs.evolve(
        CONFIG, settings=attrs.evolve(CONFIG.settings, retention=20.0, dedup_window=10.0)
    )
    with DurableSwitchboard.open(path, config, checkpoint_every=1) as board:
        board.handle(Start(conversation="c1", queue="q1"), now=0, step_id="s1")
        board.handle(End(conversation="c1", participant="bot-a"), now=1)
    with DurableSwitchboard.open(path) as board:  # from the checkpoint
        assert board.restored_from == 2
        inside = board.step(Tick(now=5), step_id="s1")  # inside the window: a duplicate
        assert inside.status is StepStatus.DUPLICATE
        after = board.step(Tick(now=12), step_id="s1")  # the window is over: a new step
        assert after.status is StepStatus.APPLIED
        assert board.switchboard.conversations() == ("c1",)
        board.handle(Tick(now=21))  # retention is over: c1 is forgotten
        assert board.switchboard.conversations() == ()
