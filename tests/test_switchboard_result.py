"""`Switchboard.step`: one call, one result (applied, refused with a code, or duplicate), and
atomic steps: a malformed input is rejected before anything changes, values are never shared."""

from __future__ import annotations

import math

import pytest

from handoff_fsm.config import Config, ParticipantSpec, QueueSpec
from handoff_fsm.effects import ContextSet
from handoff_fsm.errors import ErrorCode, HandoffError, InvalidStep, StepRefused
from handoff_fsm.events import (
    Accept,
    CustomerMessage,
    End,
    Event,
    SetVariable,
    Start,
    SurveyResponse,
    Tick,
)
from handoff_fsm.switchboard import StepResult, StepStatus, Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect
from handoff_fsm.vocabulary import JsonValue, Kind, State


def board() -> Switchboard:
    return Switchboard(
        Config.build(
            [
                ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
                ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
            ],
            [
                QueueSpec(name="support", members=("bot-a",)),
                QueueSpec(name="humans", members=("rep-1",), offer_timeout=30),
            ],
        )
    )


def test_an_applied_step_says_so_with_its_effects() -> None:
    result = board().step(Start(conversation="c1", queue="support"), now=0)
    assert result.status is StepStatus.APPLIED
    assert [e.KIND for e in result.effects] == ["participant_added", "context_set", "greeting"]
    assert (result.error, result.code) == (None, None)


def test_a_refused_step_carries_its_code_step_and_state() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    result = sb.step(Accept(conversation="c1", participant="rep-1"), now=1)
    assert result.status is StepStatus.REFUSED and result.code is ErrorCode.WRONG_STATE
    assert result.error is not None
    assert (result.error.step, result.error.state) == ("accept", "bot_active")


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (CustomerMessage(conversation="c9", text="hi"), ErrorCode.UNKNOWN_CONVERSATION),
        (Start(conversation="c2", queue="nowhere"), ErrorCode.UNKNOWN_QUEUE),
        (Start(conversation="c1", queue="support"), ErrorCode.ALREADY_EXISTS),
        (End(conversation="c1", participant="rep-9"), ErrorCode.UNKNOWN_PARTICIPANT),
        (End(conversation="c1", participant="rep-1"), ErrorCode.NOT_HOLDER),
    ],
)
def test_refusals_have_stable_codes(event: Event, code: ErrorCode) -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    assert sb.step(event, now=1).code is code


def test_time_going_backwards_is_refused_with_its_code() -> None:
    sb = board()
    sb.step(Tick(now=10))
    result = sb.step(Tick(now=5))
    assert result.code is ErrorCode.TIME_BACKWARDS and sb.now == 10


def test_a_retried_step_id_is_a_duplicate_not_an_empty_success() -> None:
    sb = board()
    first = sb.step(Start(conversation="c1", queue="support"), now=0, step_id="s1")
    again = sb.step(Start(conversation="c1", queue="support"), now=0, step_id="s1")
    assert first.status is StepStatus.APPLIED
    assert again == StepResult(status=StepStatus.DUPLICATE)


def test_the_timeouts_that_fired_before_a_refusal_are_in_its_result() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="humans"), now=0)  # offered to rep-1, 30 s
    result = sb.step(Accept(conversation="c9", participant="rep-1"), now=40)
    assert result.code is ErrorCode.UNKNOWN_CONVERSATION
    assert [e.KIND for e in result.effects] == ["offer_withdrawn"]


def test_handle_raises_the_refusal_with_the_fired_effects() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="humans"), now=0)
    with pytest.raises(StepRefused) as refused:
        sb.handle(Accept(conversation="c9", participant="rep-1"), now=40)
    assert refused.value.code is ErrorCode.UNKNOWN_CONVERSATION
    assert [e.KIND for e in refused.value.effects] == ["offer_withdrawn"]


# -- malformed input: rejected before anything changes --------------------------------------


@pytest.mark.parametrize(
    ("event", "now", "step_id"),
    [
        (Tick(now=1), math.nan, None),
        (Tick(now=1), math.inf, None),
        (Tick(now=math.nan), None, None),
        (Tick(now=1), "5", None),
        (Tick(now=1), True, None),
        (CustomerMessage(conversation="c1", text=None), 1, None),  # type: ignore[arg-type]
        (CustomerMessage(conversation="c1", text="x\ud800"), 1, None),
        (CustomerMessage(conversation=5, text="hi"), 1, None),  # type: ignore[arg-type]
        (CustomerMessage(conversation="c1", text="hi"), 1, 7),
        (SetVariable(conversation="c1", participant="bot-a", name="n", value={1, 2}), 1, None),  # type: ignore[arg-type]
        (SetVariable(conversation="c1", participant="bot-a", name="n", value=math.nan), 1, None),
        (SetVariable(conversation="c1", participant="bot-a", name="n", value=10**30), 1, None),
        (Start(conversation="c2", queue="support", variables={1: "x"}), 1, None),  # type: ignore[dict-item]
    ],
)
def test_a_malformed_input_is_rejected_before_anything_changes(
    event: Event, now: object, step_id: object
) -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    sb.step(Start(conversation="w", queue="humans"), now=0)  # an offer that times out at 30
    with pytest.raises(InvalidStep) as rejected:
        sb.step(event, now=now, step_id=step_id)  # type: ignore[arg-type]
    error: HandoffError = rejected.value
    assert error.code is ErrorCode.INVALID_STEP
    assert "\n" not in str(error) and event.STEP in str(error) + str(rejected.value.step)
    assert sb.now == 0 and sb.next_deadline() == 30  # no time passed, no timeout fired


