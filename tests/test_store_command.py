"""`handoff-fsm store verify|compact FILE`: one line out, exit 0; one line on stderr, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_kit import SPEC_EXAMPLE

from handoff_fsm.adapters.cli import main


def test_verify_then_compact_then_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s.db"
    assert main(["run", str(SPEC_EXAMPLE), "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["store", "verify", str(store)]) == 0
    assert capsys.readouterr().out == (
        f"{store}: ok: steps 1..21 chain intact and replayed; live at seq 21 matches the log\n"
    )
    assert main(["store", "compact", str(store)]) == 0
    assert capsys.readouterr().out == (
        f"{store}: compacted: 21 log rows dropped; the log starts after seq 21\n"
    )
    assert main(["store", "verify", str(store)]) == 0
    assert "base at seq 21 self-consistent" in capsys.readouterr().out


def test_something_that_is_not_a_store_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for action in ("verify", "compact"):
        assert main(["store", action, str(SPEC_EXAMPLE)]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        assert "is not a handoff-fsm store" in captured.err
