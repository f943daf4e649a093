"""`handoff-fsm check FILE [--json]`: the lines, the JSON, the exit status, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from handoff_fsm.adapters.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = ROOT / "tests" / "data" / "deployments"
SEED = ROOT / "docs" / "scenarios" / "two_bots_one_queue.yaml"


def check_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_an_error_prints_its_line_and_witness_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = check_cli(capsys, DEPLOYMENTS / "bot_order.yaml")
    lines = out.splitlines()
    assert status == 1 and not err
    assert lines[0].startswith("error bot-order queues.support.participants: 'bot-b' is listed")
    assert json.loads(lines[1].removeprefix("    - ")) == {
        "start": {"conversation": "c1", "queue": "support"}
    }
    assert lines[-1].startswith("info explored deployment: ")


def test_a_deployment_without_error_exits_0_and_its_steps_are_ignored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = check_cli(capsys, SEED)  # its steps would print effects if they ran
    assert status == 0
    assert all(line.split()[0] in ("warning", "info") for line in out.splitlines()
               if not line.startswith("    - "))  # fmt: skip


def test_json_gives_one_object_per_finding(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = check_cli(capsys, DEPLOYMENTS / "overflow_cycle.yaml", "--json")
    found = [json.loads(line) for line in out.splitlines()]
    assert status == 1
    assert all(set(f) == {"level", "code", "place", "message", "witness"} for f in found)
    cycle = next(f for f in found if f["code"] == "overflow-cycle")
    assert cycle["level"] == "error" and cycle["witness"][0] == {
        "start": {"conversation": "c1", "queue": "sales"}
    }


def test_a_bad_file_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("participants: {rep: {kind: robot}}\nqueues: {}\n", encoding="utf-8")
    status, out, err = check_cli(capsys, bad)
    assert status == 2 and not out
    assert err.count("\n") == 1 and "participants.rep.kind" in err


def test_a_file_with_a_simulation_key_and_no_steps_is_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "center.yaml"
    path.write_text(
        "simulation: {duration: 60}\nparticipants: {rep: {kind: human}}\n"
        "queues: {q: {participants: [rep], wait_timeout: 60}}\n",
        encoding="utf-8",
    )
    status, out, _ = check_cli(capsys, path)
    assert status == 0 and out.splitlines()[-1].startswith("info explored")


def test_a_witness_written_as_a_scenario_file_runs_with_handoff_fsm_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, out, _ = check_cli(capsys, DEPLOYMENTS / "bot_order.yaml", "--json")
    found = [json.loads(line) for line in out.splitlines()]
    witness = next(f["witness"] for f in found if f["code"] == "bot-order")
    deployment = yaml.safe_load((DEPLOYMENTS / "bot_order.yaml").read_text(encoding="utf-8"))
    scenario = tmp_path / "witness.yaml"
    scenario.write_text(yaml.safe_dump({**deployment, "steps": witness}), encoding="utf-8")
    status, out, err = main_run(capsys, scenario)
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and not err
    assert [(x["kind"], x["to"]) for x in lines][:3] == [
        ("participant_added", "bot-b"), ("context_set", "bot-b"), ("greeting", "bot-b"),
    ]  # fmt: skip


def main_run(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    status = main(["run", "--strict", str(path)])
    out, err = capsys.readouterr()
    return status, out, err
