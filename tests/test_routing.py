"""Routing against SPEC §3: strategies, eligibility and its explanations, offers, named requests,
presence, FIFO lines, refusals that change nothing, random walks checked against a small
independent oracle, and a structural check that selection does not scan a queue."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Iterable

import attrs
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from handoff_fsm.config import Kind, OverflowTransfer, ParticipantSpec, QueueSpec, Strategy
from handoff_fsm.effects import WithdrawReason
from handoff_fsm.errors import ModelError, StepRefused
from handoff_fsm.events import PresenceStatus, Wanted
from handoff_fsm.model import bundled_models_dir, guard_free_table, load_bundled, parse_model
from handoff_fsm.routing import (
    WAIT_TABLE,
    Assigned,
    Decision,
    Offered,
    Router,
    RoutingConfigError,
    Verdict,
    WaitStatus,
    Withdrawn,
    compile_wait_table,
)
from handoff_fsm.routing import inspect as routing_inspect

AVAILABLE, AWAY, OFFLINE = PresenceStatus.AVAILABLE, PresenceStatus.AWAY, PresenceStatus.OFFLINE


def bot(pid: str, capacity: int = 10) -> ParticipantSpec:
    return ParticipantSpec(id=pid, kind=Kind.BOT, capacity=capacity)


def human(pid: str, capacity: int = 10) -> ParticipantSpec:
    return ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=capacity)


def queue(
    name: str,
    *members: str,
    strategy: Strategy = Strategy.HIGHEST_CAPACITY,
    units: int = 1,
    offer_timeout: float | None = None,
) -> QueueSpec:
    return QueueSpec(
        name=name, members=members, strategy=strategy, units=units, offer_timeout=offer_timeout
    )


def one_queue(
    *participants: ParticipantSpec,
    strategy: Strategy = Strategy.HIGHEST_CAPACITY,
    units: int = 1,
    offer_timeout: float | None = None,
) -> Router:
    """A router with one queue `q` holding every participant, in the given order."""
    members = (p.id for p in participants)
    spec = queue("q", *members, strategy=strategy, units=units, offer_timeout=offer_timeout)
    return Router(participants, [spec])


def picks(decisions: Iterable[Decision]) -> list[tuple[str, str]]:
    return [(d.conversation, d.participant) for d in decisions]


def arrive(
    router: Router,
    conversation: str,
    now: float = 0.0,
    *,
    wanted: Wanted = Wanted.ANY,
    named: str | None = None,
) -> list[Decision]:
    """A conversation joins queue `q` and the router serves at once, as the switchboard does."""
    router.enqueue(conversation, "q", now, wanted=wanted, named=named)
    return router.serve(now)


def verdicts(router: Router, conversation: str) -> dict[str, Verdict]:
    return {c.participant: c.verdict for c in router.explain(conversation).considered}


def settled(router: Router) -> None:
    """The router's own invariants hold (checked on the raw state)."""
    assert routing_inspect.audit(router) == []


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


# ----------------------------------------------------------------------------- offers


def test_an_accepted_offer_becomes_a_hold_with_the_same_load() -> None:
    router = one_queue(human("h1", 2), offer_timeout=30)
    (offer,) = arrive(router, "c1", now=10)
    assert offer == Offered(conversation="c1", participant="h1", queue="q", expires_at=40)
    assert router.load("h1") == 1 and router.offer_of("c1") == "h1"
    assert router.wait_status("c1") is WaitStatus.OFFERED and router.position("c1") == 1
    router.accept("c1", "h1", 11)
    assert router.load("h1") == 1 and router.holder("c1") == "h1"
    assert router.offer_of("c1") is None and router.queue_of("c1") is None
    assert router.line("q") == () and router.wait_status("c1") is WaitStatus.ASSIGNED
    settled(router)


def test_a_declined_offer_goes_to_the_next_eligible_human() -> None:
    router = one_queue(human("h1", 3), human("h2", 2))
    arrive(router, "c1")
    withdrawn = router.decline("c1", "h1", 1)
    assert withdrawn == Withdrawn(
        conversation="c1", participant="h1", queue="q", reason=WithdrawReason.DECLINED
    )
    assert router.load("h1") == 0 and router.wait_status("c1") is WaitStatus.QUEUED
    assert picks(router.serve(1)) == [("c1", "h2")]
    router.decline("c1", "h2", 2)
    assert router.serve(2) == [] and router.position("c1") == 1  # nobody left: it waits


