"""Static model analysis: the bundled models pass every check, each seeded defect fails exactly the
check meant to catch it, and the generated paths are complete and followable by the runtime."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import pytest
import yaml

from handoff_fsm import lifecycle
from handoff_fsm.errors import TriggerRefused
from handoff_fsm.lifecycle import Guard, Snapshot, Trigger
from handoff_fsm.model import (
    MachineModel,
    bundled_models_dir,
    load_bundled,
    load_model,
    parse_model,
)
from handoff_fsm.tools import analysis
from handoff_fsm.tools.analysis import CheckResult, PathEdge
from handoff_fsm.tools.analysis import Path as ModelPath

DEFECTS = Path(__file__).parent / "defects"
BUNDLED = ("lifecycle", "routing")
GRAPH_CHECK_NAMES = (
    "reachable",
    "no_traps",
    "finals_absorbing",
    "deterministic",
    "guards_declared",
    "triggers_used",
    "outcomes",
)

#: defect file -> (the checks it must fail, texts the problems must contain: the state or row).
SEEDED: dict[str, tuple[set[str], tuple[str, ...]]] = {
    "trap_state": ({"no_traps"}, ("state 'on_hold' cannot reach a final state",)),
    "unreachable_state": ({"reachable"}, ("state 'parked' is not reachable from 'queued'",)),
    "transition_out_of_ended": (
        {"finals_absorbing"},
        ("transitions[5] (escalate from ended) leaves final state 'ended'",),
    ),
    "non_exclusive_transitions": (
        {"deterministic"},
        ("transitions[1] and transitions[2] (bot_takes from waiting)",),
    ),
    "undeclared_guard": (
        {"guards_declared"},
        ("transitions[17] (take_over", "undeclared guard 'supervisor_present'"),
    ),
    "unused_guard": ({"guards_declared"}, ("guard 'vip_customer' is declared but",)),
    "final_without_outcome": (
        {"outcomes"},
        ("transitions[22] (customer_left", "enters final state 'ended' without an outcome"),
    ),
    "outcome_outside_final": (
        {"outcomes"},
        ("transitions[9] (holder_offline", "outcome 'abandoned'", "'waiting' is not a final"),
    ),
    "renamed_state": ({"matches_code"}, ("unknown: ['feedback']", "missing: ['survey']")),
    "dead_trigger": (
        {"reachable", "triggers_used"},
        ("trigger 'unpark' has no transition", "state 'parked' is not reachable"),
    ),
}


def _failing(model: MachineModel) -> dict[str, CheckResult]:
    return {result.name: result for result in analysis.check_model(model) if not result.ok}


def _raw(name: str) -> dict[str, object]:
    data = yaml.safe_load((bundled_models_dir() / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _edges(model: MachineModel) -> set[tuple[str, int]]:
    """Every (source state, row) edge, read from the graph."""
    return {(u, k) for u, _v, k in analysis.model_graph(model).edges(keys=True)}


def _replay(path: ModelPath) -> Snapshot:
    """Follow a lifecycle path through the runtime, giving it the path's facts minus the guard it
    keeps itself, and check that each step fires the path's row."""
    snapshot = lifecycle.NEW
    for edge in path.edges:
        assert snapshot.state == edge.source
        assert snapshot.human_held == (Guard.HUMAN_HELD_BEFORE in edge.facts)
        facts = frozenset(Guard(f) for f in edge.facts) - lifecycle.KEPT_GUARDS
        snapshot, transition = lifecycle.step(snapshot, Trigger(edge.trigger), facts)
        assert (transition.source, transition.dest, transition.row, transition.outcome) == (
            edge.source,
            edge.dest,
            edge.row,
            edge.outcome,
        )
    return snapshot


def _chains_from_initial(model: MachineModel, path: ModelPath) -> bool:
    pairs = zip(path.edges, path.edges[1:], strict=False)
    return path.edges[0].source == model.initial and all(a.dest == b.source for a, b in pairs)


# --- The graph and the checks ---------------------------------------------------------------------


def test_graph_has_one_edge_per_source_and_row_with_the_row_attributes() -> None:
    model = load_bundled("lifecycle")
    graph = analysis.model_graph(model)
    assert set(graph.nodes) == set(model.states)
    assert graph.number_of_edges() == sum(len(spec.sources) for spec in model.transitions)
    edge = graph.edges["waiting", "returned_to_bot", 2]
    assert edge["trigger"] == "bot_takes" and edge["row"] == 2
    assert edge["guards"] == ("human_held_before",) and edge["unless"] == ()
    assert graph.edges["survey", "ended", 20]["outcome"] == "survey_completed"
    assert graph.nodes["ended"]["final"] and graph.nodes["new"]["initial"]


