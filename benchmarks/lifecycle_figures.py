"""The lifecycle suite: creating a conversation, one transition, an idle conversation's memory.

Theory of operation: every figure is measured for every contender of
`benchmarks.lifecycle_contenders`, in one run, each contender freshly built for each figure (so
that what one figure leaves behind, such as models registered on a shared machine, cannot weigh
on the next). Ratios are against the dict floor measured in the same run.

- Creation: make a conversation *and hold it*: `store[id] = <new conversation>` into a dict keyed
  by conversation id; a library's is a fresh object, and the dict slot is the same cost for
  all. A batch fills an empty store with `scale` conversations (ids made beforehand); the store
  is emptied, untimed, between batches. handoff-fsm's row is not its lifecycle (a new one is
  the shared `lifecycle.NEW`, which costs nothing): it is a real `Start` sent to a full
  switchboard (`benchmarks.start_figures`), timed in the same rounds.
- Transition: `store[id] = step(store[id], ...)` or its equivalent: look the conversation up,
  fire one trigger with its facts, keep the result. A batch drives a conversation, already
  walked from `new` to `returned_to_bot` (`TO_CYCLE`), `scale` times round `CYCLE`, the ten
  transitions that come back to `returned_to_bot`. After timing, each driven conversation goes
  round once more, a step at a time, and must be where `handoff_fsm.lifecycle` is after every
  step, or the figure is refused (a contender that silently did nothing would look fast).
- Memory: bytes allocated and still held after creating N idle conversations into a dict (ids
  made beforehand, so their strings are not counted; the dict's own slots are), divided by N.
  N is `Settings.memory_conversations` (100,000 for `make bench`), lowered to a contender's
  `memory_cap` where creating 100,000 would take minutes; an idle conversation's footprint does
  not depend on how many others there are, so the per-conversation figure stands. handoff-fsm's
  row is the whole warm switchboard's bytes per live conversation (`benchmarks.start_figures`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.center_shapes import FULL_SHAPE, QUICK_SHAPE, Shape
from benchmarks.contact_center import build
from benchmarks.harness import Batch, Settings, measure_all, retained_bytes
from benchmarks.lifecycle_contenders import (
    CONTENDERS,
    CYCLE,
    TO_CYCLE,
    Contender,
    DictFloor,
    HandoffFsm,
    Observed,
    Store,
)
from benchmarks.report import Figure, Result, SuiteResult, Target, format_number
from benchmarks.start_figures import Starts, memory_per_conversation
from handoff_fsm import lifecycle
from handoff_fsm.lifecycle import Guard, Trigger

CREATE_UNIT = 1  # conversations created per batch, per unit of scale
DRIVEN = ("driven",)  # the conversation(s) the transition figure drives
Log = Callable[[str], None]
Results = dict[str, Result]  # by contender key


def _ids(count: int, prefix: str = "conversation") -> list[str]:
    return [f"{prefix}-{n:06d}" for n in range(count)]


def contact_center_shape(settings: Settings) -> Shape:
    return QUICK_SHAPE if settings.quick else FULL_SHAPE


def creation_batch(contender: Contender[Any], scale: int) -> Batch[Store]:
    ids = _ids(CREATE_UNIT * scale)

    def run(store: Store) -> None:
        contender.create(store, ids)

    return Batch(ops=len(ids), run=run, prepare=dict, cleanup=contender.release)


def measure_creation(contenders: Sequence[Contender[Any]], settings: Settings) -> Results:
    """Libraries and the floor create into a dict; handoff-fsm starts in a full switchboard."""
    makers = {c.key: functools.partial(creation_batch, c) for c in contenders}
    starts = None
    if HandoffFsm.key in makers:
        starts = Starts(build(contact_center_shape(settings)))
        makers[HandoffFsm.key] = starts.batch
    timings = measure_all(makers, settings)
    if starts is not None:
        starts.check()
    return {key: Result.of_timing(t) for key, t in timings.items()}


def transition_batch(contender: Contender[Any], store: Store, scale: int) -> Batch[Store]:
    steps = contender.native(CYCLE * scale)

    def run(store: Store) -> None:
        fire = contender.fire
        for cid in DRIVEN:
            fire(store, cid, steps)

    return Batch(ops=len(DRIVEN) * len(steps), run=run, prepare=lambda: store)


def measure_transition(contenders: Sequence[Contender[Any]], settings: Settings) -> Results:
    stores: dict[str, Store] = {}
    for contender in contenders:
        store = stores[contender.key] = {}
        contender.create(store, DRIVEN)
        to_cycle = contender.native(TO_CYCLE)
        for cid in DRIVEN:
            contender.fire(store, cid, to_cycle)
    makers = {c.key: functools.partial(transition_batch, c, stores[c.key]) for c in contenders}
    timings = measure_all(makers, settings)
    for contender in contenders:
        store = stores[contender.key]
        for cid in DRIVEN:
            check_cycle(contender, store, cid)
        contender.release(store)
    return {key: Result.of_timing(t) for key, t in timings.items()}


@functools.cache
def _expected_cycle() -> tuple[Observed, ...]:
    snapshot = lifecycle.NEW
    seen = []
    for n, (trigger, facts) in enumerate((*TO_CYCLE, *CYCLE)):
        guards = frozenset(Guard(g) for g in facts)
        snapshot = lifecycle.step(snapshot, Trigger(trigger), guards)[0]
        if n >= len(TO_CYCLE):
            seen.append(Observed.of_snapshot(snapshot))
    return tuple(seen)


def check_cycle(contender: Contender[Any], store: Store, cid: str) -> None:
    """One more round of the cycle, a step at a time, untimed: after each step the conversation
    must be where `handoff_fsm.lifecycle` says, or the figure is refused."""
    for step, expected in zip(CYCLE, _expected_cycle(), strict=True):
        contender.fire(store, cid, contender.native([step]))
        observed = contender.observe(store, cid)
        if observed != expected:
            raise AssertionError(
                f"{contender.key}: {cid} is {observed} after {step[0]}, not {expected}"
            )


def measure_memory(contenders: Sequence[Contender[Any]], settings: Settings) -> Results:
    """Libraries and the floor hold idle objects; handoff-fsm, a whole warm switchboard."""
    return {
        c.key: (
            memory_per_conversation(build(contact_center_shape(settings)))
            if c.key == HandoffFsm.key
            else _memory(c, settings)
        )
        for c in contenders
    }


def _memory(contender: Contender[Any], settings: Settings) -> Result:
    count = settings.memory_conversations
    if contender.memory_cap is not None:
        count = min(count, contender.memory_cap)
    ids = _ids(count)
    warm: Store = {}
    contender.create(warm, ["warm-up"])  # one-off lazy set-up is not an idle conversation's
    contender.release(warm)

    def build() -> Store:
        store: Store = {}
        contender.create(store, ids)
        return store

    total = retained_bytes(build)
    return Result(value=total / count, detail={"conversations": count, "total_bytes": total})


FIGURES: tuple[
    tuple[str, str, str, str, Callable[[Sequence[Contender[Any]], Settings], Results]], ...
] = (
    (
        "lifecycle.create",
        "create",
        "us",
        "create one conversation and hold it in a dict keyed by conversation id; handoff-fsm:"
        " Switchboard.handle(Start(...)) on the warm contact center",
        measure_creation,
    ),
    (
        "lifecycle.transition",
        "transition",
        "us",
        "look a conversation up by id, fire one trigger (with its guard facts), keep the result",
        measure_transition,
    ),
    (
        "lifecycle.memory",
        "idle memory",
        "B/conv",
        "bytes allocated and still held per idle conversation, dict slot included (tracemalloc);"
        " handoff-fsm: the whole warm switchboard, less an empty one, per live conversation",
        measure_memory,
    ),
)

#: A start is one switchboard step: the step's budget (`switchboard_figures.LIMIT_US`).
START_LIMIT_US = 25.0
TARGETS = (
    Target(
        description="handoff-fsm lifecycle transition within 5x of the dict floor",
        figure="lifecycle.transition",
        contender=HandoffFsm.key,
        limit=5.0,
        kind="ratio",
    ),
    Target(
        description=f"handoff-fsm Start on a full switchboard under {START_LIMIT_US:g} us median",
        figure="lifecycle.create",
        contender=HandoffFsm.key,
        limit=START_LIMIT_US,
        kind="value",
        unit="us",
    ),
    Target(
        description="handoff-fsm conversation in a full switchboard under 1 KiB",
        figure="lifecycle.memory",
        contender=HandoffFsm.key,
        limit=1024.0,
        kind="value",
        unit="bytes",
    ),
)


def _quiet(_: str) -> None:
    return None


def run(settings: Settings, log: Log = _quiet) -> SuiteResult:
    figures = []
    for key, title, unit, description, measure_one in FIGURES:
        log(f"lifecycle: {title} ({', '.join(c.key for c in CONTENDERS)})")
        results = measure_one([contender_type() for contender_type in CONTENDERS], settings)
        figures.append(
            Figure(
                key=key,
                title=title,
                unit=unit,
                description=description,
                baseline=DictFloor.key,
                results=results,
            )
        )
    memory = next(f for f in figures if f.key == "lifecycle.memory")
    held = ", ".join(
        f"{c.label} {memory.results[c.key].detail['conversations']:,}" for c in CONTENDERS
    )
    board = memory.results[HandoffFsm.key].detail
    return SuiteResult(
        key="lifecycle",
        title="Lifecycle: create, transition, idle memory (ratios against the dict floor)",
        contenders={c.key: c.label for c in CONTENDERS},
        figures=figures,
        targets=TARGETS,
        notes=(
            "handoff-fsm's create and idle memory are a real conversation, not its lifecycle:"
            " a Start through Switchboard.handle on the warm contact center of the switchboard"
            " suite, and that switchboard's bytes per live conversation"
            f" ({format_number(float(board['switchboard_bytes']))} bytes in all, of which"
            f" {format_number(float(board['empty_switchboard_bytes']))} for the empty"
            " switchboard); the libraries' rows hold a bare machine each, so handoff-fsm's row"
            " carries more per conversation (context, routing, timers) than theirs",
            f"idle memory measured holding this many conversations: {held}",
            "transitions, one shared Machine: creation is timed with few conversations registered;"
            " add_model scans the list of registered models, so it slows as they grow"
            " (docs/performance.md)",
        ),
    )
