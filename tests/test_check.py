"""`check` on seeded bad deployments: each caught with its code, and each witness, replayed by
the scenario runner, reaches the problem; the seed scenarios' deployments have no error.

The witnesses run through `handoff_fsm.adapters.run.run_steps` on a real switchboard built from
the same file, exactly as `handoff-fsm run` would run a file whose `steps` are the witness.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handoff_fsm.adapters.check import load_deployment
from handoff_fsm.adapters.run import run_steps
from handoff_fsm.adapters.scenario import load_document, parse_scenario
from handoff_fsm.config import Config
from handoff_fsm.effects import Queued
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import CustomerMessage, Escalate, Start
from handoff_fsm.lifecycle import State
from handoff_fsm.planning.check import CODES, Finding, Level, Report, check
from handoff_fsm.switchboard import Switchboard

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = ROOT / "tests" / "data" / "deployments"
SEEDS = sorted((ROOT / "docs" / "scenarios").glob("*.yaml"))


def report_of(name: str) -> Report:
    return check(load_deployment(DEPLOYMENTS / f"{name}.yaml"))


def finding(name: str, code: str) -> Finding:
    found = [f for f in report_of(name).findings if f.code == code]
    assert found, f"{name}: no {code} finding"
    return found[0]


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    return {path.stem: check(load_deployment(path)) for path in sorted(DEPLOYMENTS.glob("*.yaml"))}


class Replay:
    """A witness run as the steps of its deployment's file: the lines, and the board after."""

    def __init__(self, name: str, witness: tuple[dict[str, Any], ...]) -> None:
        data, file = load_document(DEPLOYMENTS / f"{name}.yaml")
        assert isinstance(data, dict)
        scenario = parse_scenario({**data, "steps": list(witness)}, file)
        self.config: Config = scenario.config
        self.board = Switchboard(scenario.config)
        out = io.StringIO()
        run_steps(self.board, scenario.steps, out, strict=True)
        self.lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert not [line for line in self.lines if line["kind"] == "error"], self.lines

    def after(self, step: int, conversation: str = "c1") -> list[dict[str, Any]]:
        return [x for x in self.lines if x["step"] > step and x["conversation"] == conversation]

    def humans(self) -> set[str]:
        return {p.id for p in self.config.participants if p.kind == "human"}

    def bots(self) -> set[str]:
        return {p.id for p in self.config.participants if p.kind == "bot"}


Witness = tuple[dict[str, Any], ...]


def step_index(witness: Witness, kind: str) -> int:
    return max(i for i, step in enumerate(witness) if kind in step)


def _no_member_refused(replay: Replay, witness: Witness) -> None:
    """No witness runs into a queue without members: the core refuses the start (contract v2)."""
    assert not witness
    with pytest.raises(StepRefused) as refused:
        replay.board.handle(Start(conversation="c1", queue="billing"))
    assert refused.value.code is ErrorCode.CANNOT_SERVE


def _escalation_refused(replay: Replay, witness: Witness) -> None:
    """The bot holds the conversation; asking it for a person is refused (contract v2)."""
    del witness
    bot = replay.board.conversation("c1")
    assert replay.board.state_of("c1") is State.BOT_ACTIVE and bot is not None
    with pytest.raises(StepRefused) as refused:
        replay.board.handle(Escalate(conversation="c1", participant="faq-bot"))
    assert refused.value.code is ErrorCode.CANNOT_SERVE


def _escalation_unserved(replay: Replay, witness: Witness) -> None:
    escalated = step_index(witness, "escalate")
    later = replay.after(escalated)
    assert not [
        x
        for x in later
        if x["kind"] in ("offer", "participant_added") and x["to"] in replay.humans()
    ]
    assert replay.board.state_of("c1") in (State.WAITING, State.ENDED, State.BOT_ACTIVE)


def _bot_order(replay: Replay, witness: Witness) -> None:
    del witness
    greeting = next(x for x in replay.lines if x["kind"] == "greeting")
    assert (greeting["step"], greeting["to"]) == (0, "bot-b")


def _transfer_unserved(replay: Replay, witness: Witness) -> None:
    later = replay.after(step_index(witness, "transfer"))
    assert not [x for x in later if x["kind"] == "participant_added" and x["to"] in replay.bots()]


