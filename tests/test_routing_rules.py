"""The routing rules of contract v2 (SPEC §3), end to end through the scenario format: skills
and timed requirements, priority, missed offers, wrap-up, estimated wait, the start and hand-over
fields, requests that can never be served, and whole-message cancel phrases."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import pytest
import yaml

from handoff_fsm.adapters.cli import main
from handoff_fsm.adapters.run import run_scenario
from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.adapters.store import encode_event, event_from_json
from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec, Requirement, Settings
from handoff_fsm.errors import ScenarioError
from handoff_fsm.events import (
    Accept,
    End,
    Escalate,
    RemoveParticipant,
    Start,
    Tick,
    Transfer,
)
from handoff_fsm.switchboard import StepStatus, Switchboard
from handoff_fsm.vocabulary import Strategy, Wanted

Line = dict[str, object]


def run(text: str) -> list[Line]:
    scenario = parse_scenario(yaml.safe_load(text), "<test>")
    out = io.StringIO()
    run_scenario(scenario, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def brief(lines: list[Line], step: int | None = None) -> list[tuple[object, object]]:
    return [(line["kind"], line["to"]) for line in lines if step is None or line["step"] == step]


def last_context(lines: list[Line]) -> dict[str, object]:
    context = [line["context"] for line in lines if line["kind"] == "context_set"][-1]
    assert isinstance(context, dict)
    return context


def errors(lines: list[Line]) -> list[str]:
    return [str(line["error"]) for line in lines if line["kind"] == "error"]


# -- skills and requirements ----------------------------------------------------------------------

SKILLED = """
participants:
  rep-1: {kind: human, capacity: 5}
  rep-2: {kind: human, capacity: 5, skills: {billing: 3}}
  rep-3: {kind: human, capacity: 1, skills: {billing: 7, french: 2}}
queues:
  support: {participants: [rep-1, rep-2, rep-3]}
steps:
"""


def test_a_requirement_passes_over_members_without_the_skill_level() -> None:
    lines = run(
        SKILLED
        + "  - start: {conversation: c1, queue: support, requires: [{skill: billing, level: 5}]}\n"
    )
    assert brief(lines) == [("offer", "rep-3")]


def test_a_requirement_without_level_asks_level_one() -> None:
    lines = run(
        SKILLED + "  - start: {conversation: c1, queue: support, requires: [{skill: billing}]}\n"
    )
    assert brief(lines) == [("offer", "rep-2")]  # highest capacity among those with billing


def test_a_requirement_with_for_relaxes_at_that_moment_and_routing_is_tried_again() -> None:
    lines = run(
        SKILLED
        + """  - start:
      {conversation: c1, queue: support, requires: [{skill: billing, level: 5, for: 30}]}
  - presence: {participant: rep-3, status: away}
  - tick: {now: 29}
  - tick: {now: 31}
"""
    )
    assert brief(lines, 1) == [("offer_withdrawn", "rep-3")]
    assert brief(lines, 2) == []
    offer = [line for line in lines if line["step"] == 3]
    assert brief(offer) == [("offer", "rep-1")]


def test_a_requirement_no_member_has_is_refused_cannot_serve() -> None:
    lines = run(
        SKILLED + "  - start: {conversation: c1, queue: support, requires: [{skill: german}]}\n"
    )
    assert errors(lines) == [
        "step 0 (start): no bot or human of queue 'support' that could take it has german at "
        "level 1"
    ]


def test_a_requirement_that_relaxes_is_not_refused() -> None:
    lines = run(
        SKILLED
        + "  - start: {conversation: c1, queue: support, requires: [{skill: german, for: 10}]}\n"
    )
    assert errors(lines) == []


def test_explain_names_an_unmet_requirement() -> None:
    config = Config.build(
        [
            ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
            ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=1, skills={"billing": 2}),
        ],
        [QueueSpec(name="q", members=("rep-1", "rep-2"))],
    )
    sb = Switchboard(config)
    sb.handle(Start(conversation="c1", queue="q", requires=[Requirement(skill="billing")]))
    verdicts = {c.participant: c.verdict.value for c in sb.explain("c1").considered}
    assert verdicts == {"rep-1": "unmet_requirement", "rep-2": "chosen"}
    assert "lacks billing >= 1" in sb.explain("c1").render()


def test_skills_are_an_immutable_mapping_that_pickles() -> None:
    spec = ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1, skills={"billing": 2})
    assert dict(spec.skills) == {"billing": 2}
    assert pickle.loads(pickle.dumps(spec)) == spec
    with pytest.raises(TypeError):
        spec.skills["billing"] = 3  # type: ignore[index]


# -- priority -------------------------------------------------------------------------------------

PRIORITY = """
participants:
  rep-1: {kind: human, capacity: 1}
