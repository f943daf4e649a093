"""The timer heap: earliest first, ties in the order set, stale timers skipped by the caller."""

from __future__ import annotations

from handoff_fsm.switchboard.timers import OFFER, SURVEY, WAIT, Timer, TimerHeap


def test_timers_come_due_earliest_first_and_ties_in_the_order_set() -> None:
    heap = TimerHeap()
    heap.set(30, WAIT, "c1", "", 1)
    heap.set(10, OFFER, "c2", "rep-1", 1)
    heap.set(30, SURVEY, "c3", "", 1)
    assert heap.due_by(10) and not heap.due_by(9.5)
    assert [(t.deadline, t.conversation) for t in heap.due(30)] == [
        (10, "c2"),
        (30, "c1"),
        (30, "c3"),
    ]
    assert not heap.due_by(1_000)


def test_stale_timers_are_dropped_from_the_top_but_listed_only_when_live() -> None:
    heap = TimerHeap()
    heap.set(5, OFFER, "c1", "rep-1", 1)
    heap.set(8, WAIT, "c2", "", 1)

    def is_live(timer: Timer) -> bool:
        return timer.conversation != "c1"

    assert [t.conversation for t in heap.live(is_live)] == ["c2"]
    assert heap.next_deadline(is_live) == 8
    assert heap.due_by(5) is False  # the stale top was dropped by next_deadline