def test_a_timed_out_offer_goes_to_the_next_eligible_human() -> None:
    router = one_queue(human("h1", 3), human("h2", 2), offer_timeout=5)
    arrive(router, "c1")
    assert router.offer_expires_at("c1") == 5
    withdrawn = router.expire_offer("c1", "h1", 5)
    assert withdrawn.reason is WithdrawReason.TIMEOUT
    assert verdicts(router, "c1")["h1"] is Verdict.DECLINED_BEFORE
    assert router.serve(5) == [
        Offered(conversation="c1", participant="h2", queue="q", expires_at=10)
    ]


def test_a_conversation_has_at_most_one_offer_and_keeps_its_place_meanwhile() -> None:
    router = one_queue(human("h1", 1), human("h2", 1))
    arrive(router, "c1")
    arrive(router, "c2")
    assert router.offer_of("c1") == "h1" and router.offer_of("c2") == "h2"
    assert router.line("q") == ("c1", "c2") and router.position("c2") == 2
    assert router.serve(3) == []  # no second offer for anyone


def test_an_offer_that_is_not_open_cannot_be_answered() -> None:
    router = one_queue(human("h1"), human("h2"))
    arrive(router, "c1")
    for answer in (router.accept, router.decline, router.expire_offer):
        with pytest.raises(StepRefused, match="'h2' has no open offer"):
            answer("c1", "h2", 1)
    settled(router)


def test_leaving_the_line_withdraws_an_open_offer_as_cancelled() -> None:
    router = one_queue(human("h1"))
    arrive(router, "c1")
    assert router.leave("c1", 1) == Withdrawn(
        conversation="c1", participant="h1", queue="q", reason=WithdrawReason.CANCELLED
    )
    assert router.load("h1") == 0 and router.queue_of("c1") is None
    assert router.wait_status("c1") is WaitStatus.LEFT


# ----------------------------------------------------------------------------- named requests


def test_a_named_request_goes_only_to_that_participant_even_if_it_held_it_before() -> None:
    router = one_queue(human("rep-1", 9), human("rep-2", 1))
    arrive(router, "c1", named="rep-2")
    assert router.offer_of("c1") == "rep-2"
    router.accept("c1", "rep-2", 1)
    router.release("c1", 2)
    router.enqueue("c1", "q", 3, named="rep-2")
    assert verdicts(router, "c1") == {"rep-1": Verdict.NOT_NAMED, "rep-2": Verdict.CHOSEN}
    assert picks(router.serve(3)) == [("c1", "rep-2")]


@pytest.mark.parametrize("says_no", ["decline", "expire_offer"])
def test_a_named_participant_that_says_no_widens_the_request_to_the_queue(says_no: str) -> None:
    router = one_queue(bot("b1"), human("rep-1"), human("rep-2"))
    arrive(router, "c1", wanted=Wanted.HUMAN, named="rep-2")
    getattr(router, says_no)("c1", "rep-2", 1)
    assert router.named("c1") is None and router.wanted("c1") is Wanted.HUMAN
    assert picks(router.serve(1)) == [("c1", "rep-1")]  # not the bot: wanted is unchanged


def test_a_named_participant_away_is_waited_for_but_offline_widens() -> None:
    router = one_queue(human("rep-1"), human("rep-2"))
    router.set_presence("rep-2", AWAY, 0)
    assert arrive(router, "c1", named="rep-2") == []
    assert verdicts(router, "c1")["rep-2"] is Verdict.AWAY
    router.set_presence("rep-2", OFFLINE, 1)
    assert router.named("c1") is None
    assert picks(router.serve(1)) == [("c1", "rep-1")]


def test_a_named_offer_withdrawn_by_offline_widens_too() -> None:
    router = one_queue(human("rep-1"), human("rep-2"))
    arrive(router, "c1", named="rep-2")
    change = router.set_presence("rep-2", OFFLINE, 1)
    assert [w.reason for w in change.withdrawn] == [WithdrawReason.CANCELLED]
    assert picks(router.serve(1)) == [("c1", "rep-1")]
    settled(router)


