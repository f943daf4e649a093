"""One writer per store (`lock`): a second writer fails clearly or waits its turn, two histories
never interleave; and the head the lock file records makes a removed WAL a warning."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from store_kit import (
    CONFIG,
    SCENARIO_FILES,
    SPEC_EXAMPLE,
)

from handoff_fsm.adapters.scenario import load_scenario
from handoff_fsm.adapters.store import (
    DurableSwitchboard,
    Store,
    StoreError,
    StoreWarning,
)
from handoff_fsm.events import Tick

SPEC_CONFIG = load_scenario(SPEC_EXAMPLE).config


def test_a_removed_wal_gives_a_warning_that_acknowledged_steps_may_be_missing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    board = DurableSwitchboard(Store.create(path, CONFIG), checkpoint_every=1000)
    for second in range(1, 6):
        board.handle(Tick(now=second))
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)  # the main file alone: the steps are still in the WAL
    shutil.copyfile(tmp_path / "s.db-lock", tmp_path / "copy.db-lock")
    board.store.close()
    with pytest.warns(StoreWarning, match=r"acknowledged steps \d+\.\.5 may be missing"):
        Store.open(copy, readonly=True).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Store.open(path, readonly=True).close()  # the healthy store: no warning


# -- two writers, as two real processes ---------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from handoff_fsm.adapters.store import DurableSwitchboard, Store
    from handoff_fsm.events import Tick

    path, steps, timeout, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    board = DurableSwitchboard(Store.open(path, lock_timeout=timeout), checkpoint_every=2)
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
