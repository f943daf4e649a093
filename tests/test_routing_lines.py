"""The books of routing: parking of waits that nobody available may take.

A wait that `serve` finds nobody available to take is parked, and tried again only when someone
who may take it becomes available (or who may take what changes). These tests show each way a
parked wait comes back, and that a backlog of waits excluding the one free human costs the same
per offer timeout at its end as at its start (counted in selection work, not time).
"""

from __future__ import annotations

import pytest
from routing_helpers import AVAILABLE, AWAY, arrive, human, one_queue, picks, settled

from handoff_fsm.config import Kind, ParticipantSpec, Requirement
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.routing import Router
from handoff_fsm.routing import inspect as routing_inspect
from handoff_fsm.routing import lines as routing_lines
from handoff_fsm.routing.records import SUB_ANY
from handoff_fsm.routing.waits import WAIT_TABLE, WaitStatus, WaitTrigger


def _parked(router: Router) -> list[int]:
    return [t for tickets in router._queues["q"].parked for t in tickets]


def _declined_by_h1(conversations: int) -> Router:
    """h1 (capacity 1) lets an offer of each waiting conversation time out in turn; h2 is away."""
    router = one_queue(human("h1", 1), human("h2", 1), offer_timeout=30)
    router.set_presence("h2", AWAY, 0)
    for n in range(conversations):
        router.enqueue(f"c{n}", "q", 0)
    assert picks(router.serve(0)) == [("c0", "h1")]
    for n in range(conversations):
        router.expire_offer(f"c{n}", "h1", 30)
        offered = picks(router.serve(30))
        assert offered == ([(f"c{n + 1}", "h1")] if n + 1 < conversations else [])
    return router


def test_a_wait_the_only_free_human_declined_is_parked_not_retried() -> None:
    router = _declined_by_h1(5)
    assert len(_parked(router)) == 5
    settled(router)
    before = routing_inspect.selection_steps(router)
    router.set_presence("h1", AWAY, 40)
    router.set_presence("h1", AVAILABLE, 41)  # free again, but every wait excludes it
    assert router.serve(41) == []
    assert routing_inspect.selection_steps(router) == before  # nobody was tried
    settled(router)


def test_a_parked_wait_goes_to_someone_it_does_not_exclude_who_comes_back() -> None:
    router = _declined_by_h1(3)
    router.set_presence("h2", AVAILABLE, 50)
    assert picks(router.serve(50)) == [("c0", "h2")]  # first in line first
    assert len(_parked(router)) == 2
    settled(router)


def test_new_skills_unpark_the_queue() -> None:
    biller = ParticipantSpec(id="h2", kind=Kind.HUMAN, capacity=1, skills={"billing": 1})
    router = one_queue(human("h1", 1), biller)
    router.set_presence("h2", AWAY, 0)
    router.enqueue("c1", "q", 0, requires=(Requirement(skill="billing"),))
    assert router.serve(0) == []
    assert len(_parked(router)) == 1
    router.set_skills("h1", {"billing": 1})
    assert picks(router.serve(1)) == [("c1", "h1")]
    settled(router)


def test_a_relaxed_requirement_unparks_its_wait() -> None:
    router = one_queue(human("h1", 1))
    router.enqueue("c1", "q", 0, requires=(Requirement(skill="billing", for_=10.0),))
    assert router.serve(0) == [] and len(_parked(router)) == 1
    assert router.relax("c1", 10)
    assert picks(router.serve(10)) == [("c1", "h1")]
    settled(router)


def test_a_parked_wait_that_leaves_leaves_no_trace() -> None:
    router = _declined_by_h1(3)
    router.leave("c1", 40)
    assert len(_parked(router)) == 2 and router._queues["q"].excluding == {
        ("h1", SUB_ANY): sorted(router.ticket(c) or 0 for c in ("c0", "c2"))
    }
    settled(router)


def test_a_backlog_costs_the_same_per_timeout_at_its_end_as_at_its_start() -> None:
    """The issue's backlog: one human lets every offer time out. Without parking the pass after
    the k-th timeout tries the k waits ahead again; with it, each pass tries two."""
    conversations = 400
    router = one_queue(human("h1", 1), human("h2", 1), offer_timeout=30)
    router.set_presence("h2", AWAY, 0)
    for n in range(conversations):
        router.enqueue(f"c{n}", "q", 0)
    router.serve(0)
    work = []
    for n in range(conversations - 1):
        before = routing_inspect.selection_steps(router)
        router.expire_offer(f"c{n}", "h1", 30)
        router.serve(30)
        work.append(routing_inspect.selection_steps(router) - before)
    first, last = sum(work[:20]), sum(work[-20:])
    assert last <= 2 * first, (first, last)
    settled(router)


