"""`verify` and `compact` (`maintenance`): the log re-derives every checkpoint; a compacted log
restores, replays and deduplicates as before."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from store_kit import SPEC_EXAMPLE, board_state, calls_of, drive, replayed

from handoff_fsm.adapters.replay import replay
from handoff_fsm.adapters.scenario import load_scenario
from handoff_fsm.adapters.store import DurableSwitchboard, Store, StoreError, state_at
from handoff_fsm.adapters.store.maintenance import compact, verify
from handoff_fsm.events import CustomerMessage, Start
from handoff_fsm.switchboard import Switchboard

CONFIG = load_scenario(SPEC_EXAMPLE).config
CALLS = calls_of(SPEC_EXAMPLE)


def test_compaction_keeps_restore_replay_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    reference = Switchboard(CONFIG)
    whole = "".join(line + "\n" for line in drive(reference, CALLS))
    board = DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=8)
    drive(board, CALLS)
    board.store.close()  # died after step 21: the live checkpoint is at 16
    with Store.open(path) as store:
        assert compact(store) == 16 and store.first_seq() == 16
        assert board_state(store.restore().switchboard) == board_state(reference)
        verify(store)
        with pytest.raises(StoreError, match="compacted away"):
            state_at(store, 15)
        assert store.line_count() == whole.count("\n")
    out = io.StringIO()
    with Store.open(path, readonly=True) as store:
        replay(store, out)
    assert out.getvalue() and whole.endswith(out.getvalue()) and out.getvalue() != whole
    with DurableSwitchboard.open(path) as again:
        assert again.seq == 21 and again.restored_from == 16


def test_a_retried_id_from_before_a_compaction_is_still_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=1) as board:
        board.handle(Start(conversation="c1", queue="support"), step_id="m-1")
        board.handle(CustomerMessage(conversation="c1", text="hi"), step_id="m-2")
    with Store.open(path) as store:
        assert compact(store) == 2
    with DurableSwitchboard.open(path) as board:
        assert board.handle(CustomerMessage(conversation="c1", text="hi"), step_id="m-2") == []
        assert board.handle(CustomerMessage(conversation="c1", text="hi"), step_id="m-3") != []
    assert replayed(path).count("\n") >= 1
    with Store.open(path, readonly=True) as store:
        verify(store)


def test_verify_names_a_row_the_log_does_not_give(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=5) as board:
        drive(board, CALLS)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM state WHERE kind = 'participant' AND key = 'bot-b'")
    db.commit()
    db.close()
    with Store.open(path, readonly=True) as store, pytest.raises(StoreError, match="add up"):
        verify(store)


def test_run_goes_on_after_a_compaction_without_re_running_what_was_dropped(
    tmp_path: Path,
) -> None:
    from handoff_fsm.adapters.cli import main

    store = tmp_path / "s.db"
    assert main(["run", str(SPEC_EXAMPLE), "--store", str(store)]) == 0
    assert main(["store", "compact", str(store)]) == 0
    assert main(["run", str(SPEC_EXAMPLE), "--store", str(store)]) == 0
    with Store.open(store, readonly=True) as opened:
        assert opened.head == len(CALLS)  # nothing ran twice
