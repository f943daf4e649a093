"""The `transitions` reference interpreter and the compiled table agree everywhere."""

from __future__ import annotations

import itertools

import pytest

from handoff_fsm import lifecycle
from handoff_fsm.errors import TriggerRefused
from handoff_fsm.lifecycle import Guard, Snapshot, State, Trigger
from handoff_fsm.testing.reference import reference_step

GUARD_OUTCOMES = [
    frozenset(c) for n in range(len(Guard) + 1) for c in itertools.combinations(sorted(Guard), n)
]


@pytest.mark.parametrize("state", list(State), ids=str)
@pytest.mark.parametrize("trigger", list(Trigger), ids=str)
def test_table_and_reference_agree_on_every_guard_outcome(state: State, trigger: Trigger) -> None:
    for facts in GUARD_OUTCOMES:
        held = Guard.HUMAN_HELD_BEFORE in facts
        snapshot = Snapshot(state=state, human_held=held)
        try:
            dest, row = reference_step(state, trigger, facts)
        except TriggerRefused:
            with pytest.raises(TriggerRefused):
                lifecycle.step(snapshot, trigger, facts)
            continue
        after, transition = lifecycle.step(snapshot, trigger, facts)
        assert (after.state, transition.row) == (dest, row)


def test_reference_refusal_names_allowed_triggers() -> None:
    with pytest.raises(TriggerRefused, match="allowed there: agent_accepts"):
        reference_step(State.WAITING, Trigger.END, frozenset())


def test_reference_uses_one_shared_machine() -> None:
    import handoff_fsm.testing.reference as ref

    before = ref._MACHINE
    reference_step(State.NEW, Trigger.BOT_TAKES, frozenset())
    assert ref._MACHINE is before
    assert len(ref._MACHINE.models) == 1
    assert not ref._MACHINE.auto_transitions