queues:
  general: {participants: [rep-1]}
  vip: {participants: [rep-1], priority: 5}
steps:
  - presence: {participant: rep-1, status: away}
  - start: {conversation: c1, queue: general}
  - start: {conversation: c2, queue: general, priority: 9}
  - start: {conversation: c3, queue: vip}
  - presence: {participant: rep-1, status: available}
"""


def test_the_highest_priority_is_served_first_across_the_queues_of_a_freed_participant() -> None:
    lines = run(PRIORITY)
    assert [(line["kind"], line["conversation"]) for line in lines if line["step"] == 4] == [
        ("offer", "c2")
    ]


def test_equal_priority_is_first_in_first_out_and_position_counts_priority() -> None:
    lines = run(PRIORITY + "  - customer: {conversation: c1, text: hello}\n")
    queued = [line for line in lines if line["kind"] == "queued"]
    assert queued[-1]["position"] == 2  # c2 (priority 9, offer out) is ahead of c1


# -- missed offers --------------------------------------------------------------------------------

MISSED = """
settings: {missed_offers_to_away: 2}
participants:
  rep-1: {kind: human, capacity: 5}
  rep-2: {kind: human, capacity: 1}
queues:
  support: {participants: [rep-1, rep-2], offer_timeout: 10}
steps:
  - start: {conversation: c1, queue: support}
  - tick: {now: 10}
  - start: {conversation: c2, queue: support}
  - tick: {now: 20}
"""


def test_a_human_that_misses_offers_in_a_row_is_set_away_and_told() -> None:
    lines = run(MISSED)
    presence = [line for line in lines if line["kind"] == "presence"]
    assert presence == [
        {"seq": presence[0]["seq"], "step": 3, "kind": "presence", "conversation": None,
         "to": "rep-1", "state": None, "status": "away", "reason": "missed_offers"}
    ]  # fmt: skip


def test_a_decline_resets_the_missed_offer_count() -> None:
    text = MISSED.replace(
        "  - start: {conversation: c2, queue: support}\n",
        "  - start: {conversation: c2, queue: support}\n"
        "  - decline: {conversation: c2, participant: rep-1}\n"
        "  - start: {conversation: c3, queue: support}\n",
    )
    assert [line for line in run(text) if line["kind"] == "presence"] == []


# -- wrap-up --------------------------------------------------------------------------------------

WRAP = """
participants:
  rep-1: {kind: human, capacity: 1}
queues:
  support: {participants: [rep-1], wrap_up: 60}
steps:
  - start: {conversation: c1, queue: support}
  - accept: {conversation: c1, participant: rep-1}
  - end: {conversation: c1, participant: rep-1}
  - start: {conversation: c2, queue: support}
