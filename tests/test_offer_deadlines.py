"""An offer expires at its own deadline: one re-made to the same human within one wait is timed
from when it was re-made, never from the first offer. Driven through `Switchboard.handle` only,
judged by the effects."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.effects import Effect, OfferWithdrawn, WithdrawReason
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import Accept, Escalate, Presence, PresenceStatus, Start, Tick
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard

OFFER_TIMEOUT = 30.0


def board() -> Switchboard:
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
    ]
    support = QueueSpec(name="support", members=("bot-a", "rep-1"), offer_timeout=OFFER_TIMEOUT)
    return Switchboard(Config.build(people, [support]))


def seen(effects: Sequence[Effect]) -> list[tuple[str, str | None]]:
    return [(e.KIND, e.to) for e in effects]


def offered_twice(sb: Switchboard, *, away_at: float, back_at: float) -> None:
    """c1 escalates at 0 (offer to rep-1, due at 30); rep-1 steps away (the offer is withdrawn)
    and comes back (the same offer, same wait, made again)."""
    sb.handle(Start(conversation="c1", queue="support"), now=0)
    assert seen(sb.handle(Escalate(conversation="c1", participant="bot-a"), now=0)) == [
        ("participant_removed", "bot-a"),
        ("offer", "rep-1"),
    ]
    away = sb.handle(Presence(participant="rep-1", status=PresenceStatus.AWAY), now=away_at)
    assert away == [OfferWithdrawn(conversation="c1", to="rep-1", reason=WithdrawReason.CANCELLED)]
    back = sb.handle(Presence(participant="rep-1", status=PresenceStatus.AVAILABLE), now=back_at)
    assert seen(back) == [("offer", "rep-1")]


def test_an_offer_made_again_to_the_same_human_expires_at_the_new_deadline() -> None:
    sb = board()
    offered_twice(sb, away_at=10, back_at=20)
    # The first offer's deadline (30) passes: the offer out now was made at 20, due at 50.
    assert sb.handle(Tick(now=49.5)) == []
    assert sb.state_of("c1") is State.WAITING
    assert sb.handle(Tick(now=50)) == [
        OfferWithdrawn(conversation="c1", to="rep-1", reason=WithdrawReason.TIMEOUT)
    ]
    # Timed out in this wait: rep-1 is not asked again, and nothing else fires.
    assert sb.handle(Tick(now=500)) == []
    assert sb.state_of("c1") is State.WAITING


def test_the_offer_made_again_can_be_accepted_after_the_first_deadline() -> None:
    sb = board()
    offered_twice(sb, away_at=5, back_at=25)
    accepted = sb.handle(Accept(conversation="c1", participant="rep-1"), now=40)
    assert seen(accepted) == [("participant_added", "rep-1"), ("context_set", "rep-1")]
    assert sb.state_of("c1") is State.AGENT_ENGAGED


def test_the_offer_made_again_expires_exactly_once() -> None:
    sb = board()
    offered_twice(sb, away_at=29, back_at=29.5)
    effects = sb.handle(Tick(now=1000))
    assert effects == [OfferWithdrawn(conversation="c1", to="rep-1", reason=WithdrawReason.TIMEOUT)]


def test_an_accept_after_the_offer_expired_is_refused_and_says_why() -> None:
    sb = board()
    offered_twice(sb, away_at=10, back_at=20)
    sb.handle(Tick(now=50))
    with pytest.raises(
        StepRefused, match=r"no open offer .* \(it may have timed out or been withdrawn\)"
    ):
        sb.handle(Accept(conversation="c1", participant="rep-1"), now=51)
    assert sb.state_of("c1") is State.WAITING


def test_offers_due_at_the_same_instant_expire_in_the_order_they_were_made() -> None:
    people = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=1),
    ]
    members = ("bot-a", "rep-1", "rep-2")
    sb = Switchboard(
        Config.build(people, [QueueSpec(name="support", members=members, offer_timeout=30)])
    )
    for cid in ("c2", "c1"):  # c2's offer is made first, both at 0
        sb.handle(Start(conversation=cid, queue="support"), now=0)
        sb.handle(Escalate(conversation=cid, participant="bot-a"), now=0)
    withdrawn = [e for e in sb.handle(Tick(now=30)) if isinstance(e, OfferWithdrawn)]
    assert [e.conversation for e in withdrawn] == ["c2", "c1"]
