"""The SQLite store (`handoff_fsm.adapters.store`): format, codecs, refusals, snapshots, restore.

The central property: a run cut anywhere, closed cleanly or abandoned as if the process died, and
restored from its store (latest snapshot + the log after it) is the run that never stopped, by
its whole internal state and by the lines of every step that follows. Hypothesis draws the runs:
valid and invalid steps over a small contact center, time that jumps (timeouts fire) or goes
backwards (refused), and retried ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from state_dump import plain

from handoff_fsm.adapters.replay import replay
from handoff_fsm.adapters.run import SwitchboardLike, step_lines
from handoff_fsm.adapters.scenario import ScenarioStep, load_scenario, parse_scenario
from handoff_fsm.adapters.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    DurableSwitchboard,
    LoggedStep,
    Store,
    config_from_json,
    config_to_json,
    encode_config,
    encode_event,
    event_from_json,
    event_to_json,
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
from handoff_fsm.effects import Entry
from handoff_fsm.errors import StepRefused, StoreError
from handoff_fsm.events import (
    EVENT_TYPES,
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
    WrapUpDone,
)
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import StepResult, Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect

ROOT = Path(__file__).resolve().parent.parent
SPEC_EXAMPLE = ROOT / "tests" / "data" / "spec_example.yaml"
SCENARIO_FILES = [*sorted((ROOT / "docs" / "scenarios").glob("*.yaml")), SPEC_EXAMPLE]

CONFIG = parse_scenario(
    {
        "settings": {"fallback_limit": 2, "survey_timeout": 15},
        "participants": {
            "bot-a": {"kind": "bot", "capacity": 2},
            "bot-b": {"kind": "bot", "capacity": 1},
            "rep-1": {"kind": "human", "capacity": 1},
            "rep-2": {"kind": "human", "capacity": 2},
        },
        "queues": {
            "q1": {
                "participants": ["bot-a", "rep-1", "rep-2"],
                "offer_timeout": 10,
                "wait_timeout": 30,
                "overflow": "return_to_bot",
            },
            "q2": {
                "participants": ["rep-2", "rep-1", "bot-b"],
                "strategy": "round_robin",
                "wait_timeout": 20,
                "overflow": {"transfer": "q1"},
            },
        },
        "steps": [],
    },
    "hypothesis",
).config


# -- helpers ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Call:
    """One `handle` call: what a service (or a scenario step) hands in."""

    event: Event
    now: float | None = None
    step_id: str | None = None


def drive(
    board: SwitchboardLike, calls: Sequence[Call], *, seq: int = 0, index: int = 0
) -> list[str]:
    """Hand `calls` to `board` and return the runner's lines for them."""
    lines: list[str] = []
    for number, call in enumerate(calls, start=index):
        result = board.step(call.event, now=call.now, step_id=call.step_id)
        step = ScenarioStep(index=number, event=call.event, at=call.now, id=call.step_id)
        lines += step_lines(board, seq + len(lines), step, result.effects, result.error)
    return lines


def scratch() -> tempfile.TemporaryDirectory[str]:
    """A directory for the many-store tests: in memory where the OS offers it (/dev/shm), so that
    `synchronous=FULL` costs nothing there; the code path is the same as on disk. The kill test
    (test_store_crash.py) uses a real disk."""
    shm = Path("/dev/shm")
    memory = shm.is_dir() and os.access(shm, os.W_OK)
    return tempfile.TemporaryDirectory(prefix="handoff-fsm-", dir=shm if memory else None)


def calls_of(path: Path) -> list[Call]:
    return [Call(event=s.event, now=s.now, step_id=s.id) for s in load_scenario(path).steps]


def replayed(path: Path) -> str:
    out = io.StringIO()
    with Store.open(path, readonly=True) as store:
        replay(store, out)
    return out.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


# -- format -------------------------------------------------------------------------------------


