"""The routing rules suite measures what it says: selection with skills goes where `explain`
says and leaves the queue as it found it; the backlog's end side really has the one human
excluded from the waits ahead of the measured ones, each timed tick fires exactly one offer
timeout, and a side never runs past its backlog. Nothing here asserts how fast anything is."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator

import attrs
import pytest

from benchmarks import routing_figures
from benchmarks import routing_rules_figures as rules
from benchmarks.harness import FULL, QUICK, Timing
from benchmarks.internals import Explanation, Router, router_of
from handoff_fsm.effects import Offer, OfferWithdrawn
from handoff_fsm.routing import inspect as routing_inspect
from handoff_fsm.vocabulary import WithdrawReason


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap() -> Iterator[None]:
    """The harness collects between batches; freezing what is alive keeps that cheap."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module", params=(100, 10_000), ids=lambda size: f"n{size}")
def queue(request: pytest.FixtureRequest) -> routing_figures.Queue:
    size: int = request.param
    return rules.build_skilled_queue(size)


def test_skills_leave_the_plain_queue_s_loads_and_capacities_alone(
    queue: routing_figures.Queue,
) -> None:
    plain = routing_figures.build_queue(queue.size)
    assert queue.loads == plain.loads
    members = queue.router.queue(routing_figures.QUEUE).members
    assert members == plain.router.queue(routing_figures.QUEUE).members
    for member in members[:50]:
        skilled, bare = queue.router.participant(member), plain.router.participant(member)
        assert (skilled.capacity, queue.router.load(member)) == (
            bare.capacity,
            plain.router.load(member),
        )
        assert not bare.skills
    holders = sum(1 for m in members if "spanish" in queue.router.participant(m).skills)
    assert 0 < holders < queue.size / 3  # a minority holds the rarer skills


def test_every_request_goes_where_explain_says(queue: routing_figures.Queue) -> None:
    visited = rules.check(queue)
    plain = routing_figures.check(routing_figures.build_queue(queue.size))
    assert visited > len(rules.REQUESTS) * plain  # requirements make the index skip members
    assert rules.check(queue) == visited  # and the probes leave the queue as it was


def test_a_batch_offers_each_request_to_members_who_meet_it_and_leaves_the_queue_as_it_was(
    queue: routing_figures.Queue,
) -> None:
    router = queue.router
    members = router.queue(routing_figures.QUEUE).members
    loads = [router.load(m) for m in members]
    for request in rules.REQUESTS:
        batch = rules.selection_batch(queue, request, rules.MAX_PICKS)
        assert batch.ops == rules.MAX_PICKS
        state = batch.prepare()
        batch.run(state)
        for n in range(batch.ops):
            offered = router.offer_of(f"waiting-{n:06d}")
            assert offered is not None
            skills = router.participant(offered).skills
            assert all(r.met_by(skills) for r in request.requires)
        batch.cleanup(state)
        assert [router.load(m) for m in members] == loads
    assert router.line(routing_figures.QUEUE) == ()
    assert routing_inspect.audit(router) == []


def test_the_figure_is_one_request_of_the_cycle_on_average() -> None:
    def timing(median: float) -> Timing:
        return Timing(
            median_us=median,
            q1_us=median - 1,
            q3_us=median + 1,
            cpu_median_us=median,
            repetitions=5,
            ops_per_batch=4,
        )

    result = rules.cycle_mean([timing(10.0), timing(30.0)])
    assert (result.value, result.q1, result.q3) == (20.0, 19.0, 21.0)
    assert result.detail["cpu_median"] == 20.0 and result.detail["requests"] == 2


def test_the_skills_check_refuses_a_selection_explain_disagrees_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = rules.build_skilled_queue(100)
    explain = Router.explain

    def wrong(router: Router, conversation: str) -> Explanation:
        return attrs.evolve(explain(router, conversation), chosen="agent-999999")

    monkeypatch.setattr(Router, "explain", wrong)
    with pytest.raises(AssertionError, match="explain chose agent-999999"):
        rules.check(queue)


# --- the backlog ---------------------------------------------------------------------------------

BACKLOG, MEASURED = 300, 40


