"""The conversation lifecycle: states, triggers, snapshots and the pure step function.

Theory of operation: a conversation's lifecycle is a `Snapshot` (its state, the outcome once it has
ended, and whether a human has held it). `step(snapshot, trigger, facts)` returns the next snapshot
and the `Transition` that fired, or raises `TriggerRefused` and leaves the caller with the snapshot
it had. `facts` are the guard names that hold for this step as seen from outside (is there a bot to
return to? what does the queue's overflow do?); the one guard the lifecycle keeps itself,
`human_held_before`, is read from the snapshot.

Rules:
- The transition table comes from `models/lifecycle.yaml` and nowhere else. It is compiled once, at
  import, into a dict keyed by (state, trigger) whose rules are tried in the file's order. The
  reference interpreter (`handoff_fsm.testing.reference`, on `transitions`) reads the same file;
  a test checks the two agree on every (state, trigger, guard outcome).
- Snapshots are immutable and few (state x outcome x human_held), so they are interned: creating a
  conversation and stepping it allocate nothing, and a million idle conversations share a handful
  of objects.
- The enums (`handoff_fsm.vocabulary`) must name exactly what the model names; compiling the table
  fails loudly otherwise. This is the one core module that reads a model file at import.
"""

from __future__ import annotations

import attrs

from handoff_fsm.errors import TriggerRefused
from handoff_fsm.model import MachineModel, TransitionSpec, load_bundled, require_names
from handoff_fsm.vocabulary import (
    BOT_HOLDING_STATES,
    HOLDING_STATES,
    Guard,
    Outcome,
    State,
    Trigger,
)

#: Guards the lifecycle answers from the snapshot; the caller never supplies them.
KEPT_GUARDS = frozenset({Guard.HUMAN_HELD_BEFORE})

Facts = frozenset[Guard]
NO_FACTS: Facts = frozenset()


@attrs.frozen(kw_only=True, slots=True)
class Snapshot:
    """Where one conversation is in its lifecycle. Interned: compare with `is` or `==` alike."""

    state: State
    outcome: Outcome | None = None
    human_held: bool = False

    @property
    def is_final(self) -> bool:
        return self.state in MODEL_FINAL_STATES


@attrs.frozen(kw_only=True, slots=True)
class Transition:
    """What happened in one step: which model row fired, from where to where."""

    trigger: Trigger
    source: State
    dest: State
    outcome: Outcome | None
    row: int  # index of the row in the model file's `transitions` list


@attrs.frozen(slots=True)
class _Rule:
    needs: frozenset[Guard]
    forbids: frozenset[Guard]
    transition: Transition
    # The resulting snapshot for human_held False / True, interned.
    results: tuple[Snapshot, Snapshot]


_INTERNED: dict[tuple[State, Outcome | None, bool], Snapshot] = {}


def _interned(state: State, outcome: Outcome | None, human_held: bool) -> Snapshot:
    key = (state, outcome, human_held)
    snap = _INTERNED.get(key)
    if snap is None:
        snap = _INTERNED[key] = Snapshot(state=state, outcome=outcome, human_held=human_held)
    return snap


def check_model_matches_code(model: MachineModel) -> None:
    """Refuse a lifecycle model whose names differ from the enums the code is written against."""
    require_names(
        model,
        "handoff_fsm.lifecycle",
        {
            "states": {s.value for s in State},
            "outcomes": {o.value for o in Outcome},
            "transitions": {t.value for t in Trigger},
            "guards": {g.value for g in Guard},
        },
        initial=State.NEW.value,
    )


def compile_table(model: MachineModel) -> dict[tuple[State, Trigger], tuple[_Rule, ...]]:
    """Compile the model's rows into the hot-path lookup table."""
    check_model_matches_code(model)
    table: dict[tuple[State, Trigger], list[_Rule]] = {}
    for row, spec in enumerate(model.transitions):
        for source in spec.sources:
            rule = _compile_rule(spec, row, State(source))
            table.setdefault((State(source), Trigger(spec.trigger)), []).append(rule)
    return {key: tuple(rules) for key, rules in table.items()}


def _compile_rule(spec: TransitionSpec, row: int, source: State) -> _Rule:
    dest = State(spec.dest)
    outcome = Outcome(spec.outcome) if spec.outcome is not None else None
    transition = Transition(
        trigger=Trigger(spec.trigger), source=source, dest=dest, outcome=outcome, row=row
    )
    held_after = dest is State.AGENT_ENGAGED
    return _Rule(
        needs=frozenset(Guard(g) for g in spec.guards),
        forbids=frozenset(Guard(g) for g in spec.unless),
        transition=transition,
        results=(
            _interned(dest, outcome, held_after),
            _interned(dest, outcome, True),
        ),
    )


MODEL = load_bundled("lifecycle")
MODEL_FINAL_STATES = frozenset(State(s) for s in MODEL.final)
_TABLE = compile_table(MODEL)
_ALLOWED = {state: tuple(sorted({t for (s, t) in _TABLE if s is state})) for state in State}

#: The snapshot of every new conversation (shared: snapshots are immutable).
NEW = _interned(State.NEW, None, False)


def allowed_triggers(state: State) -> tuple[Trigger, ...]:
    """The triggers the model has from `state` (guards aside), sorted by name."""
    return _ALLOWED[state]


def step(
    snapshot: Snapshot, trigger: Trigger, facts: Facts = NO_FACTS
) -> tuple[Snapshot, Transition]:
    """Apply one trigger. Pure: returns the next snapshot, or raises `TriggerRefused`."""
    rules = _TABLE.get((snapshot.state, trigger))
    if rules is None:
        raise TriggerRefused(snapshot.state, trigger, _ALLOWED[snapshot.state])
    held = snapshot.human_held
    holding = facts | KEPT_GUARDS if held else facts - KEPT_GUARDS
    for rule in rules:
        if rule.needs <= holding and not (rule.forbids & holding):
            return rule.results[held], rule.transition
    raise TriggerRefused(
        snapshot.state,
        trigger,
        _ALLOWED[snapshot.state],
        detail=f"no guard combination holds for facts {sorted(str(g) for g in holding)}",
    )


def can_step(snapshot: Snapshot, trigger: Trigger, facts: Facts = NO_FACTS) -> bool:
    try:
        step(snapshot, trigger, facts)
    except TriggerRefused:
        return False
    return True


__all__ = [
    "BOT_HOLDING_STATES",
    "HOLDING_STATES",
    "KEPT_GUARDS",
    "MODEL",
    "MODEL_FINAL_STATES",
    "NEW",
    "NO_FACTS",
    "Facts",
    "Guard",
    "Outcome",
    "Snapshot",
    "State",
    "Transition",
    "Trigger",
    "allowed_triggers",
    "can_step",
    "check_model_matches_code",
    "compile_table",
    "step",
]
