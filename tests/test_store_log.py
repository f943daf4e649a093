"""The log (`log`): one row per step with what it gave, the hash chain that names a changed row,
and reopening without a config (a config that differs names the first difference)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_kit import (
    CONFIG,
    SPEC_EXAMPLE,
    calls_of,
    drive,
)

from handoff_fsm.adapters.scenario import load_scenario
from handoff_fsm.adapters.store import (
    DurableSwitchboard,
    Store,
    StoreConfigError,
    StoreCorruptError,
    StoreError,
)
from handoff_fsm.adapters.store.log import StepRow
from handoff_fsm.config import (
    Config,
    Kind,
    ParticipantSpec,
)
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import Accept, Start

SPEC_CONFIG = load_scenario(SPEC_EXAMPLE).config


def test_a_step_is_logged_with_its_time_id_outcome_effects_and_chain(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, CONFIG)) as board:
        board.handle(Start(conversation="c1", queue="q1"), now=1.5, step_id="s-1")
        with pytest.raises(StepRefused):
            board.handle(Accept(conversation="c1", participant="rep-1"))
    db = sqlite3.connect(path)
    rows = db.execute("SELECT * FROM steps ORDER BY seq").fetchall()
    assert [row[:7] for row in rows] == [
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
    assert [e["kind"] for e in json.loads(rows[0][7])] == [
        "participant_added", "context_set", "greeting"
    ]  # fmt: skip
    assert rows[1][7] == "[]" and all(len(row[8]) == 64 for row in rows)


def test_open_with_another_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    with pytest.raises(StoreConfigError, match="the config given is not the store's"):
        Store.open(path, SPEC_CONFIG)
    with Store.open(path, CONFIG) as store:
        assert store.config == CONFIG


def test_a_read_only_store_cannot_back_a_durable_switchboard(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    with Store.open(path, readonly=True) as store, pytest.raises(StoreError, match="writable"):
        DurableSwitchboard(store)
    with Store.open(path, readonly=True) as store, pytest.raises(StoreError, match="read-only"):
        store.append_batch(
            [
                StepRow(
                    seq=1,
                    index=0,
                    event="{}",
                    now=None,
                    step_id=None,
                    refused=False,
                    effects=0,
                    delivered="[]",
                )
            ]
        )


# -- the hash chain and tampered rows -----------------------------------------------------------


def _logged_store(path: Path) -> None:
    with DurableSwitchboard(Store.create(path, SPEC_CONFIG), checkpoint_every=1000) as board:
        drive(board, calls_of(SPEC_EXAMPLE))


def _edit(path: Path, sql: str, *parameters: object) -> None:
    db = sqlite3.connect(path)
    db.execute(sql, parameters)
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("UPDATE steps SET event = replace(event, 'a', 'e') WHERE seq = 4",
         "step seq 4: does not match its checksum"),
        ("UPDATE steps SET now = 'soon' WHERE seq = 3", "step seq 3: column now holds 'soon'"),
        ("UPDATE steps SET step_index = 'x' WHERE seq = 5",
         "step seq 5: column step_index holds 'x'"),
        ("UPDATE steps SET now = 1000.5 WHERE seq = 6", "step seq 6: does not match its checksum"),
        ("UPDATE steps SET delivered = '[]' WHERE seq = 2",
         "step seq 2: does not match its checksum"),
        ("DELETE FROM steps WHERE seq = 7", "step seq 8: the log has a gap"),
    ],
    ids=["flipped-byte", "text-now", "text-index", "moved-now", "effects", "gap"],
)  # fmt: skip
def test_a_changed_row_or_column_is_one_line_naming_the_row(
    sql: str, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "s.db"
    _logged_store(path)
    _edit(path, sql)
    with Store.open(path, readonly=True) as store, pytest.raises(StoreCorruptError) as caught:
        list(store.steps())
    assert problem in str(caught.value) and "\n" not in str(caught.value)
    done = subprocess.run(
        [sys.executable, "-m", "handoff_fsm.adapters.cli", "replay", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert problem in done.stderr


def test_reopening_needs_no_config_and_a_config_that_differs_names_the_first_difference(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    Store.create(path, CONFIG).close()
    with Store.open(path) as store:
        assert store.config == CONFIG
    people = list(CONFIG.participants)
    people[2] = ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=3)
    other = Config(settings=CONFIG.settings, participants=tuple(people), queues=CONFIG.queues)
    with pytest.raises(StoreConfigError) as caught:
        Store.open(path, other)
    assert "(participants.rep-1.capacity: store has 1, given 3)" in str(caught.value)
    with DurableSwitchboard.open(path) as board:  # no config: the store's own
        assert board.switchboard.config == CONFIG
