"""The checkpoint codec: a switchboard's whole state as JSON rows and back, nothing missed.

The codec is the one module that reads engine internals, so it is the one that can silently miss
state the engine gains. Two guards: the round trip (encode, load, compare everything the board
holds) over Hypothesis-drawn runs and every cut of the seed scenarios; and `check_shape`, which
refuses to checkpoint an engine with attributes the codec does not know (a seeded defect proves
it fires).
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_kit import CONFIG, SCENARIO_FILES, Call, board_state, calls_of, drive, runs

from handoff_fsm.adapters.scenario import load_scenario
from handoff_fsm.adapters.store import StoreError
from handoff_fsm.adapters.store import checkpoint_codec as codec
from handoff_fsm.config import Config, ParticipantSpec, QueueSpec, Requirement, Settings
from handoff_fsm.events import (
    Accept,
    AddParticipant,
    End,
    Escalate,
    Event,
    Kind,
    LeaveQueue,
    Presence,
    PresenceStatus,
    RemoveParticipant,
    RemoveQueue,
    Start,
    Tick,
    Transfer,
    Wanted,
    WrapUpDone,
)
from handoff_fsm.switchboard import Switchboard


def round_trip(board: Switchboard) -> Switchboard:
    """Encode every row as JSON text and load a new board from the texts."""
    g, participants, conversations = codec.encode_all(board)
    text = json.dumps([g, participants, list(conversations.items())], allow_nan=False)
    g2, p2, c2 = json.loads(text)
    loaded = codec.load(board.config, g2, p2, [(k, v) for k, v in c2], "test")
    codec.remember_seen(loaded, board._seen_ids)
    return loaded


#: The same center with retention and a dedup window: ended conversations and step ids leave
#: memory in time, so the checkpoint carries what is still to be forgotten, with its time.
WINDOWS = attrs.evolve(
    CONFIG, settings=attrs.evolve(CONFIG.settings, retention=20.0, dedup_window=10.0)
)


@settings(max_examples=150)
@given(calls=runs(), windows=st.booleans())
def test_property_every_drawn_state_loads_back_to_the_same_state(
    calls: list[Call], windows: bool
) -> None:
    board = Switchboard(WINDOWS if windows else CONFIG)
    for n in range(len(calls) + 1):
        assert board_state(round_trip(board)) == board_state(board), n
        if n < len(calls):
            drive(board, calls[n : n + 1])


@pytest.mark.parametrize("scenario", SCENARIO_FILES, ids=lambda p: p.stem)
def test_every_cut_of_a_seed_scenario_loads_back_and_decides_alike(scenario: Path) -> None:
    config = load_scenario(scenario).config
    calls = calls_of(scenario)
    for cut in range(len(calls) + 1):
        reference = Switchboard(config)
        drive(reference, calls[:cut])
        loaded = round_trip(reference)
        assert board_state(loaded) == board_state(reference), cut
        assert drive(loaded, calls[cut:], index=cut) == drive(reference, calls[cut:], index=cut)


def test_an_engine_with_state_the_codec_does_not_know_is_refused_loudly() -> None:
    board = Switchboard(CONFIG)
    board.new_books = {}  # type: ignore[attr-defined]  # seeded defect: the engine gained state
    with pytest.raises(StoreError, match=r"does not know this engine's state.*new_books"):
        codec.check_shape(board)


@pytest.mark.parametrize("index", range(len(codec._RECORD_TYPES)))
def test_a_record_class_with_a_field_the_codec_does_not_know_is_refused_loudly(
    index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seeded defect per record class (router, timer heap, conversation, proposal, wait,
    participant, queue): the codec's list of known fields lacks one the class has."""
    what, record_type, known = codec._RECORD_TYPES[index]
    dropped = sorted(known)[0]
    shrunk = [*codec._RECORD_TYPES]
    shrunk[index] = (what, record_type, known - {dropped})
    monkeypatch.setattr(codec, "_RECORD_TYPES", shrunk)
    with pytest.raises(StoreError, match=rf"{what} \['{dropped}'\]"):
        codec.check_shape(Switchboard(CONFIG))


def test_a_traced_switchboard_is_refused_rather_than_checkpointed_without_its_traces() -> None:
    with pytest.raises(StoreError, match="trace=True"):
        codec.check_shape(Switchboard(CONFIG, trace=True))


