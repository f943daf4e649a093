"""The step handlers (`switchboard.handlers`): each passes on everything its step asks (the kind,
the named participant, the requirements, the priority, the reason and variables of a hand-over)
and refuses, before any change, a request routing would refuse later."""

from __future__ import annotations

from collections.abc import Sequence

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec, Requirement, Settings
from handoff_fsm.effects import ContextSet, Effect, Handover, Offer
from handoff_fsm.errors import ErrorCode
from handoff_fsm.events import (
    Accept,
    CustomerMessage,
    Escalate,
    Event,
    Fallback,
    Monitor,
    Presence,
    PresenceStatus,
    Propose,
    Start,
    Transfer,
    Wanted,
)
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect
from handoff_fsm.testing.fingerprint import fingerprint
from handoff_fsm.vocabulary import Strategy

BILLING = (Requirement(skill="billing"),)


def center(
    *people: ParticipantSpec,
    queues: Sequence[QueueSpec] = (),
    settings: Settings | None = None,
) -> Switchboard:
    """bot-a, rep-1 (no skills) and rep-2 (billing), all in `support` unless `people` given."""
    people = people or (
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=1, skills={"billing": 2}),
    )
    lines = queues or [QueueSpec(name="support", members=tuple(p.id for p in people))]
    return Switchboard(Config.build(list(people), list(lines), settings))


def applied(sb: Switchboard, event: Event, now: float = 0) -> list[Effect]:
    result = sb.step(event, now=now)
    assert result.error is None, result.error
    return list(result.effects)


def offers(effects: Sequence[Effect]) -> list[tuple[str, str]]:
    return [(e.conversation, e.to) for e in effects if isinstance(e, Offer)]


def refused_without_change(sb: Switchboard, event: Event, code: ErrorCode, message: str) -> None:
    before = fingerprint(sb)
    result = sb.step(event)
    assert result.error is not None and result.error.code is code
    assert result.error.message == message
    assert fingerprint(sb) == before


# ------------------------------------------------------------------ start


def test_a_start_naming_someone_outside_its_queue_is_refused_and_leaves_no_conversation() -> None:
    sb = center(
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-3", kind=Kind.HUMAN, capacity=1),
        queues=[
            QueueSpec(name="support", members=("bot-a",)),
            QueueSpec(name="sales", members=("rep-3",)),
        ],
    )
    result = sb.step(Start(conversation="c1", queue="support", to="rep-3"))
    assert result.code is ErrorCode.NOT_MEMBER
    assert result.error is not None
    assert result.error.message == "'rep-3' is not a member of queue 'support'"
    assert sb.conversation("c1") is None and sb.conversations() == ()


def test_a_start_asking_a_kind_or_skill_nobody_in_the_queue_has_is_refused() -> None:
    sb = center(
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
        queues=[
            QueueSpec(name="bots", members=("bot-a",)),
            QueueSpec(name="support", members=("bot-a", "rep-1")),
        ],
    )
    human = sb.step(Start(conversation="c1", queue="bots", kind=Wanted.HUMAN))
    assert human.code is ErrorCode.CANNOT_SERVE
    skilled = sb.step(Start(conversation="c2", queue="support", requires=BILLING))
    assert skilled.code is ErrorCode.CANNOT_SERVE
    assert sb.conversations() == ()


def test_a_start_naming_a_member_is_offered_to_that_member_only() -> None:
    sb = center()
    effects = applied(sb, Start(conversation="c1", queue="support", to="rep-2"))
    assert offers(effects) == [("c1", "rep-2")]


# ------------------------------------------------------------------ escalate


def _bot_holding(sb: Switchboard, *cids: str) -> None:
    for cid in cids:
        applied(sb, Start(conversation=cid, queue="support"))
        assert switchboard_inspect.router_of(sb).holder(cid) == "bot-a"


def test_an_escalation_asking_a_skill_goes_to_a_human_who_has_it() -> None:
    sb = center()
    _bot_holding(sb, "c1")
    effects = applied(sb, Escalate(conversation="c1", participant="bot-a", requires=BILLING))
    assert offers(effects) == [("c1", "rep-2")]


