"""The lifecycle five ways: the same machine, built from the same model file, behind one interface.

Theory of operation: a contender is one way to keep many conversations' lifecycles in a
process. All five are built at run time from `models/lifecycle.yaml` (via
`handoff_fsm.model.load_bundled`), so they have the same states, triggers, rows, guards and row
order as `handoff_fsm.lifecycle`; `tests/test_benchmarks.py` replays walks through every one of
them against `handoff_fsm.lifecycle.step` to prove it. "The same machine" includes the two
things the lifecycle keeps for itself besides the state: the kept guard `human_held_before` (a
conversation remembers that a human held it, which it does on entering `agent_engaged`, and the
`bot_takes`, `cancel` and `wait_timeout` rows read it), and the outcome given on entering `ended`.
The caller supplies the other guards as a set of names, the *facts* of one step.

The contenders:

- `DictFloor`: the practical CPython floor, `table[state][trigger]`, nested dicts of plain
  strings (no tuple key to build and hash on every step). The kept guard and the outcome are
  folded into the state string at compile time ("waiting+held", "ended:abandoned"), so two
  lookups answer; where the caller's facts decide the row, the entry is a third dict keyed by
  the facts. Nothing is cheaper in pure Python.
- `HandoffFsm`: `handoff_fsm.lifecycle`: the store holds the interned `Snapshot`, `NEW` to begin.
- `TransitionsShared`: one `transitions.Machine`, `machine.add_model(conversation)` for each.
- `TransitionsPerConversation`: a new `transitions.Machine(model=conversation, ...)` for each,
  `auto_transitions=False`.
- `PythonStateMachine`: a `python-statemachine` `StateMachine` subclass generated from the model
  (its public `statemachine.io.create_machine_class_from_definition` builds a lenient
  `StateChart`, which ignores unknown events; the classic strict `StateMachine` is built here the
  same way, through the library's own metaclass); one instance per conversation.

The interface works on batches: `create(store, ids)` makes one conversation per id and holds it
in `store[id]`; `fire(store, id, steps)` fires each (trigger, facts) of `steps` on the
conversation `store[id]`, looking it up by id for every step. Both loops live inside each
contender, written the way that contender is best used, so that a timing is the contender's own
work plus one iteration of a Python `for` loop, the same for all. `native(steps)` converts the
neutral (trigger name, fact names) steps into the contender's own types once, before any timing.

Rules: never change a contender to make it look better or worse than its library's documented,
ordinary use; the floor must stay a floor (nothing the others do that it skips, nothing more).
"""

from __future__ import annotations

import abc
import functools
import itertools
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

from statemachine import State as PsmState
from statemachine import StateMachine
from transitions import EventData, Machine

from handoff_fsm import lifecycle
from handoff_fsm.lifecycle import Facts, Guard, Snapshot, Trigger
from handoff_fsm.model import MachineModel, load_bundled

Step = tuple[str, frozenset[str]]
Store = dict[str, Any]
S = TypeVar("S")

MODEL: MachineModel = load_bundled("lifecycle")
#: The guard the lifecycle keeps itself; every contender keeps it per conversation.
KEPT_GUARD = Guard.HUMAN_HELD_BEFORE.value
#: Entering this state is what makes `human_held_before` hold from then on.
HELD_STATE = lifecycle.State.AGENT_ENGAGED.value
#: The guards the caller states as facts of a step.
CALLER_GUARDS = tuple(g for g in MODEL.guards if g != KEPT_GUARD)

_NONE: frozenset[str] = frozenset()
#: From `new` to the start of `CYCLE` (human held: the cycle exercises the kept guard).
TO_CYCLE: tuple[Step, ...] = (
    ("bot_takes", _NONE),  # new -> bot_active
    ("escalate", _NONE),  # -> waiting
    ("agent_accepts", _NONE),  # -> agent_engaged (a human has now held it)
    ("transfer", _NONE),  # -> waiting
    ("bot_takes", _NONE),  # -> returned_to_bot (second row: human_held_before)
)
#: Ten transitions round the lifecycle, from `returned_to_bot` back to it; four of them are
#: decided by guards (the kept one, and each caller guard), and those pick the 2nd to 4th row
#: for their (state, trigger), so first-match order matters.
CYCLE: tuple[Step, ...] = (
    ("escalate", _NONE),  # returned_to_bot -> waiting
    ("agent_accepts", _NONE),  # -> agent_engaged
    ("transfer", _NONE),  # -> waiting
    ("bot_takes", _NONE),  # -> returned_to_bot (kept guard human_held_before)
    ("escalation_phrase", _NONE),  # -> waiting
    ("cancel", frozenset({"bot_to_return_to"})),  # -> returned_to_bot (2nd of 3 rows)
    ("take_over", _NONE),  # -> agent_engaged
    ("holder_offline", _NONE),  # -> waiting
    ("wait_timeout", frozenset({"overflow_transfer"})),  # -> waiting (1st of 4 rows)
    ("wait_timeout", frozenset({"overflow_returns_to_bot"})),  # -> returned_to_bot (3rd of 4)
)
CYCLE_START = "returned_to_bot"


