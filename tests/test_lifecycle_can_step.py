"""`can_step` answers exactly what `step` would do: True when the trigger applies from the
snapshot with those facts, False when `step` would refuse it (and it never raises)."""

from __future__ import annotations

import itertools

import pytest

from handoff_fsm import lifecycle
from handoff_fsm.errors import TriggerRefused
from handoff_fsm.lifecycle import Guard, Snapshot, Trigger

FACTS = [frozenset(c) for n in range(3) for c in itertools.combinations(sorted(Guard), n)]


def snapshots() -> list[Snapshot]:
    """Every snapshot the lifecycle can reach from NEW (breadth first over triggers and facts)."""
    seen = {lifecycle.NEW}
    frontier = [lifecycle.NEW]
    while frontier:
        snap = frontier.pop()
        for trigger, facts in itertools.product(Trigger, FACTS):
            try:
                nxt = lifecycle.step(snap, trigger, facts)[0]
            except TriggerRefused:
                continue
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return sorted(seen, key=repr)


@pytest.mark.parametrize("snapshot", snapshots(), ids=repr)
def test_can_step_is_true_exactly_when_step_applies(snapshot: Snapshot) -> None:
    answers = {True: 0, False: 0}
    for trigger, facts in itertools.product(Trigger, FACTS):
        try:
            lifecycle.step(snapshot, trigger, facts)
            applies = True
        except TriggerRefused:
            applies = False
        assert lifecycle.can_step(snapshot, trigger, facts) is applies, (trigger, facts)
        answers[applies] += 1
    assert answers[False] > 0  # every state refuses something


def test_can_step_from_new() -> None:
    assert lifecycle.can_step(lifecycle.NEW, Trigger.BOT_TAKES)
    assert not lifecycle.can_step(lifecycle.NEW, Trigger.AGENT_ACCEPTS)