"""


def test_wrap_up_comes_just_before_participant_removed_and_keeps_the_units() -> None:
    lines = run(WRAP + "  - tick: {now: 60}\n")
    assert brief(lines, 2) == [
        ("wrap_up", "rep-1"),
        ("participant_removed", "rep-1"),
        ("ended", None),
    ]
    assert [line["until"] for line in lines if line["kind"] == "wrap_up"] == [60]
    assert brief(lines, 3) == []  # still wrapping up: no offer
    assert brief(lines, 4) == [("offer", "rep-1")]


def test_wrap_up_done_frees_the_units_at_once() -> None:
    lines = run(
        WRAP + "  - wrap_up_done: {participant: rep-1}\n  - wrap_up_done: {participant: rep-1}\n"
    )
    assert brief(lines, 4) == [("offer", "rep-1")]
    assert brief(lines, 5) == []


def test_a_customer_who_leaves_starts_a_wrap_up_and_going_offline_skips_it() -> None:
    left = run(
        WRAP.replace(
            "  - end: {conversation: c1, participant: rep-1}",
            "  - customer_left: {conversation: c1}",
        )
    )
    assert brief(left, 2)[0] == ("wrap_up", "rep-1")
    offline = run(
        WRAP.replace(
            "  - end: {conversation: c1, participant: rep-1}",
            "  - presence: {participant: rep-1, status: offline}",
        )
    )
    assert ("wrap_up", "rep-1") not in brief(offline)


# -- estimated wait -------------------------------------------------------------------------------


def test_estimated_wait_is_left_out_while_unknown_then_follows_recent_service() -> None:
    text = """
participants:
  rep-1: {kind: human, capacity: 1}
queues:
  support: {participants: [rep-1]}
steps:
  - start: {conversation: c1, queue: support, at: 0}
  - customer: {conversation: c1, text: hi, at: 1}
  - accept: {conversation: c1, participant: rep-1, at: 10}
  - start: {conversation: c2, queue: support, at: 10}
  - end: {conversation: c1, participant: rep-1, at: 20}
  - accept: {conversation: c2, participant: rep-1, at: 30}
  - start: {conversation: c3, queue: support, at: 30}
  - start: {conversation: c4, queue: support, at: 30}
  - customer: {conversation: c4, text: hi, at: 40}
"""
    queued = [line for line in run(text) if line["kind"] == "queued"]
    assert "estimated_wait" not in queued[0]
    # services at 10 and 30; at 40, c4 is second: position 2 x (40 - 10) / 2 services
    assert queued[1]["position"] == 2
    assert queued[1]["estimated_wait"] == 30.0


# -- start and hand-over fields -------------------------------------------------------------------

MIXED = """
participants:
  bot-a: {kind: bot, capacity: 100}
  rep-1: {kind: human, capacity: 100}
  bot-b: {kind: bot, capacity: 100}
queues:
  support: {participants: [bot-a, rep-1, bot-b], strategy: round_robin}
steps:
"""


@pytest.mark.parametrize("strategy", ["round_robin", "least_active", "most_idle"])
def test_a_start_goes_to_a_bot_by_default_when_the_queue_has_bots(strategy: str) -> None:
    steps = "".join(f"  - start: {{conversation: c{i}, queue: support}}\n" for i in range(6))
    lines = run(MIXED.replace("round_robin", strategy) + steps)
    holders = {line["to"] for line in lines if line["kind"] == "participant_added"}
    assert holders <= {"bot-a", "bot-b"} and "offer" not in {line["kind"] for line in lines}


def test_a_start_may_ask_a_kind_or_name_someone_and_seed_the_transcript() -> None:
    lines = run(
        MIXED
        + """  - start: {conversation: c1, queue: support, kind: human}
  - start: {conversation: c2, queue: support, to: bot-b, transcript: [{from: customer, text: hi}]}
"""
    )
    assert brief(lines, 0) == [("offer", "rep-1")]
    assert brief(lines, 1)[0] == ("participant_added", "bot-b")
    context = next(line["context"] for line in lines if line["kind"] == "context_set")
    assert context == {"variables": {}, "transcript": [{"from": "customer", "text": "hi"}]}


def test_a_hand_over_merges_its_variables_and_tells_the_next_holder_who_and_why() -> None:
    lines = run(
        MIXED
        + """  - start: {conversation: c1, queue: support}
  - escalate:
      {conversation: c1, participant: bot-a, reason: billing dispute, variables: {Topic: billing}}
  - accept: {conversation: c1, participant: rep-1}