@dataclass(frozen=True)
class Observed:
    """A conversation's lifecycle as any contender can report it, to compare contenders."""

    state: str
    outcome: str | None
    human_held: bool

    @staticmethod
    def of_snapshot(snapshot: Snapshot) -> Observed:
        outcome = None if snapshot.outcome is None else snapshot.outcome.value
        return Observed(snapshot.state.value, outcome, snapshot.human_held)


class Contender(abc.ABC, Generic[S]):
    """One way to hold many conversations' lifecycles. `S` is its native form of a step."""

    key: ClassVar[str]  # stable id in the JSON
    label: ClassVar[str]  # row heading in the table
    #: Most idle conversations a memory figure holds for this contender (None: no limit), for
    #: contenders whose creation would make a 100,000-conversation figure take minutes.
    memory_cap: ClassVar[int | None] = None

    @abc.abstractmethod
    def create(self, store: Store, ids: Iterable[str]) -> None:
        """Create one conversation per id, in its initial state, and hold it in `store[id]`."""

    @abc.abstractmethod
    def native(self, steps: Sequence[Step]) -> list[S]:
        """`steps` in this contender's own types (done once, outside any timing)."""

    @abc.abstractmethod
    def fire(self, store: Store, cid: str, steps: Sequence[S]) -> None:
        """Fire every step on the conversation `store[cid]`, in order."""

    @abc.abstractmethod
    def observe(self, store: Store, cid: str) -> Observed: ...

    def release(self, store: Store) -> None:
        """Forget every conversation in `store` (and anything else still holding them)."""
        store.clear()


# --- The dict floor ------------------------------------------------------------------------------

FloorEntry = str | dict[frozenset[str], str]


def _first_row(
    state: str, held: bool, trigger: str, facts: frozenset[str]
) -> tuple[str, str | None] | None:
    """The model's semantics, read straight from the rows: first row in file order whose
    `guards` all hold and whose `unless` all do not."""
    holding = facts | {KEPT_GUARD} if held else facts
    for spec in MODEL.transitions:
        if (
            spec.trigger == trigger
            and state in spec.sources
            and set(spec.guards) <= holding
            and not set(spec.unless) & holding
        ):
            return spec.dest, spec.outcome
    return None


def _floor_name(observed: Observed) -> str:
    name = observed.state if observed.outcome is None else f"{observed.state}:{observed.outcome}"
    return f"{name}+held" if observed.human_held else name


def compile_floor() -> tuple[dict[str, dict[str, FloorEntry]], dict[str, Observed]]:
    """The floor's table, and what each of its state strings stands for."""
    fact_sets = [
        frozenset(combo)
        for n in range(len(CALLER_GUARDS) + 1)
        for combo in itertools.combinations(CALLER_GUARDS, n)
    ]
    table: dict[str, dict[str, FloorEntry]] = {}
    names: dict[str, Observed] = {}
    sources = dict.fromkeys(s for spec in MODEL.transitions for s in spec.sources)
    for state, held, trigger in itertools.product(sources, (False, True), MODEL.triggers):
        source = Observed(state, None, held)
        names[_floor_name(source)] = source
        by_facts: dict[frozenset[str], str] = {}
        for facts in fact_sets:
            found = _first_row(state, held, trigger, facts)
            if found is not None:
                dest, outcome = found
                after = Observed(dest, outcome, held or dest == HELD_STATE)
                names[_floor_name(after)] = after
                by_facts[facts] = _floor_name(after)
        if not by_facts:
            continue
        dests = set(by_facts.values())
        whole = len(by_facts) == len(fact_sets) and len(dests) == 1
        row = table.setdefault(_floor_name(source), {})
        row[trigger] = dests.pop() if whole else by_facts
    return table, names


