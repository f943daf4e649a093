"""Static analysis of machine models, and the paths that model-based tests replay.

Theory of operation: a `MachineModel` is read as a directed multigraph (`model_graph`): one node
per state and one edge per (source state, transition row), so that two rows between the same
states stay two edges. The checks below each answer one question about that graph and return a
`CheckResult` whose problems name the state or the `transitions[N]` row at fault, in the words
`handoff-fsm verify` prints. A model that loads (`handoff_fsm.model` checks its shape) may still be
wrong here: a trap, an unreachable state, two rows that can fire together. Reporting those as
problems, rather than refusing to load, is what lets `verify` show every fault of every file.

The path generators (`transition_cover`, `simple_paths_to_finals`) are for tests that replay the
model through the real runtime, so they only produce paths the runtime can actually follow:
- Each edge comes with the guard facts that make *its* row fire: every guard in `guards` holds,
  none in `unless` does, and no earlier row for the same (state, trigger) matches them (rows are
  tried in the file's order). An edge no facts can make fire is never in a path.
- Some guards are not facts of the outside world but of the conversation's history. In the
  lifecycle, `human_held_before` is kept by the runtime itself (`handoff_fsm.lifecycle.KEPT_GUARDS`)
  and is true exactly when the conversation has been in `agent_engaged`. The generators treat such
  a guard as state-derived: it holds on a path iff the path has visited its state, and it is never
  chosen freely. So `waiting -> returned_to_bot` appears only after `agent_engaged`, and a path
  that would need the runtime to forget a human held the conversation is never produced. The facts
  of an edge still list a state-derived guard when it holds, so that they describe the whole world
  at that step; a replay passes them minus the guards the runtime keeps.

Rules: pure functions of the model, no I/O; networkx's untyped values never leave this module.
Graph checks ignore guards (a state "reachable" here may need particular facts on the way);
`deterministic` and the path generators are the guard-aware parts.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import attrs

from handoff_fsm import lifecycle
from handoff_fsm.errors import ModelError
from handoff_fsm.model import MachineModel, TransitionSpec
from handoff_fsm.tools import require

if TYPE_CHECKING:
    import networkx as nx
else:
    nx = require("networkx", extra="tools")


@attrs.frozen(kw_only=True)
class CheckResult:
    """One static check of one model: `ok` iff `problems` is empty."""

    name: str
    ok: bool
    problems: tuple[str, ...]


@attrs.frozen(kw_only=True)
class PathEdge:
    """One step of a generated path: the row that fires and the facts that make it fire.

    `facts` are the guards that hold at this step (state-derived ones included); every other guard
    is false.
    """

    source: str
    trigger: str
    dest: str
    row: int
    facts: frozenset[str]
    outcome: str | None = None


@attrs.frozen(kw_only=True)
class Path:
    """A walk from the model's initial state, one `PathEdge` per step (never empty)."""

    edges: tuple[PathEdge, ...]

    @property
    def states(self) -> tuple[str, ...]:
        """Every state the walk is in, from the initial one to the last."""
        return (self.edges[0].source, *(edge.dest for edge in self.edges))

    @property
    def end(self) -> str:
        return self.edges[-1].dest


# --- The graph -----------------------------------------------------------------------------------


def model_graph(model: MachineModel) -> nx.MultiDiGraph:
    """The model as a multigraph; an edge's key is its row, so rows never merge."""
    graph = nx.MultiDiGraph(name=model.name)
    for state, meaning in model.states.items():
        graph.add_node(
            state, meaning=meaning, initial=state == model.initial, final=state in model.final
        )
    for row, spec in enumerate(model.transitions):
        for source in spec.sources:
            graph.add_edge(
                source,
                spec.dest,
                key=row,
                trigger=spec.trigger,
                row=row,
                guards=spec.guards,
                unless=spec.unless,
                outcome=spec.outcome,
            )
    return graph


def _reachable_from(graph: nx.MultiDiGraph, state: str) -> frozenset[str]:
    """`state` and every state some walk from it reaches (guards aside)."""
    found: set[str] = set(nx.descendants(graph, state))
    return frozenset(found | {state})


def _describe(row: int, spec: TransitionSpec, sources: tuple[str, ...] | None = None) -> str:
    return f"transitions[{row}] ({spec.trigger} from {', '.join(sources or spec.sources)})"


def _result(name: str, problems: list[str]) -> CheckResult:
    return CheckResult(name=name, ok=not problems, problems=tuple(problems))


# --- The checks ----------------------------------------------------------------------------------


def reachable(model: MachineModel) -> CheckResult:
    """A state no conversation can enter is dead text, usually a transition forgotten."""
    seen = _reachable_from(model_graph(model), model.initial)
    return _result(
        "reachable",
        [
            f"state {state!r} is not reachable from {model.initial!r}"
            for state in model.states
            if state not in seen
        ],
    )