"""
    )
    context = last_context(lines)
    assert context["variables"] == {"Topic": "billing"}
    assert context["handover"] == {"from": "bot-a", "reason": "billing dispute"}


def test_an_explicit_escalation_without_a_reason_adds_no_handover() -> None:
    lines = run(
        MIXED
        + """  - start: {conversation: c1, queue: support}
  - escalate: {conversation: c1, participant: bot-a, reason: explicit}
  - accept: {conversation: c1, participant: rep-1}
"""
    )
    assert "handover" not in last_context(lines)


# -- requests that can never be served ------------------------------------------------------------


def test_a_transfer_back_to_a_bot_that_held_it_before_is_refused_with_the_fix() -> None:
    text = """
participants:
  bot-a: {kind: bot, capacity: 100}
  rep-1: {kind: human, capacity: 100}
queues:
  support: {participants: [bot-a, rep-1]}
steps:
  - start: {conversation: c1, queue: support}
  - escalate: {conversation: c1, participant: bot-a}
  - accept: {conversation: c1, participant: rep-1}
  - transfer: {conversation: c1, participant: rep-1, queue: support, kind: bot}
  - transfer: {conversation: c1, participant: rep-1, queue: support, to: bot-a}
"""
    lines = run(text)
    assert errors(lines) == ["step 3 (transfer): bot-a held c1 before; name it with `to`"]
    assert brief(lines, 4)[-1] == ("greeting", "bot-a")


def test_an_escalation_by_phrase_no_human_could_take_does_not_happen() -> None:
    text = """
participants:
  bot-a: {kind: bot, capacity: 100}
queues:
  support: {participants: [bot-a]}
steps:
  - start: {conversation: c1, queue: support}
  - customer: {conversation: c1, text: talk to agent}
  - escalate: {conversation: c1, participant: bot-a}
"""
    lines = run(text)
    assert brief(lines, 1) == [("message", "bot-a")]
    assert errors(lines) == ["step 2 (escalate): queue 'support' has no human"]
    assert lines[-1]["state"] == "bot_active"


# -- cancel phrases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cancels"),
    [("Never mind!", True), ("  cancel. ", True), ("how do I cancel my order?", False)],
)
def test_a_cancel_phrase_must_be_the_whole_message(text: str, cancels: bool) -> None:
    scenario = f"""
participants:
  bot-a: {{kind: bot, capacity: 100}}
  rep-1: {{kind: human, capacity: 1}}
queues:
  support: {{participants: [bot-a, rep-1]}}
steps:
  - presence: {{participant: rep-1, status: away}}
  - start: {{conversation: c1, queue: support}}
  - escalate: {{conversation: c1, participant: bot-a}}
  - customer: {{conversation: c1, text: {json.dumps(text)}}}
