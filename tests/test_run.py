"""`handoff-fsm run`: line numbering, states after the step, error lines, --strict, bad files.

The switchboard is replaced by a scripted fake with the same two methods, so these tests pin the
command's own logic; end-to-end scenario runs against the real switchboard live elsewhere.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import pytest

from handoff_fsm.adapters import run as run_module
from handoff_fsm.adapters.cli import main
from handoff_fsm.adapters.run import (
    BASE_KEYS,
    SwitchboardLike,
    effect_line,
    format_line,
    run_scenario,
)
from handoff_fsm.adapters.scenario import Scenario, parse_scenario
from handoff_fsm.config import Config
from handoff_fsm.effects import (
    EFFECT_TYPES,
    Approval,
    ApprovalRequested,
    Context,
    ContextSet,
    Effect,
    Ended,
    Entry,
    Greeting,
    Handover,
    Message,
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    PresenceChanged,
    Queued,
    Role,
    Survey,
    WithdrawReason,
    WrapUp,
)
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import Event
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.switchboard import StepResult, StepStatus
from handoff_fsm.vocabulary import PresenceStatus

DOCS = Path(__file__).resolve().parent.parent / "docs" / "scenario-format.md"

#: What the fake does for one step: the effects it returns (or a refusal), and the states it
#: leaves conversations in (applied before it returns or raises).
Plan = Sequence[Effect] | StepRefused


@attrs.define
class Call:
    event: Event
    now: float | None
    step_id: str | None
    states_then: dict[str, State]


@attrs.define
class FakeSwitchboard:
    """Plays a script: step i returns script[i][0] (or raises it) after applying script[i][1]."""

    config: Config
    script: list[tuple[Plan, dict[str, State]]]
    states: dict[str, State] = attrs.field(factory=dict)
    calls: list[Call] = attrs.field(factory=list)
    state_reads: list[tuple[int, str]] = attrs.field(factory=list)

    def step(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> StepResult:
        outcome, changes = self.script[len(self.calls)]
        self.calls.append(Call(event, now, step_id, dict(self.states)))
        self.states.update(changes)
        if isinstance(outcome, StepRefused):
            return StepResult(status=StepStatus.REFUSED, effects=outcome.effects, error=outcome)
        return StepResult(status=StepStatus.APPLIED, effects=tuple(outcome))

    def state_of(self, conversation: str) -> State | None:
        self.state_reads.append((len(self.calls), conversation))
        return self.states.get(conversation)


def refused(message: str, *fired: Effect) -> StepRefused:
    error = StepRefused(ErrorCode.NO_OFFER, message)
    error.effects = fired
    return error


def fake_factory(
    script: list[tuple[Plan, dict[str, State]]],
) -> tuple[Callable[[Config], SwitchboardLike], list[FakeSwitchboard]]:
    built: list[FakeSwitchboard] = []

    def factory(config: Config) -> SwitchboardLike:
        built.append(FakeSwitchboard(config, script))
        return built[-1]

    return factory, built


SCENARIO_DATA = {
    "participants": {"bot-a": {"kind": "bot"}, "rep-1": {"kind": "human"}},
    "queues": {"support": {"participants": ["bot-a", "rep-1"]}},
    "steps": [
        {"start": {"conversation": "c1", "queue": "support"}, "at": 1, "id": "s-0"},
        {"customer": {"conversation": "c1", "text": "talk to agent"}, "at": 2},
        {"accept": {"conversation": "c1", "participant": "rep-1"}},
        {"presence": {"participant": "rep-1", "status": "away"}},
        {"tick": {"now": 90}},
    ],
}
SCENARIO = parse_scenario(SCENARIO_DATA, "scenario.json")

ADDED = ParticipantAdded(conversation="c1", to="bot-a", role=Role.HOLDER)
CONTEXT = ContextSet(conversation="c1", to="bot-a", context=Context(variables={}, transcript=()))
GREETING = Greeting(conversation="c1", to="bot-a")
REMOVED = ParticipantRemoved(conversation="c1", to="bot-a")
QUEUED = Queued(conversation="c1", queue="support", position=1)
OFFER = Offer(conversation="c1", to="rep-1", queue="support")
WITHDRAWN = OfferWithdrawn(conversation="c1", to="rep-1", reason=WithdrawReason.TIMEOUT)

#: A run where every step does something: 3 + 0 + refused + 2 + 1 lines.
SCRIPT: list[tuple[Plan, dict[str, State]]] = [
    ([ADDED, CONTEXT, GREETING], {"c1": State.BOT_ACTIVE}),
    ([], {}),
    (refused("'rep-1' has no offer for 'c1'"), {}),
    ([REMOVED, QUEUED], {"c1": State.WAITING}),
    ([OFFER], {}),
]


def lines_of(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def run_fake(
    script: list[tuple[Plan, dict[str, State]]],
    scenario: Scenario = SCENARIO,
    *,
    strict: bool = False,
) -> tuple[int, str, FakeSwitchboard]:
    factory, built = fake_factory(script)
    out = io.StringIO()
    status = run_scenario(scenario, out, strict=strict, switchboard_factory=factory)
    return status, out.getvalue(), built[0]


# -- the lines ----------------------------------------------------------------------------------


def test_seq_counts_every_line_of_the_run_and_step_is_the_step_index() -> None:
    status, text, _ = run_fake(SCRIPT)
    lines = lines_of(text)
    assert status == 0
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6, 7]
    assert [line["step"] for line in lines] == [0, 0, 0, 2, 3, 3, 4]
    assert [line["kind"] for line in lines] == [
        "participant_added",
        "context_set",
        "greeting",
        "error",
        "participant_removed",
        "queued",
        "offer",
    ]


def test_lines_are_compact_json_with_the_keys_in_contract_order() -> None:
    _, text, _ = run_fake(SCRIPT)
    assert text.splitlines()[0] == (
        '{"seq":1,"step":0,"kind":"participant_added","conversation":"c1","to":"bot-a",'
        '"state":"bot_active","role":"holder"}'
    )
    assert text.endswith("\n") and "\r" not in text
    for line in lines_of(text):
        assert tuple(line)[: len(BASE_KEYS)] == BASE_KEYS


def test_every_line_of_a_step_carries_the_state_after_the_whole_step() -> None:
    """The fake moves c1 to waiting and c2 to agent_engaged in one step: every line of that step,
    even the first one, says so, each for its own conversation."""
    effects: list[Effect] = [
        REMOVED,
        ParticipantAdded(conversation="c2", to="rep-1", role=Role.HOLDER),
        QUEUED,
        Message(conversation="c2", to="rep-1", sender="customer", text="hi"),
    ]
    script: list[tuple[Plan, dict[str, State]]] = [
        (effects, {"c1": State.WAITING, "c2": State.AGENT_ENGAGED})
    ]
    scenario = attrs.evolve(SCENARIO, steps=SCENARIO.steps[:1])
    _, text, board = run_fake(script, scenario)
    states = [(line["conversation"], line["state"]) for line in lines_of(text)]
    assert states == [
        ("c1", "waiting"),
        ("c2", "agent_engaged"),
        ("c1", "waiting"),
        ("c2", "agent_engaged"),
    ]
    assert all(after_calls == 1 for after_calls, _ in board.state_reads)


def test_a_conversation_the_switchboard_does_not_know_has_state_null() -> None:
    script: list[tuple[Plan, dict[str, State]]] = [([ADDED], {})]
    _, text, _ = run_fake(script, attrs.evolve(SCENARIO, steps=SCENARIO.steps[:1]))
    assert lines_of(text)[0]["state"] is None


def test_time_and_step_id_are_passed_through() -> None:
    _, _, board = run_fake(SCRIPT)
    assert [(call.now, call.step_id) for call in board.calls] == [
        (1.0, "s-0"),
        (2.0, None),
        (None, None),
        (None, None),
        (90.0, None),  # a tick without `at` runs at its own `now`
    ]
    assert [call.event for call in board.calls] == [step.event for step in SCENARIO.steps]
    assert board.config == SCENARIO.config


def test_a_step_with_no_effects_writes_nothing() -> None:
    """Retried deliveries (a seen `id`) and invisible steps are the switchboard's to swallow: it
    returns no effects, and the runner writes no line for them."""
    script: list[tuple[Plan, dict[str, State]]] = [([], {})] * 5
    status, text, board = run_fake(script)
    assert (status, text, len(board.calls)) == (0, "", 5)


# -- refused steps ------------------------------------------------------------------------------


def test_a_refused_step_writes_one_error_line_and_the_run_goes_on() -> None:
    status, text, board = run_fake(SCRIPT)
    error = lines_of(text)[3]
    assert error == {
        "seq": 4,
        "step": 2,
        "kind": "error",
        "conversation": "c1",
        "to": None,
        "state": "bot_active",
        "error": "step 2 (accept): 'rep-1' has no offer for 'c1'",
    }
    assert tuple(error) == (*BASE_KEYS, "error")
    assert status == 0 and len(board.calls) == 5


def test_an_error_line_of_a_step_without_a_conversation_has_nulls() -> None:
    script: list[tuple[Plan, dict[str, State]]] = [([], {})] * 3
    script.append((refused("unknown participant 'rep-1'"), {}))
    script.append((refused("time goes backwards (from 100 to 90)"), {}))
    _, text, _ = run_fake(script)
    errors = lines_of(text)
    assert [(e["step"], e["conversation"], e["state"]) for e in errors] == [
        (3, None, None),
        (4, None, None),
    ]
    assert errors[1]["error"] == "step 4 (tick): time goes backwards (from 100 to 90)"


def test_timeouts_that_fired_before_a_refusal_are_written_before_its_error_line() -> None:
    fired = refused("'rep-1' has no offer for 'c1'", WITHDRAWN, QUEUED)
    script: list[tuple[Plan, dict[str, State]]] = [
        ([ADDED], {"c1": State.WAITING}),
        ([], {}),
        (fired, {}),
    ]
    scenario = attrs.evolve(SCENARIO, steps=SCENARIO.steps[:3])
    _, text, _ = run_fake(script, scenario)
    lines = lines_of(text)
    assert [(line["seq"], line["step"], line["kind"]) for line in lines] == [
        (1, 0, "participant_added"),
        (2, 2, "offer_withdrawn"),
        (3, 2, "queued"),
        (4, 2, "error"),
    ]
    assert {line["state"] for line in lines[1:]} == {"waiting"}


def test_strict_writes_the_error_line_then_stops_with_status_1() -> None:
    status, text, board = run_fake(SCRIPT, strict=True)
    lines = lines_of(text)
    assert status == 1
    assert [line["kind"] for line in lines][-1] == "error"
    assert [line["seq"] for line in lines] == [1, 2, 3, 4]
    assert len(board.calls) == 3  # nothing after the refused step


def test_strict_without_a_refusal_exits_0() -> None:
    script: list[tuple[Plan, dict[str, State]]] = [([], {})] * 5
    assert run_fake(script, strict=True)[0] == 0


# -- every effect kind renders as the contract says ---------------------------------------------

EFFECT_LINES: list[tuple[Effect, str]] = [
    (
        ADDED,
        '"kind":"participant_added","conversation":"c1","to":"bot-a","state":"S","role":"holder"',
    ),
    (
        ContextSet(
            conversation="c1",
            to="rep-1",
            context=Context(
                variables={"FirstName": "Ana"},
                transcript=(Entry(sender="customer", text="olá €"),),
            ),
        ),
        '"kind":"context_set","conversation":"c1","to":"rep-1","state":"S","context":'
        '{"variables":{"FirstName":"Ana"},"transcript":[{"from":"customer","text":"olá €"}]}',
    ),
    (GREETING, '"kind":"greeting","conversation":"c1","to":"bot-a","state":"S"'),
    (
        Message(conversation="c1", to="customer", sender="rep-1", text="Hi Ana"),
        '"kind":"message","conversation":"c1","to":"customer","state":"S","from":"rep-1",'
        '"text":"Hi Ana"',
    ),
    (
        QUEUED,
        '"kind":"queued","conversation":"c1","to":"customer","state":"S","queue":"support",'
        '"position":1',
    ),
    (OFFER, '"kind":"offer","conversation":"c1","to":"rep-1","state":"S","queue":"support"'),
    (
        WITHDRAWN,
        '"kind":"offer_withdrawn","conversation":"c1","to":"rep-1","state":"S","reason":"timeout"',
    ),
    (REMOVED, '"kind":"participant_removed","conversation":"c1","to":"bot-a","state":"S"'),
    (
        ApprovalRequested(conversation="c1", to="rep-1", action="refund 20 EUR"),
        '"kind":"approval_requested","conversation":"c1","to":"rep-1","state":"S",'
        '"action":"refund 20 EUR"',
    ),
    (
        Approval(conversation="c1", to="bot-a", approved=False),
        '"kind":"approval","conversation":"c1","to":"bot-a","state":"S","approved":false',
    ),
    (Survey(conversation="c1"), '"kind":"survey","conversation":"c1","to":"customer","state":"S"'),
    (
        Ended(conversation="c1", outcome=Outcome.SURVEY_SKIPPED),
        '"kind":"ended","conversation":"c1","to":null,"state":"S","outcome":"survey_skipped"',
    ),
    (
        PresenceChanged(to="rep-1", status=PresenceStatus.AWAY, reason="missed_offers"),
        '"kind":"presence","conversation":null,"to":"rep-1","state":"S","status":"away",'
        '"reason":"missed_offers"',
    ),
    (
        WrapUp(conversation="c1", to="rep-1", until=90.5),
        '"kind":"wrap_up","conversation":"c1","to":"rep-1","state":"S","until":90.5',
    ),
    (
        Queued(conversation="c1", queue="support", position=2, estimated_wait=30.0),
        '"kind":"queued","conversation":"c1","to":"customer","state":"S","queue":"support",'
        '"position":2,"estimated_wait":30.0',
    ),
    (
        ContextSet(
            conversation="c1",
            to="rep-1",
            context=Context(
                variables={},
                transcript=(),
                handover=Handover(sender="bot-a", reason="billing dispute"),
            ),
        ),
        '"kind":"context_set","conversation":"c1","to":"rep-1","state":"S","context":'
        '{"variables":{},"transcript":[],"handover":{"from":"bot-a","reason":"billing dispute"}}',
    ),
]


@pytest.mark.parametrize(("effect", "body"), EFFECT_LINES, ids=lambda v: getattr(v, "KIND", ""))
def test_each_effect_kind_renders_its_line(effect: Effect, body: str) -> None:
    line = effect_line(7, 3, effect, State.SURVEY)
    assert line == '{"seq":7,"step":3,' + body.replace('"S"', '"survey"') + "}"


def test_every_effect_kind_has_a_rendering_test() -> None:
    assert {type(effect) for effect, _ in EFFECT_LINES} == set(EFFECT_TYPES)


def test_format_line_refuses_a_field_that_would_overwrite_a_base_key() -> None:
    with pytest.raises(ValueError, match="'state'"):
        format_line(
            seq=1, step=0, kind="x", conversation=None, to=None, state=None, fields={"state": 1}
        )


def test_the_effect_examples_of_the_format_reference_have_the_line_shape() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"^```json\n(.*?)^```", text, re.M | re.S)
    lines = [line for block in blocks for line in block.splitlines() if line.startswith("{")]
    kinds = {json.loads(line)["kind"] for line in lines}
    assert kinds >= {cls.KIND for cls in EFFECT_TYPES} | {"error"}
    for line in lines:
        assert tuple(json.loads(line))[: len(BASE_KEYS)] == BASE_KEYS, line
        assert json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False) == line


# -- the command --------------------------------------------------------------------------------


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(SCENARIO_DATA), encoding="utf-8")
    return path


@pytest.fixture
def fake_board(monkeypatch: pytest.MonkeyPatch) -> list[FakeSwitchboard]:
    factory, built = fake_factory(SCRIPT)
    monkeypatch.setattr(run_module, "default_switchboard", factory)
    return built


def test_the_command_prints_the_lines_and_exits_0(
    scenario_file: Path, fake_board: list[FakeSwitchboard], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(scenario_file)]) == 0
    captured = capsys.readouterr()
    assert [line["seq"] for line in lines_of(captured.out)] == [1, 2, 3, 4, 5, 6, 7]
    assert captured.err == ""
    assert fake_board[0].config == SCENARIO.config


def test_the_command_with_strict_stops_at_the_error_line_with_status_1(
    scenario_file: Path, fake_board: list[FakeSwitchboard], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(scenario_file), "--strict"]) == 1
    captured = capsys.readouterr()
    assert lines_of(captured.out)[-1]["kind"] == "error"
    assert len(lines_of(captured.out)) == 4
    assert captured.err == ""


def test_the_command_writes_utf8_whatever_the_stream_encoding(
    scenario_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = Message(conversation="c1", to="rep-1", sender="customer", text="olá €")
    factory, _ = fake_factory([([said], {})] + [([], {})] * 4)
    monkeypatch.setattr(run_module, "default_switchboard", factory)
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
    assert main(["run", str(scenario_file)]) == 0
    assert (
        raw.getvalue()
        == (
            '{"seq":1,"step":0,"kind":"message","conversation":"c1","to":"rep-1","state":null,'
            '"from":"customer","text":"olá €"}\n'
        ).encode()
    )


BAD_FILE = "participants:\n  rep-1: {kind: human, capacity: true}\nsteps: []\n"


def test_a_bad_file_is_one_stderr_line_exit_2_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_FILE, encoding="utf-8")
    assert main(["run", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"handoff-fsm run: {path}: participants.rep-1.capacity: "
        "must be a whole number >= 0, got a boolean (true)\n"
    )


def test_a_missing_file_is_one_stderr_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.json"
    assert main(["run", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"handoff-fsm run: {path}: cannot be read")
    assert captured.err.count("\n") == 1


def test_a_bad_file_through_the_real_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_FILE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "handoff_fsm.adapters.cli", "run", str(path), "--strict"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"handoff-fsm run: {path}: participants.rep-1.capacity: "
        "must be a whole number >= 0, got a boolean (true)"
    ]


def test_a_reader_that_goes_away_early_gives_no_traceback(tmp_path: Path) -> None:
    """Output larger than a pipe's buffer, read by `head`: the writer meets a broken pipe."""
    talk = "\n".join(
        f"  - customer: {{conversation: c1, text: 'message {n}'}}" for n in range(4000)
    )
    scenario = tmp_path / "long.yaml"
    scenario.write_text(
        "participants: {bot-a: {kind: bot, capacity: 1}}\n"
        "queues: {q: {participants: [bot-a]}}\n"
        f"steps:\n  - start: {{conversation: c1, queue: q}}\n{talk}\n"
    )
    shell = f"{sys.executable} -m handoff_fsm.adapters.cli run {scenario} | head -n 1"
    result = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, check=False)
    assert result.stdout.count("\n") == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
