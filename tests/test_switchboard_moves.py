"""The moves every step is made of (`handoff_fsm.switchboard.moves`), pinned down where the
mutation run found them loose: refusal messages, the estimated wait, wrap-ups ending one at a
time (also after their conversation is forgotten), what an overflow keeps of its request, which
timers stay live, and the offers withdrawn when missed offers set a human away. Driven through
`Switchboard.handle` and the public queries only, judged by exact effects."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from handoff_fsm.adapters.store import checkpoint_codec as codec
from handoff_fsm.config import (
    Config,
    Kind,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Requirement,
    Settings,
)
from handoff_fsm.effects import Effect, OfferWithdrawn, PresenceChanged, Queued
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import (
    Accept,
    BotMessage,
    Cancel,
    CustomerMessage,
    End,
    Escalate,
    Presence,
    RemoveParticipant,
    Start,
    SurveyResponse,
    Tick,
    Transfer,
    Wanted,
)
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.vocabulary import Outcome, PresenceStatus, Strategy, WithdrawReason


def seen(effects: Sequence[Effect]) -> list[tuple[str, str | None]]:
    return [(e.KIND, e.to) for e in effects]


def human(pid: str, capacity: int = 1, **kw: object) -> ParticipantSpec:
    return ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=capacity, **kw)  # type: ignore[arg-type]


def bot(pid: str, capacity: int = 10, **kw: object) -> ParticipantSpec:
    return ParticipantSpec(id=pid, kind=Kind.BOT, capacity=capacity, **kw)  # type: ignore[arg-type]


def load_of(sb: Switchboard, pid: str) -> int:
    return next(p.load for p in sb.participant_views() if p.id == pid)


# ----------------------------------------------------------------- refusals


def refusal(sb: Switchboard, event: object, now: float) -> StepRefused:
    with pytest.raises(StepRefused) as refused:
        sb.handle(event, now=now)  # type: ignore[arg-type]
    return refused.value


def test_refusals_name_the_states_a_step_needs_and_the_holder() -> None:
    sb = Switchboard(Config.build([bot("bot-a"), human("rep-1")], [QueueSpec(
        name="support", members=("bot-a", "rep-1"))]))  # fmt: skip
    sb.handle(Start(conversation="c1", queue="support"), now=0)  # bot-a takes it
    wrong_state = refusal(sb, Accept(conversation="c1", participant="rep-1"), 1)
    assert wrong_state.code is ErrorCode.WRONG_STATE
    assert str(wrong_state) == "conversation 'c1' is bot_active; accept needs waiting"
    not_holder = refusal(sb, BotMessage(conversation="c1", participant="rep-1", text="hi"), 1)
    assert not_holder.code is ErrorCode.NOT_HOLDER
    assert str(not_holder) == "'rep-1' does not hold conversation 'c1' (holder: bot-a)"
    sb.handle(Escalate(conversation="c1", participant="bot-a"), now=2)
    sb.handle(Accept(conversation="c1", participant="rep-1"), now=3)
    sb.handle(End(conversation="c1", participant="rep-1", survey=True), now=5)
    in_survey = refusal(sb, Cancel(conversation="c1"), 6)
    assert in_survey.code is ErrorCode.WRONG_STATE
    assert str(in_survey) == "conversation 'c1' is survey; cancel needs waiting"
    in_survey = refusal(sb, End(conversation="c1", participant="rep-1"), 6)
    assert str(in_survey) == (
        "conversation 'c1' is survey; end needs agent_engaged or bot_active or returned_to_bot"
    )


# ----------------------------------------------------------------- the estimated wait


def estimate_after(services: Sequence[float], now: float) -> float | None:
    """The estimate `queued` tells a customer who waits first in line at `now`, after rep-1
    accepted a conversation of `support` at each of `services` (it still holds the last)."""
    sb = Switchboard(Config.build([human("rep-1")], [QueueSpec(name="support", members=(
        "rep-1",))]))  # fmt: skip
    for i, at in enumerate(services):
        cid = f"c{i}"
        sb.handle(Start(conversation=cid, queue="support"), now=at)
        sb.handle(Accept(conversation=cid, participant="rep-1"), now=at)
        if i < len(services) - 1:
            sb.handle(End(conversation=cid, participant="rep-1"), now=at)
    sb.handle(Start(conversation="w", queue="support"), now=now)
    (queued,) = sb.handle(CustomerMessage(conversation="w", text="still there?"), now=now)
    assert isinstance(queued, Queued) and queued.position == 1
    return queued.estimated_wait


def test_the_estimate_is_the_position_times_the_mean_gap_since_the_oldest_service() -> None:
    assert estimate_after([0], now=10) is None  # one service: no estimate yet
    assert estimate_after([5, 5], now=5) is None  # no time since the oldest service
    assert estimate_after([0, 10], now=10) == 5.0
    assert estimate_after([0, 10, 10], now=10) == 3.3  # one decimal
    assert estimate_after([0, 3, 10], now=20) == 6.7


def test_the_estimate_reads_only_the_last_twenty_services() -> None:
    services = [10.0 * i for i in range(21)]  # 0, 10, ..., 200: the first drops out
    assert estimate_after(services, now=300) == (300 - 10) / 20


def test_a_bot_taking_a_waiting_conversation_is_a_service_a_bot_taking_a_start_is_not() -> None:
    people = [bot("bot-a", capacity=1, presence=PresenceStatus.OFFLINE), bot("bot-b", capacity=1)]
    queues = [
        QueueSpec(name="support", members=("bot-a",)),
        QueueSpec(name="front", members=("bot-b",)),
    ]
    sb = Switchboard(Config.build(people, queues))
    sb.handle(Start(conversation="f1", queue="front"), now=0)  # bot-b takes it at once
    sb.handle(End(conversation="f1", participant="bot-b"), now=0)
    sb.handle(Start(conversation="f2", queue="front"), now=0)  # and this one
    sb.handle(Start(conversation="f3", queue="front"), now=0)  # waits: bot-b is full
    sb.handle(Start(conversation="c1", queue="support"), now=0)
    sb.handle(Start(conversation="c2", queue="support"), now=0)
    sb.handle(Presence(participant="bot-a", status=PresenceStatus.AVAILABLE), now=10)  # takes c1
    sb.handle(End(conversation="c1", participant="bot-a"), now=20)  # takes c2
    assert sb.state_of("c2") is State.BOT_ACTIVE
    sb.handle(Start(conversation="c3", queue="support"), now=20)
    (queued,) = sb.handle(CustomerMessage(conversation="c3", text="hello?"), now=30)
    assert queued == Queued(conversation="c3", queue="support", position=1, estimated_wait=10.0)
    (queued,) = sb.handle(CustomerMessage(conversation="f3", text="hello?"), now=30)
    assert queued == Queued(conversation="f3", queue="front", position=1)


# ----------------------------------------------------------------- wrap-ups


def two_wrap_ups(retention: float | None) -> Switchboard:
    """rep-1 (capacity 2) ended c1 at 10 and c2 at 20, each with a 30 s wrap-up (until 40 and
    50); w1 and w2 wait from 30. With `retention` 5, c1 and c2 are forgotten by 25."""
    sb = Switchboard(
        Config.build(
            [human("rep-1", capacity=2)],
            [QueueSpec(name="support", members=("rep-1",), wrap_up=30)],
            Settings(retention=retention),
        )
    )
    for cid in ("c1", "c2"):
        sb.handle(Start(conversation=cid, queue="support"), now=0)
        sb.handle(Accept(conversation=cid, participant="rep-1"), now=0)
    assert seen(sb.handle(End(conversation="c1", participant="rep-1"), now=10)) == [
        ("wrap_up", "rep-1"), ("participant_removed", "rep-1"), ("ended", None),
    ]  # fmt: skip
    sb.handle(End(conversation="c2", participant="rep-1"), now=20)
    sb.handle(Tick(now=25))
    assert sb.conversations() == (() if retention is not None else ("c1", "c2"))
    for cid in ("w1", "w2"):
        assert sb.handle(Start(conversation=cid, queue="support"), now=30) == []
    assert load_of(sb, "rep-1") == 2
    return sb


@pytest.mark.parametrize("retention", [None, 5.0], ids=["kept", "forgotten"])
def test_each_wrap_up_ends_at_its_own_deadline(retention: float | None) -> None:
    sb = two_wrap_ups(retention)
    assert sb.handle(Tick(now=39)) == []
    offered = sb.handle(Tick(now=45))  # c1's wrap-up ended at 40, c2's has not
    assert [(e.KIND, e.conversation, e.to) for e in offered] == [("offer", "w1", "rep-1")]
    assert sb.handle(Tick(now=49)) == []
    offered = sb.handle(Tick(now=50))
    assert [(e.KIND, e.conversation, e.to) for e in offered] == [("offer", "w2", "rep-1")]


@pytest.mark.parametrize("retention", [None, 5.0], ids=["kept", "forgotten"])
def test_wrap_ups_due_in_one_tick_all_end_in_it(retention: float | None) -> None:
    sb = two_wrap_ups(retention)
    offered = sb.handle(Tick(now=60))
    assert [(e.KIND, e.conversation, e.to) for e in offered] == [
        ("offer", "w1", "rep-1"), ("offer", "w2", "rep-1"),
    ]  # fmt: skip
    assert sb.next_deadline() is None


# ----------------------------------------------------------------- overflow


FR = Requirement(skill="fr", for_=100)


def overflow_board(*b_members: ParticipantSpec) -> Switchboard:
    """`a` (rep-a, who speaks French, is away) overflows after 10 s into `b`."""
    people = [human("rep-a", presence=PresenceStatus.AWAY, skills={"fr": 1}), *b_members]
    queues = [
        QueueSpec(
            name="a", members=("rep-a",), wait_timeout=10, overflow=OverflowTransfer(queue="b")
        ),
        QueueSpec(name="b", members=tuple(p.id for p in b_members)),
    ]
    return Switchboard(Config.build(people, queues))


def offers(effects: Sequence[Effect]) -> list[tuple[str | None, str | None]]:
    return [(e.conversation, e.to) for e in effects if e.KIND == "offer"]


def test_an_overflow_keeps_the_requests_priority_and_requirements() -> None:
    away = PresenceStatus.AWAY
    sb = overflow_board(
        human("rep-1", presence=away, skills={"fr": 1}), human("rep-2", presence=away)
    )
    sb.handle(Start(conversation="c0", queue="b"), now=0)
    sb.handle(Start(conversation="c1", queue="a", priority=5, requires=(FR,)), now=1)
    sb.handle(Start(conversation="c2", queue="b"), now=2)
    assert seen(sb.handle(Tick(now=11))) == []  # c1 overflows into b, behind c0 and c2
    assert sb.conversation("c1") is not None
    assert sb.conversation("c1").queue == "b"  # type: ignore[union-attr]
    # rep-2 speaks no French: c1 still requires it, so c0 (first in) is offered.
    up = PresenceStatus.AVAILABLE
    assert offers(sb.handle(Presence(participant="rep-2", status=up), now=20)) == [("c0", "rep-2")]
    # rep-1 does: c1 keeps priority 5, so it goes before c2 (first in, priority 0).
    assert offers(sb.handle(Presence(participant="rep-1", status=up), now=30)) == [("c1", "rep-1")]


def test_an_overflow_keeps_the_clock_of_its_requirements() -> None:
    sb = overflow_board(human("rep-2"))  # available, but no French
    sb.handle(Start(conversation="c1", queue="a", requires=(FR,)), now=0)
    assert seen(sb.handle(Tick(now=10))) == []  # into b: rep-2 cannot take it yet
    assert sb.next_deadline() == 100  # 100 s after the request, not after the overflow
    assert sb.handle(Tick(now=99.5)) == []
    assert offers(sb.handle(Tick(now=100))) == [("c1", "rep-2")]


def test_an_overflow_is_not_refused_where_nobody_could_serve_its_request() -> None:
    sb = overflow_board(human("rep-2"))
    forever = Requirement(skill="fr")  # never relaxes, and nobody in b speaks French
    sb.handle(Start(conversation="c1", queue="a", requires=(forever,)), now=0)
    assert sb.handle(Tick(now=10)) == []
    view = sb.conversation("c1")
    assert view is not None and (view.state, view.queue) == (State.WAITING, "b")


# ----------------------------------------------------------------- which timers stay live


def test_a_served_requests_relax_timer_is_stale() -> None:
    sb = Switchboard(Config.build([human("rep-1", skills={"fr": 1})], [QueueSpec(
        name="q", members=("rep-1",))]))  # fmt: skip
    sb.handle(Start(conversation="c1", queue="q", requires=(FR,)), now=0)
    assert sb.next_deadline() == 100
    sb.handle(Accept(conversation="c1", participant="rep-1"), now=5)
    assert sb.next_deadline() is None
    sb.handle(End(conversation="c1", participant="rep-1"), now=6)
    assert sb.handle(Tick(now=200)) == []
    assert sb.outcome_of("c1") is Outcome.RESOLVED


def escalated_twice() -> Switchboard:
    """bot-a escalates c1 asking for French at 0, takes it back when the customer cancels at
    10, and escalates again at 50: rep-1 (French) is away, so c1 waits from 50."""
    people = [bot("bot-a"), human("rep-1", presence=PresenceStatus.AWAY, skills={"fr": 1})]
    sb = Switchboard(Config.build(people, [QueueSpec(name="q", members=("bot-a", "rep-1"))]))
    sb.handle(Start(conversation="c1", queue="q"), now=0)
    sb.handle(Escalate(conversation="c1", participant="bot-a", requires=(FR,)), now=0)
    assert sb.next_deadline() == 100
    back = sb.handle(Cancel(conversation="c1"), now=10)
    assert seen(back) == [("participant_added", "bot-a"), ("context_set", "bot-a"),
                          ("greeting", "bot-a")]  # fmt: skip
    sb.handle(Escalate(conversation="c1", participant="bot-a", requires=(FR,)), now=50)
    return sb


def test_a_new_request_stales_the_relax_timer_of_the_one_before() -> None:
    sb = escalated_twice()
    assert sb.next_deadline() == 150  # not 100, the first request's
    assert sb.handle(Tick(now=149)) == []
    assert sb.conversation("c1").queue == "q"  # type: ignore[union-attr]


def test_a_bot_taking_a_conversation_back_is_busy_from_then() -> None:
    people = [bot("bot-a"), bot("bot-b"), human("rep-1", presence=PresenceStatus.AWAY)]
    sb = Switchboard(Config.build(people, [QueueSpec(
        name="q", members=("bot-a", "bot-b", "rep-1"), strategy=Strategy.MOST_IDLE)]))  # fmt: skip
    sb.handle(Start(conversation="c1", queue="q"), now=0)  # both idle: bot-a, the first
    sb.handle(Start(conversation="c0", queue="q"), now=0)  # bot-b, idle the longest
    sb.handle(Escalate(conversation="c1", participant="bot-a"), now=1)
    sb.handle(Cancel(conversation="c1"), now=10)  # back to bot-a: busy from 10
    sb.handle(End(conversation="c0", participant="bot-b"), now=15)  # bot-b: idle from 15
    took = sb.handle(Start(conversation="c2", queue="q"), now=20)
    assert seen(took)[0] == ("participant_added", "bot-a")  # idle the longest (since 10)


def test_a_survey_timer_of_a_forgotten_conversation_never_ends_a_new_one_of_that_id() -> None:
    sb = Switchboard(Config.build([bot("bot-a")], [QueueSpec(name="q", members=("bot-a",))],
                                  Settings(survey_timeout=100, retention=1)))  # fmt: skip
    sb.handle(Start(conversation="c1", queue="q"), now=0)
    sb.handle(End(conversation="c1", participant="bot-a", survey=True), now=1)  # due at 101
    sb.handle(SurveyResponse(conversation="c1", answers={"csat": 5}), now=2)
    sb.handle(Tick(now=3))
    assert sb.conversations() == ()
    sb.handle(Start(conversation="c1", queue="q"), now=5)
    sb.handle(End(conversation="c1", participant="bot-a", survey=True), now=50)  # due at 150
    assert sb.next_deadline() == 150
    assert sb.handle(Tick(now=149)) == []
    assert sb.state_of("c1") is State.SURVEY
    assert seen(sb.handle(Tick(now=150))) == [("ended", None)]


# ----------------------------------------------------------------- offers and bots


def test_missed_offers_set_a_human_away_and_withdraw_its_other_offers() -> None:
    sb = Switchboard(Config.build([human("rep-1", capacity=2)], [QueueSpec(
        name="q", members=("rep-1",), offer_timeout=10)], Settings(
        missed_offers_to_away=1)))  # fmt: skip
    sb.handle(Start(conversation="c1", queue="q"), now=0)
    sb.handle(Start(conversation="c2", queue="q"), now=5)
    assert sb.handle(Tick(now=12)) == [
        OfferWithdrawn(conversation="c1", to="rep-1", reason=WithdrawReason.TIMEOUT),
        PresenceChanged(to="rep-1", status=PresenceStatus.AWAY, reason="missed_offers"),
        OfferWithdrawn(conversation="c2", to="rep-1", reason=WithdrawReason.CANCELLED),
    ]


def test_a_cancel_ends_the_wait_when_the_bot_that_handed_it_over_is_gone() -> None:
    people = [bot("bot-a"), human("rep-1", presence=PresenceStatus.AWAY)]
    sb = Switchboard(Config.build(people, [QueueSpec(name="q", members=("bot-a", "rep-1"))]))
    sb.handle(Start(conversation="c1", queue="q"), now=0)
    sb.handle(Escalate(conversation="c1", participant="bot-a"), now=1)
    sb.handle(RemoveParticipant(participant="bot-a"), now=2)
    assert seen(sb.handle(Cancel(conversation="c1"), now=3)) == [("ended", None)]
    assert sb.outcome_of("c1") is Outcome.ABANDONED


def test_a_transfer_for_anyone_follows_the_strategy_alone_not_bots_first() -> None:
    people = [human("rep-1"), bot("bot-b", capacity=1), human("rep-2", capacity=5)]
    queues = [
        QueueSpec(name="front", members=("rep-1",)),
        QueueSpec(name="back", members=("bot-b", "rep-2")),  # highest capacity: rep-2
    ]
    sb = Switchboard(Config.build(people, queues))
    sb.handle(Start(conversation="c1", queue="front"), now=0)
    sb.handle(Accept(conversation="c1", participant="rep-1"), now=1)
    moved = sb.handle(Transfer(conversation="c1", participant="rep-1", queue="back"), now=2)
    assert offers(moved) == [("c1", "rep-2")]


# ----------------------------------------------------------------- what a checkpoint carries


def round_trip(sb: Switchboard) -> Switchboard:
    """The board a store loads back from its checkpoint (as JSON text)."""
    g, participants, conversations = codec.encode_all(sb)
    text = json.dumps([g, participants, list(conversations.items())], allow_nan=False)
    g2, p2, c2 = json.loads(text)
    return codec.load(sb.config, g2, p2, [(k, v) for k, v in c2], "test")


def test_the_moves_keep_only_state_a_checkpoint_can_carry() -> None:
    """Holds, live relax and wrap-up timers, and a conversation handed back to its bot: each
    loads back from a checkpoint and goes on as the original does."""
    people = [bot("bot-a"), human("rep-1", skills={"fr": 1}), human("rep-2", presence=(
        PresenceStatus.AWAY))]  # fmt: skip
    sb = Switchboard(Config.build(people, [QueueSpec(
        name="q", members=("bot-a", "rep-1", "rep-2"), wrap_up=30)]))  # fmt: skip
    steps: list[tuple[object, float]] = [
        (Start(conversation="c1", queue="q"), 0),
        (Escalate(conversation="c1", participant="bot-a", requires=(FR,)), 1),
        (Accept(conversation="c1", participant="rep-1"), 2),
        (Start(conversation="c2", queue="q"), 3),
        (Escalate(conversation="c2", participant="bot-a"), 4),
        (Cancel(conversation="c2"), 5),
        (Start(conversation="c3", queue="q", kind=Wanted.HUMAN, requires=(FR,)), 6),
        (End(conversation="c1", participant="rep-1"), 7),
        (Tick(now=50), 50),
        (Tick(now=200), 200),
    ]
    for event, now in steps:
        loaded = round_trip(sb)
        expected = sb.handle(event, now=now)  # type: ignore[arg-type]
        assert loaded.handle(event, now=now) == expected  # type: ignore[arg-type]
        assert loaded.next_deadline() == sb.next_deadline()


def test_a_start_without_a_kind_still_asks_bots_first_after_an_overflow() -> None:
    """It asked for anyone, bots before humans (docs/routing.md): in the queue it overflows
    into, a free bot takes it though the strategy alone would rank the human first."""
    people = [
        bot("bot-a", capacity=1, presence=PresenceStatus.OFFLINE),
        bot("bot-b", capacity=1),
        human("rep-2", capacity=5),  # highest capacity: the strategy alone ranks rep-2 first
    ]
    queues = [
        QueueSpec(
            name="a", members=("bot-a",), wait_timeout=10, overflow=OverflowTransfer(queue="b")
        ),
        QueueSpec(name="b", members=("bot-b", "rep-2")),
    ]
    sb = Switchboard(Config.build(people, queues))
    assert sb.handle(Start(conversation="c1", queue="a"), now=0) == []
    took = sb.handle(Tick(now=10))
    assert seen(took) == [("participant_added", "bot-b"), ("context_set", "bot-b"),
                          ("greeting", "bot-b")]  # fmt: skip
    assert sb.state_of("c1") is State.BOT_ACTIVE
