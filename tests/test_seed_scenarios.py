"""The seed flows of the five source articles, run end to end from their scenario files.

Each file in docs/scenarios/ has its expected JSONL beside it (reviewed by hand when it was
written, regenerated only on purpose), checked byte for byte; the tests below that also assert,
independently of those files, the facts each article states.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from handoff_fsm.adapters.cli import main
from handoff_fsm.adapters.run import run_scenario
from handoff_fsm.adapters.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "docs" / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))


def lines_of(name: str) -> list[dict[str, object]]:
    out = io.StringIO()
    assert run_scenario(load_scenario(SCENARIOS / f"{name}.yaml"), out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def kinds_to(lines: list[dict[str, object]], step: int) -> list[tuple[object, object]]:
    return [(line["kind"], line["to"]) for line in lines if line["step"] == step]


def test_the_five_seed_scenarios_are_shipped() -> None:
    assert {f.stem for f in FILES} == {
        "two_bots_two_queues",
        "two_bots_one_queue",
        "implicit_and_explicit_triggers",
        "waiting_cancel_and_supervision",
        "end_with_survey",
    }


@pytest.mark.parametrize("scenario", FILES, ids=lambda f: f.stem)
def test_scenario_output_matches_its_expected_jsonl(
    scenario: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(scenario)]) == 0
    expected = scenario.with_suffix(".expected.jsonl").read_text(encoding="utf-8")
    assert capsys.readouterr().out == expected


def test_two_bots_one_queue_goes_bot_a_human_bot_b_with_join_order() -> None:
    lines = lines_of("two_bots_one_queue")
    holders = [line["to"] for line in lines if line.get("role") == "holder"]
    assert holders == ["bot-a", "rep-1", "bot-b"]
    assert kinds_to(lines, 7) == [
        ("participant_removed", "rep-1"),
        ("participant_added", "bot-b"),
        ("context_set", "bot-b"),
        ("greeting", "bot-b"),
    ]
    assert lines[-1]["state"] == "returned_to_bot"


def test_two_bots_two_queues_lands_on_bot_b_in_queue_2_with_full_context() -> None:
    lines = lines_of("two_bots_two_queues")
    context = next(row for row in lines if row["kind"] == "context_set" and row["to"] == "bot-b")
    transcript = context["context"]["transcript"]  # type: ignore[index]
    assert [entry["from"] for entry in transcript] == ["bot-a", "customer", "customer", "rep-1"]


def test_fallback_phrase_and_explicit_triggers_each_escalate() -> None:
    lines = lines_of("implicit_and_explicit_triggers")
    assert kinds_to(lines, 2) == [] and kinds_to(lines, 5) == []  # fallbacks below the limit
    assert kinds_to(lines, 8) == [("participant_removed", "copilot"), ("offer", "rep-1")]
    assert ("offer", "rep-1") in kinds_to(lines, 11)  # "talk to agent"
    assert ("offer", "rep-1") in kinds_to(lines, 16)  # explicit escalate step
    agent_context = next(row for row in lines if row["step"] == 9 and row["kind"] == "context_set")
    assert agent_context["context"]["variables"]["Email"] == "ana@example.com"  # type: ignore[index]


def test_waiting_is_answered_with_position_and_never_mind_returns_to_the_bot() -> None:
    lines = lines_of("waiting_cancel_and_supervision")
    assert [row["kind"] for row in lines if row["step"] == 3] == ["queued"]
    assert kinds_to(lines, 4)[0] == ("participant_added", "helpdesk-bot")
    assert {row["state"] for row in lines if row["step"] == 4} == {"bot_active"}
    approvals = [row["approved"] for row in lines if row["kind"] == "approval"]
    assert approvals == [True, False]
    assert next(row["state"] for row in lines if row["step"] == 18) == "agent_engaged"


def test_end_with_survey_completes_or_is_skipped() -> None:
    lines = lines_of("end_with_survey")
    outcomes = {row["conversation"]: row["outcome"] for row in lines if row["kind"] == "ended"}
    assert outcomes == {"c1": "survey_completed", "c2": "survey_skipped", "c3": "resolved"}