def test_an_escalation_asking_a_skill_no_human_has_is_refused_and_the_bot_keeps_it() -> None:
    sb = center()
    _bot_holding(sb, "c1")
    refused_without_change(
        sb,
        Escalate(conversation="c1", participant="bot-a", requires=(Requirement(skill="french"),)),
        ErrorCode.CANNOT_SERVE,
        "no human of queue 'support' that could take it has french at level 1",
    )
    assert sb.state_of("c1") is State.BOT_ACTIVE


def test_an_escalation_with_a_priority_is_offered_before_an_earlier_one() -> None:
    sb = center(
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1, presence=PresenceStatus.AWAY),
    )
    _bot_holding(sb, "c1", "c2")
    applied(sb, Escalate(conversation="c1", participant="bot-a"), now=1)
    applied(sb, Escalate(conversation="c2", participant="bot-a", priority=5), now=2)
    back = applied(sb, Presence(participant="rep-1", status=PresenceStatus.AVAILABLE), now=3)
    assert offers(back) == [("c2", "rep-1")]


def _back_with_the_bot(settings: Settings | None = None) -> Switchboard:
    """c1 went bot-a -> rep-1 -> bot-a (named): every human of `support` held it before."""
    sb = center(
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
        settings=settings,
    )
    _bot_holding(sb, "c1")
    applied(sb, Escalate(conversation="c1", participant="bot-a"), now=1)
    applied(sb, Accept(conversation="c1", participant="rep-1"), now=2)
    transfer = Transfer(
        conversation="c1", participant="rep-1", queue="support", kind=Wanted.BOT, to="bot-a"
    )
    applied(sb, transfer, now=3)
    assert sb.state_of("c1") is State.RETURNED_TO_BOT
    return sb


def test_an_escalation_to_humans_who_all_held_it_before_is_refused_before_any_change() -> None:
    sb = _back_with_the_bot()
    refused_without_change(
        sb,
        Escalate(conversation="c1", participant="bot-a"),
        ErrorCode.CANNOT_SERVE,
        "rep-1 held c1 before; name it with `to`",
    )


def test_a_fallback_limit_no_human_could_serve_leaves_the_conversation_with_its_bot() -> None:
    sb = _back_with_the_bot(Settings(fallback_limit=1))
    effects = applied(sb, Fallback(conversation="c1", participant="bot-a"), now=4)
    assert effects == []
    assert sb.state_of("c1") is State.RETURNED_TO_BOT
    assert switchboard_inspect.router_of(sb).holder("c1") == "bot-a"


def test_a_fallback_limit_or_phrase_in_a_queue_of_bots_only_keeps_the_bot() -> None:
    sb = center(
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="bot-b", kind=Kind.BOT, capacity=5),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
        queues=[QueueSpec(name="support", members=("bot-a", "bot-b"))],
        settings=Settings(fallback_limit=1, escalation_phrases=("agent",)),
    )
    _bot_holding(sb, "c1")
    assert applied(sb, Fallback(conversation="c1", participant="bot-a"), now=1) == []
    said = applied(sb, CustomerMessage(conversation="c1", text="agent please"), now=2)
    assert [(e.KIND, e.to) for e in said] == [("message", "bot-a")]
    assert sb.state_of("c1") is State.BOT_ACTIVE


# ------------------------------------------------------------------ transfer


def test_a_transfer_carries_its_reason_variables_skills_and_the_bot_to_return_to() -> None:
    sb = center()
    _bot_holding(sb, "c1")
    transfer = Transfer(
        conversation="c1", participant="bot-a", queue="support", kind=Wanted.HUMAN,
        reason="billing question", variables={"plan": "gold"}, requires=BILLING,
    )  # fmt: skip
    effects = applied(sb, transfer, now=1)
    assert offers(effects) == [("c1", "rep-2")]
    assert switchboard_inspect.return_bot_of(sb, "c1") == "bot-a"
    joined = applied(sb, Accept(conversation="c1", participant="rep-2"), now=2)
    context = next(e.context for e in joined if isinstance(e, ContextSet))
    assert context.handover == Handover(sender="bot-a", reason="billing question")
    assert context.variables == {"plan": "gold"}