def test_a_rejected_input_does_not_burn_its_step_id() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    bad = CustomerMessage(conversation="c1", text=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidStep):
        sb.step(bad, now=1, step_id="m1")
    retry = sb.step(CustomerMessage(conversation="c1", text="hi"), now=1, step_id="m1")
    assert retry.status is StepStatus.APPLIED and len(retry.effects) == 1


def test_an_object_that_is_not_an_event_is_rejected() -> None:
    with pytest.raises(InvalidStep):
        board().step("customer", now=0)  # type: ignore[arg-type]


# -- values in and out are never shared with the state ------------------------------------


def context_of(result: StepResult) -> dict[str, JsonValue]:
    sets = [e for e in result.effects if isinstance(e, ContextSet)]
    return dict(sets[-1].context.variables)


def test_the_callers_variables_are_copied_in() -> None:
    sb = board()
    variables: dict[str, JsonValue] = {"Plan": {"tier": "gold"}, "Tags": ["a"]}
    sb.step(Start(conversation="c1", queue="support", variables=variables), now=0)
    inner = variables["Plan"]
    assert isinstance(inner, dict)
    inner["tier"] = "lead"
    variables["Tags"] = []
    assert sb.context_of("c1").variables == {"Plan": {"tier": "gold"}, "Tags": ["a"]}


def test_a_set_value_and_survey_answers_are_copied_in() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    value: list[JsonValue] = [1, 2]
    sb.step(SetVariable(conversation="c1", participant="bot-a", name="n", value=value), now=1)
    value.append(3)
    assert sb.context_of("c1").variables["n"] == [1, 2]
    sb.step(End(conversation="c1", participant="bot-a", survey=True), now=2)
    answers: dict[str, JsonValue] = {"rating": [5]}
    sb.step(SurveyResponse(conversation="c1", answers=answers), now=3)
    rating = answers["rating"]
    assert isinstance(rating, list)
    rating.append(1)
    assert switchboard_inspect.survey_answers_of(sb, "c1") == {"rating": [5]}


def test_a_context_handed_out_shares_nothing_with_the_state() -> None:
    sb = board()
    result = sb.step(Start(conversation="c1", queue="support", variables={"Tags": ["a"]}), now=0)
    handed = next(e for e in result.effects if isinstance(e, ContextSet)).context
    tags = handed.variables["Tags"]
    assert isinstance(tags, list)
    tags.append("changed")
    assert sb.context_of("c1").variables == {"Tags": ["a"]}
    assert context_of(result) == {"Tags": ["a", "changed"]}  # only the caller's copy changed


def test_forget_leaves_no_trace_of_the_conversation() -> None:
    sb = Switchboard(board().config, trace=True)
    sb.step(Start(conversation="c1", queue="support"), now=0)
    sb.step(End(conversation="c1", participant="bot-a"), now=1)
    sb.forget("c1")
    assert sb.state_of("c1") is None and "c1" not in sb.conversations()
    assert sb.step(CustomerMessage(conversation="c1", text="hi"), now=2).code is (
        ErrorCode.UNKNOWN_CONVERSATION
    )
    again = sb.step(Start(conversation="c1", queue="support"), now=3)
    assert again.status is StepStatus.APPLIED and sb.state_of("c1") is State.BOT_ACTIVE
    assert [t.trigger for t in sb.trace_of("c1")] == ["bot_takes"]


def test_forget_of_a_live_conversation_is_refused_with_its_code() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    with pytest.raises(StepRefused) as refused:
        sb.forget("c1")
    assert refused.value.code is ErrorCode.NOT_ENDED


def test_an_object_that_is_not_an_event_is_named_by_what_it_is() -> None:
    with pytest.raises(InvalidStep) as rejected:
        board().step(["customer"], now=0)  # type: ignore[arg-type]
    assert str(rejected.value) == "not a step event: list"


def test_a_bad_time_is_rejected_naming_the_field_and_the_step() -> None:
    with pytest.raises(InvalidStep) as rejected:
        board().step(Tick(now=1), now=math.inf)
    error = rejected.value
    assert (error.field, error.step) == ("now", "tick")
    assert str(error).startswith("now must be a finite number")