def test_a_named_request_that_can_never_be_met_is_refused() -> None:
    router = Router([bot("b1"), human("h1")], [queue("q", "b1", "h1"), queue("r", "h1")])
    with pytest.raises(StepRefused, match="'b1' is a bot, but a human is asked for"):
        router.enqueue("c1", "q", 0, wanted=Wanted.HUMAN, named="b1")
    with pytest.raises(StepRefused, match="'b1' is not a member of queue 'r'"):
        router.check_request("r", named="b1")
    with pytest.raises(StepRefused, match="unknown participant 'ghost'"):
        router.check_request("q", named="ghost")
    router.check_request("q", wanted=Wanted.BOT, named="b1")
    assert router.queue_of("c1") is None


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


# ----------------------------------------------------------------------------- the model


def test_the_wait_table_is_exactly_the_routing_model() -> None:
    table = guard_free_table(load_bundled("routing"))
    assert {(str(s), str(t)): str(d) for (s, t), d in WAIT_TABLE.items()} == table


def test_a_routing_model_that_differs_from_the_code_is_refused() -> None:
    raw = yaml.safe_load((bundled_models_dir() / "routing.yaml").read_text())
    raw["transitions"].append({"trigger": "teleport", "source": ["queued"], "dest": "assigned"})
    with pytest.raises(ModelError, match=r"edited.yaml: transitions: .*teleport"):
        compile_wait_table(parse_model(raw, "edited.yaml"))


def test_a_wait_walks_the_model_states() -> None:
    router = one_queue(human("h1"), human("h2"))
    router.enqueue("c1", "q", 0)
    seen = [router.wait_status("c1")]
    router.serve(0)
    seen.append(router.wait_status("c1"))
    router.decline("c1", "h1", 1)
    seen.append(router.wait_status("c1"))
    router.serve(1)
    router.accept("c1", "h2", 2)
    seen.append(router.wait_status("c1"))
    assert seen == ["queued", "offered", "queued", "assigned"]


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


# ----------------------------------------------------------------------------- properties

PIDS = [f"p{i}" for i in range(6)]
CIDS = [f"c{i}" for i in range(6)]
World = tuple[list[ParticipantSpec], list[QueueSpec]]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    people = [
        ParticipantSpec(id=pid, kind=draw(st.sampled_from(Kind)), capacity=draw(st.integers(0, 3)))
        for pid in PIDS
    ]
    queues = []
    for n in range(draw(st.integers(1, 3))):
        members = draw(st.lists(st.sampled_from(PIDS), unique=True, min_size=1))
        queues.append(
            queue(
                f"q{n}",
                *members,
                strategy=draw(st.sampled_from(Strategy)),
                units=draw(st.integers(1, 2)),
                offer_timeout=draw(st.sampled_from([None, 5.0])),
            )
        )
    return people, queues


@attrs.frozen
class Op:
    """One call of a random walk. `participant` is the named one for `enqueue`, and None for
    an answer means "the participant the offer is out to". Conversation `*` means the first
    one the call makes sense for (offered, held or waiting), so that walks get somewhere."""

    name: str
    conversation: str = "c0"
    participant: str | None = None
    queue: int = 0
    wanted: Wanted = Wanted.ANY
    status: PresenceStatus = AVAILABLE


conversation_ids = st.sampled_from(CIDS)
some_conversation = st.sampled_from(["*", "*", *CIDS])
participant_ids = st.sampled_from(PIDS)
arrivals = st.builds(
    Op,
    name=st.just("enqueue"),
    conversation=conversation_ids,
    participant=st.none() | participant_ids,
    queue=st.integers(0, 2),
    wanted=st.sampled_from(Wanted),
)
answers = st.builds(
    Op,
    name=st.sampled_from(["accept", "accept", "decline", "expire_offer"]),
    conversation=some_conversation,
    participant=st.none() | st.none() | st.none() | participant_ids,
)
operations: st.SearchStrategy[Op] = st.one_of(
    arrivals,
    arrivals,
    st.just(Op("serve")),
    st.just(Op("serve")),
    answers,
    answers,
    st.builds(
        Op,
        name=st.just("presence"),
        participant=participant_ids,
        status=st.sampled_from([AVAILABLE, AVAILABLE, AWAY, OFFLINE]),
    ),
    st.builds(
        Op, name=st.sampled_from(["release", "leave", "forget"]), conversation=some_conversation
    ),
    st.builds(
        Op, name=st.just("reassign"), conversation=some_conversation, participant=participant_ids
    ),
    st.builds(
        Op,
        name=st.just("assign"),
        conversation=conversation_ids,
        participant=participant_ids,
        queue=st.integers(0, 2),
    ),
)