class DictFloor(Contender[tuple[str, frozenset[str]]]):
    key = "floor"
    label = "dict table (floor)"

    def __init__(self) -> None:
        self.table, self.names = compile_floor()
        self.initial = _floor_name(Observed(MODEL.initial, None, False))

    def create(self, store: Store, ids: Iterable[str]) -> None:
        initial = self.initial
        for cid in ids:
            store[cid] = initial

    def native(self, steps: Sequence[Step]) -> list[tuple[str, frozenset[str]]]:
        return list(steps)

    def fire(self, store: Store, cid: str, steps: Sequence[tuple[str, frozenset[str]]]) -> None:
        table = self.table
        for trigger, facts in steps:
            entry = table[store[cid]][trigger]
            store[cid] = entry if isinstance(entry, str) else entry[facts]

    def observe(self, store: Store, cid: str) -> Observed:
        return self.names[store[cid]]


# --- handoff-fsm ---------------------------------------------------------------------------------


class HandoffFsm(Contender[tuple[Trigger, Facts]]):
    key = "handoff_fsm"
    label = "handoff-fsm (lifecycle; Start in a switchboard)"

    def create(self, store: Store, ids: Iterable[str]) -> None:
        new = lifecycle.NEW
        for cid in ids:
            store[cid] = new

    def native(self, steps: Sequence[Step]) -> list[tuple[Trigger, Facts]]:
        return [(Trigger(t), frozenset(Guard(g) for g in facts)) for t, facts in steps]

    def fire(self, store: Store, cid: str, steps: Sequence[tuple[Trigger, Facts]]) -> None:
        step = lifecycle.step
        for trigger, facts in steps:
            store[cid] = step(store[cid], trigger, facts)[0]

    def observe(self, store: Store, cid: str) -> Observed:
        snapshot: Snapshot = store[cid]
        return Observed.of_snapshot(snapshot)


# --- transitions ---------------------------------------------------------------------------------


class TransitionsConversation:
    """What a `transitions` machine drives. The machine adds `state`, `trigger` and a bound
    method per trigger and per state to each instance; the defaults below live on the class, so
    an idle conversation pays for them nothing."""

    state: str
    trigger: Callable[..., bool]
    human_held: bool = False
    outcome: str | None = None


@functools.cache
def _transitions_guard(name: str) -> Callable[[EventData], bool]:
    if name == KEPT_GUARD:

        def kept(event: EventData) -> bool:
            return cast(TransitionsConversation, event.model).human_held

        return kept

    def holds(event: EventData) -> bool:
        return name in event.kwargs["facts"]

    return holds


def _transitions_mark_held(event: EventData) -> None:
    cast(TransitionsConversation, event.model).human_held = True


@functools.cache
def _transitions_ends_with(outcome: str) -> Callable[[EventData], None]:
    def ends(event: EventData) -> None:
        cast(TransitionsConversation, event.model).outcome = outcome

    return ends


@functools.cache
def transitions_spec() -> tuple[dict[str, Any], ...]:
    """The model's rows as `transitions` transition dicts (guards read the `facts` keyword)."""
    rows = []
    for spec in MODEL.transitions:
        after: list[Callable[[EventData], None]] = []
        if spec.dest == HELD_STATE:
            after.append(_transitions_mark_held)
        if spec.outcome is not None:
            after.append(_transitions_ends_with(spec.outcome))
        rows.append(
            {
                "trigger": spec.trigger,
                "source": list(spec.sources),
                "dest": spec.dest,
                "conditions": [_transitions_guard(g) for g in spec.guards],
                "unless": [_transitions_guard(g) for g in spec.unless],
                "after": after,
            }
        )
    return tuple(rows)


def _transitions_machine(model: TransitionsConversation | None) -> Any:
    return Machine(
        model=model,
        states=list(MODEL.states),
        transitions=list(transitions_spec()),
        initial=MODEL.initial,
        auto_transitions=False,
        send_event=True,
    )


class _TransitionsBase(Contender[tuple[str, frozenset[str]]]):
    def native(self, steps: Sequence[Step]) -> list[tuple[str, frozenset[str]]]:
        return list(steps)

    def fire(self, store: Store, cid: str, steps: Sequence[tuple[str, frozenset[str]]]) -> None:
        for trigger, facts in steps:
            if not store[cid].trigger(trigger, facts=facts):
                raise RuntimeError(f"{self.key}: {trigger} with {set(facts)} did not fire")

    def observe(self, store: Store, cid: str) -> Observed:
        conversation: TransitionsConversation = store[cid]
        return Observed(conversation.state, conversation.outcome, conversation.human_held)


