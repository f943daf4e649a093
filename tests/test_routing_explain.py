"""`Router.explain` as an operator reads it: the exact text of `Explanation.render` for each
kind of request and verdict, and the strategy's ranking (round robin's position after the last
pick) agreeing with what `serve` picks. Through the public `Router` API only."""

from __future__ import annotations

import pytest

from handoff_fsm.config import Kind, ParticipantSpec, QueueSpec, Requirement
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import PresenceStatus, Wanted
from handoff_fsm.routing import Offered, Router
from handoff_fsm.routing.explain import (
    EXPLAINED_MEMBERS,
    KEPT_DECISIONS,
    Consideration,
    Explanation,
    Kept,
    PastDecision,
    keep,
    kept_decisions,
)
from handoff_fsm.routing.selection import Verdict
from handoff_fsm.vocabulary import Strategy


def router(strategy: Strategy = Strategy.HIGHEST_CAPACITY) -> Router:
    people = [
        ParticipantSpec(id="b1", kind=Kind.BOT, capacity=2),
        ParticipantSpec(id="h1", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="h2", kind=Kind.HUMAN, capacity=3),
    ]
    queue = QueueSpec(name="q", members=("b1", "h1", "h2"), strategy=strategy, offer_timeout=30)
    return Router(people, [queue])


def test_a_wait_for_a_human_names_the_chosen_and_why_the_others_are_not() -> None:
    r = router()
    r.enqueue("c1", "q", 0, wanted=Wanted.HUMAN)
    assert r.explain("c1").render() == (
        "conversation c1 waits in queue q (strategy highest_capacity), asking for a human:\n"
        "  b1  not a human (capacity left 2)\n"
        "  h1  eligible, ranked lower by the strategy (capacity left 1)\n"
        "  h2  chosen (capacity left 3)\n"
        "best candidate now: h2"
    )


def test_with_the_offer_out_the_explanation_says_so() -> None:
    r = router()
    r.enqueue("c1", "q", 0, wanted=Wanted.HUMAN)
    r.serve(0)
    lines = r.explain("c1").render().splitlines()
    assert lines[3:] == ["  h2  chosen, offer out (capacity left 2)", "offer out to h2"]


def test_a_named_wait_and_an_open_wait_are_described_as_asked() -> None:
    r = router()
    r.enqueue("c1", "q", 0, wanted=Wanted.HUMAN, named="h1")
    assert r.explain("c1").render().splitlines() == [
        "conversation c1 waits in queue q (strategy highest_capacity), asking for h1 by name:",
        "  b1  not h1, asked for by name (capacity left 2)",
        "  h1  chosen (capacity left 1)",
        "  h2  not h1, asked for by name (capacity left 3)",
        "best candidate now: h1",
    ]
    r.enqueue("c2", "q", 1)
    assert r.explain("c2").render().splitlines()[0].endswith("asking for a bot or a human:")


def test_nobody_available_is_said_in_words() -> None:
    r = router()
    for pid in ("b1", "h1", "h2"):
        r.set_presence(pid, PresenceStatus.AWAY, 0)
    r.enqueue("c1", "q", 0)
    assert r.explain("c1").render().splitlines()[-1] == "nobody can take it now"


def test_round_robin_explains_the_member_after_the_last_pick_and_serve_agrees() -> None:
    r = router(Strategy.ROUND_ROBIN)
    r.enqueue("c1", "q", 0, wanted=Wanted.HUMAN)
    assert r.explain("c1").chosen == "h1"
    assert r.serve(0) == [Offered(conversation="c1", participant="h1", queue="q", expires_at=30)]
    r.enqueue("c2", "q", 1, wanted=Wanted.ANY)  # b1 comes first in the queue, but h1 was last
    assert r.explain("c2").chosen == "h2"
    assert [d.participant for d in r.serve(1)] == ["h2"]


def test_equal_ranks_go_to_the_first_member_in_explain_and_in_serve() -> None:
    people = [ParticipantSpec(id=p, kind=Kind.HUMAN, capacity=2) for p in ("h1", "h2")]
    r = Router(people, [QueueSpec(name="q", members=("h1", "h2"))])
    r.enqueue("c1", "q", 0)
    assert r.explain("c1").chosen == "h1"
    assert [d.participant for d in r.serve(0)] == ["h1"]


def test_a_fractional_offer_timeout_is_a_valid_timeout() -> None:
    people = [ParticipantSpec(id="h1", kind=Kind.HUMAN, capacity=1)]
    r = Router(people, [QueueSpec(name="q", members=("h1",), offer_timeout=0.5)])
    r.enqueue("c1", "q", 0)
    assert r.serve(0) == [Offered(conversation="c1", participant="h1", queue="q", expires_at=0.5)]


