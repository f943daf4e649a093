"""Reading scenario files: the SPEC §5 example, JSON and YAML, and every bad-file rule.

Each bad-input case asserts the exact place (the dotted path a person editing the file goes to)
and a fragment of the problem, so a check that fires at the wrong place, or not at all, fails.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from handoff_fsm.adapters.scenario import (
    DEFAULT_CAPACITY,
    Scenario,
    load_scenario,
    parse_scenario,
)
from handoff_fsm.config import (
    Config,
    Kind,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Settings,
    Strategy,
)
from handoff_fsm.errors import ScenarioError
from handoff_fsm.events import (
    EVENT_BY_STEP,
    WORLD_CHANGES,
    BotMessage,
    End,
    JsonValue,
    Presence,
    PresenceStatus,
    SetVariable,
    Start,
    SurveyResponse,
    Tick,
    Transfer,
    Wanted,
)
from handoff_fsm.loading import MAX_FILE_BYTES

DATA = Path(__file__).resolve().parent / "data"
SPEC_EXAMPLE = DATA / "spec_example.yaml"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "scenario-format.md"

BASE: dict[str, Any] = {
    "participants": {"bot-a": {"kind": "bot", "capacity": 2}, "rep-1": {"kind": "human"}},
    "queues": {"support": {"participants": ["bot-a", "rep-1"]}, "billing": {"participants": []}},
    "steps": [{"start": {"conversation": "c1", "queue": "support"}}],
}


def scenario_with(**parts: Any) -> dict[str, Any]:
    """BASE with some top-level parts replaced (`None` removes a part)."""
    data = copy.deepcopy(BASE)
    for key, value in parts.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def steps(*items: Any) -> dict[str, Any]:
    return scenario_with(steps=list(items))


def queue(**fields: Any) -> dict[str, Any]:
    return scenario_with(
        queues={
            "support": {"participants": ["bot-a", "rep-1"], **fields},
            "billing": {"participants": []},
        }
    )


def rep(**fields: Any) -> dict[str, Any]:
    return scenario_with(participants={"bot-a": {"kind": "bot"}, "rep-1": fields}, queues={})


# -- the SPEC example ---------------------------------------------------------------------------


def test_the_spec_example_parses() -> None:
    scenario = load_scenario(SPEC_EXAMPLE)
    config = scenario.config
    assert config.settings == Settings(
        fallback_limit=3,
        escalation_phrases=("talk to agent",),
        cancel_phrases=("never mind",),
        survey_timeout=300,
    )
    assert config.participants == (
        ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=100),
        ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=50),
        ParticipantSpec(id="bot-b", kind=Kind.BOT, capacity=10),
    )
    assert config.queues == (
        QueueSpec(
            name="support",
            members=("bot-a", "rep-1", "bot-b"),
            strategy=Strategy.HIGHEST_CAPACITY,
            offer_timeout=60,
        ),
    )
    assert [step.index for step in scenario.steps] == list(range(21))
    assert all(step.at is None and step.id is None for step in scenario.steps)
    events = [step.event for step in scenario.steps]
    assert events[0] == Start(conversation="c1", queue="support", variables={"FirstName": "Ana"})
    assert events[2] == BotMessage(conversation="c1", participant="bot-a", text="Let me help")
    assert events[4] == SetVariable(
        conversation="c1", participant="bot-a", name="Topic", value="billing"
    )
    assert events[9] == Transfer(
        conversation="c1", participant="rep-1", queue="support", kind=Wanted.BOT
    )
    assert events[11] == Presence(participant="rep-1", status=PresenceStatus.OFFLINE)
    assert events[17] == End(conversation="c1", participant="rep-1", survey=True)
    assert events[18] == SurveyResponse(conversation="c1", answers={"rating": 5})
    assert events[20] == Tick(now=120)


V2_STEP_KINDS = frozenset({"wrap_up_done"})
"""Step kinds contract v2 adds (SPEC §5 lists them below its example)."""


def test_the_spec_example_uses_every_step_kind_once() -> None:
    scenario = load_scenario(SPEC_EXAMPLE)
    conversation_steps = {s for s, cls in EVENT_BY_STEP.items() if cls not in WORLD_CHANGES}
    kinds = sorted(step.event.STEP for step in scenario.steps)
    assert kinds == sorted(conversation_steps - V2_STEP_KINDS)


def test_the_spec_example_fixture_is_a_verbatim_copy_of_the_spec() -> None:
    spec = Path(__file__).resolve().parent.parent.parent / "shared" / "SPEC.md"
    if not spec.is_file():
        pytest.skip("../shared/SPEC.md is not beside the repository")
    assert SPEC_EXAMPLE.read_text(encoding="utf-8") in spec.read_text(encoding="utf-8")


# -- JSON and YAML ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_yaml_and_json_give_the_same_scenario(tmp_path: Path, suffix: str) -> None:
    data = yaml.safe_load(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    as_json = tmp_path / "example.json"
    as_json.write_text(json.dumps(data), encoding="utf-8")
    as_yaml = tmp_path / f"example{suffix}"
    as_yaml.write_text(SPEC_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_scenario(as_json) == load_scenario(as_yaml) == load_scenario(SPEC_EXAMPLE)


def test_a_file_without_a_yaml_suffix_is_read_as_json(tmp_path: Path) -> None:
    path = tmp_path / "scenario.txt"
    path.write_text("steps: []\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="is not valid JSON"):
        load_scenario(path)


def test_a_utf8_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(BASE).encode())
    assert load_scenario(path) == parse_scenario(BASE, "x")


# -- defaults and accepted forms ----------------------------------------------------------------


def test_absent_sections_take_the_defaults() -> None:
    scenario = parse_scenario({"steps": []}, "f.json")
    assert scenario == Scenario(config=Config(), steps=())
    assert parse_scenario({"settings": None, "participants": None, "steps": []}, "f") == scenario


def test_capacity_defaults_to_one_and_queue_fields_to_queue_spec_defaults() -> None:
    config = parse_scenario(BASE, "f").config
    assert config.participants[1] == ParticipantSpec(
        id="rep-1", kind=Kind.HUMAN, capacity=DEFAULT_CAPACITY
    )
    assert DEFAULT_CAPACITY == 1
    assert config.queues[0] == QueueSpec(name="support", members=("bot-a", "rep-1"))


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [
        ("end", OverflowEnd()),
        ("return_to_bot", OverflowReturnToBot()),
        ({"transfer": "billing"}, OverflowTransfer(queue="billing")),
    ],
)
def test_every_overflow_form_is_read(overflow: object, expected: object) -> None:
    assert parse_scenario(queue(overflow=overflow), "f").config.queues[0].overflow == expected


def test_queue_options_and_null_timeouts_are_read() -> None:
    data = queue(strategy="most_idle", units=2, offer_timeout=7.5, wait_timeout=None)
    spec = parse_scenario(data, "f").config.queues[0]
    assert (spec.strategy, spec.units, spec.offer_timeout, spec.wait_timeout) == (
        Strategy.MOST_IDLE,
        2,
        7.5,
        None,
    )
    settings = parse_scenario(scenario_with(settings={"survey_timeout": None}), "f").config
    assert settings.settings.survey_timeout is None


def test_what_only_the_run_can_know_is_not_checked_here() -> None:
    """Unknown conversations, participants and queues, and time going backwards, are runtime
    errors (SPEC §5: "checked when the step runs"), not file errors."""
    scenario = parse_scenario(
        steps(
            {"start": {"conversation": "c9", "queue": "nowhere"}, "at": 10},
            {"accept": {"conversation": "c404", "participant": "nobody"}, "at": 5},
            {"presence": {"participant": "ghost", "status": "away"}},
            {"transfer": {"conversation": "c1", "participant": "x", "queue": "q", "to": "y"}},
        ),
        "f",
    )
    assert len(scenario.steps) == 4


def test_values_keep_any_json_shape() -> None:
    value: JsonValue = {"a": [1, 2.5, None, True, "x", {"b": []}]}
    scenario = parse_scenario(
        steps(
            {"set_variable": {"conversation": "c", "participant": "b", "name": "n", "value": value}}
        ),
        "f",
    )
    assert scenario.steps[0].event == SetVariable(
        conversation="c", participant="b", name="n", value=value
    )


def test_a_yaml_merge_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "participants:\n"
        "  a: &base {kind: human, capacity: 2}\n"
        "  b: {<<: *base, capacity: 5}\n"
        "steps: []\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match="merge keys") as caught:
        load_scenario(path)
    assert caught.value.place == "line 3"


# -- bad files: one case per rule ---------------------------------------------------------------

_ACCEPT = {"conversation": "c1", "participant": "rep-1"}

BAD: list[tuple[str, object, str, str]] = [
    # (case id, data, exact place, fragment of the problem)
    ("top-not-mapping", [1, 2], "top level", "must be a mapping"),
    ("top-unknown-key", scenario_with(colour="red"), "colour", "unknown key"),
    ("top-steps-missing", scenario_with(steps=None), "steps", "is missing"),
    ("settings-unknown-key", scenario_with(settings={"limit": 3}), "settings.limit", "unknown"),
    (
        "settings-fallback-limit-zero",
        scenario_with(settings={"fallback_limit": 0}),
        "settings.fallback_limit",
        "whole number >= 1",
    ),
    (
        "settings-fallback-limit-float",
        scenario_with(settings={"fallback_limit": 2.5}),
        "settings.fallback_limit",
        "whole number >= 1, got a number (2.5)",
    ),
    (
        "settings-phrases-not-a-list",
        scenario_with(settings={"escalation_phrases": "talk to agent"}),
        "settings.escalation_phrases",
        "must be a list",
    ),
    (
        "settings-phrase-blank",
        scenario_with(settings={"cancel_phrases": ["never mind", " "]}),
        "settings.cancel_phrases[1]",
        "must not be blank",
    ),
    (
        "settings-phrase-not-text",
        scenario_with(settings={"cancel_phrases": [7]}),
        "settings.cancel_phrases[0]",
        "must be text, got a number (7)",
    ),
    (
        "settings-survey-timeout-zero",
        scenario_with(settings={"survey_timeout": 0}),
        "settings.survey_timeout",
        "> 0",
    ),
    (
        "settings-survey-timeout-text",
        scenario_with(settings={"survey_timeout": "5m"}),
        "settings.survey_timeout",
        "must be a number",
    ),
    ("participants-not-mapping", scenario_with(participants=["a"]), "participants", "mapping"),
    (
        "participant-id-not-text",
        scenario_with(participants={1: {"kind": "bot"}}),
        "participants",
        "key that is not text",
    ),
    (
        "participant-id-customer",
        scenario_with(participants={"customer": {"kind": "human"}}, queues={}),
        "participants.customer",
        "reserved",
    ),
    ("participant-kind-missing", rep(capacity=1), "participants.rep-1.kind", "is missing"),
    ("participant-kind-unknown", rep(kind="robot"), "participants.rep-1.kind", "bot, human"),
    (
        "participant-capacity-negative",
        rep(kind="human", capacity=-1),
        "participants.rep-1.capacity",
        "whole number >= 0, got -1",
    ),
    (
        "participant-capacity-fraction",
        rep(kind="human", capacity=1.5),
        "participants.rep-1.capacity",
        "whole number",
    ),
    (
        "participant-capacity-boolean",
        rep(kind="human", capacity=True),
        "participants.rep-1.capacity",
        "a boolean (true)",
    ),
    (
        "participant-capacity-text",
        rep(kind="human", capacity="3"),
        "participants.rep-1.capacity",
        'text ("3")',
    ),
    (
        "participant-unknown-key",
        rep(kind="human", skill="billing"),
        "participants.rep-1.skill",
        "unknown key",
    ),
    ("queues-not-mapping", scenario_with(queues=["support"]), "queues", "must be a mapping"),
    (
        "queue-members-missing",
        scenario_with(queues={"support": {"strategy": "round_robin"}}),
        "queues.support.participants",
        "is missing",
    ),
    (
        "queue-member-undefined",
        queue(participants=["bot-a", "rep-9"]),
        "queues.support.participants[1]",
        "undefined participant 'rep-9'",
    ),
    (
        "queue-member-twice",
        queue(participants=["rep-1", "rep-1"]),
        "queues.support.participants[1]",
        "a second time",
    ),
    ("queue-strategy-unknown", queue(strategy="fastest"), "queues.support.strategy", "round_robin"),
    ("queue-units-zero", queue(units=0), "queues.support.units", "whole number >= 1"),
    (
        "queue-offer-timeout-negative",
        queue(offer_timeout=-5),
        "queues.support.offer_timeout",
        "> 0",
    ),
    (
        "queue-wait-timeout-boolean",
        queue(wait_timeout=False),
        "queues.support.wait_timeout",
        "must be a number, got a boolean (false)",
    ),
    (
        "queue-wait-timeout-infinite",
        queue(wait_timeout=float("inf")),
        "queues.support.wait_timeout",
        "finite",
    ),
    ("queue-overflow-unknown", queue(overflow="explode"), "queues.support.overflow", "end, return"),
    (
        "queue-overflow-wrong-key",
        queue(overflow={"jump": "billing"}),
        "queues.support.overflow",
        "got keys jump",
    ),
    (
        "queue-overflow-undefined-queue",
        queue(overflow={"transfer": "nowhere"}),
        "queues.support.overflow.transfer",
        "undefined queue 'nowhere'",
    ),
    (
        "queue-overflow-to-itself",
        queue(overflow={"transfer": "support"}),
        "queues.support.overflow.transfer",
        "the queue itself",
    ),
    ("queue-unknown-key", queue(priorty=1), "queues.support.priorty", "unknown key"),
    ("steps-not-a-list", scenario_with(steps={"start": {}}), "steps", "must be a list"),
    ("step-not-a-mapping", steps("start"), "steps[0]", "must be a mapping"),
    (
        "step-two-kinds",
        steps({"start": {"conversation": "c1", "queue": "q"}}, {"accept": _ACCEPT, "decline": {}}),
        "steps[1]",
        "exactly one step kind, found keys: accept, decline",
    ),
    ("step-no-kind", steps({"at": 5}), "steps[0]", "found keys: none"),
    ("step-unknown-kind", steps({"acept": _ACCEPT}), "steps[0]", "unknown step kind 'acept'"),
    (
        "step-body-not-a-mapping",
        steps({"cancel": "c1"}),
        "steps[0].cancel",
        "must be a mapping, got text",
    ),
    (
        "step-field-missing",
        steps({"accept": {"conversation": "c1"}}),
        "steps[0].accept.participant",
        "is missing",
    ),
    (
        "step-null-body-lacks-fields",
        steps({"customer_left": None}),
        "steps[0].customer_left.conversation",
        "is missing",
    ),
    (
        "step-field-unknown",
        steps({"accept": {**_ACCEPT, "queue": "support"}}),
        "steps[0].accept.queue",
        "unknown key",
    ),
    (
        "step-text-not-text",
        steps({"customer": {"conversation": "c1", "text": 42}}),
        "steps[0].customer.text",
        "must be text, got a number (42)",
    ),
    (
        "step-id-field-boolean",
        steps({"customer": {"conversation": True, "text": "yes"}}),
        "steps[0].customer.conversation",
        "must be text, got a boolean",
    ),
    (
        "step-variables-not-mapping",
        steps({"start": {"conversation": "c1", "queue": "q", "variables": ["a"]}}),
        "steps[0].start.variables",
        "must be a mapping",
    ),
    (
        "step-variables-key-not-text",
        steps({"start": {"conversation": "c1", "queue": "q", "variables": {1: "a"}}}),
        "steps[0].start.variables",
        "key that is not text",
    ),
    (
        "step-answers-value-not-json",
        steps(
            {"survey_response": {"conversation": "c1", "answers": {"on": datetime.date.today()}}}
        ),
        "steps[0].survey_response.answers.on",
        "must be a JSON value, got a date",
    ),
    (
        "step-value-not-finite",
        steps(
            {
                "set_variable": {
                    "conversation": "c1",
                    "participant": "b",
                    "name": "n",
                    "value": [1, float("nan")],
                }
            }
        ),
        "steps[0].set_variable.value[1]",
        "finite",
    ),
    (
        "step-survey-not-boolean",
        steps({"end": {**_ACCEPT, "survey": "yes"}}),
        "steps[0].end.survey",
        "true or false",
    ),
    (
        "step-transfer-kind-unknown",
        steps({"transfer": {**_ACCEPT, "queue": "q", "kind": "robot"}}),
        "steps[0].transfer.kind",
        "must be one of bot, human, any",
    ),
    (
        "step-transfer-to-not-text",
        steps({"transfer": {**_ACCEPT, "queue": "q", "to": ["rep-2"]}}),
        "steps[0].transfer.to",
        "must be text, got a list",
    ),
    (
        "step-presence-status-unknown",
        steps({"presence": {"participant": "rep-1", "status": "busy"}}),
        "steps[0].presence.status",
        "available, away, offline",
    ),
    ("step-tick-now-negative", steps({"tick": {"now": -1}}), "steps[0].tick.now", ">= 0"),
    ("step-tick-now-missing", steps({"tick": {}}), "steps[0].tick.now", "is missing"),
    (
        "step-tick-at-differs-from-now",
        steps({"tick": {"now": 120}, "at": 100}),
        "steps[0].at",
        "the tick's now is 120.0",
    ),
    ("step-at-negative", steps({"accept": _ACCEPT, "at": -0.5}), "steps[0].at", ">= 0"),
    ("step-at-text", steps({"accept": _ACCEPT, "at": "noon"}), "steps[0].at", "must be a number"),
    (
        "step-at-inside-not-a-number",
        steps({"accept": {**_ACCEPT, "at": True}}),
        "steps[0].accept.at",
        "must be a number, got a boolean",
    ),
    ("step-id-not-text", steps({"accept": _ACCEPT, "id": 7}), "steps[0].id", "must be text"),
    (
        "step-at-in-both-places",
        steps({"accept": {**_ACCEPT, "at": 1}, "at": 1}),
        "steps[0].at",
        "both beside and inside 'accept'",
    ),
    (
        "step-id-in-both-places",
        steps({"accept": {**_ACCEPT, "id": "a"}, "id": "a"}),
        "steps[0].id",
        "both beside and inside",
    ),
]


@pytest.mark.parametrize(
    ("data", "place", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_a_bad_file_names_the_place_and_the_problem(
    data: object, place: str, fragment: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, "bad.yaml")
    error = caught.value
    assert (error.file, error.place) == ("bad.yaml", place), error.problem
    assert fragment in error.problem
    assert str(error) == f"bad.yaml: {place}: {error.problem}"
    assert "\n" not in str(error)


def test_the_bad_cases_are_valid_once_mended() -> None:
    """The base the cases start from is itself a good file, so each case fails for its own
    reason."""
    assert len(parse_scenario(BASE, "f").steps) == 1


def test_a_bad_step_fails_before_any_later_step_is_read() -> None:
    data = steps({"accept": _ACCEPT}, {"accept": {}}, {"nope": {}})
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, "f")
    assert caught.value.place == "steps[1].accept.conversation"


def test_parsing_does_not_change_the_data_it_reads() -> None:
    data = steps({"accept": {**_ACCEPT, "at": 3, "id": "x"}})
    before = copy.deepcopy(data)
    parse_scenario(data, "f")
    assert data == before


# -- files that cannot be read or parsed --------------------------------------------------------


def test_a_missing_file_is_a_scenario_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)
    assert caught.value.place == ""
    assert str(caught.value).startswith(f"{path}: cannot be read")


def test_a_directory_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is not a regular file"):
        load_scenario(tmp_path)


def test_a_file_that_is_not_utf8_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"steps": [], "x": "\xe9"}')
    with pytest.raises(ScenarioError, match="is not UTF-8") as caught:
        load_scenario(path)
    assert caught.value.file == str(path)


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("steps: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="is not valid YAML"):
        load_scenario(path)


def test_yaml_only_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "date.yaml"
    path.write_text(
        "steps:\n  - set_variable: {conversation: c, participant: b, name: d, value: 2024-05-01}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.place == "steps[0].set_variable.value"


# -- the reference stays in step with the event classes -----------------------------------------


def test_the_format_reference_documents_every_step_kind_and_field() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for step, cls in EVENT_BY_STEP.items():
        section = re.search(rf"^### `{step}`\n(.*?)(?=^#)", text, re.M | re.S)
        assert section is not None, f"docs/scenario-format.md has no section for step {step!r}"
        for field in attrs.fields(cls):
            assert f"`{field.name}`" in section.group(1), (step, field.name)


def test_the_step_examples_of_the_format_reference_parse() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"^```yaml\n(- .*?)^```", text, re.M | re.S)
    examples = [item for block in blocks for item in yaml.safe_load(block)]
    scenario = parse_scenario({"steps": examples}, "docs")
    assert {step.event.STEP for step in scenario.steps} == set(EVENT_BY_STEP)


# -- files the reader refuses: its limits (docs/scenario-format.md, "Limits") -------------------

_LONG = "9" * 5_000
_LAUGHS = "".join(
    f"      {name}: &{name} [{','.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)
_START_YAML = "steps:\n  - start:\n      conversation: c1\n      queue: q\n      variables:\n"


def _tick_json(now: str) -> str:
    return '{"steps": [{"tick": {"now": ' + now + "}}]}"


_LAUGHS_YAML = (
    _START_YAML
    + "        a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
    + _LAUGHS.replace("      ", "        ")
)


def _start_json(variables: str) -> str:
    return (
        '{"steps": [{"start": {"conversation": "c1", "queue": "q", "variables": '
        + variables
        + "}}]}"
    )


REFUSED_FILES: list[tuple[str, str, str, str]] = [
    # (file name, text, exact place, fragment of the problem)
    ("long.json", _tick_json(_LONG), "steps[0].tick.now", "5,000 digits"),
    ("long.yaml", f"steps:\n  - tick: {{now: {_LONG}}}\n", "line 2", "5,000 digits"),
    ("long-float.json", _tick_json(f"1.{_LONG}"), "steps[0].tick.now", "5,001 digits"),
    ("nan.json", '{"steps": [{"tick": {"now": NaN}}]}', "steps[0].tick.now", "finite"),
    ("huge.json", '{"steps": [{"tick": {"now": 1e400}}]}', "steps[0].tick.now", "finite"),
    ("inf.yaml", "steps:\n  - tick: {now: .inf}\n", "steps[0].tick.now", "finite"),
    ("surrogate.json", '{"steps": [{"customer": {"conversation": "c1", "text": "x\\ud800"}}]}',
     "steps[0].customer.text", "unpaired surrogate (\\ud800)"),
    ("surrogate-key.json", _start_json('{"\\ud800": 1}'), "steps[0].start.variables",
     "unpaired surrogate"),
    ("newline-key.json", _start_json('{"a\\nb": 1}'), "steps[0].start.variables",
     "a key with a control character: 'a\\nb'"),
    ("newline-key.yaml", _START_YAML + '        "a\\nb": 1\n', "steps[0].start.variables",
     "a key with a control character: 'a\\nb'"),
    ("escape-key.yaml", _START_YAML + '        "\\e[2J": 1\n', "steps[0].start.variables",
     "control character: '\\x1b[2J'"),
    ("laughs.yaml", _LAUGHS_YAML, "line 11", "expands to more than 100,000 values"),
    ("merge.yaml", "base: &b {a: 1}\nsteps: [{<<: *b}]\n", "line 2", "merge keys"),
]  # fmt: skip


UNPARSABLE_FILES: list[tuple[str, str, str, str]] = [
    ("bad.json", '{"steps": [}', "line 1", "is not valid JSON"),
    ("bad.json", '{\n  "steps": []\n  "x": 1\n}', "line 3", "Expecting ',' delimiter"),
    ("empty.json", "", "line 1", "is not valid JSON"),
    ("bad.yaml", "steps:\n  - start: {conversation: c1\n", "line 3", "is not valid YAML"),
    ("bad.yml", "steps: [\n", "line 2", "is not valid YAML"),
    ("tabs.yaml", "steps:\n\t- tick: {now: 1}\n", "line 2", "is not valid YAML"),
    ("twice.yaml", "steps: []\nsteps: []\n", "line 2", "key 'steps' is given twice"),
    ("twice.json", '{"steps": [{"tick": {"now": 1, "now": 2}}]}', "", "gives key 'now' twice"),
    ("empty.yaml", "", "top level", "must be a mapping, got null"),
    *REFUSED_FILES,
]


@pytest.mark.parametrize(
    ("name", "text", "place", "fragment"),
    UNPARSABLE_FILES,
    ids=[case[0] for case in UNPARSABLE_FILES],
)
def test_a_file_that_cannot_be_read_safely_is_a_scenario_error_naming_it(
    tmp_path: Path, name: str, text: str, place: str, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert (caught.value.file, caught.value.place) == (str(path), place), caught.value
    assert fragment in caught.value.problem
    assert "\n" not in str(caught.value)


def test_the_laughs_file_is_small() -> None:
    text = dict((case[0], case[1]) for case in REFUSED_FILES)["laughs.yaml"]
    assert len(text.encode()) < 600


def test_a_file_larger_than_the_limit_is_refused_and_one_at_the_limit_read(
    tmp_path: Path,
) -> None:
    body = '{"steps": []}'
    path = tmp_path / "large.json"
    path.write_text(body + " " * (MAX_FILE_BYTES - len(body)), encoding="utf-8")
    assert load_scenario(path).steps == ()
    with path.open("a", encoding="utf-8") as stream:
        stream.write(" ")
    with pytest.raises(ScenarioError, match="is larger than 16 MiB"):
        load_scenario(path)


def test_a_device_is_refused_before_a_byte_is_read() -> None:
    with pytest.raises(ScenarioError, match="is not a regular file"):
        load_scenario(Path("/dev/zero"))


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    with pytest.raises(ScenarioError, match="is not a regular file"):
        load_scenario(path)


def test_a_file_name_with_a_newline_is_quoted_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "two\nlines.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "\n" not in str(caught.value)
    assert "two\\nlines.json" in str(caught.value)


def test_data_built_in_python_meets_the_readers_limits() -> None:
    data = steps({"customer": {"conversation": "c1", "text": "x\ud800"}})
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, "f")
    assert caught.value.place == "steps[0].customer.text"


def _handoff_fsm_run(path: Path) -> subprocess.CompletedProcess[bytes]:
    command = Path(sys.executable).with_name("handoff-fsm")
    return subprocess.run(
        [str(command), "run", str(path)], capture_output=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [(case[0], case[1]) for case in REFUSED_FILES],
    ids=[case[0] for case in REFUSED_FILES],
)
def test_handoff_fsm_run_refuses_each_with_one_line_exit_2_and_no_output(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    done = _handoff_fsm_run(path)
    assert (done.returncode, done.stdout) == (2, b""), done.stderr
    lines = done.stderr.decode("utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"handoff-fsm run: {path}: "), lines


@pytest.mark.parametrize("target", ["/dev/zero", "large"])
def test_handoff_fsm_run_refuses_an_endless_or_large_file(tmp_path: Path, target: str) -> None:
    path = Path(target)
    if target == "large":
        path = tmp_path / "large.json"
        path.write_bytes(b" " * (MAX_FILE_BYTES + 1))
    done = _handoff_fsm_run(path)
    assert (done.returncode, done.stdout) == (2, b""), done.stderr
    assert done.stderr.decode("utf-8").splitlines() == [
        f"handoff-fsm run: {path}: "
        + ("is not a regular file" if target == "/dev/zero" else "is larger than 16 MiB")
    ]
