"""Diagrams of a machine model, as Graphviz DOT and Mermaid text.

Theory of operation: a `MachineModel` (read from `models/*.yaml`) is first turned into a neutral
picture (`_Picture`: which states, which edges, what each edge says, what is highlighted or greyed)
and that picture is then written out by one renderer per format. Both formats therefore show the
same edges with the same words, and the path overlay is the same picture with a scenario painted
on it. This module is pure: text in, text out. Rendering DOT to SVG runs Graphviz, which is I/O and
belongs to the `handoff-fsm diagrams` adapter (`handoff_fsm.adapters.diagrams`).

Rules:
- Diagrams are generated from the models and never drawn by hand; `handoff-fsm diagrams --check`
  (run by the tests) fails when the committed ones are not what the models give now.
- Output is byte-stable: the same model gives the same bytes. Order is the model file's (states
  as declared, edges by their first row), nothing depends on hashing or set order, and nothing
  carries a time, a path or a version.
- One edge per (source, dest): every row between the same two states (the five ways from
  `bot_active` to `waiting`, the three ways from `waiting` back to `bot_active`) is one line of
  one edge, because parallel arrows between the same two states are unreadable; `waiting` alone
  had fifteen. Each line carries its own row's guards, so rows told apart by guards stay apart.
  (Boxing the hold states in a cluster was tried and looked worse: dot then pulled `waiting` to
  the side and stacked the labels of the edges into it on top of one another.)
- Labels read `trigger / outcome [guard, !unless]`, one line per row (`/ outcome` only into a
  final state, `[...]` only when the row has guards). Mermaid labels write `not ` for `!` and keep
  to letters, digits and `_ ,./()[]-`, so no label can break its parser.
- Layout is top-down: the lifecycle then reads from `new` down to `ended`; left-to-right drew it
  three times wider than high, with longer crossing edges. Self-loops carry their label as an
  `xlabel`, which dot places clear of other edges (a loop's plain label lands on them).
- The overlay numbers the steps of a path in the order they were taken, `(1) bot_takes`; a row
  taken more than once carries every number, `(2, 5) escalate`. Taken rows leave the grey base
  edges, so each row is drawn once. Mermaid's state diagrams cannot colour an edge, so there the
  numbers alone mark the path and only the states are coloured.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from handoff_fsm.model import MachineModel, TransitionSpec
from handoff_fsm.tools import require

if TYPE_CHECKING:
    import graphviz
else:
    graphviz = require("graphviz", extra="tools")

# Colours: a calm blue for the machine, orange for a path, greys for what a path never touched.
_INK = "#2b4c6f"
_FILL = "#eaf1f8"
_PATH = "#d9480f"
_PATH_FILL = "#fff0e6"
_GREY = "#b0b0b0"
_GREY_TEXT = "#9a9a9a"
_GREY_FILL = "#f5f5f5"
_FONT = "Helvetica"

_MERMAID_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9_ ,./()\[\]-]")
_MERMAID_KEYWORDS = frozenset(
    {"state", "note", "end", "direction", "class", "classDef", "style", "as", "click"}
)


@attrs.frozen(kw_only=True)
class _Line:
    """One trigger line of an edge label, with the guards of its row; `steps` holds the path
    numbers when it was taken."""

    trigger: str
    outcome: str | None
    guards: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    steps: tuple[int, ...] = ()


@attrs.frozen(kw_only=True)
class _Edge:
    source: str
    dest: str
    lines: tuple[_Line, ...]
    taken: bool = False
    greyed: bool = False


@attrs.frozen(kw_only=True)
class _Node:
    name: str
    meaning: str
    final: bool
    look: str  # "plain", "visited" or "unvisited"


@attrs.frozen(kw_only=True)
class _Picture:
    name: str
    title: str
    initial: str
    initial_look: str  # "plain", "taken" or "greyed"
    nodes: tuple[_Node, ...]
    edges: tuple[_Edge, ...]


# --- public API ---------------------------------------------------------------------------------


def to_dot(model: MachineModel) -> str:
    """Graphviz DOT source of the whole machine."""
    return _render_dot(_picture(model))


def to_mermaid(model: MachineModel) -> str:
    """Mermaid `stateDiagram-v2` text of the whole machine."""
    return _render_mermaid(_picture(model))


def path_to_dot(
    model: MachineModel, states_visited: Sequence[str], triggers: Sequence[str], title: str
) -> str:
    """DOT of the machine with one path painted on it.

    `states_visited` starts with the state the path starts from (usually the initial state) and
    has one more item than `triggers`: `triggers[i]` moved from `states_visited[i]` to
    `states_visited[i + 1]`. A runner holding (trigger, state reached) pairs passes
    `[model.initial, *states]` and `triggers`. A step the model does not allow is a `ValueError`:
    a diagram of an impossible path would be a lie.
    """
    return _render_dot(_picture(model, _Path.of(model, states_visited, triggers), title))


def path_to_mermaid(
    model: MachineModel, states_visited: Sequence[str], triggers: Sequence[str], title: str
) -> str:
    """Mermaid text of the machine with one path painted on it; arguments as `path_to_dot`."""
    return _render_mermaid(_picture(model, _Path.of(model, states_visited, triggers), title))


# --- the neutral picture ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Path:
    states: tuple[str, ...]
    # For each row and source taken: the step numbers (1-based) that took it.
    taken: dict[tuple[int, str], tuple[int, ...]]

    @classmethod
    def of(
        cls, model: MachineModel, states_visited: Sequence[str], triggers: Sequence[str]
    ) -> _Path:
        states, steps = tuple(states_visited), tuple(triggers)
        if len(states) != len(steps) + 1:
            raise ValueError(
                f"a path of {len(steps)} trigger(s) visits {len(steps) + 1} states "
                f"(the start and one per trigger), not {len(states)}"
            )
        for state in states:
            if state not in model.states:
                raise ValueError(f"state {state!r} is not a state of model {model.name!r}")
        taken: dict[tuple[int, str], list[int]] = {}
        for number, (source, trigger, dest) in enumerate(
            zip(states[:-1], steps, states[1:], strict=True), start=1
        ):
            rows = [
                index
                for index, spec in enumerate(model.transitions)
                if spec.trigger == trigger and source in spec.sources and spec.dest == dest
            ]
            if not rows:
                raise ValueError(
                    f"step {number}: model {model.name!r} has no transition "
                    f"{source} -{trigger}-> {dest}"
                )
            # Rows that differ only by guards and lead to the same place are the same move.
            for index in rows:
                taken.setdefault((index, source), []).append(number)
        return cls(states=states, taken={key: tuple(value) for key, value in taken.items()})


def _picture(model: MachineModel, path: _Path | None = None, title: str | None = None) -> _Picture:
    visited = set(path.states) if path is not None else set()

    def look(state: str) -> str:
        if path is None:
            return "plain"
        return "visited" if state in visited else "unvisited"

    nodes = tuple(
        _Node(name=name, meaning=meaning, final=name in model.final, look=look(name))
        for name, meaning in model.states.items()
    )
    # Edges follow the groups' order even on an overlay, so that the overlay's layout stays close
    # to the plain diagram's: a taken row is drawn where its group is.
    groups: dict[tuple[str, str], list[_Line]] = {}
    rows: dict[tuple[str, str], list[TransitionSpec]] = {}
    for index, spec in enumerate(model.transitions):
        for source in spec.sources:
            steps = path.taken.get((index, source), ()) if path is not None else ()
            key = (source, spec.dest)
            groups.setdefault(key, []).append(
                _Line(
                    trigger=spec.trigger,
                    outcome=spec.outcome,
                    guards=spec.guards,
                    unless=spec.unless,
                    steps=steps,
                )
            )
            rows.setdefault(key, []).append(spec)
    slots: list[_Edge | tuple[str, str, str]] = []
    taken: dict[tuple[str, str, str], _Edge] = {}
    for key, lines in groups.items():
        source, dest = key
        rest = tuple(line for line in lines if not line.steps)
        if rest:
            slots.append(_Edge(source=source, dest=dest, lines=rest, greyed=path is not None))
        for line, spec in zip(lines, rows[key], strict=True):
            if line.steps:
                taken_key = (source, spec.trigger, spec.dest)
                if taken_key not in taken:
                    slots.append(taken_key)
                _add_taken(taken, source, spec, line)
    edges = tuple(slot if isinstance(slot, _Edge) else taken[slot] for slot in slots)
    if path is None:
        initial_look = "plain"
    else:
        initial_look = "taken" if path.states[0] == model.initial else "greyed"
    return _Picture(
        name=model.name,
        title=title if title is not None else _default_title(model),
        initial=model.initial,
        initial_look=initial_look,
        nodes=nodes,
        edges=edges,
    )


def _default_title(model: MachineModel) -> str:
    return f"{model.name}: {model.description}" if model.description else model.name


def _add_taken(
    taken: dict[tuple[str, str, str], _Edge], source: str, spec: TransitionSpec, line: _Line
) -> None:
    """One highlighted edge per (source, trigger, dest): if guards alone told two rows apart, the
    path says nothing about which guard held, so the edge shows no guard (nor an outcome that
    depended on it)."""
    key = (source, spec.trigger, spec.dest)
    edge = taken.get(key)
    if edge is None:
        taken[key] = _Edge(source=source, dest=spec.dest, lines=(line,), taken=True)
        return
    first = edge.lines[0]
    if (first.guards, first.unless) != (spec.guards, spec.unless):
        first = attrs.evolve(first, guards=(), unless=())
    if first.outcome != spec.outcome:
        first = attrs.evolve(first, outcome=None)
    taken[key] = attrs.evolve(edge, lines=(first,))


def _line_text(line: _Line, negation: str) -> str:
    numbers = f"({', '.join(str(n) for n in line.steps)}) " if line.steps else ""
    outcome = f" / {line.outcome}" if line.outcome else ""
    words = [*line.guards, *(f"{negation}{name}" for name in line.unless)]
    guard = f" [{', '.join(words)}]" if words else ""
    return f"{numbers}{line.trigger}{outcome}{guard}"


def _label_lines(edge: _Edge, negation: str) -> list[str]:
    return [_line_text(line, negation) for line in edge.lines]


# --- DOT ----------------------------------------------------------------------------------------


def _render_dot(picture: _Picture) -> str:
    start = _start_node_name(picture)
    dot: Any = graphviz.Digraph(name=picture.name, comment=_GENERATED)
    dot.attr(
        "graph",
        rankdir="TB",
        label=graphviz.escape(picture.title),
        labelloc="t",
        fontname=_FONT,
        fontsize="16",
        nodesep="0.7",
        ranksep="0.9",
        pad="0.3",
        tooltip=graphviz.escape(picture.title),
    )
    dot.attr(
        "node",
        shape="box",
        style="rounded,filled",
        color=_INK,
        fillcolor=_FILL,
        fontcolor=_INK,
        fontname=_FONT,
        fontsize="13",
        margin="0.2,0.08",
    )
    dot.attr("edge", color=_INK, fontcolor=_INK, fontname=_FONT, fontsize="10", arrowsize="0.7")
    start_colour = {"plain": _INK, "taken": _PATH, "greyed": _GREY}[picture.initial_look]
    dot.node(
        start, label="", shape="point", width="0.15", color=start_colour, tooltip="initial state"
    )
    dot.edge(start, picture.initial, color=start_colour)
    for node in picture.nodes:
        _dot_node(dot, node)
    for edge in picture.edges:
        label = "\\l".join(graphviz.escape(text) for text in _label_lines(edge, "!")) + "\\l"
        # dot does not keep a self-loop's label clear of other edges; an xlabel is placed last,
        # where nothing else is.
        label_kind = "xlabel" if edge.source == edge.dest else "label"
        attributes = {label_kind: label, "tooltip": f"{edge.source} -> {edge.dest}"}
        if edge.taken:
            attributes.update(color=_PATH, fontcolor=_PATH, fontsize="12", penwidth="2.5")
        elif edge.greyed:
            attributes.update(color=_GREY, fontcolor=_GREY_TEXT)
        dot.edge(edge.source, edge.dest, **attributes)
    source: str = dot.source
    return source


def _dot_node(graph: Any, node: _Node) -> None:
    attributes = {"tooltip": graphviz.escape(node.meaning)}
    if node.final:
        attributes.update(shape="doublecircle", margin="0.04")
    if node.look == "visited":
        attributes.update(color=_PATH, fillcolor=_PATH_FILL, penwidth="2")
    elif node.look == "unvisited":
        attributes.update(color=_GREY, fillcolor=_GREY_FILL, fontcolor=_GREY_TEXT)
    graph.node(node.name, **attributes)


_GENERATED = "Generated from models/ by `handoff-fsm diagrams`; do not edit by hand."


def _start_node_name(picture: _Picture) -> str:
    """The invisible node the entry arrow comes from, named so it cannot clash with a state."""
    names = {node.name for node in picture.nodes}
    start = "__start__"
    while start in names:
        start = f"_{start}_"
    return start


# --- Mermaid ------------------------------------------------------------------------------------


def _render_mermaid(picture: _Picture) -> str:
    lines: list[str] = []
    # Front matter carries the title; a JSON string is a valid YAML scalar for any text.
    lines += ["---", f"title: {json.dumps(' '.join(picture.title.split()))}", "---"]
    lines += ["stateDiagram-v2", "    direction TB"]
    lines += [f"    %% {_GENERATED}"]
    for node in picture.nodes:
        _check_mermaid_id(node.name)
        lines.append(f"    %% {node.name}: {_mermaid_comment(node.meaning)}")
    lines.append(f"    [*] --> {picture.initial}")
    for edge in picture.edges:
        label = "<br>".join(_mermaid_text(text) for text in _label_lines(edge, "not "))
        lines.append(f"    {edge.source} --> {edge.dest} : {label}")
    for node in picture.nodes:
        if node.final:
            lines.append(f"    {node.name} --> [*]")
    visited = [node.name for node in picture.nodes if node.look == "visited"]
    unvisited = [node.name for node in picture.nodes if node.look == "unvisited"]
    if visited or unvisited:
        lines.append(f"    classDef visited fill:{_PATH_FILL},stroke:{_PATH},stroke-width:2px")
        lines.append(f"    classDef unvisited fill:{_GREY_FILL},stroke:{_GREY},color:{_GREY_TEXT}")
        for class_name, names in (("visited", visited), ("unvisited", unvisited)):
            if names:
                lines.append(f"    class {','.join(names)} {class_name}")
    return "\n".join(lines) + "\n"


def _check_mermaid_id(name: str) -> None:
    if not _MERMAID_ID.fullmatch(name) or name in _MERMAID_KEYWORDS:
        raise ValueError(f"state {name!r} cannot be written as a Mermaid state id")


def _mermaid_text(text: str) -> str:
    return _MERMAID_UNSAFE.sub("_", text)


def _mermaid_comment(text: str) -> str:
    return " ".join(text.split())