@attrs.define
class Wait:
    """The shadow's record of one conversation."""

    ticket: int
    wanted: Wanted = Wanted.ANY
    named: str | None = None
    queue: str | None = None
    offer: str | None = None
    holder: str | None = None
    held_in: str | None = None
    declined: set[str] = attrs.Factory(set)
    held_before: set[str] = attrs.Factory(set)


@attrs.frozen
class Call:
    """A random-walk op resolved against the router's state: exactly the call that is made."""

    name: str
    conversation: str = ""
    participant: str = ""
    queue: str = ""
    wanted: Wanted = Wanted.ANY
    named: str | None = None
    status: PresenceStatus = AVAILABLE


class Shadow:
    """SPEC §3 and docs/routing.md written out plainly (linear scans, no index, no sub-lines):
    the model the router is checked against after every successful call."""

    def __init__(self, world: World) -> None:
        people, queues = world
        self.people = {p.id: p for p in people}
        self.queues = {q.name: q for q in queues}
        self.presence = dict.fromkeys(self.people, AVAILABLE)
        self.idle = dict.fromkeys(self.people, -math.inf)
        self.last: dict[str, str | None] = dict.fromkeys(self.queues)
        self.waits: dict[str, Wait] = {}
        self.next_ticket = 1

    def _ticket(self) -> int:
        self.next_ticket += 1
        return self.next_ticket - 1

    def load(self, pid: str) -> int:
        held = sum(
            self.queues[w.held_in or ""].units for w in self.waits.values() if w.holder == pid
        )
        offered = sum(
            self.queues[w.queue or ""].units for w in self.waits.values() if w.offer == pid
        )
        return held + offered

    def choice(self, cid: str) -> str | None:
        """Filter by every rule, then rank by the strategy, ties by queue order."""
        w = self.waits[cid]
        q = self.queues[w.queue or ""]
        last = self.last[q.name]
        last_at = q.members.index(last) if last is not None else -1
        ranked: list[tuple[tuple[float, int], str]] = []
        for at, pid in enumerate(q.members):
            spec, load = self.people[pid], self.load(pid)
            if (
                (w.named is not None and pid != w.named)
                or (w.wanted is not Wanted.ANY and spec.kind.value != w.wanted.value)
                or (pid in w.held_before and pid != w.named)
                or pid in w.declined
                or self.presence[pid] is not AVAILABLE
                or spec.capacity - load < q.units
            ):
                continue
            rank: float = {
                Strategy.HIGHEST_CAPACITY: load - spec.capacity,
                Strategy.LEAST_ACTIVE: load,
                Strategy.MOST_IDLE: self.idle[pid],
                Strategy.ROUND_ROBIN: 1 if at <= last_at else 0,
            }[q.strategy]
            ranked.append(((rank, at), pid))
        return min(ranked)[1] if ranked else None

    def ready(self) -> list[str]:
        """Waiting conversations without an offer out, oldest ticket first across queues."""
        waiting = [(w.ticket, cid) for cid, w in self.waits.items() if w.queue and not w.offer]
        return [cid for _, cid in sorted(waiting)]

    def serve(self, now: float) -> list[tuple[str, str]]:
        chosen = []
        for cid in self.ready():
            pid = self.choice(cid)
            if pid is None:
                continue
            w = self.waits[cid]
            if w.named is None:
                self.last[w.queue or ""] = pid
            self.idle[pid] = now
            if self.people[pid].kind is Kind.BOT:
                self._hold(w, pid, w.queue or "", now)
                w.queue = w.named = None
            else:
                w.offer = pid
            chosen.append((cid, pid))
        return chosen

    def follow(self, call: Call, now: float) -> None:
        """Do what the router just did successfully."""
        w = self.waits.get(call.conversation)
        if call.name == "enqueue":
            if w is None:
                w = self.waits[call.conversation] = Wait(ticket=0)
            w.ticket, w.queue, w.wanted, w.named = (
                self._ticket(),
                call.queue,
                call.wanted,
                call.named,
            )
            w.declined = set()
        elif call.name == "presence":
            self._presence(call.participant, call.status, now)
        elif call.name == "assign":
            if w is None:
                w = self.waits[call.conversation] = Wait(ticket=self._ticket())
            self._hold(w, call.participant, call.queue, now)
        elif call.name == "forget":
            self.waits.pop(call.conversation, None)
        else:
            assert w is not None
            self._follow_wait(call, w, now)

    def _follow_wait(self, call: Call, w: Wait, now: float) -> None:
        if call.name == "accept":
            self._hold(w, call.participant, w.queue or "", now)
            w.offer = w.queue = w.named = None
        elif call.name in ("decline", "expire_offer"):
            w.offer = None
            w.declined.add(call.participant)
            w.named = None if w.named == call.participant else w.named
        elif call.name == "release":
            self.idle[w.holder or ""] = now
            w.holder = w.held_in = None
        elif call.name == "leave":
            w.offer = w.queue = w.named = None
        else:
            assert call.name == "reassign"
            self.idle[w.holder or ""] = now
            self._hold(w, call.participant, w.held_in or "", now)

    def _presence(self, pid: str, status: PresenceStatus, now: float) -> None:
        if self.presence[pid] is status:
            return
        self.presence[pid] = status
        for w in self.waits.values():
            if status is not AVAILABLE and w.offer == pid:
                w.offer = None
            if status is OFFLINE and w.holder == pid:
                w.queue, w.holder, w.held_in, w.declined = w.held_in, None, None, set()
                self.idle[pid] = now
            if status is OFFLINE and w.queue is not None and w.named == pid:
                w.named = None

    def _hold(self, w: Wait, pid: str, queue: str, now: float) -> None:
        w.holder, w.held_in = pid, queue
        w.held_before.add(pid)
        self.idle[pid] = now

    def check(self, router: Router) -> None:
        """Everything the router answers equals what the shadow expects."""
        for pid, spec in self.people.items():
            assert router.load(pid) == self.load(pid) <= spec.capacity, pid
            assert router.presence(pid) is self.presence[pid]
            assert router.idle_since(pid) == self.idle[pid], pid
        for name in self.queues:
            assert router.last_picked(name) == self.last[name]
            line = sorted((w.ticket, cid) for cid, w in self.waits.items() if w.queue == name)
            assert router.line(name) == tuple(cid for _, cid in line)
        for cid in CIDS:
            w = self.waits.get(cid)
            if w is None:
                assert router.wait_status(cid) is None
                continue
            assert (router.holder(cid), router.held_in(cid)) == (w.holder, w.held_in), cid
            assert (router.queue_of(cid), router.offer_of(cid)) == (w.queue, w.offer), cid
            assert (router.wanted(cid), router.named(cid)) == (w.wanted, w.named), cid
            assert router.declined(cid) == w.declined and router.held_before(cid) == w.held_before
            if w.queue is not None or w.holder is not None:
                assert router.ticket(cid) == w.ticket, cid


