"""Restore, the state at any seq and the effects after any seq.

The central property: a run cut anywhere, closed cleanly or abandoned as if the process died, and
restored from its store (live checkpoint + the log after it) is the run that never stopped, by
everything the switchboard holds and by the lines of every step that follows; and the live
checkpoint, kept up to date row by row from what each step touched, is exactly the state the log
gives at its seq (`verify` re-derives it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_kit import (
    CONFIG,
    SCENARIO_FILES,
    SPEC_EXAMPLE,
    Call,
    board_state,
    calls_of,
    drive,
    replayed,
    runs,
    scratch,
)

from handoff_fsm.adapters.scenario import load_scenario
from handoff_fsm.adapters.store import (
    DurableSwitchboard,
    Store,
    StoreError,
    effects_after,
    state_at,
)
from handoff_fsm.adapters.store.encoding import effect_to_json
from handoff_fsm.adapters.store.maintenance import verify
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import Tick
from handoff_fsm.switchboard import Switchboard

SPEC_CONFIG = load_scenario(SPEC_EXAMPLE).config
SPEC_CALLS = calls_of(SPEC_EXAMPLE)


def checkpoint_seq(cut: int, every: int) -> int:
    """Where the live checkpoint is after `cut` steps without a clean close: opening writes
    one, then one every `every` steps."""
    return (cut // every) * every


@given(calls=runs(), data=st.data(), every=st.integers(1, 5), died=st.booleans())
def test_property_a_run_restored_anywhere_is_the_uninterrupted_run(
    calls: list[Call], data: st.DataObject, every: int, died: bool
) -> None:
    cut = data.draw(st.integers(0, len(calls)), label="cut")
    reference = Switchboard(CONFIG)
    expected = drive(reference, calls[:cut])
    state_at_cut = board_state(reference)
    expected += drive(reference, calls[cut:], seq=len(expected), index=cut)

    with scratch() as directory:
        path = Path(directory) / "s.db"
        first = DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=every)
        lines = drive(first, calls[:cut])
        if died:
            first.store.close()  # no checkpoint on close: the process was killed
        else:
            first.close()
        second = DurableSwitchboard(Store.open(path), checkpoint_every=every)
        assert second.restored_from == (checkpoint_seq(cut, every) if died else cut)
        assert board_state(second.switchboard) == state_at_cut
        assert second.store.line_count() == len(lines)
        lines += drive(second, calls[cut:], seq=len(lines), index=cut)
        second.store.close()

        assert lines == expected
        assert replayed(path) == "".join(line + "\n" for line in expected)
        with Store.open(path, readonly=True) as store:
            verify(store)  # the live checkpoint is the state the log gives at its seq
            assert board_state(state_at(store).switchboard) == board_state(reference)


@pytest.mark.parametrize("scenario", SCENARIO_FILES, ids=lambda p: p.stem)
def test_the_state_at_every_seq_of_a_seed_scenario_is_the_run_cut_there(scenario: Path) -> None:
    config = load_scenario(scenario).config
    calls = calls_of(scenario)
    with scratch() as directory:
        path = Path(directory) / "s.db"
        with DurableSwitchboard(Store.create(path, config), checkpoint_every=4) as board:
            drive(board, calls)
        with Store.open(path, readonly=True) as store:
            for seq in range(len(calls) + 1):
                reference = Switchboard(config)
                drive(reference, calls[:seq])
                at = state_at(store, seq)
                assert board_state(at.switchboard) == board_state(reference), seq


def test_restore_starts_from_the_live_checkpoint_and_applies_the_log_after_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    reference = Switchboard(SPEC_CONFIG)
    drive(reference, SPEC_CALLS)
    board = DurableSwitchboard(Store.create(path, SPEC_CONFIG), checkpoint_every=8)
    drive(board, SPEC_CALLS)
    board.store.close()  # as if the process died: no checkpoint on close
    with Store.open(path) as store:
        restored = state_at(store)
    assert (restored.snapshot_seq, restored.replayed, restored.seq) == (16, 5, 21)
    assert board_state(restored.switchboard) == board_state(reference)


def test_the_effects_after_a_seq_are_what_the_steps_gave_when_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    given_back: list[list[object]] = []
    with DurableSwitchboard(Store.create(path, SPEC_CONFIG), checkpoint_every=5) as board:
        for call in SPEC_CALLS:
            try:
                effects = board.handle(call.event, now=call.now, step_id=call.step_id)
            except StepRefused as refused:
                effects = list(refused.effects)
            states = {c: board.state_of(c) for e in effects if (c := e.conversation) is not None}
            given_back.append(
                [effect_to_json(e, getattr(states.get(e.conversation or ""), "value", None))
                 for e in effects]
            )  # fmt: skip
    with Store.open(path, readonly=True) as store:
        for after in (0, 7, 20, 21):
            found = list(effects_after(store, after))
            assert [step.seq for step, _ in found] == list(range(after + 1, 22))
            assert [lines for _, lines in found] == given_back[after:]
    assert json.dumps(given_back)  # plain JSON, what a service re-sends
    assert all("state" in str(line) for lines in given_back for line in lines)  # as the runner's


def test_a_seq_outside_the_log_is_refused(tmp_path: Path) -> None:
    with DurableSwitchboard(Store.create(tmp_path / "s.db", CONFIG)) as board:
        board.handle(Tick(now=1))
        with pytest.raises(StoreError, match="has no step seq 5"):
            state_at(board.store, 5)