def no_traps(model: MachineModel) -> CheckResult:
    """A state from which no final state can be reached would leave a conversation stuck for
    ever: no one holds it to an end and nothing can end it."""
    graph = model_graph(model)
    finals = set(model.final)
    names = ", ".join(model.final) or "none declared"
    return _result(
        "no_traps",
        [
            f"state {state!r} cannot reach a final state ({names})"
            for state in model.states
            if not (_reachable_from(graph, state) & finals)
        ],
    )


def finals_absorbing(model: MachineModel) -> CheckResult:
    """A final state is a promise that nothing happens afterwards (an ended conversation keeps
    its outcome)."""
    problems = []
    for row, spec in enumerate(model.transitions):
        for source in spec.sources:
            if source in model.final:
                problems.append(f"{_describe(row, spec, (source,))} leaves final state {source!r}")
    return _result("finals_absorbing", problems)


def deterministic(model: MachineModel) -> CheckResult:
    """Rows are tried in file order, so two rows that can both fire make the later one
    unreachable for those facts, silently. Exclusive guards make the order irrelevant."""
    problems = []
    for state in model.states:
        rows = [(row, spec) for row, spec in enumerate(model.transitions) if state in spec.sources]
        for (row_a, a), (row_b, b) in itertools.combinations(rows, 2):
            if a.trigger == b.trigger and not a.excludes(b):
                problems.append(
                    f"transitions[{row_a}] and transitions[{row_b}] ({a.trigger} from {state}) "
                    f"can both fire: no guard is required by one and forbidden by the other"
                )
    return _result("deterministic", problems)


def guards_declared(model: MachineModel) -> CheckResult:
    """A guard name that is not declared is most often a typo, which would make its row fire
    (in `unless`) or never fire (in `guards`); a declared guard nothing reads is a rule the
    model claims to follow and does not."""
    problems = []
    used: set[str] = set()
    for row, spec in enumerate(model.transitions):
        for where, names in (("guards", spec.guards), ("unless", spec.unless)):
            for name in names:
                used.add(name)
                if name not in model.guards:
                    problems.append(
                        f"{_describe(row, spec)} names undeclared guard {name!r} in {where}"
                    )
    problems.extend(
        f"guard {name!r} is declared but no transition uses it"
        for name in model.guards
        if name not in used
    )
    return _result("guards_declared", problems)


def triggers_used(model: MachineModel) -> CheckResult:
    """A trigger that can never fire is an event the embedder will send and always see refused."""
    seen = _reachable_from(model_graph(model), model.initial)
    live = {
        spec.trigger
        for spec in model.transitions
        if any(s in seen and s not in model.final for s in spec.sources)
    }
    return _result(
        "triggers_used",
        [
            f"trigger {trigger!r} has no transition from a reachable, non-final state"
            for trigger in model.triggers
            if trigger not in live
        ],
    )


def outcomes(model: MachineModel) -> CheckResult:
    """Every way to end must say how it ended (the contract's `outcome`), and an outcome is only
    meaningful where a conversation ends; an outcome no row produces is a promise not kept."""
    problems = []
    for row, spec in enumerate(model.transitions):
        if spec.dest in model.final and model.outcomes and spec.outcome is None:
            problems.append(
                f"{_describe(row, spec)} enters final state {spec.dest!r} without an outcome"
            )
        if spec.dest not in model.final and spec.outcome is not None:
            problems.append(
                f"{_describe(row, spec)} names outcome {spec.outcome!r} but {spec.dest!r} "
                f"is not a final state"
            )
    produced = {spec.outcome for spec in model.transitions if spec.dest in model.final}
    problems.extend(
        f"outcome {name!r} is produced by no transition into a final state"
        for name in model.outcomes
        if name not in produced
    )
    return _result("outcomes", problems)


def matches_code(model: MachineModel) -> CheckResult:
    """The lifecycle runtime is written against enums; a model that names other states, triggers,
    guards or outcomes would be refused at import, so say so here first."""
    try:
        lifecycle.check_model_matches_code(model)
    except ModelError as exc:
        return _result("matches_code", [str(exc)])
    return _result("matches_code", [])


#: The checks every model gets, in the order `verify` prints them.
GRAPH_CHECKS: tuple[Callable[[MachineModel], CheckResult], ...] = (
    reachable,
    no_traps,
    finals_absorbing,
    deterministic,
    guards_declared,
    triggers_used,
    outcomes,
)


def check_model(model: MachineModel) -> tuple[CheckResult, ...]:
    """Every check that applies to `model` (the lifecycle also gets `matches_code`)."""
    checks = GRAPH_CHECKS + ((matches_code,) if model.name == "lifecycle" else ())
    return tuple(check(model) for check in checks)


# --- Paths for model-based tests -----------------------------------------------------------------


def _state_derived_guards(model: MachineModel) -> Mapping[str, str]:
    """guard -> the state whose first entry makes it true for the rest of the walk.

    Only the lifecycle has one: the runtime keeps `human_held_before` itself and sets it on
    entering `agent_engaged` (see `handoff_fsm.lifecycle`).
    """
    if model.name != "lifecycle":
        return {}
    return {str(guard): str(lifecycle.State.AGENT_ENGAGED) for guard in lifecycle.KEPT_GUARDS}