def _conversation_for(router: Router, op: Op) -> str:
    if op.conversation != "*":
        return op.conversation
    fits: Callable[[str], object] = router.queue_of
    if op.name in ("accept", "decline", "expire_offer"):
        fits = router.offer_of
    elif op.name in ("release", "reassign"):
        fits = router.holder
    elif op.name == "forget":
        fits = router.wait_status
    return next((cid for cid in CIDS if fits(cid)), CIDS[0])


def resolve(router: Router, op: Op, queues: list[QueueSpec]) -> Call:
    cid = _conversation_for(router, op)
    pid = op.participant or "nobody"
    if op.name in ("accept", "decline", "expire_offer"):
        pid = op.participant or router.offer_of(cid) or "nobody"
    return Call(
        name=op.name,
        conversation=cid,
        participant=pid,
        queue=queues[op.queue % len(queues)].name,
        wanted=op.wanted,
        named=op.participant,
        status=op.status,
    )


def make(router: Router, call: Call, now: float) -> object:
    """Make the call; return what it returned (None for the calls that return nothing)."""
    cid, pid = call.conversation, call.participant
    if call.name == "enqueue":
        router.enqueue(cid, call.queue, now, wanted=call.wanted, named=call.named)
    elif call.name == "serve":
        return router.serve(now)
    elif call.name == "accept":
        router.accept(cid, pid, now)
    elif call.name == "decline":
        return router.decline(cid, pid, now)
    elif call.name == "expire_offer":
        return router.expire_offer(cid, pid, now)
    elif call.name == "presence":
        return router.set_presence(pid, call.status, now)
    elif call.name == "release":
        return router.release(cid, now)
    elif call.name == "leave":
        return router.leave(cid, now)
    elif call.name == "forget":
        router.forget(cid)
    elif call.name == "reassign":
        return router.reassign(cid, pid, now)
    else:
        assert call.name == "assign"
        router.assign(cid, pid, call.queue, now)
    return None