@pytest.mark.parametrize("name", BUNDLED)
def test_every_check_passes_on_the_bundled_models(name: str) -> None:
    results = analysis.check_model(load_bundled(name))
    expected = GRAPH_CHECK_NAMES + (("matches_code",) if name == "lifecycle" else ())
    assert tuple(r.name for r in results) == expected
    assert [(r.name, r.problems) for r in results if not r.ok] == []
    assert all(r.ok and r.problems == () for r in results)


def test_every_defect_file_has_an_expectation() -> None:
    assert {p.stem for p in DEFECTS.glob("*.yaml")} == set(SEEDED)


@pytest.mark.parametrize("defect", sorted(SEEDED))
def test_each_defect_fails_exactly_its_check(defect: str) -> None:
    checks, named = SEEDED[defect]
    failing = _failing(load_model(DEFECTS / f"{defect}.yaml"))
    assert set(failing) == checks
    problems = [p for result in failing.values() for p in result.problems]
    for text in named:
        assert any(text in problem for problem in problems), (text, problems)


def test_an_outcome_no_transition_produces_is_reported() -> None:
    raw = _raw("lifecycle")
    outcomes = raw["outcomes"]
    assert isinstance(outcomes, dict)
    outcomes["escalated_elsewhere"] = "handed to another platform"
    result = analysis.outcomes(parse_model(raw, "edited.yaml"))
    assert not result.ok
    assert result.problems == (
        "outcome 'escalated_elsewhere' is produced by no transition into a final state",
    )


def test_a_guard_in_unless_is_checked_too() -> None:
    raw = _raw("lifecycle")
    rows = raw["transitions"]
    assert isinstance(rows, list)
    rows[3]["unless"] = ["queue_closed"]  # enqueue from new
    result = analysis.guards_declared(parse_model(raw, "edited.yaml"))
    assert result.problems == (
        "transitions[3] (enqueue from new) names undeclared guard 'queue_closed' in unless",
    )


def test_a_trigger_that_only_fires_from_a_final_state_is_unused() -> None:
    raw = _raw("routing")
    rows = raw["transitions"]
    assert isinstance(rows, list)
    rows.append({"trigger": "reopen", "source": ["left"], "dest": "queued"})
    failing = _failing(parse_model(raw, "edited.yaml"))
    assert set(failing) == {"triggers_used", "finals_absorbing"}
    assert failing["triggers_used"].problems == (
        "trigger 'reopen' has no transition from a reachable, non-final state",
    )


def test_matches_code_only_runs_for_the_lifecycle() -> None:
    raw = _raw("routing")
    raw["name"] = "lifecycle"
    as_lifecycle = parse_model(raw, "routing-as-lifecycle.yaml")
    assert "matches_code" in _failing(as_lifecycle)
    assert "matches_code" not in {r.name for r in analysis.check_model(load_bundled("routing"))}


# --- Transition cover -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED)
def test_transition_cover_covers_every_edge(name: str) -> None:
    model = load_bundled(name)
    cover = analysis.transition_cover(model)
    covered = {(edge.source, edge.row) for path in cover for edge in path.edges}
    assert covered == _edges(model)
    assert all(_chains_from_initial(model, path) for path in cover)


@pytest.mark.parametrize("name", BUNDLED)
def test_transition_cover_is_small(name: str) -> None:
    model = load_bundled(name)
    cover = analysis.transition_cover(model)
    assert len(cover) <= len(_edges(model))
    assert len(set(cover)) == len(cover)
    for a, b in itertools.permutations(cover, 2):
        assert a.edges != b.edges[: len(a.edges)], f"{a} is a prefix of {b}"
    # Each path is a shortest way to its last edge's source, plus that edge: no longer than the
    # number of states (a state repeats only to change what the history guards say).
    assert max(len(path.edges) for path in cover) <= len(model.states)


def test_transition_cover_replays_through_the_lifecycle() -> None:
    cover = analysis.transition_cover(load_bundled("lifecycle"))
    for path in cover:
        _replay(path)
    held_rows = {e.row for p in cover for e in p.edges if "human_held_before" in e.facts}
    assert {2, 11, 15} <= held_rows  # the rows that need a human to have held it