def test_the_end_side_has_the_human_excluded_from_every_wait_ahead_of_the_measured() -> None:
    end = rules.build_backlog("end", BACKLOG, MEASURED, excluded=True)
    assert (end.declined, end.offerable) == (BACKLOG - MEASURED - 1, MEASURED + 1)
    rules.check_backlog(end, BACKLOG)
    router = router_of(end.board)
    line = router.line(routing_figures.QUEUE)
    ahead = line[: end.declined + 1]
    assert [cid for cid in ahead if router.offer_of(cid) == rules.HUMAN] == [
        cid for cid in ahead if rules.HUMAN not in router.declined(cid)
    ]
    assert all(cid.startswith("measured-") for cid in line[end.declined + 1 :])


def test_blocks_of_several_waits_per_priority_build_the_same_kind_of_end() -> None:
    backlog = rules.PRIORITIES * 3 + MEASURED  # three waits at each priority
    end = rules.build_backlog("end", backlog, MEASURED, excluded=True)
    rules.check_backlog(end, backlog)
    assert end.declined == backlog - MEASURED - 1


def test_the_start_side_has_the_same_line_and_nothing_declined() -> None:
    start = rules.build_backlog("start", BACKLOG, MEASURED, excluded=False)
    end = rules.build_backlog("end", BACKLOG, MEASURED, excluded=True)
    rules.check_backlog(start, BACKLOG)
    start_line = router_of(start.board).line(routing_figures.QUEUE)
    assert start_line == router_of(end.board).line(routing_figures.QUEUE)
    assert start.declined == 0
    with pytest.raises(AssertionError, match="H excluded from 0"):
        rules.check_backlog(dataclasses.replace(start, declined=5), BACKLOG)


@pytest.mark.parametrize("excluded", [False, True], ids=["start", "end"])
def test_each_timed_tick_fires_one_offer_timeout_and_one_offer(excluded: bool) -> None:
    side = rules.build_backlog("side", BACKLOG, MEASURED, excluded=excluded)
    batch = rules.tick_batch(side, 8)
    out = batch.prepare()
    batch.run(out)
    batch.cleanup(out)  # check_tick on every tick's effects
    assert len(out) == 8 and side.ticks == 8
    for effects in out:
        withdrawn, offer = effects
        assert isinstance(withdrawn, OfferWithdrawn) and isinstance(offer, Offer)
        assert withdrawn.reason is WithdrawReason.TIMEOUT
        assert withdrawn.conversation != offer.conversation
    declined = sum(
        rules.HUMAN in router_of(side.board).declined(cid)
        for cid in router_of(side.board).line(routing_figures.QUEUE)
    )
    assert declined == side.declined + 8


def test_a_tick_that_fires_no_timeout_is_refused() -> None:
    side = rules.build_backlog("end", BACKLOG, MEASURED, excluded=True)
    with pytest.raises(AssertionError, match="one offer timeout"):
        rules.check_tick([])
    with pytest.raises(AssertionError, match="one offer timeout"):
        rules.check_tick(rules._tick(side.board) * 2)


def test_a_side_never_runs_past_its_backlog() -> None:
    side = rules.build_backlog("end", BACKLOG, MEASURED, excluded=True)
    with pytest.raises(AssertionError, match="ran out of waits"):
        rules.tick_batch(side, MEASURED + 2).prepare()
    assert rules.ticks_needed(FULL) <= rules.MEASURED
    assert rules.ticks_needed(QUICK) <= rules.QUICK_MEASURED


def test_the_quick_suite_reports_both_figures_with_their_targets() -> None:
    suite = rules.run(QUICK)
    assert [f.key for f in suite.figures] == ["routing_rules.select", "routing_rules.backlog"]
    assert [(t.figure, t.contender, t.limit) for t in suite.targets] == [
        ("routing_rules.select", "n10000", 3.0),
        ("routing_rules.backlog", "end", 2.0),
    ]
    end = suite.figure("routing_rules.backlog").results["end"]
    assert end.detail["declined_before"] == rules.QUICK_BACKLOG - rules.QUICK_MEASURED - 1
    assert all(isinstance(v.passed, bool) for v in suite.verdicts())
