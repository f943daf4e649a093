"""`handoff-fsm replay STORE` and `handoff-fsm run FILE --store STORE`, end to end.

Byte for byte: replaying a store prints what the run that filled it printed, for every scenario
of the project; a run stopped anywhere in a seed scenario and run again onto its store prints the
rest, so the two outputs together are the uninterrupted run's output (and its expected JSONL).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
import yaml
from store_kit import rechain

from handoff_fsm.adapters.cli import main
from handoff_fsm.adapters.replay import replay
from handoff_fsm.adapters.run import run_on_store, run_scenario
from handoff_fsm.adapters.scenario import Scenario, load_scenario
from handoff_fsm.adapters.store import DurableSwitchboard, Store
from handoff_fsm.errors import StepRefused, StoreError

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "docs" / "scenarios").glob("*.yaml"))
SPEC_EXAMPLE = ROOT / "tests" / "data" / "spec_example.yaml"
EVERY_SCENARIO = [*SEEDS, SPEC_EXAMPLE]


def plain_run(scenario: Scenario) -> str:
    out = io.StringIO()
    run_scenario(scenario, out)
    return out.getvalue()


def store_run(scenario: Scenario, path: Path, *, strict: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    status = run_on_store(scenario, path, out, strict=strict)
    return status, out.getvalue()


def replayed(path: Path) -> str:
    out = io.StringIO()
    with Store.open(path, readonly=True) as store:
        replay(store, out)
    return out.getvalue()


@attrs.frozen
class Done:
    returncode: int
    stdout: bytes
    stderr: bytes


@pytest.fixture
def cli(capsysbinary: pytest.CaptureFixture[bytes]) -> Callable[..., Done]:
    """`handoff-fsm ARGS...` in this process (`cli.main`), its output captured as bytes."""

    def command(*args: str) -> Done:
        capsysbinary.readouterr()
        status = main(list(args))
        captured = capsysbinary.readouterr()
        return Done(status, captured.out, captured.err)

    return command


def entry_point(*args: str) -> subprocess.CompletedProcess[bytes]:
    """`handoff-fsm ARGS...` as a new process, through the module's real entry point."""
    return subprocess.run(
        [sys.executable, "-m", "handoff_fsm.adapters.cli", *args],
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory for tests that make a store per cut: in memory where the OS offers it
    (/dev/shm), so that `synchronous=FULL` costs nothing; the code path is the one on disk."""
    shm = Path("/dev/shm")
    memory = shm.is_dir() and os.access(shm, os.W_OK)
    with tempfile.TemporaryDirectory(prefix="handoff-fsm-", dir=shm if memory else None) as name:
        yield Path(name)


def truncated(scenario_file: Path, steps: int, directory: Path) -> Path:
    """The scenario file with only its first `steps` steps, as JSON (same config, same steps)."""
    data = yaml.safe_load(scenario_file.read_text(encoding="utf-8"))
    data["steps"] = data["steps"][:steps]
    path = directory / f"{scenario_file.stem}-{steps}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- replay equality ----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario_file", EVERY_SCENARIO, ids=lambda p: p.stem)
def test_replay_prints_the_run_byte_for_byte(
    scenario_file: Path, tmp_path: Path, cli: Callable[..., Done]
) -> None:
    store = tmp_path / "s.db"
    ran = cli("run", str(scenario_file), "--store", str(store))
    again = cli("replay", str(store))
    plain = cli("run", str(scenario_file))
    assert ran.returncode == again.returncode == plain.returncode == 0
    assert ran.stderr == again.stderr == b""
    assert ran.stdout == plain.stdout  # the store changes nothing in the output
    assert again.stdout == ran.stdout
    expected = scenario_file.with_name(scenario_file.stem + ".expected.jsonl")
    if expected.exists():
        assert again.stdout == expected.read_bytes()
    assert again.stdout.count(b"\n") >= 5


@pytest.mark.parametrize("scenario_file", SEEDS, ids=lambda p: p.stem)
def test_a_restart_anywhere_in_a_seed_scenario_gives_the_uninterrupted_output(
    scenario_file: Path, scratch: Path
) -> None:
    scenario = load_scenario(scenario_file)
    whole = plain_run(scenario)
    for cut in range(len(scenario.steps) + 1):
        path = scratch / f"{cut}.db"
        status, head = store_run(Scenario(config=scenario.config, steps=scenario.steps[:cut]), path)
        assert status == 0
        status, rest = store_run(scenario, path)
        assert status == 0
        assert head + rest == whole, cut
        assert replayed(path) == whole, cut


@pytest.mark.parametrize("scenario_file", SEEDS, ids=lambda p: p.stem)
def test_a_run_killed_in_the_middle_goes_on_from_its_last_acknowledged_step(
    scenario_file: Path, scratch: Path
) -> None:
    """No clean close: the first part is written by a durable switchboard whose store is then
    dropped without a checkpoint, as if the process had been killed; the second `run --store`
    restores from the log alone (and the checkpoints taken on the way, one every 2 steps)."""
    scenario = load_scenario(scenario_file)
    whole = plain_run(scenario)
    for cut in range(len(scenario.steps) + 1):
        path = scratch / f"{cut}.db"
        board = DurableSwitchboard(Store.create(path, scenario.config), checkpoint_every=2)
        for step in scenario.steps[:cut]:
            with contextlib.suppress(StepRefused):
                board.handle(step.event, now=step.now, step_id=step.id)
        board.store.close()
        _, rest = store_run(scenario, path)
        with Store.open(path, readonly=True) as store:
            head = store.line_count() - rest.count("\n")
        assert whole.splitlines(keepends=True)[head:] == rest.splitlines(keepends=True), cut
        assert replayed(path) == whole, cut


@pytest.mark.parametrize("scenario_file", SEEDS, ids=lambda p: p.stem)
def test_the_commands_restart_in_the_middle_of_a_seed_scenario(
    scenario_file: Path, tmp_path: Path, cli: Callable[..., Done]
) -> None:
    scenario = load_scenario(scenario_file)
    cut = len(scenario.steps) // 2
    store = str(tmp_path / "s.db")
    first = cli("run", str(truncated(scenario_file, cut, tmp_path)), "--store", store)
    second = cli("run", str(scenario_file), "--store", store)
    assert first.returncode == second.returncode == 0
    expected = scenario_file.with_name(scenario_file.stem + ".expected.jsonl").read_bytes()
    assert first.stdout and second.stdout
    assert first.stdout + second.stdout == expected
    assert cli("replay", store).stdout == expected


# -- run --store: what "goes on" means ----------------------------------------------------------


def test_running_the_same_file_again_applies_nothing(tmp_path: Path) -> None:
    scenario = load_scenario(SPEC_EXAMPLE)
    path = tmp_path / "s.db"
    assert store_run(scenario, path)[1] == plain_run(scenario)
    with Store.open(path) as store:
        head = store.head
    assert store_run(scenario, path) == (0, "")
    with Store.open(path) as store:
        assert store.head == head


def test_a_shorter_version_of_the_file_applies_nothing(tmp_path: Path) -> None:
    scenario = load_scenario(SPEC_EXAMPLE)
    path = tmp_path / "s.db"
    store_run(scenario, path)
    assert store_run(Scenario(config=scenario.config, steps=scenario.steps[:4]), path) == (0, "")


def test_another_file_on_the_same_store_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    scenario = load_scenario(SPEC_EXAMPLE)
    path = tmp_path / "s.db"
    store_run(Scenario(config=scenario.config, steps=scenario.steps[:5]), path)
    before = path.read_bytes()
    other = Scenario(config=scenario.config, steps=scenario.steps[1:])
    with pytest.raises(StoreError, match="step 0 of the file is not the step the store logged"):
        store_run(other, path)
    assert path.read_bytes() == before


def test_another_config_on_the_same_store_is_one_stderr_line_and_exit_2(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    store = str(tmp_path / "s.db")
    assert main(["run", str(SEEDS[0]), "--store", store]) == 0
    capsysbinary.readouterr()
    assert main(["run", str(SEEDS[1]), "--store", store]) == 2
    captured = capsysbinary.readouterr()
    assert captured.out == b""
    err = captured.err.decode()
    assert err.startswith(f"handoff-fsm run: {store}: the config given is not the store's (")
    assert ": store has " in err and err.count("\n") == 1


def test_strict_stops_at_the_refused_step_and_the_next_run_goes_on_after_it(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(SPEC_EXAMPLE)
    whole = plain_run(scenario)
    path = tmp_path / "s.db"
    outputs = []
    while True:
        status, out = store_run(scenario, path, strict=True)
        outputs.append(out)
        if status == 0:
            break
        assert status == 1 and out.splitlines()[-1].startswith('{"seq":')
        assert json.loads(out.splitlines()[-1])["kind"] == "error"
    assert len(outputs) > 3  # the spec example refuses several steps
    assert "".join(outputs) == whole == replayed(path)


def test_the_commands_through_the_real_entry_point(tmp_path: Path) -> None:
    scenario_file = SEEDS[0]
    store = str(tmp_path / "s.db")
    first = entry_point("run", str(truncated(scenario_file, 3, tmp_path)), "--store", store)
    second = entry_point("run", str(scenario_file), "--store", store)
    again = entry_point("replay", store)
    assert first.returncode == second.returncode == again.returncode == 0
    seqs = [json.loads(line)["seq"] for line in (first.stdout + second.stdout).splitlines()]
    assert seqs == list(range(1, len(seqs) + 1))
    steps = [json.loads(line)["step"] for line in second.stdout.splitlines()]
    assert min(steps) >= 3
    assert (
        again.stdout
        == first.stdout + second.stdout
        == entry_point("run", str(scenario_file)).stdout
    )
    missing = entry_point("replay", str(tmp_path / "absent.db"))
    assert (missing.returncode, missing.stdout) == (2, b"")
    assert b"Traceback" not in missing.stderr and missing.stderr.count(b"\n") == 1


# -- replay's refusals --------------------------------------------------------------------------


def test_replay_of_something_that_is_not_a_store_is_one_stderr_line_and_exit_2(
    tmp_path: Path, cli: Callable[..., Done]
) -> None:
    for path, problem in [
        (tmp_path / "absent.db", "no store here"),
        (SPEC_EXAMPLE, "is not a handoff-fsm store (not an SQLite database)"),
    ]:
        done = cli("replay", str(path))
        assert (done.returncode, done.stdout) == (2, b"")
        assert done.stderr.decode() == f"handoff-fsm replay: {path}: {problem}\n"
    assert not (tmp_path / "absent.db").exists()


def test_replay_stops_at_a_step_that_does_not_give_what_it_gave(
    tmp_path: Path, cli: Callable[..., Done]
) -> None:
    store = tmp_path / "s.db"
    assert cli("run", str(SPEC_EXAMPLE), "--store", str(store)).returncode == 0
    db = sqlite3.connect(store)
    db.execute("UPDATE steps SET effects = effects + 1 WHERE seq = 6")
    db.commit()
    db.close()
    rechain(store)  # the checksums hold: only re-running the step can tell
    done = cli("replay", str(store))
    assert done.returncode == 2
    assert b"step seq 6 (index 5, escalate) does not replay" in done.stderr
    whole = cli("run", str(SPEC_EXAMPLE)).stdout
    assert whole.startswith(done.stdout) and done.stdout  # the lines before it were written


def test_replay_stops_at_a_row_changed_after_it_was_written(
    tmp_path: Path, cli: Callable[..., Done]
) -> None:
    """Two flipped bytes in a message ("my card" read back as "mi card") used to replay
    silently; the hash chain names the row."""
    store = tmp_path / "s.db"
    assert cli("run", str(SPEC_EXAMPLE), "--store", str(store)).returncode == 0
    db = sqlite3.connect(store)
    (event,) = db.execute("SELECT event FROM steps WHERE seq = 2").fetchone()
    assert "a" in event
    db.execute("UPDATE steps SET event = ? WHERE seq = 2", (event.replace("a", "e", 1),))
    db.commit()
    db.close()
    done = cli("replay", str(store))
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert done.stderr.decode().endswith(
        "step seq 2: does not match its checksum (the row was "
        "changed after it was written, or a row before it was)\n"
    )


def test_replay_reads_a_store_a_writer_has_open(tmp_path: Path) -> None:
    """In another process, while this one holds the writer lock."""
    scenario = load_scenario(SPEC_EXAMPLE)
    path = tmp_path / "s.db"
    with DurableSwitchboard(Store.create(path, scenario.config)) as board:
        for step in scenario.steps[:3]:
            board.handle(step.event, now=step.now, step_id=step.id)
        done = entry_point("replay", str(path))
        assert done.returncode == 0
        assert done.stdout.decode() == plain_run(Scenario(scenario.config, scenario.steps[:3]))
