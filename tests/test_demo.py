"""`handoff-fsm demo` runs every seed scenario and prints a real timeline; no scenario at all, or an
output folder it cannot write, is one error line (exit 2), never a silent success."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff_fsm.adapters.cli import main
from handoff_fsm.adapters.demo import seed_scenarios_dir

ROOT = Path(__file__).resolve().parent.parent


def test_demo_prints_the_seed_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bot_active" in out and "returned_to_bot" in out
    seeds = sorted(p.stem for p in (ROOT / "docs" / "scenarios").glob("*.yaml"))
    assert sorted(p.stem for p in tmp_path.glob("*.jsonl")) == seeds
    assert f"({len(seeds)} files)" in out


def test_in_a_checkout_the_seeds_are_the_docs_scenarios() -> None:
    assert seed_scenarios_dir() == ROOT / "docs" / "scenarios"


@pytest.mark.parametrize("make", ["empty", "missing"])
def test_no_scenario_is_an_error_not_an_empty_run(
    make: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "scenarios"
    if make == "empty":
        folder.mkdir()
    problem = "holds no *.yaml scenario file" if make == "empty" else "is not a folder"
    assert main(["demo", "--scenarios", str(folder), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"handoff-fsm demo: {folder}: {problem}\n"
    assert not (tmp_path / "out").exists()


def test_an_out_that_is_a_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "a-file"
    target.write_text("mine\n")
    assert main(["demo", "--out", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"handoff-fsm demo: {target}: is not a folder; name a folder to write into\n"
    )
    assert target.read_text() == "mine\n"
