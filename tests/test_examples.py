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


def test_the_path_diagrams_of_an_example_follow_its_conversations() -> None:
    pytest.importorskip("networkx")
    from handoff_fsm.adapters.diagrams import scenario_diagrams
    from handoff_fsm.model import load_bundled

    path = next(p for p in EXAMPLES if p.name == "live_changes.yaml")
    diagrams = scenario_diagrams(load_bundled("lifecycle"), path)
    # c1 ended and was forgotten (retention 600), then started again: only its new life is drawn
    assert sorted(d.stem for d in diagrams) == [
        "scenario.live_changes.c1",
        "scenario.live_changes.c2",
    ]
    assert "waiting" in diagrams[0].mermaid + diagrams[1].mermaid
