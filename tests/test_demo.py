"""`handoff-fsm demo` runs and prints a real timeline."""

from __future__ import annotations

import pytest

from handoff_fsm.adapters.cli import main


def test_demo_prints_the_seed_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "bot_active" in out and "returned_to_bot" in out
