"""The switchboard end to end, one behaviour per test, driven through its public API."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from handoff_fsm.config import (
    Config,
    Kind,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Settings,
)
from handoff_fsm.effects import (
    CUSTOMER,
    Approval,
    ApprovalRequested,
    ContextSet,
    Effect,
    Ended,
    Entry,
    Message,
    OfferWithdrawn,
    ParticipantAdded,
    Queued,
    Role,
    WithdrawReason,
)
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import (
    Accept,
    AgentMessage,
    Approve,
    BotMessage,
    Cancel,
    CustomerLeft,
    CustomerMessage,
    Decline,
    End,
    Escalate,
    Event,
    Fallback,
    Monitor,
    Presence,
    PresenceStatus,
    Propose,
    Reject,
    SetVariable,
    Start,
    SurveyResponse,
    TakeOver,
    Tick,
    Transfer,
    Wanted,
)
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.switchboard import STEP_STATES, Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect


def board(
    participants: dict[str, tuple[Kind, int]] | None = None,
    queues: Sequence[QueueSpec] | None = None,
    settings: Settings | None = None,
) -> Switchboard:
    people = participants or {
        "bot-a": (Kind.BOT, 100),
        "rep-1": (Kind.HUMAN, 50),
        "bot-b": (Kind.BOT, 10),
    }
    specs = [ParticipantSpec(id=p, kind=k, capacity=c) for p, (k, c) in people.items()]
    lines = queues or [QueueSpec(name="support", members=tuple(people))]
    return Switchboard(Config.build(specs, lines, settings))


def seen(effects: Sequence[Effect]) -> list[tuple[str, str | None]]:
    return [(e.KIND, e.to) for e in effects]


def run(sb: Switchboard, *events: Event, now: float | None = None) -> list[Effect]:
    out: list[Effect] = []
    for event in events:
        out.extend(sb.handle(event, now=now))
    return out


def started(sb: Switchboard, conversation: str = "c1", **variables: str) -> list[Effect]:
    return sb.handle(Start(conversation=conversation, queue="support", variables=variables))


def test_start_goes_to_the_highest_capacity_bot_with_join_order() -> None:
    sb = board()
    effects = started(sb, FirstName="Ana")
    assert seen(effects) == [
        ("participant_added", "bot-a"),
        ("context_set", "bot-a"),
        ("greeting", "bot-a"),
    ]
    context = effects[1]
    assert isinstance(context, ContextSet)
    assert dict(context.context.variables) == {"FirstName": "Ana"}
    assert sb.state_of("c1") is State.BOT_ACTIVE


def test_two_bots_one_queue_goes_bot_a_then_human_then_bot_b() -> None:
    sb = board()
    started(sb)
    run(sb, CustomerMessage(conversation="c1", text="my card was declined"))
    escalated = sb.handle(Escalate(conversation="c1", participant="bot-a"))
    assert seen(escalated) == [("participant_removed", "bot-a"), ("offer", "rep-1")]
    assert sb.state_of("c1") is State.WAITING
    accepted = sb.handle(Accept(conversation="c1", participant="rep-1"))
    assert seen(accepted) == [("participant_added", "rep-1"), ("context_set", "rep-1")]
    assert sb.state_of("c1") is State.AGENT_ENGAGED
    handed = sb.handle(
        Transfer(conversation="c1", participant="rep-1", queue="support", kind=Wanted.BOT)
    )
    assert seen(handed) == [
        ("participant_removed", "rep-1"),
        ("participant_added", "bot-b"),
        ("context_set", "bot-b"),
        ("greeting", "bot-b"),
    ]
    assert sb.state_of("c1") is State.RETURNED_TO_BOT
    joined = handed[2]
    assert isinstance(joined, ContextSet)
    assert joined.context.transcript == (Entry(sender=CUSTOMER, text="my card was declined"),)


def test_escalation_phrase_matches_case_insensitively_anywhere() -> None:
    sb = board()
    started(sb)
    effects = sb.handle(CustomerMessage(conversation="c1", text="Please TALK TO AGENT now"))
    assert seen(effects) == [
        ("message", "bot-a"),
        ("participant_removed", "bot-a"),
        ("offer", "rep-1"),
    ]


def test_fallback_counter_escalates_at_the_limit_and_is_silent_below() -> None:
    sb = board(settings=Settings(fallback_limit=3))
    started(sb)
    assert sb.handle(Fallback(conversation="c1", participant="bot-a")) == []
    assert sb.handle(Fallback(conversation="c1", participant="bot-a")) == []
    third = sb.handle(Fallback(conversation="c1", participant="bot-a"))
    assert seen(third) == [("participant_removed", "bot-a"), ("offer", "rep-1")]


def test_waiting_messages_are_kept_and_answered_with_position() -> None:
    sb = board(participants={"rep-1": (Kind.HUMAN, 1)})
    started(sb, "c1")
    started(sb, "c2")
    effects = sb.handle(CustomerMessage(conversation="c2", text="hello?"))
    assert len(effects) == 1 and isinstance(effects[0], Queued)
    assert (effects[0].queue, effects[0].position) == ("support", 2)
    assert sb.context_of("c2").transcript[-1].text == "hello?"


def test_cancel_phrase_returns_to_the_bot_that_escalated() -> None:
    sb = board()
    started(sb)
    sb.handle(Escalate(conversation="c1", participant="bot-a"))
    effects = sb.handle(CustomerMessage(conversation="c1", text="never mind"))
    assert seen(effects) == [
        ("offer_withdrawn", "rep-1"),
        ("participant_added", "bot-a"),
        ("context_set", "bot-a"),
        ("greeting", "bot-a"),
    ]
    withdrawn = effects[0]
    assert isinstance(withdrawn, OfferWithdrawn) and withdrawn.reason == "cancelled"
    assert sb.state_of("c1") is State.BOT_ACTIVE


def test_cancel_with_no_bot_to_return_to_abandons() -> None:
    sb = board(participants={"rep-1": (Kind.HUMAN, 1)})
    started(sb)
    effects = sb.handle(Cancel(conversation="c1"))
    assert seen(effects) == [("offer_withdrawn", "rep-1"), ("ended", None)]
    assert sb.outcome_of("c1") is Outcome.ABANDONED


def test_decline_offers_the_next_and_never_the_same_again() -> None:
    sb = board(
        participants={"bot-a": (Kind.BOT, 5), "rep-1": (Kind.HUMAN, 3), "rep-2": (Kind.HUMAN, 2)}
    )
    started(sb)
    sb.handle(Escalate(conversation="c1", participant="bot-a"))
    effects = sb.handle(Decline(conversation="c1", participant="rep-1"))
    assert seen(effects) == [("offer_withdrawn", "rep-1"), ("offer", "rep-2")]
    effects = sb.handle(Decline(conversation="c1", participant="rep-2"))
    assert seen(effects) == [("offer_withdrawn", "rep-2")]
    assert sb.state_of("c1") is State.WAITING


def test_offer_timeout_fires_before_the_step_and_a_late_accept_is_refused() -> None:
    queue = QueueSpec(name="support", members=("bot-a", "rep-1", "rep-2"), offer_timeout=60)
    sb = board(
        participants={"bot-a": (Kind.BOT, 5), "rep-1": (Kind.HUMAN, 3), "rep-2": (Kind.HUMAN, 2)},
        queues=[queue],
    )
    started(sb)
    sb.handle(Escalate(conversation="c1", participant="bot-a"), now=10)
    with pytest.raises(StepRefused, match="no open offer") as refused:
        sb.handle(Accept(conversation="c1", participant="rep-1"), now=70)
    assert seen(refused.value.effects) == [("offer_withdrawn", "rep-1"), ("offer", "rep-2")]
    assert sb.handle(Tick(now=200)) == [
        OfferWithdrawn(conversation="c1", to="rep-2", reason=WithdrawReason.TIMEOUT)
    ]


def test_wait_timeout_overflows_as_configured() -> None:
    people = {"bot-a": (Kind.BOT, 5), "rep-1": (Kind.HUMAN, 0), "rep-2": (Kind.HUMAN, 1)}
    queues = [
        QueueSpec(name="support", members=("bot-a", "rep-1"), wait_timeout=30,
                  overflow=OverflowTransfer(queue="overflow")),
        QueueSpec(name="overflow", members=("rep-2",), wait_timeout=30, overflow=OverflowEnd()),
    ]  # fmt: skip
    sb = board(people, queues)
    started(sb)
    sb.handle(Escalate(conversation="c1", participant="bot-a"), now=0)
    moved = sb.handle(Tick(now=30))
    assert seen(moved) == [("offer", "rep-2")]
    assert sb.state_of("c1") is State.WAITING
    ended = sb.handle(Tick(now=60))
    assert seen(ended) == [("offer_withdrawn", "rep-2"), ("ended", None)]
    assert sb.outcome_of("c1") is Outcome.UNSERVED


def test_wait_timeout_can_return_to_the_bot() -> None:
    people = {"bot-a": (Kind.BOT, 5), "rep-1": (Kind.HUMAN, 0)}
    queue = QueueSpec(
        name="support", members=("bot-a", "rep-1"), wait_timeout=30, overflow=OverflowReturnToBot()
    )
    sb = board(people, [queue])
    started(sb)
    sb.handle(Escalate(conversation="c1", participant="bot-a"), now=0)
    back = sb.handle(Tick(now=31))
    assert seen(back) == [
        ("participant_added", "bot-a"),
        ("context_set", "bot-a"),
        ("greeting", "bot-a"),
    ]
    assert sb.state_of("c1") is State.BOT_ACTIVE


def test_messages_are_relayed_never_direct() -> None:
    sb = board()
    started(sb)
    sb.handle(Escalate(conversation="c1", participant="bot-a"))
    sb.handle(Accept(conversation="c1", participant="rep-1"))
    to_agent = sb.handle(CustomerMessage(conversation="c1", text="hi"))
    to_customer = sb.handle(AgentMessage(conversation="c1", participant="rep-1", text="Hi Ana"))
    assert to_agent == [Message(conversation="c1", to="rep-1", sender=CUSTOMER, text="hi")]
    assert to_customer == [Message(conversation="c1", to=CUSTOMER, sender="rep-1", text="Hi Ana")]


def test_bot_message_and_variable_reach_the_next_joiner() -> None:
    sb = board()
    started(sb)
    run(
        sb,
        BotMessage(conversation="c1", participant="bot-a", text="Let me help"),
        SetVariable(conversation="c1", participant="bot-a", name="Topic", value="billing"),
        Escalate(conversation="c1", participant="bot-a"),
    )
    joined = sb.handle(Accept(conversation="c1", participant="rep-1"))[1]
    assert isinstance(joined, ContextSet)
    assert joined.context.variables["Topic"] == "billing"
    assert joined.context.transcript[-1] == Entry(sender="bot-a", text="Let me help")


def test_end_with_survey_then_response_or_timeout() -> None:
    sb = board(settings=Settings(survey_timeout=300))
    started(sb, "c1")
    started(sb, "c2")
    closing = sb.handle(End(conversation="c1", participant="bot-a", survey=True), now=0)
    assert seen(closing) == [("participant_removed", "bot-a"), ("survey", CUSTOMER)]
    assert sb.state_of("c1") is State.SURVEY
    assert seen(sb.handle(SurveyResponse(conversation="c1", answers={"rating": 5}))) == [
        ("ended", None)
    ]
    assert sb.outcome_of("c1") is Outcome.SURVEY_COMPLETED
    sb.handle(End(conversation="c2", participant="bot-a", survey=True), now=10)
    assert seen(sb.handle(Tick(now=310))) == [("ended", None)]
    assert sb.outcome_of("c2") is Outcome.SURVEY_SKIPPED


def test_end_without_survey_resolves() -> None:
    sb = board()
    started(sb)
    effects = sb.handle(End(conversation="c1", participant="bot-a"))
    assert effects == [
        effects[0],
        Ended(conversation="c1", outcome=Outcome.RESOLVED),
    ]
    assert seen(effects)[0] == ("participant_removed", "bot-a")


def test_customer_left_from_waiting_withdraws_the_offer_first() -> None:
    sb = board()
    started(sb)
    sb.handle(Escalate(conversation="c1", participant="bot-a"))
    assert seen(sb.handle(CustomerLeft(conversation="c1"))) == [
        ("offer_withdrawn", "rep-1"),
        ("ended", None),
    ]
    assert sb.outcome_of("c1") is Outcome.ABANDONED


def test_holder_going_offline_puts_the_conversation_back_with_context() -> None:
    people = {"rep-1": (Kind.HUMAN, 1), "rep-2": (Kind.HUMAN, 1)}
    sb = board(people)
    started(sb)
    sb.handle(Accept(conversation="c1", participant="rep-1"))
    sb.handle(CustomerMessage(conversation="c1", text="still there?"))
    effects = sb.handle(Presence(participant="rep-1", status=PresenceStatus.OFFLINE))
    assert seen(effects) == [("participant_removed", "rep-1"), ("offer", "rep-2")]
    joined = sb.handle(Accept(conversation="c1", participant="rep-2"))[1]
    assert isinstance(joined, ContextSet)
    assert joined.context.transcript[-1].text == "still there?"


def test_away_keeps_holds_but_withdraws_offers() -> None:
    people = {"rep-1": (Kind.HUMAN, 2), "rep-2": (Kind.HUMAN, 1)}
    sb = board(people)
    started(sb)
    effects = sb.handle(Presence(participant="rep-1", status=PresenceStatus.AWAY))
    assert seen(effects) == [("offer_withdrawn", "rep-1"), ("offer", "rep-2")]


def test_supervision_monitor_propose_approve_reject_take_over() -> None:
    sb = board()
    started(sb)
    joined = sb.handle(Monitor(conversation="c1", participant="rep-1"))
    assert joined[0] == ParticipantAdded(conversation="c1", to="rep-1", role=Role.MONITOR)
    copied = sb.handle(CustomerMessage(conversation="c1", text="refund please"))
    assert seen(copied) == [("message", "bot-a"), ("message", "rep-1")]
    asked = sb.handle(
        Propose(conversation="c1", participant="bot-a", supervisor="rep-1", action="refund 20 EUR")
    )
    assert asked == [ApprovalRequested(conversation="c1", to="rep-1", action="refund 20 EUR")]
    assert sb.handle(Approve(conversation="c1", participant="rep-1")) == [
        Approval(conversation="c1", to="bot-a", approved=True)
    ]
    sb.handle(Propose(conversation="c1", participant="bot-a", supervisor="rep-1", action="x"))
    assert sb.handle(Reject(conversation="c1", participant="rep-1")) == [
        Approval(conversation="c1", to="bot-a", approved=False)
    ]
    taken = sb.handle(TakeOver(conversation="c1", participant="rep-1"))
    assert seen(taken) == [
        ("participant_removed", "bot-a"),
        ("participant_added", "rep-1"),
        ("context_set", "rep-1"),
    ]
    assert sb.state_of("c1") is State.AGENT_ENGAGED


def test_propose_to_a_human_not_in_the_conversation_joins_it_as_monitor_first() -> None:
    sb = board()
    started(sb)
    effects = sb.handle(
        Propose(conversation="c1", participant="bot-a", supervisor="rep-1", action="reset")
    )
    assert seen(effects) == [
        ("participant_added", "rep-1"),
        ("context_set", "rep-1"),
        ("approval_requested", "rep-1"),
    ]


ESCALATE = Escalate(conversation="c1", participant="bot-a")
END = End(conversation="c1", participant="bot-a")


@pytest.mark.parametrize(
    ("events", "refused", "message"),
    [
        ([], Accept(conversation="c1", participant="rep-1"), "accept needs waiting"),
        ([ESCALATE], Accept(conversation="c1", participant="rep-2"), "unknown participant"),
        ([ESCALATE], Accept(conversation="c1", participant="bot-b"), "no open offer"),
        ([], AgentMessage(conversation="c1", participant="rep-1", text="x"), "is bot_active"),
        ([], BotMessage(conversation="c1", participant="bot-b", text="x"), "does not hold"),
        ([], CustomerMessage(conversation="nope", text="x"), "unknown conversation"),
        ([], Transfer(conversation="c1", participant="bot-a", queue="nope"), "unknown queue"),
        ([], Transfer(conversation="c1", participant="bot-a", queue="support",
                      kind=Wanted.BOT, to="rep-1"), "but a bot is asked for"),
        ([], Transfer(conversation="c1", participant="bot-a", queue="support", to="ghost"),
         "unknown participant"),
        ([], Transfer(conversation="c1", participant="bot-a", queue="support", to="bot-a"),
         "to itself"),
        ([], Presence(participant="ghost", status=PresenceStatus.AWAY), "unknown participant"),
        ([], Start(conversation="c1", queue="support"), "already exists"),
        ([], Approve(conversation="c1", participant="rep-1"), "no pending proposal"),
        ([], TakeOver(conversation="c1", participant="rep-1"), "monitor it first"),
        ([], Monitor(conversation="c1", participant="bot-b"), "not a human"),
        ([END], CustomerMessage(conversation="c1", text="x"), "has ended"),
        ([], SurveyResponse(conversation="c1"), "is bot_active"),
        ([], Cancel(conversation="c1"), "is bot_active"),
    ],
)  # fmt: skip
def test_refused_steps_change_nothing(events: list[Event], refused: Event, message: str) -> None:
    sb = board()
    started(sb)
    run(sb, *events)
    before = (
        sb.state_of("c1"),
        sb.context_of("c1"),
        switchboard_inspect.router_of(sb).load("bot-a"),
        sb.now,
    )
    with pytest.raises(StepRefused, match=message):
        sb.handle(refused)
    assert (
        sb.state_of("c1"),
        sb.context_of("c1"),
        switchboard_inspect.router_of(sb).load("bot-a"),
        sb.now,
    ) == before


def test_time_going_backwards_is_refused() -> None:
    sb = board()
    sb.handle(Tick(now=50))
    with pytest.raises(StepRefused, match="backwards"):
        sb.handle(Start(conversation="c1", queue="support"), now=10)
    assert sb.now == 50 and sb.state_of("c1") is None


def test_a_duplicate_step_id_gives_nothing_even_if_the_first_was_refused() -> None:
    sb = board()
    assert seen(sb.handle(Start(conversation="c1", queue="support"), step_id="s1"))
    assert sb.handle(Start(conversation="c2", queue="support"), step_id="s1") == []
    assert sb.state_of("c2") is None
    with pytest.raises(StepRefused):
        sb.handle(Accept(conversation="c1", participant="rep-1"), step_id="s2")
    assert sb.handle(Accept(conversation="c1", participant="rep-1"), step_id="s2") == []


def test_every_step_kind_has_its_allowed_states() -> None:
    from handoff_fsm.events import EVENT_BY_STEP, WORLD_CHANGES

    world_changes = {cls.STEP for cls in WORLD_CHANGES}
    assert set(STEP_STATES) == set(EVENT_BY_STEP) - {
        "start",
        "presence",
        "tick",
        "wrap_up_done",
        *world_changes,
    }


def test_trace_lists_every_transition_including_inside_one_step() -> None:
    specs = [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=100),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=50),
        ParticipantSpec(id="bot-b", kind=Kind.BOT, capacity=10),
    ]
    sb = Switchboard(
        Config.build(specs, [QueueSpec(name="support", members=("bot-a", "rep-1", "bot-b"))]),
        trace=True,
    )
    started(sb)
    run(
        sb,
        Escalate(conversation="c1", participant="bot-a"),
        Accept(conversation="c1", participant="rep-1"),
        Transfer(conversation="c1", participant="rep-1", queue="support"),
    )
    assert [(t.trigger.value, t.dest.value) for t in sb.trace_of("c1")] == [
        ("bot_takes", "bot_active"),
        ("escalate", "waiting"),
        ("agent_accepts", "agent_engaged"),
        ("transfer", "waiting"),
        ("bot_takes", "returned_to_bot"),
    ]
    with pytest.raises(StepRefused, match="trace=True"):
        board().trace_of("c1")


@pytest.mark.parametrize("presence", [None, PresenceStatus.AWAY])
def test_take_over_by_a_monitor_without_room_or_away_is_refused_and_changes_nothing(
    presence: PresenceStatus | None,
) -> None:
    sb = board({"bot-a": (Kind.BOT, 5), "rep-1": (Kind.HUMAN, 0 if presence is None else 1)})
    started(sb)
    sb.handle(Monitor(conversation="c1", participant="rep-1"))
    if presence is not None:
        sb.handle(Presence(participant="rep-1", status=presence))
    before = (
        sb.state_of("c1"),
        switchboard_inspect.router_of(sb).holder("c1"),
        sb.monitors_of("c1"),
        switchboard_inspect.router_of(sb).load("bot-a"),
    )
    with pytest.raises(StepRefused, match=r"no capacity|away"):
        sb.handle(TakeOver(conversation="c1", participant="rep-1"))
    after = (
        sb.state_of("c1"),
        switchboard_inspect.router_of(sb).holder("c1"),
        sb.monitors_of("c1"),
        switchboard_inspect.router_of(sb).load("bot-a"),
    )
    assert after == before == (State.BOT_ACTIVE, "bot-a", ("rep-1",), 1)


# -- retention and the dedup window (SPEC §3, contract v2) ---------------------------------------


def _retaining(retention: float | None, dedup_window: float | None) -> Switchboard:
    return Switchboard(
        Config.build(
            [ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10)],
            [QueueSpec(name="q", members=("bot-a",))],
            Settings(retention=retention, dedup_window=dedup_window),
        )
    )


def test_an_ended_conversation_is_forgotten_retention_after_it_ended() -> None:
    from handoff_fsm.events import CustomerLeft

    sb = _retaining(100, None)
    sb.step(Start(conversation="c1", queue="q"), now=0)
    sb.step(CustomerLeft(conversation="c1"), now=10)
    again = sb.step(Start(conversation="c1", queue="q"), now=109)
    assert again.error is not None and again.error.code == "already_exists"
    sb.step(Tick(now=110))
    assert sb.conversations() == () and sb.state_of("c1") is None
    assert sb.step(CustomerLeft(conversation="c1"), now=111).error.code == "unknown_conversation"  # type: ignore[union-attr]
    assert sb.step(Start(conversation="c1", queue="q"), now=112).error is None


def test_a_step_id_is_a_duplicate_only_within_its_window() -> None:
    sb = _retaining(None, 30)
    assert sb.step(Start(conversation="c1", queue="q"), now=0, step_id="s").status == "applied"
    assert sb.step(Tick(now=29), step_id="s").status == "duplicate"  # does not extend it
    assert sb.step(Tick(now=30), step_id="s").status == "applied"  # processed as new
    assert sb.step(Tick(now=59), step_id="s").status == "duplicate"


def test_expiry_costs_only_what_expires_and_leaves_no_trace() -> None:
    from handoff_fsm.events import CustomerLeft

    sb = _retaining(5, 5)
    for i in range(50):
        sb.step(Start(conversation=f"c{i}", queue="q"), now=i, step_id=f"s{i}")
        sb.step(CustomerLeft(conversation=f"c{i}"), now=i)
    assert len(sb._ended) <= 6 and len(sb._seen_ids) <= 6
    assert len(sb.conversations()) <= 6
    sb.step(Tick(now=1000))
    assert sb.conversations() == () and not sb._ended and not sb._seen_ids
    assert switchboard_inspect.pending_timers(sb) == ()


def test_the_view_of_an_ended_conversation_names_it_and_its_outcome() -> None:
    sb = board()
    started(sb)
    run(sb, End(conversation="c1", participant="bot-a"))
    view = sb.conversation("c1")
    assert view is not None
    assert (view.id, view.state, view.outcome) == ("c1", State.ENDED, Outcome.RESOLVED)


def test_a_trace_asked_of_a_board_built_without_trace_is_refused_with_its_message() -> None:
    with pytest.raises(StepRefused) as refused:
        board().trace_of("c1")
    assert refused.value.code is ErrorCode.NOT_TRACED
    assert refused.value.message == "this switchboard was built without trace=True"


def test_an_answered_proposal_is_gone_so_a_second_answer_is_refused() -> None:
    sb = board()
    started(sb)
    sb.handle(Propose(conversation="c1", participant="bot-a", supervisor="rep-1", action="x"))
    sb.handle(Approve(conversation="c1", participant="rep-1"))
    refused = sb.step(Approve(conversation="c1", participant="rep-1"))
    assert refused.error is not None and refused.error.code is ErrorCode.NO_PROPOSAL
