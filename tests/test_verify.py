"""`handoff-fsm verify`: passes on the bundled models, fails (exit 1) on seeded defects and on a
file that does not load, naming the check and the state or file at fault."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from handoff_fsm.adapters.cli import main
from handoff_fsm.model import bundled_models_dir

DEFECTS = Path(__file__).parent / "defects"


def test_bundled_models_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "model 'lifecycle'" in out and "model 'routing'" in out
    assert "  PASS  matches_code" in out and "  PASS  no_traps" in out
    assert out.rstrip().endswith("verify: PASS: 15 checks on 2 models")


def test_bundled_models_pass_when_named_explicitly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(bundled_models_dir())]) == 0
    assert "verify: PASS" in capsys.readouterr().out


SEEDED = [
    ("trap_state", "no_traps", "'on_hold'"),
    ("unreachable_state", "reachable", "'parked'"),
    ("transition_out_of_ended", "finals_absorbing", "transitions[5] (escalate from ended)"),
    ("non_exclusive_transitions", "deterministic", "(bot_takes from waiting)"),
    ("undeclared_guard", "guards_declared", "'supervisor_present'"),
    ("unused_guard", "guards_declared", "'vip_customer'"),
    ("final_without_outcome", "outcomes", "transitions[22] (customer_left"),
    ("outcome_outside_final", "outcomes", "transitions[9] (holder_offline"),
    ("renamed_state", "matches_code", "'feedback'"),
]


@pytest.mark.parametrize(
    ("defect", "check", "at_fault"), [pytest.param(*case, id=case[0]) for case in SEEDED]
)
def test_a_defect_fails_with_the_check_and_the_state_at_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], defect: str, check: str, at_fault: str
) -> None:
    shutil.copy(DEFECTS / f"{defect}.yaml", tmp_path)
    shutil.copy(bundled_models_dir() / "routing.yaml", tmp_path)
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    fail_line = lines.index(f"  FAIL  {check}")
    assert at_fault in lines[fail_line + 1]
    assert sum(line.startswith("  FAIL") for line in lines) == 1
    assert "verify: FAIL: 1 of" in lines[-1]


def test_malformed_file_fails_with_its_name_and_the_others_are_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text("name: x\nstates: {new: [unclosed\n")
    shutil.copy(bundled_models_dir() / "lifecycle.yaml", tmp_path)
    (tmp_path / "notes.txt").write_text("not a model, not read")
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    assert f"{broken}: does not load" in out
    assert "  FAIL  load" in out
    assert re.search(rf"- {re.escape(str(broken))}: line \d+: is not valid YAML", out)
    assert out.index("broken.yaml") < out.index("lifecycle.yaml")  # sorted by file name
    assert "  PASS  matches_code" in out  # lifecycle.yaml was checked all the same
    assert "notes.txt" not in out
    assert out.splitlines()[-1] == "verify: FAIL: 0 of 8 checks failed, 1 of 2 files did not load"


def test_wrong_shape_is_a_load_failure_naming_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (bundled_models_dir() / "routing.yaml").read_text()
    (tmp_path / "routing.yaml").write_text(text.replace("dest: assigned}", "dest: served}", 1))
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "transitions[0].dest: names undeclared state 'served'" in out


@pytest.mark.parametrize("folder", ["absent", "empty"])
def test_no_models_to_check_is_an_error_not_a_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["verify", str(tmp_path / folder)]) == 2
    captured = capsys.readouterr()
    assert "PASS" not in captured.out
    assert captured.err.startswith("handoff-fsm verify: ") and folder in captured.err
