"""The router's deciding calls: the seed flows, presence, FIFO lines, holds, and refusals that
change nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from routing_helpers import (
    AVAILABLE,
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

from handoff_fsm.config import Kind, OverflowTransfer, ParticipantSpec, QueueSpec, Requirement
from handoff_fsm.effects import WithdrawReason
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import Wanted
from handoff_fsm.routing import (
    Assigned,
    Offered,
    Router,
    RoutingConfigError,
    Verdict,
    WaitStatus,
    Withdrawn,
)
from handoff_fsm.routing import inspect as routing_inspect

# ----------------------------------------------------------------------------- the seed flows


def _seed_router() -> Router:
    return Router(
        [bot("bot-a", 100), human("rep-1", 50), bot("bot-b", 10)],
        [queue("support", "bot-a", "rep-1", "bot-b", offer_timeout=60)],
    )


@pytest.mark.parametrize("back_to", [Wanted.BOT, Wanted.ANY], ids=str)
def test_seed_flow_two_bots_in_one_queue_goes_bot_a_then_human_then_bot_b(back_to: Wanted) -> None:
    router = _seed_router()
    router.enqueue("c1", "support", 0)
    assert router.serve(0) == [Assigned(conversation="c1", participant="bot-a", queue="support")]
    assert router.release("c1", 1) == "bot-a"  # bot-a escalates
    router.enqueue("c1", "support", 1, wanted=Wanted.HUMAN)
    assert router.serve(1) == [
        Offered(conversation="c1", participant="rep-1", queue="support", expires_at=61.0)
    ]
    router.accept("c1", "rep-1", 2)
    assert router.holder("c1") == "rep-1" and router.held_in("c1") == "support"
    assert router.release("c1", 3) == "rep-1"  # rep-1 transfers back to a bot
    router.enqueue("c1", "support", 3, wanted=back_to)
    assert verdicts(router, "c1")["bot-a"] is Verdict.HELD_BEFORE
    assert router.serve(3) == [Assigned(conversation="c1", participant="bot-b", queue="support")]
    assert router.held_before("c1") == {"bot-a", "rep-1", "bot-b"}
    settled(router)


def test_seed_flow_two_bots_in_two_queues() -> None:
    router = Router(
        [bot("bot-a"), human("rep-1"), bot("bot-b")],
        [queue("queue-1", "bot-a", "rep-1"), queue("queue-2", "bot-b")],
    )
    router.enqueue("c1", "queue-1", 0)
    assert picks(router.serve(0)) == [("c1", "bot-a")]
    router.release("c1", 1)
    router.enqueue("c1", "queue-1", 1, wanted=Wanted.HUMAN)
    assert picks(router.serve(1)) == [("c1", "rep-1")]
    router.accept("c1", "rep-1", 2)
    router.release("c1", 3)
    router.enqueue("c1", "queue-2", 3, wanted=Wanted.BOT)
    assert router.serve(3) == [Assigned(conversation="c1", participant="bot-b", queue="queue-2")]


# ----------------------------------------------------------------------------- presence


def test_away_withdraws_offers_keeps_holds_and_gets_nothing_new() -> None:
    router = one_queue(bot("b1", 1), human("h1", 5), human("h2", 1))
    arrive(router, "held", named="h1")
    router.accept("held", "h1", 0)
    arrive(router, "c1", wanted=Wanted.HUMAN)
    assert router.offer_of("c1") == "h1"
    change = router.set_presence("h1", AWAY, 1)
    assert change.withdrawn == (
        Withdrawn(conversation="c1", participant="h1", queue="q", reason=WithdrawReason.CANCELLED),
    )
    assert change.dropped == ()
    assert router.holder("held") == "h1" and router.load("h1") == 1
    assert router.declined("c1") == frozenset()  # withdrawn is not declined
    assert picks(router.serve(1)) == [("c1", "h2")]
    router.decline("c1", "h2", 2)
    assert router.serve(2) == []  # h1 is away
    router.set_presence("h1", AVAILABLE, 3)
    assert routing_inspect.pending_queues(router) == ("q",)
    assert picks(router.serve(3)) == [("c1", "h1")]


def test_offline_drops_holds_back_to_their_original_place_with_their_request() -> None:
    router = one_queue(bot("b1", 2), human("h1", 1), bot("b2", 0))
    arrive(router, "first", wanted=Wanted.BOT)  # ticket 1, held by b1
    arrive(router, "second", wanted=Wanted.BOT)  # ticket 2, held by b1
    router.set_presence("h1", AWAY, 0)
    arrive(router, "third", wanted=Wanted.HUMAN)  # ticket 3, waiting
    arrive(router, "fourth")  # ticket 4, waiting: b1 full, h1 away
    change = router.set_presence("b1", OFFLINE, 5)
    assert change.dropped == ("first", "second")  # ticket order
    assert router.line("q") == ("first", "second", "third", "fourth")
    assert router.wanted("first") is Wanted.BOT and router.held_in("first") is None
    assert router.load("b1") == 0 and router.idle_since("b1") == 5
    assert verdicts(router, "first")["b1"] is Verdict.HELD_BEFORE
    settled(router)


def test_offline_with_offers_and_holds_reports_both_in_ticket_order() -> None:
    router = one_queue(human("h1", 4), human("h2", 0))
    for cid in ("a", "b", "c"):
        arrive(router, cid)
    router.accept("b", "h1", 1)
    change = router.set_presence("h1", OFFLINE, 2)
    assert [w.conversation for w in change.withdrawn] == ["a", "c"]
    assert change.dropped == ("b",)
    assert router.line("q") == ("a", "b", "c") and router.load("h1") == 0


def test_setting_the_same_presence_again_changes_nothing() -> None:
    router = one_queue(human("h1"))
    arrive(router, "c1")
    assert router.set_presence("h1", AVAILABLE, 1).withdrawn == ()
    assert router.offer_of("c1") == "h1"


# ----------------------------------------------------------------------------- FIFO


def test_the_earlier_conversation_gets_first_pick() -> None:
    router = one_queue(bot("b1", 1), bot("b2", 1))
    router.enqueue("c2", "q", 0)
    router.enqueue("c1", "q", 0)
    assert picks(router.serve(0)) == [("c2", "b1"), ("c1", "b2")]  # line order, not names


def test_freed_capacity_goes_to_the_head_of_the_line() -> None:
    router = one_queue(bot("b1", 1))
    arrive(router, "holder")
    for cid in ("first", "second"):
        router.enqueue(cid, "q", 0)
    assert router.serve(0) == [] and router.line("q") == ("first", "second")
    router.release("holder", 1)
    assert picks(router.serve(1)) == [("first", "b1")]


def test_a_conversation_nobody_can_take_does_not_block_later_ones() -> None:
    router = one_queue(bot("b1", 1), human("h1", 0))
    router.enqueue("wants-human", "q", 0, wanted=Wanted.HUMAN)
    router.enqueue("wants-bot", "q", 0, wanted=Wanted.BOT)
    assert picks(router.serve(0)) == [("wants-bot", "b1")]
    assert router.line("q") == ("wants-human",)


def test_a_conversation_that_held_every_free_participant_does_not_block_later_ones() -> None:
    router = one_queue(bot("b1", 2))
    arrive(router, "old")
    router.release("old", 1)
    router.enqueue("old", "q", 1, check=False)  # b1 held it before: nobody else can take it
    router.enqueue("new", "q", 1)
    assert picks(router.serve(1)) == [("new", "b1")]
    assert router.position("old") == 1


def test_a_later_conversation_never_takes_what_an_earlier_one_could_take() -> None:
    router = Router([bot("b1", 1), human("h1", 1)], [queue("q", "b1", "h1")])
    for cid, wanted in (("c1", Wanted.HUMAN), ("c2", Wanted.ANY), ("c3", Wanted.BOT)):
        router.enqueue(cid, "q", 0, wanted=wanted)
    assert picks(router.serve(0)) == [("c1", "h1"), ("c2", "b1")]
    assert router.line("q") == ("c1", "c3")


def test_queues_sharing_a_participant_are_served_oldest_ticket_first() -> None:
    router = Router([bot("b1", 1), bot("x", 1)], [queue("a", "b1"), queue("b", "b1", "x")])
    router.enqueue("hold-x", "b", 0, named="x")
    router.set_presence("b1", AWAY, 0)
    router.enqueue("in-b", "b", 0, wanted=Wanted.BOT)  # older
    router.enqueue("in-a", "a", 0)
    assert picks(router.serve(0)) == [("hold-x", "x")]
    router.set_presence("b1", AVAILABLE, 1)
    assert routing_inspect.pending_queues(router) == ("a", "b")
    assert picks(router.serve(1)) == [("in-b", "b1")]


def test_serve_does_nothing_and_looks_at_nothing_when_nothing_changed() -> None:
    router = one_queue(bot("b1", 1))
    arrive(router, "c1")
    router.enqueue("c2", "q", 0)
    router.serve(0)
    steps = routing_inspect.selection_steps(router)
    assert routing_inspect.pending_queues(router) == ()
    assert router.serve(1) == [] and routing_inspect.selection_steps(router) == steps
    router.release("c1", 2)
    assert routing_inspect.pending_queues(router) == ("q",)


# ----------------------------------------------------------------------------- holds


def test_reassign_moves_the_hold_with_its_units_and_queue() -> None:
    router = one_queue(bot("b1", 4), human("sup", 2), units=2)
    arrive(router, "c1")
    assert router.reassign("c1", "sup", 5) == "b1"
    assert router.holder("c1") == "sup" and router.held_in("c1") == "q"
    assert (router.load("b1"), router.load("sup")) == (0, 2)
    assert router.held_before("c1") == {"b1", "sup"}
    settled(router)


def test_assign_gives_a_cancelled_wait_back_to_its_bot_even_when_away() -> None:
    router = one_queue(bot("bot-a", 1), human("h1", 0))
    arrive(router, "c1")
    router.release("c1", 1)
    router.enqueue("c1", "q", 1, wanted=Wanted.HUMAN)
    router.set_presence("bot-a", AWAY, 2)
    assert router.leave("c1", 3) is None
    router.assign("c1", "bot-a", "q", 3)
    assert router.holder("c1") == "bot-a" and router.load("bot-a") == 1
    router.set_presence("bot-a", OFFLINE, 4)  # dropped back to the place of its last wait
    assert router.line("q") == ("c1",) and router.wanted("c1") is Wanted.HUMAN
    settled(router)


def test_assign_is_refused_for_an_offline_participant() -> None:
    router = one_queue(bot("bot-a", 1))
    router.set_presence("bot-a", OFFLINE, 0)
    with pytest.raises(StepRefused, match="'bot-a' is offline"):
        router.assign("c1", "bot-a", "q", 1)
    assert router.holder("c1") is None and router.load("bot-a") == 0


def test_forget_drops_every_memory_of_a_finished_conversation() -> None:
    router = one_queue(bot("b1", 1))
    arrive(router, "c1")
    with pytest.raises(StepRefused, match="held by 'b1'"):
        router.forget("c1")
    router.release("c1", 1)
    router.forget("c1")
    assert router.held_before("c1") == frozenset() and router.wait_status("c1") is None
    assert picks(arrive(router, "c1", now=2)) == [("c1", "b1")]  # a stranger again
    router.forget("never-seen")


# ----------------------------------------------------------------------------- refusals


def _refusals(router: Router) -> list[Callable[[], object]]:
    return [
        lambda: router.enqueue("waiting", "q", 9),
        lambda: router.enqueue("held", "q", 9),
        lambda: router.enqueue("new", "nowhere", 9),
        lambda: router.enqueue("new", "q", 9, named="ghost"),
        lambda: router.enqueue("new", "q", 9, wanted=Wanted.BOT, named="h1"),
        lambda: router.accept("waiting", "h2", 9),
        lambda: router.accept("ghost", "h1", 9),
        lambda: router.decline("offered", "b1", 9),
        lambda: router.expire_offer("waiting", "h1", 9),
        lambda: router.release("waiting", 9),
        lambda: router.release("ghost", 9),
        lambda: router.leave("held", 9),
        lambda: router.reassign("held", "h-away", 9),
        lambda: router.reassign("held", "h-full", 9),
        lambda: router.reassign("held", "b1", 9),
        lambda: router.reassign("waiting", "h1", 9),
        lambda: router.assign("held", "h1", "q", 9),
        lambda: router.assign("new", "h-full", "q", 9),
        lambda: router.assign("new", "ghost", "q", 9),
        lambda: router.set_presence("ghost", AWAY, 9),
        lambda: router.forget("waiting"),
        lambda: router.forget("offered"),
        lambda: router.explain("held"),
        lambda: router.load("ghost"),
        lambda: router.line("nowhere"),
    ]


def test_every_refused_call_changes_nothing() -> None:
    router = one_queue(
        bot("b1", 1), human("h1", 1), human("h2", 0), human("h-away", 5), human("h-full", 0)
    )
    router.set_presence("h-away", AWAY, 0)
    arrive(router, "held", wanted=Wanted.BOT)
    arrive(router, "offered", wanted=Wanted.HUMAN)
    arrive(router, "waiting")
    assert router.offer_of("offered") == "h1" and router.position("waiting") == 2
    before = routing_inspect.dump(router)
    for attempt in _refusals(router):
        with pytest.raises(StepRefused):
            attempt()
        assert routing_inspect.dump(router) == before, attempt
        settled(router)


def test_refusals_name_what_is_wrong() -> None:
    router = one_queue(bot("b1", 1))
    arrive(router, "c1")
    with pytest.raises(StepRefused, match="conversation 'c1' is held by 'b1'"):
        router.enqueue("c1", "q", 1)
    with pytest.raises(StepRefused, match="unknown queue 'elsewhere'"):
        router.enqueue("c2", "elsewhere", 1)
    with pytest.raises(StepRefused, match="'b1' has no capacity left"):
        router.assign("c2", "b1", "q", 1)


@pytest.mark.parametrize(
    ("participants", "queues", "problem"),
    [
        ([bot("b1"), bot("b1")], [], "'b1' is defined twice"),
        ([bot("b1")], [queue("q", "b2")], "unknown participant 'b2'"),
        ([bot("b1")], [queue("q", "b1", "b1")], "lists 'b1' twice"),
        ([bot("b1")], [queue("q", "b1", units=0)], "units must be at least 1"),
        ([bot("b1")], [queue("q", "b1"), queue("q", "b1")], "queue 'q' is defined twice"),
        ([bot("b1", -1)], [], "negative capacity"),
        ([bot("b1")], [queue("q", "b1", offer_timeout=0)], "offer_timeout must be > 0"),
        ([bot("b1")], [QueueSpec(name="q", members=("b1",), wait_timeout=0)], "wait_timeout must"),
        ([bot("b1")], [QueueSpec(name="q", members=("b1",), overflow=OverflowTransfer(queue="x"))],
         "overflow transfers to unknown queue 'x'"),
        ([bot("b1")], [QueueSpec(name="q", members=("b1",), overflow=OverflowTransfer(queue="q"))],
         "overflow transfers to itself"),
    ],
)  # fmt: skip
def test_a_configuration_that_cannot_be_routed_is_refused(
    participants: list[ParticipantSpec], queues: list[QueueSpec], problem: str
) -> None:
    with pytest.raises(RoutingConfigError, match=problem):
        Router(participants, queues)


# ----------------------------------------------------------------------------- requests


def _skilled(pid: str, **skills: int) -> ParticipantSpec:
    return ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=2, skills=skills)


def test_a_fresh_router_has_done_no_selection_work() -> None:
    assert routing_inspect.selection_steps(one_queue(human("h1"))) == 0


def test_a_named_participant_lacking_a_lasting_skill_is_refused_by_name() -> None:
    router = Router([_skilled("h1", french=1)], [queue("q", "h1")])
    with pytest.raises(StepRefused) as refused:
        router.enqueue("c1", "q", 0, named="h1", requires=(Requirement(skill="billing", level=2),))
    assert refused.value.code is ErrorCode.CANNOT_SERVE
    assert str(refused.value) == "'h1' lacks billing at level 2"
    assert router.queue_of("c1") is None


def test_a_request_every_member_of_its_kind_held_before_is_refused_naming_them_all() -> None:
    router = Router([bot("bot-a"), bot("bot-b")], [queue("q", "bot-a", "bot-b")])
    for pid in ("bot-a", "bot-b"):
        router.enqueue("c1", "q", 0, wanted=Wanted.BOT, named=pid)
        assert picks(router.serve(0)) == [("c1", pid)]
        router.release("c1", 1)
    with pytest.raises(StepRefused) as refused:
        router.enqueue("c1", "q", 2, wanted=Wanted.BOT)
    assert refused.value.code is ErrorCode.CANNOT_SERVE
    assert str(refused.value) == "bot-a, bot-b held c1 before; name it with `to`"


def test_an_overflowed_request_keeps_its_clock_and_priority() -> None:
    """`since` carries an earlier request's start (its `for` counts from there); the priority
    asked is kept and read back."""
    router = Router([_skilled("h1")], [queue("q", "h1")])
    router.set_presence("h1", AWAY, 0)
    billing = Requirement(skill="billing", for_=30.0)
    router.enqueue("c1", "q", 20, requires=(billing,), since=0, priority=5, check=False)
    assert router.request_since("c1") == 0
    assert router.relax_deadlines("c1") == (30.0,)
    assert router.priority("c1") == 5 and router.line_priority("c1") == 5


def test_a_requirement_relaxes_exactly_when_its_for_has_run_out() -> None:
    router = Router([_skilled("h1"), _skilled("h2")], [queue("q", "h1", "h2")])
    billing = Requirement(skill="billing", for_=30.0)
    router.enqueue("c1", "q", 100, requires=(billing,), check=False)  # a fresh request at 100
    assert router.requires("c1") == (billing,)
    router.enqueue("c2", "q", 30, requires=(billing,), since=0, check=False)  # ran out at 30
    assert router.requires("c2") == ()


def test_a_refusal_for_capacity_names_the_conversation_and_for_a_name_each_missing_skill() -> None:
    people = [bot("b1", 1), ParticipantSpec(id="h1", kind=Kind.HUMAN, capacity=1), human("h2", 0)]
    router = Router(people, [queue("q", "b1", "h1", "h2")])
    arrive(router, "c1", wanted=Wanted.BOT)
    with pytest.raises(StepRefused, match=r"^'b1' has no capacity left for conversation 'c2'$"):
        router.assign("c2", "b1", "q", 1)
    with pytest.raises(StepRefused, match=r"^'h2' has no capacity left for conversation 'c1'$"):
        router.reassign("c1", "h2", 1)
    lasting = (Requirement(skill="fr", level=2), Requirement(skill="es"))
    with pytest.raises(StepRefused, match=r"^'h1' lacks fr at level 2, es at level 1$"):
        router.enqueue("c3", "q", 1, named="h1", requires=lasting)


def test_a_conversation_assigned_without_a_wait_has_a_wait_that_is_over() -> None:
    router = one_queue(bot("b1", 1))
    router.assign("c1", "b1", "q", 0)
    assert router.wait_status("c1") is WaitStatus.LEFT and router.holder("c1") == "b1"


def test_no_best_candidate_is_named_while_an_offer_is_out() -> None:
    router = one_queue(human("h1", 1), human("h2", 1))
    router.enqueue("c1", "q", 0)
    assert router.best_candidate("c1") == "h1"
    router.serve(0)
    assert router.best_candidate("c1") is None and router.offer_of("c1") == "h1"


def test_ending_one_wrap_up_ends_only_that_one_even_with_the_same_deadline() -> None:
    router = one_queue(human("h1", 3))
    for cid in ("c1", "c2", "c3"):
        router.assign(cid, "h1", "q", 0)
    router.release("c1", 1, wrap_until=10)
    router.release("c2", 1, wrap_until=10)
    router.release("c3", 1, wrap_until=20)
    assert router.end_wrap_up("h1", "c1", until=20) == ()  # not c1's deadline: nothing ends
    assert router.end_wrap_up("h1", "c1", until=10) == ("c1",)
    assert router.wrapping("h1") == {"c2": 10, "c3": 20} and router.load("h1") == 2


def test_a_second_wrap_up_of_the_same_conversation_keeps_both_holds_units() -> None:
    router = one_queue(human("h1", 3), units=1)
    router.assign("c1", "h1", "q", 0)
    router.release("c1", 1, wrap_until=10)
    router.assign("c1", "h1", "q", 2)  # given back to the same human during its wrap-up
    router.release("c1", 3, wrap_until=20)
    assert router.wrapping("h1") == {"c1": 20} and router.load("h1") == 2
    assert router.end_wrap_up("h1") == ("c1",) and router.load("h1") == 0
    settled(router)


def test_going_offline_during_a_wrap_up_frees_its_units() -> None:
    router = one_queue(human("h1", 3), units=2)
    router.assign("c1", "h1", "q", 0)
    router.release("c1", 1, wrap_until=10)
    assert router.load("h1") == 2
    router.set_presence("h1", OFFLINE, 2)
    assert router.load("h1") == 0 and router.wrapping("h1") == {}
    settled(router)


def test_relax_drops_a_requirement_only_once_its_time_counted_from_the_request_is_up() -> None:
    people = [ParticipantSpec(id="h1", kind=Kind.HUMAN, capacity=1)]
    router = Router(people, [queue("q", "h1")])
    fr = Requirement(skill="fr", for_=10)
    router.enqueue("c1", "q", 100, requires=(fr,))
    assert router.relax("c1", 105) is False and router.requires("c1") == (fr,)
    assert router.serve(105) == []
    assert router.relax("c1", 110) is True and router.requires("c1") == ()
    assert picks(router.serve(110)) == [("c1", "h1")]
    assert router.relax("c1", 120) is False


def test_a_named_participant_going_away_with_the_offer_out_is_still_waited_for() -> None:
    router = one_queue(human("h1", 1), human("h2", 1))
    assert picks(arrive(router, "c1", named="h2")) == [("c1", "h2")]
    change = router.set_presence("h2", AWAY, 1)
    assert [w.conversation for w in change.withdrawn] == ["c1"]
    assert router.named("c1") == "h2" and router.serve(1) == []
    router.set_presence("h2", AVAILABLE, 2)
    assert picks(router.serve(2)) == [("c1", "h2")]
    settled(router)


def test_setting_a_human_available_again_forgets_its_missed_offers() -> None:
    router = one_queue(human("h1", 1), offer_timeout=30)
    arrive(router, "c1")
    router.expire_offer("c1", "h1", 30)
    assert router.missed_offers("h1") == 1
    router.set_presence("h1", AVAILABLE, 31)  # already available: only the count starts over
    assert router.missed_offers("h1") == 0


def test_each_check_of_a_named_participant_counts_as_one_selection_step() -> None:
    router = one_queue(human("h1", 1), human("h2", 1))
    router.enqueue("c1", "q", 0, named="h2")
    steps = routing_inspect.selection_steps(router)
    for _ in range(3):
        assert router.best_candidate("c1") == "h2"
    assert routing_inspect.selection_steps(router) == steps + 3
