"""The minimum segment tree agrees with a brute-force minimum on every query, after any updates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handoff_fsm.routing.segment_tree import Key, MinSegmentTree, lesser

keys = st.none() | st.tuples(st.floats(-1e6, 1e6), st.integers(0, 10_000))


def brute(leaves: list[Key | None], lo: int, hi: int, skip: set[int]) -> Key | None:
    present = [k for i, k in enumerate(leaves[lo:hi], start=lo) if k is not None and i not in skip]
    return min(present) if present else None


def build(leaves: list[Key | None]) -> MinSegmentTree:
    members = [(i, f"p{i}") for i in range(len(leaves))]
    return MinSegmentTree.build(members, leaves)


def test_lesser_treats_none_as_absent() -> None:
    assert lesser(None, (1.0, 2)) == (1.0, 2)
    assert lesser((1.0, 2), None) == (1.0, 2)
    assert lesser((1.0, 3), (1.0, 2)) == (1.0, 2)
    assert lesser(None, None) is None


@given(
    st.lists(keys, min_size=1, max_size=40),
    st.lists(st.tuples(st.integers(0, 39), keys), max_size=30),
    st.data(),
)
def test_property_range_queries_match_brute_force_after_updates(
    leaves: list[Key | None], updates: list[tuple[int, Key | None]], data: st.DataObject
) -> None:
    tree = build(list(leaves))
    for leaf, key in updates:
        leaf %= len(leaves)
        assert tree.put(leaf, key) == leaves[leaf]
        leaves[leaf] = key
    assert tree.best == brute(leaves, 0, len(leaves), set())
    lo = data.draw(st.integers(0, len(leaves)))
    hi = data.draw(st.integers(lo, len(leaves)))
    skip = sorted(data.draw(st.sets(st.integers(0, len(leaves) - 1), max_size=5)))
    assert tree.best_in(lo, hi) == brute(leaves, lo, hi, set())
    assert tree.best_outside(lo, hi, skip) == brute(leaves, lo, hi, set(skip))
    refused = data.draw(st.sets(st.integers(0, len(leaves) - 1), max_size=len(leaves)))
    assert tree.best_where(lo, hi, lambda leaf: leaf not in refused) == brute(
        leaves, lo, hi, refused
    )


def test_a_best_first_search_visits_log_n_nodes_per_refused_leaf() -> None:
    size = 1 << 16
    tree = build([(float(i), i) for i in range(size)])
    assert tree.best_where(0, size, lambda leaf: leaf >= 50) == (50.0, 50)
    assert tree.visits <= 51 * 2 * 17  # each refused leaf opens at most one path to a leaf


def test_a_query_visits_logarithmically_many_nodes() -> None:
    size = 1 << 16
    tree = build([(float(i), i) for i in range(size)])
    tree.best_outside(0, size, [0, 5, 99])
    assert tree.visits <= 4 * 2 * 17  # four gaps, at most two nodes per level each


def test_a_query_of_every_leaf_visits_one_node_per_level() -> None:
    size = 1 << 16
    tree = build([(float(i), i) for i in range(size)])
    assert tree.best_in(0, size) == (0.0, 0)
    assert tree.visits == 17  # the leaves' level, then each level up to the root
    tree.best_in(0, size)
    assert tree.visits == 34


def test_a_skipped_leaf_before_the_range_does_not_stop_the_skipping() -> None:
    tree = build([(float(i), i) for i in range(8)])
    assert tree.best_outside(2, 8, [0, 2]) == (3.0, 3)


def test_a_best_first_search_counts_each_node_it_takes_once() -> None:
    tree = build([(float(i), i) for i in range(4)])
    assert tree.best_where(0, 4, lambda leaf: True) == (0.0, 0)
    assert tree.visits == 3  # the root, the left child, the first leaf