"""
    state = run(scenario)[-1]["state"]
    assert state == ("bot_active" if cancels else "waiting")


# -- the reader and the store ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ("requires: [{skill: billing, level: 11}]", "requires[0].level"),
        ("requires: [{level: 2}]", "requires[0].skill"),
        ("requires: [{skill: billing, for: 0}]", "requires[0].for"),
        ("priority: 1001", "priority"),
        ("transcript: [{from: customer}]", "transcript[0].text"),
        ("kind: robot", "kind"),
    ],
)
def test_the_reader_names_a_bad_new_field(body: str, place: str) -> None:
    data = yaml.safe_load(SKILLED + f"  - start: {{conversation: c1, queue: support, {body}}}\n")
    with pytest.raises(ScenarioError) as error:
        parse_scenario(data, "<test>")
    assert error.value.place == f"steps[0].start.{place}"


def test_a_bad_skill_level_in_a_participant_is_a_file_error() -> None:
    data = yaml.safe_load(SKILLED.replace("billing: 3", "billing: 0") + "  - tick: {now: 1}\n")
    with pytest.raises(ScenarioError) as error:
        parse_scenario(data, "<test>")
    assert error.value.place == "participants.rep-2.skills.billing"


@pytest.mark.parametrize(
    "event",
    [
        Start(
            conversation="c1", queue="q", kind=Wanted.HUMAN, to="rep-1", priority=3,
            requires=[Requirement(skill="billing", level=2, for_=30.0)],
            transcript=[],
        ),
        Escalate(conversation="c1", participant="bot-a", reason="why", variables={"a": 1}),
        Transfer(
            conversation="c1", participant="rep-1", queue="q", reason="r",
            requires=[Requirement(skill="x")], priority=-2,
        ),
    ],
)  # fmt: skip
def test_the_store_encodes_the_new_fields_and_reads_them_back(
    event: Start | Escalate | Transfer,
) -> None:
    assert event_from_json(json.loads(encode_event(event))) == event


def test_the_new_fields_work_through_the_python_api() -> None:
    config = Config.build(
        [
            ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1, skills={"x": 1}),
        ],
        [QueueSpec(name="q", members=("rep-1",), strategy=Strategy.ROUND_ROBIN, wrap_up=5)],
        Settings(missed_offers_to_away=1),
    )
    sb = Switchboard(config)
    result = sb.step(Start(conversation="c1", queue="q", requires=(Requirement(skill="y"),)))
    assert result.status is StepStatus.REFUSED


# -- explanations for the past --------------------------------------------------------------------


def test_each_routing_decision_is_kept_with_every_members_verdict() -> None:
    config = Config.build(
        [
            ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
            ParticipantSpec(id="rep-2", kind=Kind.HUMAN, capacity=1, skills={"billing": 2}),
        ],
        [QueueSpec(name="q", members=("rep-1", "rep-2"), offer_timeout=10)],
    )
    sb = Switchboard(config)
    sb.handle(Start(conversation="c1", queue="q", requires=[Requirement(skill="billing")]))
    sb.handle(Start(conversation="c2", queue="q"), now=1)
    decisions = sb.decisions("c1")
    assert [(d.at, d.chosen) for d in decisions] == [(0, "rep-2")]
    assert [(c.participant, c.verdict.value) for c in decisions[0].considered] == [
        ("rep-1", "unmet_requirement"),
        ("rep-2", "chosen"),
    ]
    assert [d.chosen for d in sb.decisions("c2")] == ["rep-1"]


def test_the_explain_command_prints_the_decisions_up_to_a_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SKILLED + "  - start: {conversation: c1, queue: support}\n", encoding="utf-8")
    assert main(["explain", str(path), "--conversation", "c1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["step", "time", "queue", "member", "verdict"]
    assert out[1].split() == ["0", "0", "support", "rep-1", "chosen"]
    assert out[2].split() == ["rep-2", "ranked_lower"]
    assert main(["explain", str(path), "--conversation", "c9"]) == 2


def test_a_human_removed_during_its_wrap_up_leaves_no_timer_that_names_it() -> None:
    """Removing a human sets it offline first, which ends its wrap-up: the wrap-up's timer is
    stale, and asking when the next timer is due must not ask routing about the removed human."""
    lines = run(
        WRAP.replace("  - start: {conversation: c2, queue: support}\n", "")
        + "  - remove_participant: {participant: rep-1}\n  - tick: {now: 100}\n"
    )
    assert [line["kind"] for line in lines if line.get("kind") == "error"] == []
    board = Switchboard(
        Config.build(
            [ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1)],
            [QueueSpec(name="support", members=("rep-1",), wrap_up=60)],
            Settings(),
        )
    )
    board.handle(Start(conversation="c1", queue="support"), now=0)
    board.handle(Accept(conversation="c1", participant="rep-1"), now=1)
    board.handle(End(conversation="c1", participant="rep-1"), now=2)
    assert board.next_deadline() == 62
    board.handle(RemoveParticipant(participant="rep-1"), now=3)
    assert board.next_deadline() is None
    board.handle(Tick(now=100))