def run(router: Router, queues: list[QueueSpec], ops: list[Op], start: int = 0) -> list[object]:
    """Apply ops from `start` on (time = index of the op); log results and refusals."""
    log: list[object] = []
    for now, op in enumerate(ops[start:], start=start):
        try:
            log.append(make(router, resolve(router, op, queues), float(now)))
        except StepRefused as refused:
            log.append(f"refused: {refused}")
    return log


def check_books(router: Router, people: list[ParticipantSpec], queues: list[QueueSpec]) -> None:
    """Invariants read from the public API, independent of the router's own audit."""
    settled(router)
    holders: dict[str, list[str]] = {}
    offers: dict[str, list[str]] = {}
    for p in people:
        used = sum(router.queue(router.held_in(c) or "").units for c in router.holds_of(p.id))
        used += sum(router.queue(router.queue_of(c) or "").units for c in router.offers_of(p.id))
        assert router.load(p.id) == used <= p.capacity
        for c in router.holds_of(p.id):
            holders.setdefault(c, []).append(p.id)
        for c in router.offers_of(p.id):
            offers.setdefault(c, []).append(p.id)
    assert all(len(h) == 1 for h in holders.values())
    assert all(len(o) == 1 for o in offers.values())
    assert not set(holders) & set(offers)
    for q in queues:
        tickets = [router.ticket(c) or 0 for c in router.line(q.name)]
        assert tickets == sorted(tickets) and len(set(tickets)) == len(tickets)
        for cid in router.line(q.name):
            assert router.holder(cid) is None and router.queue_of(cid) == q.name


def check_decisions(
    router: Router, decisions: object, expected: list[tuple[str, str]], now: float
) -> None:
    assert isinstance(decisions, list)
    assert picks(decisions) == expected
    for d in decisions:
        if router.participant(d.participant).kind is Kind.BOT:
            assert d == Assigned(
                conversation=d.conversation, participant=d.participant, queue=d.queue
            )
        else:
            timeout = router.queue(d.queue).offer_timeout
            assert isinstance(d, Offered)
            assert d.expires_at == (None if timeout is None else now + timeout)


@given(worlds(), st.lists(operations, min_size=30, max_size=100))
def test_property_random_walks_match_the_shadow_model_and_keep_the_books(
    world: World, ops: list[Op]
) -> None:
    people, queues = world
    router, shadow = Router(people, queues), Shadow(world)
    for now, op in enumerate(ops):
        call = resolve(router, op, queues)
        before = routing_inspect.dump(router)
        try:
            result = make(router, call, float(now))
        except StepRefused:
            assert routing_inspect.dump(router) == before  # a refused call changes nothing
            continue
        if call.name == "serve":
            check_decisions(router, result, shadow.serve(now), now)
            # work-conserving: after a serve nobody can take any waiting conversation
            assert [shadow.choice(cid) for cid in shadow.ready()] == [None] * len(shadow.ready())
        else:
            shadow.follow(call, now)
        shadow.check(router)
        check_books(router, people, queues)
        for cid in shadow.ready():
            assert router.best_candidate(cid) == router.explain(cid).chosen == shadow.choice(cid)


@given(worlds(), st.lists(operations, min_size=30, max_size=100), st.integers(0, 100))
def test_property_same_calls_give_the_same_decisions_even_across_a_pickle(
    world: World, ops: list[Op], cut: int
) -> None:
    people, queues = world
    first, second = Router(people, queues), Router(people, queues)
    log = run(first, queues, ops)
    assert run(second, queues, ops) == log and routing_inspect.dump(first) == routing_inspect.dump(
        second
    )
    head = Router(people, queues)
    log_head = run(head, queues, ops[:cut])
    revived = pickle.loads(pickle.dumps(head))
    assert log_head + run(revived, queues, ops, start=cut) == log
    assert routing_inspect.dump(revived) == routing_inspect.dump(first)
