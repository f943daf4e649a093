"""The routing rules suite measures what it says: selection with skills goes where `explain`
says, to members who meet each request, and leaves the queue as it found it; the suite reports
both figures with their targets (the backlog's own checks are in test_declined_backlog.py).
Nothing here asserts how fast anything is."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import attrs
import pytest

from benchmarks import declined_backlog, routing_figures
from benchmarks import routing_rules_figures as rules
from benchmarks.harness import QUICK, Timing
from benchmarks.internals import Explanation, Router
from handoff_fsm.routing import inspect as routing_inspect


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


def test_the_quick_suite_reports_both_figures_with_their_targets() -> None:
    suite = rules.run(QUICK)
    assert [f.key for f in suite.figures] == ["routing_rules.select", "routing_rules.backlog"]
    assert [(t.figure, t.contender, t.limit) for t in suite.targets] == [
        ("routing_rules.select", "n10000", 3.0),
        ("routing_rules.backlog", "end", 2.0),
    ]
    end = suite.figure("routing_rules.backlog").results["end"]
    assert (
        end.detail["declined_before"]
        == declined_backlog.QUICK_BACKLOG - declined_backlog.QUICK_MEASURED - 1
    )
    assert all(isinstance(v.passed, bool) for v in suite.verdicts())