class TransitionsShared(_TransitionsBase):
    key = "transitions_shared"
    label = "transitions, one shared Machine"
    # `Machine.add_model` checks `model not in self.models`, a scan of a list: registering the
    # n-th conversation costs O(n), and 100,000 of them take minutes.
    memory_cap = 10_000

    def __init__(self) -> None:
        self.machine = _transitions_machine(None)

    def create(self, store: Store, ids: Iterable[str]) -> None:
        add = self.machine.add_model
        for cid in ids:
            conversation = TransitionsConversation()
            add(conversation)
            store[cid] = conversation

    def release(self, store: Store) -> None:
        self.machine.remove_model(list(store.values()))
        store.clear()


class TransitionsPerConversation(_TransitionsBase):
    key = "transitions_per_conversation"
    label = "transitions, Machine per conversation"
    # ~38 KB each: 100,000 would hold ~4 GB, and take minutes to create under tracemalloc.
    memory_cap = 10_000

    def create(self, store: Store, ids: Iterable[str]) -> None:
        for cid in ids:
            conversation = TransitionsConversation()
            _transitions_machine(conversation)
            store[cid] = conversation


# --- python-statemachine -------------------------------------------------------------------------


def _psm_guard(name: str) -> Callable[..., bool]:
    # python-statemachine passes a callback the arguments its parameters name: `machine` is the
    # instance, `facts` the keyword given to `send`.
    if name == KEPT_GUARD:

        def kept(machine: Any) -> bool:
            return bool(machine.human_held)

        return kept

    def holds(facts: frozenset[str]) -> bool:
        return name in facts

    return holds


def _psm_mark_held(machine: Any) -> None:
    machine.human_held = True


def _psm_ends_with(outcome: str) -> Callable[..., None]:
    def ends(machine: Any) -> None:
        machine.outcome = outcome

    return ends


@functools.cache
def statemachine_class() -> type[Any]:
    """A `StateMachine` subclass with the model's states and one event per trigger, each event
    the model's rows for it in file order (python-statemachine tries them in that order)."""
    states = {
        name: PsmState(
            name=name, value=name, initial=name == MODEL.initial, final=name in MODEL.final
        )
        for name in MODEL.states
    }
    events: dict[str, Any] = {}
    for spec in MODEL.transitions:
        after: list[Callable[..., None]] = []
        if spec.dest == HELD_STATE:
            after.append(_psm_mark_held)
        if spec.outcome is not None:
            after.append(_psm_ends_with(spec.outcome))
        for source in spec.sources:
            transition = states[source].to(
                states[spec.dest],
                cond=[_psm_guard(g) for g in spec.guards] or None,
                unless=[_psm_guard(g) for g in spec.unless] or None,
                after=after or None,
            )
            known = events.get(spec.trigger)
            events[spec.trigger] = transition if known is None else known | transition
    attributes: dict[str, Any] = {
        **states,
        **events,
        "human_held": False,
        "outcome": None,
        "__module__": __name__,
    }
    # `types.new_class` builds it through the bases' metaclass, as a class statement would.
    return types.new_class(
        "LifecycleStateMachine", (StateMachine,), exec_body=lambda ns: ns.update(attributes)
    )


class PythonStateMachine(Contender[tuple[str, frozenset[str]]]):
    key = "python_statemachine"
    label = "python-statemachine"
    # ~63 KB each: 100,000 would hold ~6 GB, and take minutes to create under tracemalloc.
    memory_cap = 10_000

    def __init__(self) -> None:
        self.cls = statemachine_class()

    def create(self, store: Store, ids: Iterable[str]) -> None:
        cls = self.cls
        for cid in ids:
            store[cid] = cls()

    def native(self, steps: Sequence[Step]) -> list[tuple[str, frozenset[str]]]:
        return list(steps)

    def fire(self, store: Store, cid: str, steps: Sequence[tuple[str, frozenset[str]]]) -> None:
        for trigger, facts in steps:
            store[cid].send(trigger, facts=facts)

    def observe(self, store: Store, cid: str) -> Observed:
        machine = store[cid]
        return Observed(str(machine.current_state_value), machine.outcome, machine.human_held)


#: Every contender, in table order; the floor first (ratios are against it).
CONTENDERS: tuple[type[Contender[Any]], ...] = (
    DictFloor,
    HandoffFsm,
    TransitionsShared,
    TransitionsPerConversation,
    PythonStateMachine,
)