def test_a_new_store_has_the_schema_version_the_mark_and_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    db = sqlite3.connect(path)
    meta = dict(db.execute("SELECT key, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION) == "1"
    assert meta["format"] == "handoff-fsm store"
    assert json.loads(meta["config"]) == config_to_json(CONFIG)
    assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"meta", "steps", "snapshots"}
    db.close()
    assert side_files(path) == ["s.db-lock"]  # no half-built temporary left beside it


def test_a_step_is_logged_as_a_scenario_step_with_its_time_id_and_outcome(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG)) as board:
        board.handle(Start(conversation="c1", queue="q1"), now=1.5, step_id="s-1")
        with pytest.raises(StepRefused):
            board.handle(Accept(conversation="c1", participant="rep-1"))
    rows = sqlite3.connect(path).execute("SELECT * FROM steps ORDER BY seq").fetchall()
    assert rows == [
        (
            1,
            0,
            '{"start":{"conversation":"c1","queue":"q1","variables":{},"kind":null,"to":null,'
            '"requires":[],"priority":null,"transcript":[]}}',
            1.5,
            "s-1",
            0,
            3,
        ),
        (2, 1, '{"accept":{"conversation":"c1","participant":"rep-1"}}', None, None, 1, 0),
    ]


# -- codecs -------------------------------------------------------------------------------------

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
]


def test_every_event_type_has_a_round_trip_sample() -> None:
    assert {type(event) for event in EVENT_SAMPLES} == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == 22


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
    "event",
    [
        Start(conversation="c1", queue="q1", variables={"x": math.nan}),
        Start(conversation="c1", queue="q1", variables={"x": (1, 2)}),  # type: ignore[dict-item]
        SetVariable(conversation="c1", participant="bot-a", name="x", value={1: "a"}),  # type: ignore[dict-item]
    ],
    ids=["nan", "tuple", "int-key"],
)
def test_an_event_that_would_not_read_back_equal_is_refused_before_it_runs(
    event: Event, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="cannot be stored"):
        encode_event(event)
    with DurableSwitchboard(Store.create(tmp_path / "s.db", CONFIG)) as board:
        board.handle(Start(conversation="c1", queue="q1"))
        before = plain(board.switchboard)
        with pytest.raises(StoreError, match="cannot be stored"):
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


def test_a_config_no_scenario_could_state_is_refused_and_no_store_is_made(tmp_path: Path) -> None:
    bad = Config(participants=(ParticipantSpec(id="customer", kind=Kind.BOT, capacity=1),))
    with pytest.raises(StoreError, match="config cannot be stored"):
        Store.create(tmp_path / "s.db", bad)
    assert list(tmp_path.iterdir()) == []


# -- opening: what is not a store, and what it must not touch -----------------------------------


def _foreign_sqlite(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.write_text("steps: []\n"), "not an SQLite database"),
        (lambda p: p.write_bytes(b""), "not an SQLite database"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + bytes(200)), "another application"),
        (_foreign_sqlite, "another application"),
    ],
    ids=["text", "empty", "sqlite-magic-only", "other-sqlite"],
)
@pytest.mark.parametrize("readonly", [False, True], ids=["write", "read"])
def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_was(
    make: object, problem: str, readonly: bool, tmp_path: Path
) -> None:
    path = tmp_path / "s.db"
    make(path)  # type: ignore[operator]
    before = digest(path)
    with pytest.raises(StoreError, match=f"is not a handoff-fsm store .*{problem}"):
        Store.open(path, readonly=readonly)
    assert digest(path) == before
    assert side_files(path) == []


def _store_of_version(path: Path, version: str) -> None:
    Store.create(path, CONFIG).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    db.commit()
    db.close()
    (path.parent / f"{path.name}-lock").unlink()


@pytest.mark.parametrize("readonly", [False, True], ids=["write", "read"])
def test_a_store_of_an_unknown_schema_version_is_refused_and_left_as_it_was(
    readonly: bool, tmp_path: Path
) -> None:
    path = tmp_path / "s.db"
    _store_of_version(path, "2")
    before = digest(path)
    with pytest.raises(StoreError, match=r"schema version 2, which this handoff-fsm .*version 1"):
        Store.open(path, readonly=readonly)
    assert digest(path) == before
    assert side_files(path) == []  # not even the writer's lock file


