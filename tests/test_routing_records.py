"""The live records of routing: the one capacity rule and a member's rank."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff_fsm.config import ParticipantSpec, QueueSpec
from handoff_fsm.routing.records import (
    AgentRecord,
    QueueRecord,
    has_room,
    leaf_key,
    missing_from,
    remove_ticket,
    with_id,
)
from handoff_fsm.routing.segment_tree import MinSegmentTree
from handoff_fsm.vocabulary import Kind, PresenceStatus, Strategy


def records(capacity: int, load: int, units: int) -> tuple[AgentRecord, QueueRecord]:
    agent = AgentRecord(
        spec=ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=capacity),
        memberships=[],
        load=load,
    )
    trees = {kind: MinSegmentTree.build([], []) for kind in Kind}
    queue = QueueRecord(
        spec=QueueSpec(name="q", members=("rep-1",), units=units), order=0, trees=trees
    )
    return agent, queue


def test_room_means_capacity_minus_load_covers_the_queues_units() -> None:
    assert has_room(*records(capacity=3, load=1, units=2))
    assert not has_room(*records(capacity=3, load=2, units=2))
    assert has_room(*records(capacity=0, load=0, units=1)) is False


def test_a_member_is_ranked_only_while_available_with_room() -> None:
    agent, queue = records(capacity=5, load=1, units=1)
    assert queue.spec.strategy is Strategy.HIGHEST_CAPACITY
    assert leaf_key(queue, agent, 0) == (-4, 0)
    agent.presence = PresenceStatus.AWAY
    assert leaf_key(queue, agent, 0) is None
    agent.presence, agent.load = PresenceStatus.AVAILABLE, 5
    assert leaf_key(queue, agent, 0) is None


@given(st.lists(st.tuples(st.integers(1, 10**6), st.booleans()), unique_by=lambda p: p[0]))
def test_missing_from_lists_the_tickets_a_subset_lacks(marked: list[tuple[int, bool]]) -> None:
    tickets = sorted(t for t, _ in marked)
    subset = sorted(t for t, kept in marked if kept)
    assert missing_from(tickets, subset) == sorted(set(tickets) - set(subset))


def test_ids_held_before_or_declined_stay_sorted_once_each_and_a_lone_id_is_shared() -> None:
    ids = with_id(with_id(with_id((), "rep-2"), "rep-1"), "rep-2")
    assert ids == ("rep-1", "rep-2")
    assert with_id((), "rep-1") is with_id((), "rep-1")  # one 1-tuple for every conversation


def test_removing_a_ticket_that_is_not_in_its_line_is_caught_not_done() -> None:
    for missing in (2, 5):
        tickets = [1, 3]
        with pytest.raises(AssertionError, match=r"^ticket not in its line$"):
            remove_ticket(tickets, missing)
        assert tickets == [1, 3]
