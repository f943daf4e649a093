"""Diagrams from the models: every state and trigger drawn, initial and final marked, labels as the
module promises, bytes stable, and a path overlay numbered in the order it was taken."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import attrs
import pytest

from handoff_fsm.model import (
    MachineModel,
    TransitionSpec,
    bundled_models_dir,
    load_bundled,
    load_model,
    parse_model,
)
from handoff_fsm.tools.diagrams import path_to_dot, path_to_mermaid, to_dot, to_mermaid

MODELS = ("lifecycle", "routing")

# Bot A -> human -> Bot B, the "two bots in one queue" seed flow, up to Bot B taking it.
PATH_STATES = ("new", "bot_active", "waiting", "agent_engaged", "waiting", "returned_to_bot")
PATH_TRIGGERS = ("bot_takes", "escalate", "agent_accepts", "transfer", "bot_takes")

_DOT_EDGE = re.compile(r"^\t(\S+) -> (\S+) \[(.*)\]$", re.MULTILINE)
_DOT_NODE = re.compile(r"^\t(\w+) \[(.*)\]$", re.MULTILINE)
_DOT_LABEL = re.compile(r'\bx?label="((?:[^"\\]|\\.)*)"')


def _edges(dot: str) -> list[tuple[str, str, str, str]]:
    """(source, dest, label, all attributes) of every edge in DOT written by the module."""
    edges = []
    for source, dest, attributes in _DOT_EDGE.findall(dot):
        match = _DOT_LABEL.search(attributes)
        edges.append((source, dest, match.group(1) if match else "", attributes))
    return edges


def _nodes(dot: str) -> dict[str, str]:
    return dict(_DOT_NODE.findall(dot))


def _label_lines(label: str) -> list[str]:
    return [line for line in label.split("\\l") if line]


def _mermaid_transitions(text: str) -> list[tuple[str, str, str]]:
    found = re.findall(r"^    (\S+) --> (\S+)(?: : (.*))?$", text, re.MULTILINE)
    return [(source, dest, label) for source, dest, label in found]


def _groups(model: MachineModel) -> set[tuple[str, str]]:
    return {(source, spec.dest) for spec in model.transitions for source in spec.sources}


@pytest.mark.parametrize("name", MODELS)
def test_dot_and_mermaid_draw_every_state_and_trigger(name: str) -> None:
    model = load_bundled(name)
    dot, mermaid = to_dot(model), to_mermaid(model)
    nodes = _nodes(dot)
    dot_triggers = {
        line.split(" ")[0] for _, _, label, _ in _edges(dot) for line in _label_lines(label)
    }
    mermaid_triggers = {
        line.split(" ")[0]
        for _, _, label in _mermaid_transitions(mermaid)
        for line in label.split("<br>")
    }
    for state in model.states:
        assert state in nodes
        assert re.search(rf"^    {state} -->|--> {state}( :|$)", mermaid, re.MULTILINE)
    for trigger in model.triggers:
        assert trigger in dot_triggers
        assert trigger in mermaid_triggers


@pytest.mark.parametrize("name", MODELS)
def test_one_edge_per_source_and_dest(name: str) -> None:
    model = load_bundled(name)
    start_edges = 1
    assert len(_edges(to_dot(model))) == len(_groups(model)) + start_edges
    assert len(_mermaid_transitions(to_mermaid(model))) == (
        len(_groups(model)) + start_edges + len(model.final)
    )


def test_parallel_triggers_share_one_edge_one_line_each() -> None:
    dot = to_dot(load_bundled("lifecycle"))
    [label] = [lab for src, dst, lab, _ in _edges(dot) if (src, dst) == ("bot_active", "waiting")]
    assert _label_lines(label) == [
        "escalate",
        "escalation_phrase",
        "fallback_limit",
        "transfer",
        "holder_offline",
    ]


def test_labels_carry_guards_unless_and_outcomes() -> None:
    model = load_bundled("lifecycle")
    labels = [(src, dst, _label_lines(lab)) for src, dst, lab, _ in _edges(to_dot(model))]
    assert (
        "waiting",
        "ended",
        [
            "cancel / abandoned [!bot_to_return_to]",
            "wait_timeout / unserved [!overflow_transfer, !overflow_returns_to_bot]",
            "customer_left / abandoned",
        ],
    ) in labels
    assert (
        "waiting",
        "returned_to_bot",
        [
            "bot_takes [human_held_before]",
            "cancel [bot_to_return_to, human_held_before]",
            "wait_timeout [overflow_returns_to_bot, human_held_before, !overflow_transfer]",
        ],
    ) in labels
    assert ("bot_active", "ended", ["end / resolved", "customer_left / abandoned"]) in labels
    # No outcome on an edge into a state that is not final.
    assert ("new", "bot_active", ["bot_takes"]) in labels

    mermaid = to_mermaid(model)
    assert "    waiting --> ended : cancel / abandoned [not bot_to_return_to]<br>" in mermaid
    assert "!" not in mermaid


def test_initial_and_final_states_are_marked() -> None:
    model = load_bundled("lifecycle")
    dot = to_dot(model)
    nodes = _nodes(dot)
    assert "shape=point" in nodes["__start__"]
    assert ("__start__", "new") in {(src, dst) for src, dst, _, _ in _edges(dot)}
    assert "shape=doublecircle" in nodes["ended"]
    assert all("doublecircle" not in nodes[state] for state in model.states if state != "ended")

    mermaid = to_mermaid(model)
    assert "    [*] --> new\n" in mermaid
    assert re.findall(r"^    (\S+) --> \[\*\]$", mermaid, re.MULTILINE) == ["ended"]

    routing = to_mermaid(load_bundled("routing"))
    assert "    [*] --> queued\n" in routing
    assert re.findall(r"^    (\S+) --> \[\*\]$", routing, re.MULTILINE) == ["assigned", "left"]


def test_each_state_node_has_its_meaning_as_tooltip() -> None:
    model = load_bundled("lifecycle")
    nodes = _nodes(to_dot(model))
    for state, meaning in model.states.items():
        assert f'tooltip="{meaning}"' in nodes[state]


@pytest.mark.parametrize("name", MODELS)
def test_output_is_byte_stable(name: str, tmp_path: Path) -> None:
    first = load_bundled(name)
    again = load_bundled(name)
    # A copy elsewhere gives the same bytes: no path, time or version leaks into the output.
    copy = load_model(Path(shutil.copy(bundled_models_dir() / f"{name}.yaml", tmp_path)))
    for render in (to_dot, to_mermaid):
        assert render(first) == render(again) == render(copy)
    assert str(bundled_models_dir()) not in to_dot(first)


def test_a_changed_model_gives_different_diagrams() -> None:
    model = load_bundled("lifecycle")
    extra = attrs.evolve(
        model,
        transitions=(
            *model.transitions,
            TransitionSpec(trigger="reopen", sources=("ended",), dest="waiting"),
        ),
    )
    reworded = attrs.evolve(model, states={**model.states, "survey": "a different meaning"})
    for render in (to_dot, to_mermaid):
        assert render(extra) != render(model)
        assert "reopen" in render(extra)
    assert to_dot(reworded) != to_dot(model)
    assert "a different meaning" in to_dot(reworded)


def test_mermaid_labels_and_ids_stay_within_safe_characters() -> None:
    model = parse_model(
        {
            "name": "odd",
            "states": {"a": "start", "b": "end"},
            "initial": "a",
            "final": ["b"],
            "transitions": [
                {"trigger": "go;now#1: {x}", "source": ["a"], "dest": "b", "unless": ["%%y"]}
            ],
        },
        "odd.yaml",
    )
    [(_, _, label)] = [t for t in _mermaid_transitions(to_mermaid(model)) if t[0] == "a"]
    assert re.fullmatch(r"[A-Za-z0-9_ ,./()\[\]<>-]+", label), label
    assert label == "go_now_1_ _x_ [not __y]"

    bad_id = attrs.evolve(model, states={"a": "start", "b b": "end"}, final=("b b",))
    with pytest.raises(ValueError, match="Mermaid state id"):
        to_mermaid(bad_id)


# --- path overlay ------------------------------------------------------------------------------


def test_path_overlay_numbers_the_taken_edges_in_order() -> None:
    model = load_bundled("lifecycle")
    dot = path_to_dot(model, PATH_STATES, PATH_TRIGGERS, "Bot A -> human -> Bot B")
    edges = _edges(dot)
    for number, (source, trigger, dest) in enumerate(
        zip(PATH_STATES[:-1], PATH_TRIGGERS, PATH_STATES[1:], strict=True), start=1
    ):
        taken = [
            (label, attributes)
            for src, dst, label, attributes in edges
            if (src, dst) == (source, dest) and label.startswith(f"({number}) ")
        ]
        assert len(taken) == 1, (number, source, dest)
        label, attributes = taken[0]
        assert _label_lines(label)[0].split(" [")[0] == f"({number}) {trigger}"
        assert "penwidth=2.5" in attributes
    numbers = [int(n) for n in re.findall(r'label="\((\d+)\) ', dot)]
    assert sorted(numbers) == [1, 2, 3, 4, 5]
    assert 'label="Bot A -> human -> Bot B"' in dot


def test_path_overlay_greys_the_rest_and_draws_each_row_once() -> None:
    model = load_bundled("lifecycle")
    dot = path_to_dot(model, PATH_STATES, PATH_TRIGGERS, "seed")
    nodes = _nodes(dot)
    grey_fill = 'fillcolor="#f5f5f5"'
    for state in ("survey", "ended"):
        assert grey_fill in nodes[state]
    for state in set(PATH_STATES):
        assert grey_fill not in nodes[state]
    # escalate was taken from bot_active: it left the grey edge, which keeps the other four.
    from_bot = [
        (_label_lines(label), attributes)
        for src, dst, label, attributes in _edges(dot)
        if (src, dst) == ("bot_active", "waiting")
    ]
    assert sorted(lines for lines, _ in from_bot) == [
        ["(2) escalate"],
        ["escalation_phrase", "fallback_limit", "transfer", "holder_offline"],
    ]
    all_lines = [
        line.split(") ")[-1].split(" ")[0]
        for _, _, label, _ in _edges(dot)
        for line in _label_lines(label)
        if not line.startswith("[")
    ]
    rows = sum(len(spec.sources) for spec in model.transitions)
    assert len(all_lines) == rows
    # A group whose every row was taken leaves no empty grey edge behind.
    assert all(_label_lines(lab) for src, _, lab, _ in _edges(dot) if src != "__start__")


def test_path_overlay_repeated_row_carries_every_number() -> None:
    model = load_bundled("lifecycle")
    states = ("new", "bot_active", "waiting", "bot_active", "waiting", "ended")
    triggers = ("bot_takes", "escalate", "cancel", "escalate", "customer_left")
    dot = path_to_dot(model, states, triggers, "back and forth")
    assert '"(2, 4) escalate\\l"' in dot
    assert '"(5) customer_left / abandoned\\l"' in dot
    mermaid = path_to_mermaid(model, states, triggers, "back and forth")
    assert "    bot_active --> waiting : (2, 4) escalate\n" in mermaid
    assert (
        "    waiting --> bot_active : (3) cancel [bot_to_return_to, not human_held_before]\n"
        in (mermaid)
    )


def test_path_overlay_in_mermaid() -> None:
    model = load_bundled("lifecycle")
    mermaid = path_to_mermaid(model, PATH_STATES, PATH_TRIGGERS, 'Seed: "two bots"')
    assert mermaid.startswith('---\ntitle: "Seed: \\"two bots\\""\n---\nstateDiagram-v2\n')
    for number, (source, trigger, dest) in enumerate(
        zip(PATH_STATES[:-1], PATH_TRIGGERS, PATH_STATES[1:], strict=True), start=1
    ):
        assert re.search(
            rf"^    {source} --> {dest} : \({number}\) {trigger}( \[.*\])?(<br>|$)",
            mermaid,
            re.MULTILINE,
        )
    assert "    class survey,ended unvisited\n" in mermaid
    assert "    class new,bot_active,waiting,agent_engaged,returned_to_bot visited\n" in mermaid
    assert path_to_mermaid(model, PATH_STATES, PATH_TRIGGERS, "x") == path_to_mermaid(
        model, PATH_STATES, PATH_TRIGGERS, "x"
    )


@pytest.mark.parametrize(
    ("states", "triggers", "message"),
    [
        (("new", "bot_active"), ("bot_takes", "escalate"), "visits 3 states"),
        (("new", "waiting"), ("bot_takes",), "step 1: .* no transition new -bot_takes-> waiting"),
        (("new", "nowhere"), ("bot_takes",), "'nowhere' is not a state"),
        (("ended", "waiting"), ("cancel",), "step 1"),
    ],
)
def test_path_overlay_refuses_a_path_the_model_does_not_allow(
    states: tuple[str, ...], triggers: tuple[str, ...], message: str
) -> None:
    model = load_bundled("lifecycle")
    for render in (path_to_dot, path_to_mermaid):
        with pytest.raises(ValueError, match=message):
            render(model, states, triggers, "bad")


def test_path_overlay_does_not_guess_which_guard_held() -> None:
    """Two rows from the same state, with the same trigger and destination, told apart by guards
    alone: the path cannot say which held, so its edge shows neither guard nor outcome."""
    model = parse_model(
        {
            "name": "split",
            "states": {"open": "open", "closed": "closed"},
            "initial": "open",
            "final": ["closed"],
            "outcomes": {"won": "won", "lost": "lost"},
            "transitions": [
                {
                    "trigger": "close",
                    "source": ["open"],
                    "dest": "closed",
                    "guards": ["g"],
                    "outcome": "won",
                },
                {
                    "trigger": "close",
                    "source": ["open"],
                    "dest": "closed",
                    "unless": ["g"],
                    "outcome": "lost",
                },
            ],
        },
        "split.yaml",
    )
    dot = path_to_dot(model, ["open", "closed"], ["close"], "t")
    assert [_label_lines(label) for _, _, label, _ in _edges(dot)][1:] == [["(1) close"]]
    assert "    open --> closed : (1) close\n" in path_to_mermaid(
        model, ["open", "closed"], ["close"], "t"
    )