def _return_unserved(replay: Replay, witness: Witness) -> None:
    del witness
    assert replay.lines[-1]["kind"] == "ended" and replay.lines[-1]["outcome"] == "unserved"


def _overflow_cycle(replay: Replay, witness: Witness) -> None:
    del witness
    # Probe where the wait is now: back in the queue it began in, still waiting, never ended.
    probe = replay.board.handle(CustomerMessage(conversation="c1", text="hello?"))
    assert [e.queue for e in probe if isinstance(e, Queued)] == ["sales"]
    assert not [x for x in replay.lines if x["kind"] == "ended"]
    assert replay.board.next_deadline() is not None  # and it goes on


def _waits_for_ever(replay: Replay, witness: Witness) -> None:
    del witness
    cid = replay.lines[0]["conversation"] if replay.lines else "c1"
    assert replay.board.state_of(cid) is State.WAITING
    assert replay.board.next_deadline() is None  # nothing will ever happen to it by itself


def _phrase_overlap(replay: Replay, witness: Witness) -> None:
    del witness
    said = [x for x in replay.lines if x["kind"] == "participant_removed"]
    assert said and replay.board.state_of("c1") is State.WAITING


SEEDED: dict[str, tuple[str, Callable[[Replay, Witness], None]]] = {
    "queue_no_members": ("queue-no-members", _no_member_refused),
    "escalation_unserved": ("escalation-unserved", _escalation_unserved),
    "escalation_no_human": ("escalation-no-human", _escalation_refused),
    "bot_order": ("bot-order", _bot_order),
    "transfer_to_bot_unserved": ("transfer-to-bot-unserved", _transfer_unserved),
    "return_unserved": ("return-unserved", _return_unserved),
    "overflow_cycle": ("overflow-cycle", _overflow_cycle),
    "wait_forever": ("wait-forever", _waits_for_ever),
    "phrase_overlap": ("phrase-overlap", _phrase_overlap),
}


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_each_seeded_deployment_is_caught_and_its_witness_replays_to_the_problem(
    name: str, reports: dict[str, Report]
) -> None:
    code, reaches_problem = SEEDED[name]
    found = next((f for f in reports[name].findings if f.code == code), None)
    assert found is not None, [f.line() for f in reports[name].findings]
    if code != "queue-no-members":  # the core refuses any step into it: nothing to witness
        assert found.witness, "every error and behavioural warning here comes with a witness"
    replay = Replay(name, found.witness)
    reaches_problem(replay, found.witness)


def test_every_error_of_every_seeded_deployment_has_a_witness_that_runs(
    reports: dict[str, Report],
) -> None:
    for name, report in reports.items():
        for found in report.errors:
            assert found.witness or found.code == "queue-no-members", found.line()
            Replay(name, found.witness)  # accepted, step by step


def test_a_bot_never_reached_is_a_warning_naming_it(reports: dict[str, Report]) -> None:
    found = [f for f in reports["bot_unreached"].findings if f.code == "participant-unreached"]
    assert [f.place for f in found] == ["participants.bot-b"]
    assert found[0].level is Level.WARNING and not reports["bot_unreached"].errors


def test_the_seed_scenarios_deployments_have_no_error() -> None:
    for path in SEEDS:
        report = check(load_deployment(path))
        assert not report.errors, [f.line() for f in report.errors]
        assert report.findings[-1].code == "explored" and report.complete


def test_the_report_lists_errors_first_and_ends_with_what_it_explored(
    reports: dict[str, Report],
) -> None:
    report = reports["queue_no_members"]
    levels = [f.level for f in report.findings]
    assert levels == sorted(levels, key=[Level.ERROR, Level.WARNING, Level.INFO].index)
    assert f"{report.states} states" in report.findings[-1].message


def test_every_code_has_a_level_and_a_meaning() -> None:
    assert all(isinstance(level, Level) and text for level, text in CODES.values())


def test_the_same_deployment_gives_the_same_report(reports: dict[str, Report]) -> None:
    assert report_of("overflow_cycle") == reports["overflow_cycle"]
