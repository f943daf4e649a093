"""Pending timeouts: offers, waits and surveys, fired in deadline order as time passes.

Theory of operation: a timer is set when an offer goes out, a wait begins or a survey is sent,
and never removed: when what it was set for ends early (an accept, a served wait), its token no
longer matches the conversation's, and the switchboard skips it as stale when it comes due
(`Switchboard._timer_is_live`). So setting a timer costs one heap push and ending one costs
nothing. Timers come due by (deadline, sequence number): equal deadlines fire in the order they
were set, which keeps replays identical.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import NamedTuple

# Timer kinds.
OFFER, WAIT, SURVEY = "offer", "wait", "survey"
RELAX, WRAP_UP = "relax", "wrap_up"  # a requirement's `for` runs out; a wrap-up ends


class Timer(NamedTuple):
    """A pending timeout. A plain tuple on purpose: the heap compares (deadline, seq), which is
    unique, in C; an attrs class with order=True costs ~50x more per comparison."""

    deadline: float
    seq: int
    kind: str
    conversation: str
    participant: str
    token: int


class TimerHeap:
    """The pending timers of one switchboard, earliest first."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = 0

    def set(
        self, deadline: float, kind: str, conversation: str, participant: str, token: int
    ) -> None:
        self._seq += 1
        heapq.heappush(
            self._heap, Timer(deadline, self._seq, kind, conversation, participant, token)
        )

    def due_by(self, now: float) -> bool:
        """Whether a timer (live or stale) is due at or before `now`."""
        return bool(self._heap) and self._heap[0].deadline <= now

    def due(self, now: float) -> Iterator[Timer]:
        """Pop every timer due at or before `now`, earliest first (live or stale: the caller
        checks). Timers set while iterating are seen if they are due too."""
        while self._heap and self._heap[0].deadline <= now:
            yield heapq.heappop(self._heap)

    def next_deadline(self, is_live: Callable[[Timer], bool]) -> float | None:
        """The earliest live deadline; stale timers on top are dropped on the way."""
        while self._heap and not is_live(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0].deadline if self._heap else None

    def live(self, is_live: Callable[[Timer], bool]) -> tuple[Timer, ...]:
        """Every live timer in firing order, leaving the heap untouched."""
        return tuple(sorted(t for t in self._heap if is_live(t)))


__all__ = ["OFFER", "RELAX", "SURVEY", "WAIT", "WRAP_UP", "Timer", "TimerHeap"]