def test_a_transfer_asking_a_skill_nobody_has_is_refused_before_the_holder_lets_go() -> None:
    sb = center()
    _bot_holding(sb, "c1")
    refused_without_change(
        sb,
        Transfer(
            conversation="c1",
            participant="bot-a",
            queue="support",
            requires=(Requirement(skill="french"),),
        ),
        ErrorCode.CANNOT_SERVE,
        "no bot or human of queue 'support' that could take it has french at level 1",
    )
    assert sb.state_of("c1") is State.BOT_ACTIVE


def test_a_transfer_with_a_priority_is_offered_before_an_earlier_wait() -> None:
    sb = center(
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1, presence=PresenceStatus.AWAY),
    )
    _bot_holding(sb, "c1", "c2")
    applied(sb, Escalate(conversation="c1", participant="bot-a"), now=1)
    urgent = Transfer(
        conversation="c2", participant="bot-a", queue="support", kind=Wanted.HUMAN, priority=5
    )
    applied(sb, urgent, now=2)
    back = applied(sb, Presence(participant="rep-1", status=PresenceStatus.AVAILABLE), now=3)
    assert offers(back) == [("c2", "rep-1")]


# ------------------------------------------------------------------ accept and presence


def _most_idle() -> Switchboard:
    return center(
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=2),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=2),
        queues=[QueueSpec(name="support", members=("rep-1", "rep-2"), strategy=Strategy.MOST_IDLE)],
    )


def test_the_most_idle_strategy_counts_idleness_from_each_accept() -> None:
    sb = _most_idle()
    assert offers(applied(sb, Start(conversation="c1", queue="support"), now=0)) == [
        ("c1", "rep-1")
    ]
    assert offers(applied(sb, Start(conversation="c2", queue="support"), now=1)) == [
        ("c2", "rep-2")
    ]
    applied(sb, Accept(conversation="c2", participant="rep-2"), now=2)
    applied(sb, Accept(conversation="c1", participant="rep-1"), now=3)
    # rep-2 last took one at 2, rep-1 at 3: rep-2 has been idle longer.
    assert offers(applied(sb, Start(conversation="c3", queue="support"), now=4)) == [
        ("c3", "rep-2")
    ]


def test_a_holder_going_offline_is_idle_from_then_and_leaves_no_bot_to_return_to() -> None:
    sb = _most_idle()
    applied(sb, Start(conversation="c1", queue="support"), now=0)
    applied(sb, Accept(conversation="c1", participant="rep-1"), now=1)
    applied(sb, Presence(participant="rep-1", status=PresenceStatus.OFFLINE), now=5)
    assert switchboard_inspect.router_of(sb).idle_since("rep-1") == 5
    assert sb.state_of("c1") is State.WAITING
    assert switchboard_inspect.return_bot_of(sb, "c1") is None


# ------------------------------------------------------------------ supervision


def test_monitoring_twice_is_refused_with_its_code_and_message() -> None:
    sb = center()
    _bot_holding(sb, "c1")
    applied(sb, Monitor(conversation="c1", participant="rep-1"))
    refused_without_change(
        sb,
        Monitor(conversation="c1", participant="rep-1"),
        ErrorCode.ALREADY_MONITORS,
        "'rep-1' already monitors 'c1'",
    )


def test_a_proposal_is_kept_with_its_action_until_answered() -> None:
    sb = center()
    _bot_holding(sb, "c1")
    propose = Propose(conversation="c1", participant="bot-a", supervisor="rep-1", action="refund")
    applied(sb, propose)
    assert switchboard_inspect.proposals_of(sb, "c1") == (("bot-a", "rep-1", "refund"),)