def test_holds_and_offers_are_listed_in_ticket_order_not_by_name() -> None:
    router = one_queue(human("h1", 4))
    for cid in ("zeta", "alpha"):
        router.assign(cid, "h1", "q", 0)
    assert router.holds_of("h1") == ("zeta", "alpha")
    for cid in ("yak", "bee"):
        router.enqueue(cid, "q", 1)
    router.serve(1)
    assert router.offers_of("h1") == ("yak", "bee")


def test_a_requests_priority_and_start_are_told_and_nothing_of_a_stranger() -> None:
    router = one_queue(human("h1", 0))
    router.enqueue("c1", "q", 7, priority=3)
    router.enqueue("c2", "q", 8, since=2)
    assert (router.priority("c1"), router.request_since("c1")) == (3, 7)
    assert (router.priority("c2"), router.request_since("c2")) == (None, 2)
    assert router.priority("ghost") is None and router.request_since("ghost") is None
    assert router.decisions("ghost") == ()


def test_a_change_that_frees_nobody_leaves_the_queue_out_of_the_next_serve() -> None:
    router = one_queue(human("h1", 1))
    arrive(router, "c1")
    router.accept("c1", "h1", 1)
    router.enqueue("c2", "q", 1)
    assert router.serve(1) == [] and routing_inspect.pending_queues(router) == ()
    router.release("c1", 2, wrap_until=10)  # still full while it wraps up
    assert routing_inspect.pending_queues(router) == ()
    router.end_wrap_up("h1")
    assert routing_inspect.pending_queues(router) == ("q",)
    assert picks(router.serve(3)) == [("c2", "h1")]


def test_a_change_to_someone_free_before_and_after_leaves_the_queue_out_of_the_next_serve() -> None:
    router = one_queue(human("h1", 2), human("h2", 1))
    router.set_presence("h2", AWAY, 0)
    arrive(router, "c1")
    router.decline("c1", "h1", 1)
    assert router.serve(1) == [] and routing_inspect.pending_queues(router) == ()
    router.assign("c2", "h1", "q", 2)
    router.release("c2", 3)  # h1 had room before and after; c1 may not go to h1 anyway
    assert routing_inspect.pending_queues(router) == ()
    router.set_presence("h2", AVAILABLE, 4)
    assert picks(router.serve(4)) == [("c1", "h2")]


def test_a_move_the_wait_model_does_not_allow_is_refused_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every change of a wait goes through the wait model's table: a model without "leave while
    offered" makes that leave a refusal, not a half-made change."""
    router = one_queue(human("h1", 1))
    arrive(router, "c1")
    forbidden = (WaitStatus.OFFERED, WaitTrigger.LEAVE)
    table = {move: to for move, to in WAIT_TABLE.items() if move != forbidden}
    monkeypatch.setattr(routing_lines, "WAIT_TABLE", table)
    before = routing_inspect.dump(router)
    with pytest.raises(StepRefused) as refused:
        router.leave("c1", 1)
    assert refused.value.code is ErrorCode.WRONG_STATE
    assert refused.value.message == "conversation 'c1': leave is not allowed when offered"
    assert routing_inspect.dump(router) == before


def test_every_past_decision_keeps_its_own_chosen_participant() -> None:
    router = one_queue(human("h1", 1), human("h2", 1), offer_timeout=30)
    router.enqueue("c1", "q", 0)
    assert picks(router.serve(0)) == [("c1", "h1")]
    router.decline("c1", "h1", 5)
    assert picks(router.serve(5)) == [("c1", "h2")]
    assert [d.chosen for d in router.decisions("c1")] == ["h1", "h2"]


def test_line_priority_is_that_of_a_wait_or_a_hold_and_none_for_the_unknown() -> None:
    router = one_queue(human("h1", 1), offer_timeout=30)
    router.enqueue("c1", "q", 0, priority=4)
    router.serve(0)
    router.accept("c1", "h1", 1)
    assert router.holder("c1") == "h1" and router.line_priority("c1") == 4
    assert router.line_priority("nobody") is None