def test_the_unknown_version_is_also_refused_by_the_commands(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _store_of_version(path, "7")
    for command in (["replay", str(path)], ["run", str(SCENARIO_FILES[0]), "--store", str(path)]):
        done = subprocess.run(
            [sys.executable, "-m", "handoff_fsm.adapters.cli", *command],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.count("\n") == 1 and "schema version 7" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store here"):
        Store.open(tmp_path / "absent.db")
    assert list(tmp_path.iterdir()) == []


def test_create_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_text("precious")
    with pytest.raises(StoreError, match="already exists"):
        Store.create(path, CONFIG)
    assert path.read_text() == "precious"


def test_create_in_a_directory_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot be created \\(no directory"):
        Store.create(tmp_path / "absent" / "s.db", CONFIG)
    assert list(tmp_path.iterdir()) == []


def test_open_with_another_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    with pytest.raises(StoreError, match="another config"):
        Store.open(path, FULL_CONFIG)
    with Store.open(path, CONFIG) as store:
        assert store.config == CONFIG


def test_a_read_only_store_cannot_back_a_durable_switchboard(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    with Store.open(path, readonly=True) as store, pytest.raises(StoreError, match="writable"):
        DurableSwitchboard(store)
    with Store.open(path, readonly=True) as store, pytest.raises(StoreError, match="read-only"):
        store.append(LoggedStep(seq=1, index=0, event=Tick(now=1)))


# -- snapshots and restore ----------------------------------------------------------------------


def _snapshots(path: Path) -> list[int]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT after_seq FROM snapshots ORDER BY after_seq")]
    finally:
        db.close()


SPEC_CONFIG = load_scenario(SPEC_EXAMPLE).config
SPEC_CALLS = calls_of(SPEC_EXAMPLE)


def test_snapshots_are_taken_every_n_steps_and_on_close_and_the_last_two_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG), snapshot_every=3) as board:
        for second in range(1, 8):
            board.handle(Tick(now=second))
            assert _snapshots(path) == [3, 6][: second // 3]
    assert _snapshots(path) == [6, 7]
    with DurableSwitchboard(Store.open(path), snapshot_every=3) as board:
        assert board.restored_from == 7
    assert _snapshots(path) == [6, 7]  # nothing new to snapshot on close


def test_restore_uses_the_latest_snapshot_and_applies_the_log_after_it(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    config = SPEC_CONFIG
    reference = Switchboard(config)
    drive(reference, SPEC_CALLS)
    board = DurableSwitchboard(Store.create(path, config), snapshot_every=8)
    drive(board, SPEC_CALLS)
    board.store.close()  # as if the process died: no snapshot on close
    with Store.open(path) as store:
        restored = store.restore()
    assert (restored.snapshot_seq, restored.replayed, restored.seq) == (16, 5, 21)
    assert plain(restored.switchboard) == plain(reference)


def test_a_snapshot_of_another_version_or_one_that_does_not_load_is_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    config = SPEC_CONFIG
    reference = Switchboard(config)
    drive(reference, SPEC_CALLS)
    with DurableSwitchboard(Store.create(path, config), snapshot_every=8) as board:
        drive(board, SPEC_CALLS)
    db = sqlite3.connect(path)
    db.execute("UPDATE snapshots SET blob = x'00' WHERE after_seq = 21")
    db.commit()
    with Store.open(path) as store:
        assert store.restore().snapshot_seq == 16
        assert plain(store.restore().switchboard) == plain(reference)
    db.execute("UPDATE snapshots SET engine = '0.0.0-other'")
    db.commit()
    db.close()
    with Store.open(path) as store:
        restored = store.restore()
        assert (restored.snapshot_seq, restored.replayed) == (0, 21)
        assert plain(restored.switchboard) == plain(reference)


def test_a_log_that_does_not_replay_to_what_was_acknowledged_is_a_store_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    config = SPEC_CONFIG
    board = DurableSwitchboard(Store.create(path, config), snapshot_every=1000)
    drive(board, SPEC_CALLS[:5])
    board.store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE steps SET effects = 2 WHERE seq = 3")
    db.commit()
    db.close()
    with (
        Store.open(path) as store,
        pytest.raises(StoreError, match=r"seq 3 \(index 2, bot\) does not replay: it gave 2"),
    ):
        store.restore()


def test_a_gap_in_the_log_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    board = DurableSwitchboard(Store.create(path, CONFIG), snapshot_every=1000)
    for second in range(1, 4):
        board.handle(Tick(now=second))
    board.store.close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM steps WHERE seq = 2")
    db.commit()
    db.close()
    with Store.open(path) as store, pytest.raises(StoreError, match="gap"):
        store.restore()


# -- the durable switchboard's contract ---------------------------------------------------------


def test_a_refused_step_is_logged_then_raised_with_the_timeouts_that_fired(tmp_path: Path) -> None:
    with DurableSwitchboard(Store.create(tmp_path / "s.db", CONFIG)) as board:
        board.handle(
            Start(conversation="c1", queue="q2", kind=Wanted.HUMAN), now=0
        )  # offered to rep-2
        with pytest.raises(StepRefused) as refused:
            board.handle(Accept(conversation="c1", participant="rep-2"), now=50)
        assert [e.KIND for e in refused.value.effects][:1] == ["offer_withdrawn"]
        logged = list(board.store.steps())[-1]
        assert (logged.refused, logged.effects) == (True, len(refused.value.effects))


def test_a_retried_id_is_logged_and_gives_nothing_again_after_a_restore(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG)) as board:
        assert board.handle(Start(conversation="c1", queue="q1"), step_id="x") != []
        assert board.handle(Start(conversation="c1", queue="q1"), step_id="x") == []
    with DurableSwitchboard(Store.open(path)) as board:
        assert board.handle(CustomerMessage(conversation="c1", text="hi"), step_id="x") == []
        assert [s.effects for s in board.store.steps()] == [3, 0, 0]


def test_when_another_writer_changed_the_log_the_step_is_not_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    board = DurableSwitchboard(Store.create(path, CONFIG), snapshot_every=10)
    board.handle(Tick(now=1))
    intruder = sqlite3.connect(path)  # bypasses the lock: only the log's head check can tell
    intruder.execute(
        "INSERT INTO steps VALUES (2, 1, ?, NULL, NULL, 0, 0)", (encode_event(Tick(now=2)),)
    )
    intruder.commit()
    intruder.close()
    with pytest.raises(StoreError, match="another writer changed the log"):
        board.handle(Tick(now=3))
    with pytest.raises(StoreError, match="step seq 2 ran but was not logged; reopen the store"):
        board.handle(Tick(now=4))
    board.close()  # no snapshot of a memory the log does not match
    assert _snapshots(path) == []
    with DurableSwitchboard(Store.open(path)) as again:
        assert (again.seq, again.switchboard.now) == (2, 2.0)


def test_a_step_that_fails_inside_the_switchboard_breaks_the_wrapper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    board = DurableSwitchboard(Store.create(path, CONFIG), snapshot_every=10)
    board.handle(Start(conversation="c1", queue="q1"))

    def explode(*args: object, **kwargs: object) -> StepResult:
        raise RuntimeError("bug")

    monkeypatch.setattr(board.switchboard, "step", explode)
    with pytest.raises(RuntimeError):
        board.handle(Tick(now=1))
    with pytest.raises(StoreError, match="failed in the middle of a step"):
        board.handle(Tick(now=2))
    board.close()  # its memory may be half-changed: no snapshot of it
    assert (board.store.head, _snapshots(path)) == (1, [])


def test_a_writer_commits_with_synchronous_full_in_wal_mode(tmp_path: Path) -> None:
    """What makes an acknowledged step survive a power cut, not only a killed process (which
    the kill test covers); read off the writer's own connection."""
    with Store.create(tmp_path / "s.db", CONFIG) as store:
        db = store._connection()
        assert db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- the property: restore equals the run that never stopped ------------------------------------

CONVERSATIONS = ["c1", "c2", "c3"]
PEOPLE = ["bot-a", "bot-b", "rep-1", "rep-2", "ghost"]
HUMANS = ["rep-1", "rep-2"]
QUEUES = ["q1", "q1", "q2", "nowhere"]
TEXTS = ["hi", "Talk to agent please", "never mind", "olá"]
#: Step kinds, the common ones more often.
KINDS = [
    *["start", "customer", "accept", "tick"] * 3,
    *["bot", "agent", "escalate", "transfer", "end", "fallback"] * 2,
    *["set_variable", "decline", "cancel", "presence", "propose", "approve", "reject"],
    *["monitor", "take_over", "survey_response", "customer_left", "wrap_up_done"],
]


@st.composite
def runs(draw: st.DrawFn) -> list[Call]:
    """Valid and invalid steps, their actors drawn mostly from who can act now (a shadow
    switchboard runs along: holder, offered human, monitors); time moves by jumps that make
    timeouts fire, sometimes goes backwards (refused), sometimes is not given; ids repeat
    (retried deliveries)."""
    shadow = Switchboard(CONFIG)
    clock = 0.0
    calls = []
    for _ in range(draw(st.integers(0, 30))):
        live = [c for c in shadow.conversations() if shadow.state_of(c) is not State.ENDED]
        conversation = draw(st.sampled_from([*live * 3, *CONVERSATIONS]))
        router = switchboard_inspect.router_of(shadow)
        likely = [router.holder(conversation), router.offer_of(conversation)]
        if conversation in shadow.conversations():
            likely += shadow.monitors_of(conversation)
        actors = [actor for actor in likely if actor is not None] * 4
        actor = draw(st.sampled_from([*actors, *PEOPLE]))
        human = draw(st.sampled_from([*[a for a in actors if a in HUMANS], *HUMANS]))
        kind = draw(st.sampled_from(KINDS if live else ["start"] * 20 + KINDS))
        event = _event(draw, kind, conversation, actor, human)
        move = draw(st.sampled_from([None, 0, 1, 3, 8, 12, 25, 40, -2]))
        now = None if move is None else max(clock + move, 0.0)
        if isinstance(event, Tick):
            event, now = Tick(now=clock if now is None else now), None
        call = Call(event=event, now=now, step_id=draw(st.none() | st.sampled_from("abcd")))
        calls.append(call)
        with contextlib.suppress(StepRefused):
            shadow.handle(call.event, now=call.now, step_id=call.step_id)
        clock = shadow.now
    return calls


def _event(draw: st.DrawFn, kind: str, conversation: str, actor: str, human: str) -> Event:
    c = conversation
    text = draw(st.sampled_from(TEXTS))
    match kind:
        case "start":
            variables = draw(st.sampled_from([{}, {"FirstName": "Ana"}]))
            return Start(conversation=c, queue=draw(st.sampled_from(QUEUES)), variables=variables)
        case "customer":
            return CustomerMessage(conversation=c, text=text)
        case "bot":
            return BotMessage(conversation=c, participant=actor, text=text)
        case "agent":
            return AgentMessage(conversation=c, participant=actor, text=text)
        case "fallback":
            return Fallback(conversation=c, participant=actor)
        case "set_variable":
            value = draw(st.integers(0, 3))
            return SetVariable(conversation=c, participant=actor, name="k", value=value)
        case "escalate":
            return Escalate(conversation=c, participant=actor)
        case "accept":
            return Accept(conversation=c, participant=actor)
        case "decline":
            return Decline(conversation=c, participant=actor)
        case "transfer":
            to = draw(st.none() | st.sampled_from(PEOPLE))
            return Transfer(
                conversation=c,
                participant=actor,
                queue=draw(st.sampled_from(QUEUES)),
                kind=draw(st.sampled_from(Wanted)),
                to=to,
            )
        case "cancel":
            return Cancel(conversation=c)
        case "presence":
            status = draw(st.sampled_from(PresenceStatus))
            return Presence(participant=draw(st.sampled_from([actor, *PEOPLE])), status=status)
        case "propose":
            return Propose(conversation=c, participant=actor, supervisor=human, action="refund")
        case "approve":
            return Approve(conversation=c, participant=human)
        case "reject":
            return Reject(conversation=c, participant=human)
        case "monitor":
            return Monitor(conversation=c, participant=human)
        case "take_over":
            return TakeOver(conversation=c, participant=human)
        case "end":
            return End(conversation=c, participant=actor, survey=draw(st.booleans()))
        case "survey_response":
            return SurveyResponse(conversation=c, answers={"rating": 4})
        case "customer_left":
            return CustomerLeft(conversation=c)
        case "wrap_up_done":
            return WrapUpDone(participant=human)
        case _:
            assert kind == "tick"
            return Tick(now=0)  # its time is drawn by the caller


def test_the_drawn_runs_cover_every_step_kind() -> None:
    assert sorted(set(KINDS)) == sorted(cls.STEP for cls in EVENT_TYPES)


@given(
    calls=runs(),
    data=st.data(),
    snapshot_every=st.integers(1, 5),
    died=st.booleans(),
)
def test_property_a_run_restored_anywhere_from_snapshot_and_log_is_the_uninterrupted_run(
    calls: list[Call], data: st.DataObject, snapshot_every: int, died: bool
) -> None:
    cut = data.draw(st.integers(0, len(calls)), label="cut")
    reference = Switchboard(CONFIG)
    expected = drive(reference, calls[:cut])
    state_at_cut = plain(reference)
    expected += drive(reference, calls[cut:], seq=len(expected), index=cut)

    with scratch() as directory:
        path = Path(directory) / "s.db"
        first = DurableSwitchboard(Store.create(path, CONFIG), snapshot_every=snapshot_every)
        lines = drive(first, calls[:cut])
        if died:
            first.store.close()  # no snapshot on close: the process was killed
            snapshot = cut - cut % snapshot_every
        else:
            first.close()
            snapshot = cut

        second = DurableSwitchboard(Store.open(path, CONFIG), snapshot_every=snapshot_every)
        assert second.restored_from == snapshot
        assert plain(second.switchboard) == state_at_cut
        assert second.store.line_count() == len(lines)
        lines += drive(second, calls[cut:], seq=len(lines), index=cut)
        second.close()

        assert lines == expected
        assert replayed(path) == "".join(line + "\n" for line in expected)
        with Store.open(path) as store:
            assert plain(store.restore().switchboard) == plain(reference)


@pytest.mark.parametrize("scenario", SCENARIO_FILES, ids=lambda p: p.stem)
def test_every_cut_of_a_scenario_restores_to_the_uninterrupted_state(scenario: Path) -> None:
    config = load_scenario(scenario).config
    calls = calls_of(scenario)
    with scratch() as directory:
        for cut in range(len(calls) + 1):
            reference = Switchboard(config)
            drive(reference, calls[:cut])
            path = Path(directory) / f"{cut}.db"
            board = DurableSwitchboard(Store.create(path, config), snapshot_every=4)
            drive(board, calls[:cut])
            board.store.close()
            with Store.open(path) as store:
                assert plain(store.restore().switchboard) == plain(reference), cut


# -- two writers, as two real processes ---------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from handoff_fsm.adapters.store import DurableSwitchboard, Store
    from handoff_fsm.events import Tick

    path, steps, timeout, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    board = DurableSwitchboard(Store.open(path, lock_timeout=timeout), snapshot_every=2)
    print("open", board.seq, flush=True)
    for number in range(steps):
        board.handle(Tick(now=board.switchboard.now + 1))
        if hold == "hold" and number == 0:
            print("holding", flush=True)
            sys.stdin.readline()
    board.close()
    print("done", board.seq, flush=True)
    """
)
#: Any config: the writers only tick. The first seed scenario's, so `run --store` can try too.
WRITERS_FILE = SCENARIO_FILES[0]


def _writer(
    path: Path, steps: int, *, timeout: float = 0.0, hold: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(path),
            str(steps),
            str(timeout),
            "hold" if hold else "-",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_writer_process_fails_clearly_while_the_first_holds_the_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    Store.create(path, load_scenario(WRITERS_FILE).config).close()
    first = _writer(path, 3, hold=True)
    assert first.stdout is not None and first.stdin is not None
    assert [first.stdout.readline().strip() for _ in range(2)] == ["open 0", "holding"]

    second = _writer(path, 3)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1 and "another writer has this store open" in err
    with pytest.raises(StoreError, match="another writer has this store open"):
        Store.open(path)
    command = ["run", str(WRITERS_FILE), "--store", str(path)]
    done = subprocess.run(
        [sys.executable, "-m", "handoff_fsm.adapters.cli", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"handoff-fsm run: {path}: another writer has this store open; one writer at a time "
        "(readers such as `replay` need no lock)\n"
    )
    with Store.open(path, readonly=True) as reader:  # readers need no lock
        assert reader.head == 1

    first.stdin.write("go\n")
    first.stdin.flush()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert out.split()[-2:] == ["done", "3"]
    with Store.open(path) as store:
        assert [s.seq for s in store.steps()] == [1, 2, 3]


def test_writers_that_wait_for_the_lock_take_turns_and_the_log_stays_one_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    writers = [_writer(path, 15, timeout=60) for _ in range(3)]
    results = [w.communicate(timeout=90) for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0], [err for _, err in results]
    opened = sorted(int(out.split()[1]) for out, _ in results)
    assert opened == [0, 15, 30]  # each restored what the one before it had written
    with Store.open(path) as store:
        steps = list(store.steps())
        restored = store.restore().switchboard
    assert [s.seq for s in steps] == list(range(1, 46))
    assert [s.event for s in steps] == [Tick(now=float(n)) for n in range(1, 46)]
    assert restored.now == 45.0