@attrs.frozen(kw_only=True)
class _Walker:
    """What the generators need to know about one model, computed once."""

    model: MachineModel
    derived: Mapping[str, str]  # state-derived guard -> the state that sets it
    free: tuple[str, ...]  # every other guard name, declared or merely used

    @classmethod
    def of(cls, model: MachineModel) -> _Walker:
        derived = _state_derived_guards(model)
        named = set(model.guards).union(
            *(set(spec.guards) | set(spec.unless) for spec in model.transitions)
        )
        return cls(model=model, derived=derived, free=tuple(sorted(named - set(derived))))

    def history_after(self, history: frozenset[str], state: str) -> frozenset[str]:
        return history | {guard for guard, setter in self.derived.items() if setter == state}

    def start(self) -> tuple[str, frozenset[str]]:
        return self.model.initial, self.history_after(frozenset(), self.model.initial)

    def edges_from(self, state: str, history: frozenset[str]) -> Iterator[PathEdge]:
        """Every row that can fire from `state` with this history, with facts that fire it."""
        for row, spec in enumerate(self.model.transitions):
            if state in spec.sources:
                facts = self._firing_facts(row, spec, state, history)
                if facts is not None:
                    yield PathEdge(
                        source=state,
                        trigger=spec.trigger,
                        dest=spec.dest,
                        row=row,
                        facts=facts,
                        outcome=spec.outcome,
                    )

    def _firing_facts(
        self, row: int, spec: TransitionSpec, state: str, history: frozenset[str]
    ) -> frozenset[str] | None:
        """The smallest set of facts (fewest free guards, then by name) under which `row` is the
        first row for (state, trigger) whose guards hold, or None if there is none."""
        needed = frozenset(spec.guards) - set(self.derived)
        optional = [g for g in self.free if g not in needed and g not in spec.unless]
        for size in range(len(optional) + 1):
            for extra in itertools.combinations(optional, size):
                facts = history | needed | frozenset(extra)
                if self._first_match(state, spec.trigger, facts) == row:
                    return facts
        return None

    def _first_match(self, state: str, trigger: str, facts: frozenset[str]) -> int | None:
        for row, spec in enumerate(self.model.transitions):
            if (
                spec.trigger == trigger
                and state in spec.sources
                and set(spec.guards) <= facts
                and not set(spec.unless) & facts
            ):
                return row
        return None


def transition_cover(model: MachineModel) -> tuple[Path, ...]:
    """Few paths that together fire every (source state, row) edge that can fire at all.

    Each edge is reached by a shortest walk (breadth first over state and history) to a place
    where its row can fire, then the edge itself; paths that are a prefix of another are dropped.
    """
    walker = _Walker.of(model)
    start = walker.start()
    reached: dict[tuple[str, frozenset[str]], tuple[PathEdge, ...]] = {start: ()}
    queue = deque([start])
    cover: dict[tuple[str, int], tuple[PathEdge, ...]] = {}
    while queue:
        place = queue.popleft()
        state, history = place
        for edge in walker.edges_from(state, history):
            walk = (*reached[place], edge)
            cover.setdefault((edge.source, edge.row), walk)
            after = (edge.dest, walker.history_after(history, edge.dest))
            if after not in reached:
                reached[after] = walk
                queue.append(after)
    walks = sorted(set(cover.values()), key=len, reverse=True)
    kept: list[tuple[PathEdge, ...]] = []
    for walk in walks:
        if not any(longer[: len(walk)] == walk for longer in kept):
            kept.append(walk)
    kept.sort(key=lambda walk: _file_order(model, walk[-1]))
    return tuple(Path(edges=walk) for walk in kept)


def _file_order(model: MachineModel, edge: PathEdge) -> tuple[int, int]:
    return edge.row, model.transitions[edge.row].sources.index(edge.source)


def simple_paths_to_finals(model: MachineModel) -> tuple[Path, ...]:
    """Every walk from the initial state to a final state that repeats no state, one per choice
    of row at each step, keeping only walks whose rows can all fire in turn. A walk stops at the
    first final state it enters."""
    walker = _Walker.of(model)
    finals = set(model.final)
    found: list[Path] = []

    def extend(
        walk: tuple[PathEdge, ...], visited: frozenset[str], history: frozenset[str]
    ) -> None:
        state = walk[-1].dest if walk else model.initial
        for edge in walker.edges_from(state, history):
            if edge.dest in visited:
                continue
            longer = (*walk, edge)
            if edge.dest in finals:
                found.append(Path(edges=longer))
            else:
                extend(longer, visited | {edge.dest}, walker.history_after(history, edge.dest))

    initial, history = walker.start()
    extend((), frozenset({initial}), history)
    return tuple(found)
