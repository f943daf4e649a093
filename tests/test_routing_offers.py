"""Offers and named requests: accept, decline, time out, withdraw, and a named participant that
says no or goes away."""

from __future__ import annotations

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

from handoff_fsm.effects import WithdrawReason
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import Wanted
from handoff_fsm.routing import (
    Offered,
    Router,
    Verdict,
    WaitStatus,
    Withdrawn,
)

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


def test_an_accepted_offer_ends_a_run_of_offers_let_time_out() -> None:
    router = one_queue(human("h1", 2), offer_timeout=30)
    arrive(router, "c1")
    router.expire_offer("c1", "h1", 30)
    arrive(router, "c2", now=31)
    assert router.offer_of("c2") == "h1" and router.missed_offers("h1") == 1
    router.accept("c2", "h1", 32)
    assert router.missed_offers("h1") == 0