def test_cover_leaves_out_a_row_that_can_never_fire() -> None:
    """In the non-exclusive defect, the guard-free row 1 always wins over row 2."""
    model = load_model(DEFECTS / "non_exclusive_transitions.yaml")
    covered = {(e.source, e.row) for p in analysis.transition_cover(model) for e in p.edges}
    assert covered == _edges(model) - {("waiting", 2)}


def test_facts_make_the_row_win_over_earlier_rows() -> None:
    """Row 1 needs `vip`; row 0 (no guards on vip) matches unless `closed` holds, so the facts
    that fire row 1 must also make `closed` hold."""
    model = parse_model(
        {
            "name": "toy",
            "states": {"a": "start", "b": "one end", "c": "other end"},
            "initial": "a",
            "final": ["b", "c"],
            "guards": {"vip": "a VIP", "closed": "closed"},
            "transitions": [
                {"trigger": "go", "source": ["a"], "dest": "b", "unless": ["closed"]},
                {"trigger": "go", "source": ["a"], "dest": "c", "guards": ["vip"]},
            ],
        },
        "toy.yaml",
    )
    cover = analysis.transition_cover(model)
    facts = {path.edges[-1].row: path.edges[-1].facts for path in cover}
    assert facts == {0: frozenset(), 1: frozenset({"vip", "closed"})}


# --- Simple paths to final states -----------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED)
def test_simple_paths_end_in_a_final_state_without_repeating_one(name: str) -> None:
    model = load_bundled(name)
    paths = analysis.simple_paths_to_finals(model)
    assert paths
    for path in paths:
        assert _chains_from_initial(model, path)
        assert path.end in model.final
        assert len(set(path.states)) == len(path.states)
    assert len(set(paths)) == len(paths)


def test_simple_paths_of_a_guard_free_model_are_exactly_the_graph_simple_paths() -> None:
    model = load_bundled("routing")
    graph = analysis.model_graph(model)
    oracle = {
        tuple((u, k) for u, _v, k in path)
        for path in nx.all_simple_edge_paths(graph, model.initial, list(model.final))
    }
    ours = {
        tuple((e.source, e.row) for e in p.edges) for p in analysis.simple_paths_to_finals(model)
    }
    assert ours == oracle
    assert len(oracle) == 4


def _followable(edges: list[tuple[str, str, int]]) -> bool:
    """Whether some facts at each step make the runtime fire exactly these rows."""
    snapshot = lifecycle.NEW
    every_facts = [
        frozenset(c) for n in range(len(Guard) + 1) for c in itertools.combinations(Guard, n)
    ]
    for _source, _dest, row in edges:
        trigger = Trigger(lifecycle.MODEL.transitions[row].trigger)
        for facts in every_facts:
            try:
                after, transition = lifecycle.step(snapshot, trigger, facts)
            except TriggerRefused:
                continue
            if transition.row == row:
                snapshot = after
                break
        else:
            return False
    return True


def test_lifecycle_simple_paths_are_the_followable_graph_simple_paths() -> None:
    """Every graph simple path to `ended` is generated iff the runtime can follow it; the others
    are those that would need `human_held_before` to be other than the path's history says."""
    model = load_bundled("lifecycle")
    generated = analysis.simple_paths_to_finals(model)
    for path in generated:
        assert _replay(path).state == lifecycle.State.ENDED
    ours = {tuple((e.source, e.dest, e.row) for e in p.edges) for p in generated}
    graph_paths: list[list[tuple[str, str, int]]] = [
        [(u, v, k) for u, v, k in walk]
        for walk in nx.all_simple_edge_paths(analysis.model_graph(model), "new", "ended")
    ]
    assert len(graph_paths) > len(ours) > 0
    for walk in graph_paths:
        assert (tuple(walk) in ours) == _followable(walk), walk


def test_human_held_before_follows_the_path_not_a_free_choice() -> None:
    paths = analysis.simple_paths_to_finals(load_bundled("lifecycle"))
    for path in paths:
        visited_agent = False
        for edge in path.edges:
            assert ("human_held_before" in edge.facts) == visited_agent, path
            visited_agent = visited_agent or edge.dest == "agent_engaged"
    assert any(e.row == 11 for p in paths for e in p.edges)  # cancel back to returned_to_bot


def test_path_values_are_frozen() -> None:
    edge = PathEdge(source="new", trigger="enqueue", dest="waiting", row=3, facts=frozenset())
    path = ModelPath(edges=(edge,))
    assert path.states == ("new", "waiting") and path.end == "waiting"
    with pytest.raises(AttributeError):
        path.edges = ()  # type: ignore[misc]
