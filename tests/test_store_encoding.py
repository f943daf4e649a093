"""The store's text (`handoff_fsm.adapters.store.encoding`): events, configs, effects, checksums,
and the first difference between two configs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import attrs
import pytest
from state_dump import plain
from store_kit import CONFIG, SCENARIO_FILES

from handoff_fsm.adapters.scenario import load_scenario
from handoff_fsm.adapters.store import (
    DurableSwitchboard,
    StepNotStorable,
    Store,
    StoreError,
    config_from_json,
    config_to_json,
    encode_config,
    encode_event,
    event_from_json,
    event_to_json,
)
from handoff_fsm.adapters.store.encoding import (
    canonical,
    encode_effects,
    first_difference,
)
from handoff_fsm.config import (
    Config,
    Kind,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Requirement,
    Settings,
    Strategy,
)
from handoff_fsm.effects import Effect, Ended, Entry, Offer
from handoff_fsm.errors import InvalidStep
from handoff_fsm.events import (
    EVENT_TYPES,
    Accept,
    AddParticipant,
    AddQueue,
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
    JoinQueue,
    LeaveQueue,
    Monitor,
    Presence,
    PresenceStatus,
    Propose,
    Reject,
    RemoveParticipant,
    RemoveQueue,
    SetCapacity,
    SetSkills,
    SetVariable,
    Start,
    SurveyResponse,
    TakeOver,
    Tick,
    Transfer,
    UpdateQueue,
    Wanted,
    WrapUpDone,
)
from handoff_fsm.lifecycle import Outcome

EVENT_SAMPLES: list[Event] = [
    Start(
        conversation="c1",
        queue="q1",
        variables={"FirstName": "Ana", "n": [1, 2.5, None, True], "o": {"k": "ü"}},
        kind=Wanted.HUMAN,
        requires=[Requirement(skill="billing", level=3, for_=30.5), Requirement(skill="fr")],
        priority=-4,
        transcript=[Entry(sender="customer", text="hi")],
    ),
    CustomerMessage(conversation="c1", text="olá, talk to agent €"),
    BotMessage(conversation="c1", participant="bot-a", text="Let me help\n"),
    AgentMessage(conversation="c1", participant="rep-1", text='say "hi"'),
    Fallback(conversation="c1", participant="bot-a"),
    SetVariable(
        conversation="c1", participant="bot-a", name="Topic", value={"a": [1, {"b": None}]}
    ),
    Escalate(conversation="c1", participant="bot-a", reason="phrase", variables={"x": 1}),
    Accept(conversation="c1", participant="rep-1"),
    Decline(conversation="c1", participant="rep-1"),
    Transfer(
        conversation="c1",
        participant="rep-1",
        queue="q2",
        kind=Wanted.BOT,
        to="bot-b",
        reason="billing",
        priority=2,
    ),
    Cancel(conversation="c1"),
    Presence(participant="rep-1", status=PresenceStatus.OFFLINE),
    Propose(conversation="c1", participant="bot-a", supervisor="rep-1", action="refund 20 EUR"),
    Approve(conversation="c1", participant="rep-1"),
    Reject(conversation="c1", participant="rep-1"),
    Monitor(conversation="c1", participant="rep-2"),
    TakeOver(conversation="c1", participant="rep-2"),
    End(conversation="c1", participant="rep-1", survey=True),
    SurveyResponse(conversation="c1", answers={"rating": 5, "comment": "ok"}),
    CustomerLeft(conversation="c1"),
    Tick(now=120.25),
    WrapUpDone(participant="rep-1"),
    AddParticipant(
        participant="rep-9",
        kind=Kind.HUMAN,
        capacity=3,
        skills={"billing": 5},
        presence=PresenceStatus.AWAY,
        queues=("q1", "q2"),
    ),
    RemoveParticipant(participant="rep-9"),
    SetCapacity(participant="rep-1", capacity=0),
    SetSkills(participant="rep-1", skills={"billing": 3, "french": 2}),
    JoinQueue(participant="rep-9", queue="q1"),
    LeaveQueue(participant="rep-9", queue="q1"),
    AddQueue(
        queue="billing",
        participants=("rep-1",),
        strategy=Strategy.ROUND_ROBIN,
        units=2,
        offer_timeout=None,
        wait_timeout=120.0,
        overflow=OverflowTransfer(queue="q1"),
    ),
    UpdateQueue(
        queue="billing",
        strategy=Strategy.MOST_IDLE,
        units=1,
        offer_timeout=30.0,
        wait_timeout=None,
        overflow=OverflowReturnToBot(),
    ),
    RemoveQueue(queue="billing"),
]


def test_every_event_type_has_a_round_trip_sample() -> None:
    assert {type(event) for event in EVENT_SAMPLES} == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == 31


def test_an_update_queue_writes_only_what_it_changes() -> None:
    partial = UpdateQueue(queue="q1", offer_timeout=None)
    data = event_to_json(partial)
    assert data == {"update_queue": {"queue": "q1", "offer_timeout": None}}
    assert event_from_json(data) == partial
    assert encode_event(partial) == '{"update_queue":{"queue":"q1","offer_timeout":null}}'


def test_a_config_with_presence_skills_and_windows_reads_back_equal() -> None:
    config = attrs.evolve(
        CONFIG,
        settings=attrs.evolve(CONFIG.settings, retention=60.0, dedup_window=5.0),
        participants=(
            *CONFIG.participants,
            ParticipantSpec(
                id="rep-9",
                kind=Kind.HUMAN,
                capacity=2,
                presence=PresenceStatus.OFFLINE,
                skills={"billing": 4},
            ),
        ),
    )
    assert config_from_json(json.loads(encode_config(config))) == config


@pytest.mark.parametrize("event", EVENT_SAMPLES, ids=lambda e: e.STEP)
def test_an_event_reads_back_equal_from_its_json(event: Event) -> None:
    text = encode_event(event)
    data = json.loads(text)
    assert list(data) == [event.STEP]
    assert list(data[event.STEP]) == [field.name for field in attrs.fields(type(event))]
    back = event_from_json(data)
    assert back == event and type(back) is type(event)
    assert event_to_json(back) == data


def test_defaults_are_written_out_so_reading_never_depends_on_them() -> None:
    data = event_to_json(Transfer(conversation="c1", participant="rep-1", queue="q1"))
    assert data["transfer"] == {
        "conversation": "c1",
        "participant": "rep-1",
        "queue": "q1",
        "kind": "any",
        "to": None,
        "reason": None,
        "variables": {},
        "requires": [],
        "priority": None,
    }


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (Start(conversation="c1", queue="q1", variables={"x": math.nan}), InvalidStep),
        (Start(conversation="c1", queue="q1", variables={"x": (1, 2)}), StepNotStorable),  # type: ignore[dict-item]
        (
            SetVariable(conversation="c1", participant="bot-a", name="x", value={1: "a"}),  # type: ignore[dict-item]
            InvalidStep,
        ),
    ],
    ids=["nan", "tuple", "int-key"],
)
def test_an_event_that_would_not_read_back_equal_is_refused_before_it_runs(
    event: Event, error: type[Exception], tmp_path: Path
) -> None:
    """A malformed step is the core's `InvalidStep` (checked first, as the engine checks it); a
    well-formed one the store cannot read back equal is `StepNotStorable`."""
    with pytest.raises(StoreError, match="cannot be stored"):
        encode_event(event)
    with DurableSwitchboard(Store.create(tmp_path / "s.db", CONFIG)) as board:
        board.handle(Start(conversation="c1", queue="q1"))
        before = plain(board.switchboard)
        with pytest.raises(error):
            board.handle(event, now=5)
        assert plain(board.switchboard) == before and board.seq == 1
        board.handle(Tick(now=6))  # not broken: the refused event never ran
        assert board.seq == 2


def test_a_damaged_event_is_a_store_error_naming_where() -> None:
    with pytest.raises(StoreError, match=r"seq 9: cannot be read back .*presence\.status"):
        event_from_json({"presence": {"participant": "rep-1", "status": "asleep"}}, "seq 9")


FULL_CONFIG = Config(
    settings=Settings(
        fallback_limit=5,
        escalation_phrases=("human please",),
        cancel_phrases=(),
        survey_timeout=None,
    ),
    participants=(
        ParticipantSpec(id="b", kind=Kind.BOT, capacity=0),
        ParticipantSpec(id="h", kind=Kind.HUMAN, capacity=7),
    ),
    queues=(
        QueueSpec(
            name="a",
            members=("b", "h"),
            strategy=Strategy.MOST_IDLE,
            units=2,
            offer_timeout=1.5,
            wait_timeout=None,
            overflow=OverflowTransfer(queue="z"),
        ),
        QueueSpec(
            name="z", members=("h",), strategy=Strategy.LEAST_ACTIVE, overflow=OverflowReturnToBot()
        ),
        QueueSpec(
            name="e",
            members=(),
            strategy=Strategy.ROUND_ROBIN,
            wait_timeout=9.0,
            overflow=OverflowEnd(),
        ),
    ),
)


@pytest.mark.parametrize(
    "config",
    [CONFIG, FULL_CONFIG, Config(), *(load_scenario(p).config for p in SCENARIO_FILES)],
    ids=["hypothesis", "full", "empty", *(p.stem for p in SCENARIO_FILES)],
)
def test_a_config_reads_back_equal_from_its_json(config: Config) -> None:
    assert config_from_json(json.loads(encode_config(config))) == config


def test_the_first_difference_of_two_configs_is_named_with_both_values() -> None:
    stored = config_to_json(CONFIG)
    given = config_to_json(CONFIG)
    assert first_difference(stored, given) is None
    people = given["participants"]
    assert isinstance(people, dict)
    people["rep-1"] = {"kind": "human", "capacity": 3}
    assert first_difference(stored, given) == "participants.rep-1.capacity: store has 1, given 3"
    del people["bot-b"]
    assert first_difference(stored, given) == "participants.bot-b: store has it, given has not"


def test_effects_are_stored_as_the_lines_a_service_delivers() -> None:
    effects: list[Effect] = [
        Offer(conversation="c1", to="rep-1", queue="q1"),
        Ended(conversation="c1", outcome=Outcome.RESOLVED),
    ]
    lines = json.loads(encode_effects(effects))
    assert lines[0] == {"kind": "offer", "conversation": "c1", "to": "rep-1",
                        **effects[0].fields()}  # fmt: skip
    assert lines[1]["kind"] == "ended" and lines[1]["to"] is None


def test_canonical_text_is_the_same_whatever_the_key_order_and_refuses_nan() -> None:
    assert canonical({"b": 1, "a": [1.5, None]}) == canonical({"a": [1.5, None], "b": 1})
    with pytest.raises(ValueError):
        canonical(float("nan"))


@pytest.mark.parametrize(
    "event",
    [
        CustomerMessage(conversation=None, text="hi"),  # type: ignore[arg-type]
        CustomerMessage(conversation="c1", text=5),  # type: ignore[arg-type]
        Tick(now=-1.0),
        Tick(now=math.inf),
        End(conversation="c1", participant="rep-1", survey="yes"),  # type: ignore[arg-type]
        Presence(participant="rep-1", status="asleep"),  # type: ignore[arg-type]
    ],
    ids=["none-text", "number-text", "negative-time", "infinite-time", "text-flag", "bad-enum"],
)
def test_the_quick_check_of_flat_steps_refuses_what_the_reader_refuses(event: Event) -> None:
    """Flat steps skip the scenario reader; what it would refuse must still be refused."""
    with pytest.raises(StoreError, match="cannot be stored"):
        encode_event(event)
