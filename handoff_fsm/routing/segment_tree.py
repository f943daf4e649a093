"""A minimum segment tree: the best key among a range of leaves, in O(log n).

Theory of operation: leaves sit at `width..2*width-1` of a flat list, each internal node holds the
lesser of its two children (None means "no key"). Setting a leaf climbs to the root and stops as
soon as a node is unchanged; a range query walks O(log n) nodes; `best_outside` answers "the best
leaf in a range except these few" with one range query per gap, which is how routing skips the
participants that held a conversation before or declined it, without scanning the others.

Rules: keys are totally ordered tuples; smaller is better; pure data, no I/O, picklable.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import attrs

#: A member's rank in one queue: (strategy value, position in the queue). Smaller is better;
#: the position makes every key unique and breaks ties by the queue's order.
Key = tuple[float, int]


def lesser(a: Key | None, b: Key | None) -> Key | None:
    if a is None:
        return b
    if b is None or a <= b:
        return a
    return b


@attrs.define(slots=True, eq=False)
class MinSegmentTree:
    """A min segment tree over the leaves 0..size-1; a leaf holds a key or None (absent).

    Routing keeps one per (queue, kind): a leaf holds the member's key while it could take one
    more conversation of that queue, so the root is the best candidate before per-conversation
    exclusions. `visits` counts nodes looked at, so tests can prove a pick does not scan."""

    positions: list[int]  # each leaf's position among the queue's members, ascending
    leaf_of: dict[str, int]
    width: int
    nodes: list[Key | None]
    visits: int = 0

    @classmethod
    def build(cls, members: list[tuple[int, str]], keys: list[Key | None]) -> MinSegmentTree:
        width = 1
        while width < len(members):
            width *= 2
        nodes: list[Key | None] = [None] * (2 * width)
        nodes[width : width + len(keys)] = keys
        for i in range(width - 1, 0, -1):
            nodes[i] = lesser(nodes[2 * i], nodes[2 * i + 1])
        return cls(
            positions=[p for p, _ in members],
            leaf_of={pid: leaf for leaf, (_, pid) in enumerate(members)},
            width=width,
            nodes=nodes,
        )

    @property
    def size(self) -> int:
        return len(self.positions)

    @property
    def best(self) -> Key | None:
        return self.nodes[1]

    def put(self, leaf: int, key: Key | None) -> Key | None:
        """Set a leaf; return its previous key. Stops climbing once a node is unchanged."""
        i = leaf + self.width
        old = self.nodes[i]
        if old == key:
            return old
        self.nodes[i] = key
        i >>= 1
        while i:
            new = lesser(self.nodes[2 * i], self.nodes[2 * i + 1])
            if new == self.nodes[i]:
                break
            self.nodes[i] = new
            i >>= 1
        return old

    def best_in(self, lo: int, hi: int) -> Key | None:
        result: Key | None = None
        lo += self.width
        hi += self.width
        while lo < hi:
            self.visits += 1
            if lo & 1:
                result = lesser(result, self.nodes[lo])
                lo += 1
            if hi & 1:
                hi -= 1
                result = lesser(result, self.nodes[hi])
            lo >>= 1
            hi >>= 1
        return result

    def best_outside(self, lo: int, hi: int, skip: list[int]) -> Key | None:
        """The best key among leaves [lo, hi) except the sorted leaves in `skip`."""
        result: Key | None = None
        start = lo
        for leaf in skip:
            if leaf < start:
                continue
            if leaf >= hi:
                break
            result = lesser(result, self.best_in(start, leaf))
            start = leaf + 1
        return lesser(result, self.best_in(start, hi))

    def best_where(self, lo: int, hi: int, accept: Callable[[int], bool]) -> Key | None:
        """The best key among leaves [lo, hi) whose leaf `accept` takes, best first: a node on
        the heap carries the best key beneath it, a lower bound for its leaves in the range,
        so the first leaf taken off the heap and accepted is the answer. O((k + 1) log n) for
        the k better-ranked leaves refused, where asking `best_outside` again after each
        refusal would cost O(k^2 log n)."""
        nodes = self.nodes
        if lo >= hi or nodes[1] is None:
            return None
        heap: list[tuple[Key, int, int, int]] = [(nodes[1], 1, 0, self.width)]
        while heap:
            key, node, first, end = heapq.heappop(heap)  # node covers leaves [first, end)
            self.visits += 1
            if end - first == 1:
                if accept(first):
                    return key
                continue
            mid = (first + end) // 2
            for child, a, b in ((2 * node, first, mid), (2 * node + 1, mid, end)):
                child_key = nodes[child]
                if child_key is not None and a < hi and b > lo:
                    heapq.heappush(heap, (child_key, child, a, b))
        return None