@pytest.mark.parametrize(
    "event",
    [
        Presence(participant="rep-1", status=PresenceStatus.OFFLINE),
        LeaveQueue(participant="rep-1", queue="q1"),
        RemoveParticipant(participant="rep-1"),
    ],
    ids=lambda e: e.STEP,
)
def test_a_step_touches_the_waits_that_named_its_participant_silently(event: Event) -> None:
    """The one change no effect names: a wait that named rep-1 asks the whole queue when rep-1
    goes offline, leaves the queue or is removed. Without `touched_before` the checkpoint would
    keep the old request."""
    board = Switchboard(CONFIG)
    board.handle(Presence(participant="rep-2", status=PresenceStatus.OFFLINE), now=0)
    board.handle(Start(conversation="c1", queue="q1"), now=0)  # bot-a holds it
    board.handle(
        Transfer(conversation="c1", participant="bot-a", queue="q1", kind=Wanted.HUMAN,
                 to="rep-1"), now=1,
    )  # fmt: skip
    board.handle(Presence(participant="rep-1", status=PresenceStatus.AWAY), now=2)
    before = codec.touched_before(board, event)
    effects = board.handle(event, now=3)
    conversations: set[str] = set()
    codec.touched(event, effects, conversations, set())
    assert "c1" in before and "c1" not in conversations


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda g: g.update(now="soon"), "'now' is not a number"),
        (lambda g: g.update(codec=99), "codec version 99"),
        (lambda g: g.pop("timer_seq"), "has no 'timer_seq'"),
        (lambda g: g.update(tokens=1.5), "'tokens' is not an integer"),
        (lambda g: g.update(ended=[[3, "c9"]]), "globals.ended names 'c9'"),
        (lambda g: g.update(id_expiry=[["x"]]), "'id_expiry' is not a list of 2-item lists"),
        (lambda g: g.update(world={"queues": 3}), "globals.world: cannot be read back"),
    ],
)
def test_a_damaged_row_is_one_line_naming_it(change: object, problem: str) -> None:
    g, participants, conversations = codec.encode_all(Switchboard(CONFIG))
    change(g)  # type: ignore[operator]
    with pytest.raises(StoreError, match=problem):
        codec.load(CONFIG, g, participants, list(conversations.items()), "here")


def test_the_world_changed_by_live_changes_is_in_the_globals_row_only_when_it_differs() -> None:
    board = Switchboard(CONFIG)
    assert codec.encode_globals(board)["world"] is None
    board.handle(RemoveQueue(queue="q2"), now=0)
    board.handle(AddParticipant(participant="rep-9", kind=Kind.HUMAN, queues=("q1",)), now=0)
    loaded = round_trip(board)
    assert loaded.world == board.world != CONFIG
    assert loaded.config == CONFIG  # the store's first config stays what it was


#: Routing's v2 state: skills and a requirement that relaxes, priority, a wrap-up, missed offers
#: that set a human away, a hand-over reason, the estimate's service times, past decisions.
ROUTED = Config.build(
    [
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=5),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=2, skills={"billing": 3}),
        ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=1),
    ],
    [
        QueueSpec(
            name="q1",
            members=("bot-a", "rep-1", "rep-2"),
            offer_timeout=5.0,
            wrap_up=30.0,
            priority=1,
        ),
    ],
    Settings(missed_offers_to_away=1),
)
ROUTED_CALLS = [
    Call(event=Start(conversation="c1", queue="q1"), now=0),
    Call(
        event=Escalate(
            conversation="c1",
            participant="bot-a",
            reason="billing",
            requires=(Requirement(skill="billing", level=5, for_=10.0),),
        ),
        now=1,
    ),
    Call(event=Start(conversation="c2", queue="q1", kind=Wanted.HUMAN, priority=3), now=2),
    Call(event=Accept(conversation="c2", participant="rep-1"), now=3),
    Call(event=Tick(now=12)),  # c1's requirement relaxes: offered to a human
    Call(event=Tick(now=20)),  # the offer times out: its human is set away
    Call(event=End(conversation="c2", participant="rep-1"), now=22),  # rep-1 wraps up until 52
    Call(event=Presence(participant="rep-2", status=PresenceStatus.AVAILABLE), now=23),
    Call(event=Tick(now=60)),  # the wrap-up ends silently
    Call(event=WrapUpDone(participant="rep-1"), now=61),
]


def test_every_cut_of_a_run_with_routings_v2_state_loads_back_and_decides_alike() -> None:
    for cut in range(len(ROUTED_CALLS) + 1):
        reference = Switchboard(ROUTED)
        drive(reference, ROUTED_CALLS[:cut])
        loaded = round_trip(reference)
        assert board_state(loaded) == board_state(reference), cut
        later = ROUTED_CALLS[cut:]
        assert drive(loaded, later, index=cut) == drive(reference, later, index=cut), cut


def test_a_relax_or_a_wrap_up_ending_by_the_steps_time_is_touched_silently() -> None:
    board = Switchboard(ROUTED)
    drive(board, ROUTED_CALLS[:4])
    assert codec.touched_before(board, Tick(now=12)) == {"c1"}
    assert codec.touched_before(board, Tick(now=9)) == set()
    drive(board, ROUTED_CALLS[4:8])
    assert codec.participants_before(board, Tick(now=60)) == {"rep-1"}
    assert codec.participants_before(board, Tick(now=30)) == set()