def test_an_unknown_kind_is_refused_as_an_invalid_step() -> None:
    with pytest.raises(StepRefused, match="unknown kind 'robot'") as refused:
        router().check_request("q", wanted="robot")  # type: ignore[arg-type]
    assert refused.value.code is ErrorCode.INVALID_STEP


def test_kept_decisions_come_back_as_kept_and_only_the_last_ones_stay() -> None:
    chosen = Consideration(participant="h1", verdict=Verdict.CHOSEN, remaining=0)
    decisions = [
        PastDecision(at=float(n), queue="q", chosen="h1", considered=(chosen,) if n % 2 else ())
        for n in range(KEPT_DECISIONS + 3)
    ]
    past: Kept = ()
    for decision in decisions:
        past = keep(past, decision)
    assert kept_decisions(past) == tuple(decisions[-KEPT_DECISIONS:])
    assert kept_decisions(keep((), decisions[0])) == (decisions[0],)


def test_one_participants_verdict_names_it_whether_chosen_with_the_offer_or_eligible() -> None:
    r = router()
    r.enqueue("c1", "q", 0, wanted=Wanted.HUMAN)
    assert r.consider("c1", "h2") == Consideration(
        participant="h2", verdict=Verdict.CHOSEN, remaining=3
    )
    assert r.consider("c1", "h1") == Consideration(
        participant="h1", verdict=Verdict.RANKED_LOWER, remaining=1
    )
    r.serve(0)
    assert r.consider("c1", "h2") == Consideration(
        participant="h2", verdict=Verdict.CHOSEN, remaining=2
    )


def test_a_bots_first_request_is_explained_with_every_bot_ranked_before_every_human() -> None:
    r = router()  # highest capacity: h2 (3 left) outranks b1 (2 left) by the strategy alone
    r.enqueue("c1", "q", 0, bots_first=True)
    assert r.explain("c1").chosen == "b1"
    assert [d.participant for d in r.serve(0)] == ["b1"]
    r.enqueue("c2", "q", 1, wanted=Wanted.ANY)
    assert r.explain("c2").chosen == "h2"


def test_every_requirement_an_ineligible_member_lacks_is_listed() -> None:
    people = [ParticipantSpec(id="h1", kind=Kind.HUMAN, capacity=1)]
    r = Router(people, [QueueSpec(name="q", members=("h1",))])
    lacking = (Requirement(skill="fr", level=2, for_=60), Requirement(skill="es", for_=60))
    r.enqueue("c1", "q", 0, requires=lacking)
    line = r.explain("c1").render().splitlines()[1]
    assert line == "  h1  lacks fr >= 2, es >= 1 (capacity left 1)"


def test_an_explanation_with_nobody_considered_renders_without_a_member_line() -> None:
    empty = Explanation(
        conversation="c1",
        queue="q",
        strategy=Strategy.ROUND_ROBIN,
        wanted=Wanted.ANY,
        named=None,
        considered=(),
        chosen=None,
    )
    assert empty.render().splitlines() == [
        "conversation c1 waits in queue q (strategy round_robin), asking for a bot or a human:",
        "nobody can take it now",
    ]


def _decided_in_queue_of(members: int) -> PastDecision:
    people = [ParticipantSpec(id=f"h{n}", kind=Kind.HUMAN, capacity=2) for n in range(members)]
    r = Router(people, [QueueSpec(name="q", members=tuple(p.id for p in people))])
    r.enqueue("c1", "q", 0)
    r.serve(5)
    (decision,) = r.decisions("c1")
    return decision


def test_a_decision_keeps_each_verdict_up_to_the_explained_size_and_only_the_choice_beyond() -> (
    None
):
    """Verdicts and capacity left as they were when the choice was made, before the offer."""
    decision = _decided_in_queue_of(EXPLAINED_MEMBERS)
    assert (decision.at, decision.queue, decision.chosen) == (5, "q", "h0")
    assert decision.considered[:2] == (
        Consideration(participant="h0", verdict=Verdict.CHOSEN, remaining=2),
        Consideration(participant="h1", verdict=Verdict.RANKED_LOWER, remaining=2),
    )
    assert len(decision.considered) == EXPLAINED_MEMBERS
    beyond = _decided_in_queue_of(EXPLAINED_MEMBERS + 1)
    assert beyond.chosen == "h0" and beyond.considered == ()
