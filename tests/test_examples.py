"""The example scenarios of docs/examples/ run and print exactly their expected output.

They are examples for readers (docs/live-changes.md), not seed scenarios: the demo does not run
them, and the seed scenarios of docs/scenarios/ stay as they are.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from handoff_fsm.adapters.run import run_scenario
from handoff_fsm.adapters.scenario import load_scenario

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "docs" / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_example_prints_its_expected_output(path: Path) -> None:
    out = io.StringIO()
    run_scenario(load_scenario(path), out)
    expected = path.with_name(path.name.removesuffix(".yaml") + ".expected.jsonl")
    assert out.getvalue() == expected.read_text(encoding="utf-8")
