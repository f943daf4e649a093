"""Selection against SPEC §3: the strategies, each eligibility rule and its explanation, and a
structural check that a pick does not scan a queue."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import pytest
from routing_helpers import (
    AWAY,
    OFFLINE,
    arrive,
    bot,
    human,
    one_queue,
    picks,
    queue,
    settled,
    verdicts,
)

from handoff_fsm.config import Kind, ParticipantSpec, Requirement, Strategy
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import Wanted
from handoff_fsm.routing import (
    Router,
    Verdict,
)
from handoff_fsm.routing import inspect as routing_inspect

# ----------------------------------------------------------------------------- strategies


def test_highest_capacity_gives_the_most_remaining_capacity_first() -> None:
    router = one_queue(bot("b1", 4), bot("b2", 5))
    assert picks(arrive(router, "c1")) == [("c1", "b2")]  # 5 left beats 4
    assert picks(arrive(router, "c2")) == [("c2", "b1")]  # 4 and 4: queue order
    assert picks(arrive(router, "c3")) == [("c3", "b2")]  # 3 and 4
    settled(router)


def test_highest_capacity_ties_go_by_queue_order_not_by_name() -> None:
    router = Router([bot("b1", 3), bot("b2", 3)], [queue("q", "b2", "b1")])
    assert picks(arrive(router, "c1")) == [("c1", "b2")]


def test_round_robin_rotates_after_the_last_pick_and_wraps() -> None:
    router = one_queue(bot("b1"), bot("b2"), bot("b3"), strategy=Strategy.ROUND_ROBIN)
    got = [picks(arrive(router, f"c{i}"))[0][1] for i in range(5)]
    assert got == ["b1", "b2", "b3", "b1", "b2"]
    assert router.last_picked("q") == "b2"


def test_round_robin_skips_members_that_cannot_take_it_and_keeps_rotating() -> None:
    router = one_queue(bot("b1"), bot("b2", 0), bot("b3"), strategy=Strategy.ROUND_ROBIN)
    got = [picks(arrive(router, f"c{i}"))[0][1] for i in range(4)]
    assert got == ["b1", "b3", "b1", "b3"]


def test_least_active_gives_the_fewest_units_in_use_even_against_capacity() -> None:
    router = one_queue(bot("big", 10), bot("small", 2), strategy=Strategy.LEAST_ACTIVE)
    assert picks(arrive(router, "c1")) == [("c1", "big")]  # 0 and 0: queue order
    assert picks(arrive(router, "c2")) == [("c2", "small")]  # 1 in use against 0
    assert picks(arrive(router, "c3")) == [("c3", "big")]  # 1 and 1: queue order
    router.release("c1", 1)
    assert picks(arrive(router, "c4")) == [("c4", "big")]  # 0 against 1


def test_least_active_counts_offers_out_as_units_in_use() -> None:
    router = one_queue(human("h1"), human("h2"), strategy=Strategy.LEAST_ACTIVE)
    assert picks(arrive(router, "c1")) == [("c1", "h1")]
    assert picks(arrive(router, "c2")) == [("c2", "h2")]


def test_most_idle_gives_the_longest_idle_and_never_assigned_counts_as_forever() -> None:
    router = one_queue(bot("b1"), bot("b2"), bot("b3"), strategy=Strategy.MOST_IDLE)
    assert picks(arrive(router, "c1", now=1)) == [("c1", "b1")]  # all idle forever: order
    assert picks(arrive(router, "c2", now=2)) == [("c2", "b2")]
    assert picks(arrive(router, "c3", now=3)) == [("c3", "b3")]
    router.release("c1", 4)  # b1 busy at 4, b2 at 2, b3 at 3
    assert picks(arrive(router, "c4", now=5)) == [("c4", "b2")]
    assert router.idle_since("b2") == 5 and router.idle_since("b1") == 4


def test_most_idle_ties_go_by_queue_order() -> None:
    router = Router([bot("b1"), bot("b2")], [queue("q", "b2", "b1", strategy=Strategy.MOST_IDLE)])
    assert router.idle_since("b1") == -math.inf
    assert picks(arrive(router, "c1")) == [("c1", "b2")]


def test_most_idle_counts_an_offer_as_an_assignment() -> None:
    router = one_queue(human("h1", 2), human("h2", 2), strategy=Strategy.MOST_IDLE)
    router.enqueue("c1", "q", 1)
    router.enqueue("c2", "q", 1)
    assert picks(router.serve(1)) == [("c1", "h1"), ("c2", "h2")]


@pytest.mark.parametrize("strategy", list(Strategy), ids=str)
def test_every_strategy_respects_units_per_conversation(strategy: Strategy) -> None:
    router = one_queue(bot("b1", 3), bot("b2", 1), strategy=strategy, units=2)
    assert picks(arrive(router, "c1")) == [("c1", "b1")]
    assert arrive(router, "c2") == []  # b1 has 1 left, b2 only 1: neither fits 2 units
    assert router.load("b1") == 2 and router.position("c2") == 1
    router.release("c1", 1)
    assert picks(router.serve(1)) == [("c2", "b1")]


# ----------------------------------------------------------------------------- eligibility


def _target_wins_on_capacity(backup_kind: Kind = Kind.BOT) -> Router:
    """`target` would win on capacity; `backup` is the next best; `small` can take nothing."""
    backup = ParticipantSpec(id="backup", kind=backup_kind, capacity=1)
    return one_queue(bot("target", 2), backup, bot("small", 0))


# Each spoiler makes `target` fail one rule, and returns whom c1's request names (if anyone).


def _target_offline(router: Router) -> str | None:
    router.set_presence("target", OFFLINE, 0)
    return None


def _target_away(router: Router) -> str | None:
    router.set_presence("target", AWAY, 0)
    return None


def _target_full(router: Router) -> str | None:
    for filler in ("f1", "f2"):
        router.enqueue(filler, "q", 0, named="target")
    assert picks(router.serve(0)) == [("f1", "target"), ("f2", "target")]
    return None


def _target_held_it_before(router: Router) -> str | None:
    router.enqueue("c1", "q", 0, named="target")
    router.serve(0)
    router.release("c1", 0)
    return None


def _backup_named(router: Router) -> str | None:
    return "backup"


SPOILERS: dict[Verdict, Callable[[Router], str | None]] = {
    Verdict.OFFLINE: _target_offline,
    Verdict.AWAY: _target_away,
    Verdict.FULL: _target_full,
    Verdict.HELD_BEFORE: _target_held_it_before,
    Verdict.NOT_NAMED: _backup_named,
}


@pytest.mark.parametrize("rule", [*SPOILERS, Verdict.WRONG_KIND], ids=str)
def test_each_eligibility_rule_passes_the_best_member_over_and_says_why(rule: Verdict) -> None:
    wanted, named = Wanted.ANY, None
    if rule is Verdict.WRONG_KIND:
        router = _target_wins_on_capacity(backup_kind=Kind.HUMAN)
        wanted = Wanted.HUMAN
    else:
        router = _target_wins_on_capacity()
        named = SPOILERS[rule](router)
    router.enqueue("c1", "q", 0, wanted=wanted, named=named)
    assert verdicts(router, "c1")["target"] is rule
    assert verdicts(router, "c1")["backup"] is Verdict.CHOSEN
    assert verdicts(router, "c1")["small"] in (Verdict.FULL, Verdict.NOT_NAMED, Verdict.WRONG_KIND)
    assert picks(router.serve(0)) == [("c1", "backup")]
    settled(router)


def test_declined_before_is_passed_over_for_the_rest_of_this_wait_only() -> None:
    router = one_queue(human("h1", 5), human("h2", 1))
    assert picks(arrive(router, "c1")) == [("c1", "h1")]
    router.decline("c1", "h1", 1)
    assert verdicts(router, "c1")["h1"] is Verdict.DECLINED_BEFORE
    assert picks(router.serve(1)) == [("c1", "h2")]
    router.leave("c1", 2)
    router.enqueue("c1", "q", 3)  # a new wait: the declined set is reset
    assert router.declined("c1") == frozenset()
    assert picks(router.serve(3)) == [("c1", "h1")]


def test_explain_ranks_every_eligible_member_and_names_the_one_chosen() -> None:
    router = one_queue(bot("b1", 1), bot("b2", 3), human("h1", 2))
    router.enqueue("c1", "q", 0)
    assert verdicts(router, "c1") == {
        "b1": Verdict.RANKED_LOWER,
        "b2": Verdict.CHOSEN,
        "h1": Verdict.RANKED_LOWER,
    }
    explained = router.explain("c1")
    assert [c.remaining for c in explained.considered] == [1, 3, 2]
    text = explained.render()
    assert "queue q" in text and "highest_capacity" in text
    assert "b2  chosen" in text and "best candidate now: b2" in text


def test_explain_of_a_conversation_with_an_offer_out_shows_the_offer() -> None:
    router = one_queue(human("h1", 2), human("h2", 1))
    arrive(router, "c1")
    explained = router.explain("c1")
    assert explained.chosen == "h1" and explained.offered
    assert verdicts(router, "c1") == {"h1": Verdict.CHOSEN, "h2": Verdict.RANKED_LOWER}
    assert "offer out to h1" in explained.render()


def test_a_participant_outside_the_queue_is_not_a_member() -> None:
    router = Router([bot("b1"), bot("outsider")], [queue("q", "b1")])
    router.enqueue("c1", "q", 0, wanted=Wanted.HUMAN, check=False)  # unservable, kept to look
    assert router.consider("c1", "outsider").verdict is Verdict.NOT_MEMBER
    assert router.consider("c1", "b1").verdict is Verdict.WRONG_KIND
    with pytest.raises(StepRefused, match="not a member of queue 'q'"):
        router.enqueue("c2", "q", 0, named="outsider")


def test_explain_and_the_index_agree_on_who_is_next() -> None:
    router = one_queue(bot("b1", 2), bot("b2", 2), human("h1", 9))
    router.enqueue("c1", "q", 0)
    assert router.best_candidate("c1") == router.explain("c1").chosen == "h1"
    assert router.consider("c1", "b1").verdict is Verdict.RANKED_LOWER


# ----------------------------------------------------------------------------- scale


def _crowd(size: int, kind: Kind, free: Iterable[int], strategy: Strategy) -> Router:
    free_set = set(free)
    people = [
        ParticipantSpec(id=f"p{i}", kind=kind, capacity=2 if i in free_set else 0)
        for i in range(size)
    ]
    return Router(people, [queue("q", *(p.id for p in people), strategy=strategy)])


@pytest.mark.parametrize("strategy", list(Strategy), ids=str)
def test_selection_in_a_queue_of_20000_members_does_not_scan_them(strategy: Strategy) -> None:
    router = _crowd(20_000, Kind.HUMAN, free=[17_321], strategy=strategy)
    router.enqueue("c1", "q", 0)
    before = routing_inspect.selection_steps(router)
    assert picks(router.serve(0)) == [("c1", "p17321")]
    assert routing_inspect.selection_steps(router) - before < 100  # a scan would look at 20,000
    assert router.explain("c1").chosen == "p17321"  # the linear look agrees


def test_skipping_those_that_held_it_before_costs_only_the_few_skipped() -> None:
    router = _crowd(20_000, Kind.BOT, free=range(20_000), strategy=Strategy.HIGHEST_CAPACITY)
    for _ in range(5):
        arrive(router, "c1")
        router.release("c1", 0)
    # five bots held it; the sixth in queue order is next, found without a scan
    assert router.held_before("c1") == {"p0", "p1", "p2", "p3", "p4"}
    router.enqueue("c1", "q", 1)
    before = routing_inspect.selection_steps(router)
    assert picks(router.serve(1)) == [("c1", "p5")]
    assert routing_inspect.selection_steps(router) - before < 6 * 40


def test_round_robin_over_bots_and_humans_rotates_through_both_kinds_in_queue_order() -> None:
    router = one_queue(bot("b1"), human("h1"), strategy=Strategy.ROUND_ROBIN)
    got = [picks(arrive(router, f"c{i}"))[0][1] for i in range(3)]
    assert got == ["b1", "h1", "b1"]


def test_round_robin_with_a_requirement_wraps_to_the_first_member_that_meets_it() -> None:
    people = [
        ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=5, skills={"fr": level})
        for pid, level in (("h1", 1), ("h2", 0), ("h3", 1))
    ]
    router = Router(people, [queue("q", "h1", "h2", "h3", strategy=Strategy.ROUND_ROBIN)])
    fr = (Requirement(skill="fr"),)
    got = []
    for i in range(3):
        router.enqueue(f"c{i}", "q", i, requires=fr)
        got += [d.participant for d in router.serve(i)]
    assert got == ["h1", "h3", "h1"]
