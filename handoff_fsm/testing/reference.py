"""The reference interpreter of the lifecycle model, on the `transitions` library.

Theory of operation: this is the only module that imports `transitions`. It builds one
module-level `Machine` from `models/lifecycle.yaml` (`auto_transitions=False`), bound to a single
private cursor object, and never a machine or a registered model per conversation. To step, it
puts the cursor in the asked state, fires the trigger with the guard facts as event data, and
reports which model row fired. It is slow (~15 us a step) and that is fine: it exists so that the
hot-path table of `handoff_fsm.lifecycle` can be checked against an independent interpreter of
the same file, on every (state, trigger, guard outcome).

Rules: calls are serialised by a lock (the cursor is shared); the cursor's state never leaks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from transitions import EventData, Machine, MachineError

from handoff_fsm.errors import TriggerRefused
from handoff_fsm.lifecycle import MODEL, Facts, Guard, State, Trigger
from handoff_fsm.model import MachineModel


class _Cursor:
    """The one object the shared machine drives; `transitions` adds `state` and trigger methods."""

    state: str
    trigger: Callable[..., bool]


def _holds(guard: str) -> Callable[[EventData], bool]:
    def condition(event: EventData) -> bool:
        return guard in event.kwargs["facts"]

    return condition


def _records(row: int) -> Callable[[EventData], None]:
    def after(event: EventData) -> None:
        event.kwargs["fired"].append(row)

    return after


def _machine_spec(model: MachineModel) -> list[dict[str, Any]]:
    return [
        {
            "trigger": spec.trigger,
            "source": list(spec.sources),
            "dest": spec.dest,
            "conditions": [_holds(g) for g in spec.guards],
            "unless": [_holds(g) for g in spec.unless],
            "after": [_records(row)],
        }
        for row, spec in enumerate(model.transitions)
    ]


_CURSOR = _Cursor()
_MACHINE = Machine(
    model=_CURSOR,
    states=list(MODEL.states),
    transitions=_machine_spec(MODEL),
    initial=MODEL.initial,
    auto_transitions=False,
    send_event=True,
)
_LOCK = threading.Lock()


def reference_step(state: State, trigger: Trigger, facts: Facts) -> tuple[State, int]:
    """Fire `trigger` from `state` with these guard facts (all of them, including
    `human_held_before`). Returns (destination, model row) or raises `TriggerRefused`."""
    fired: list[int] = []
    names = frozenset(str(g) for g in facts)
    with _LOCK:
        _MACHINE.set_state(state.value, model=_CURSOR)
        try:
            moved = _CURSOR.trigger(trigger.value, facts=names, fired=fired)
        except MachineError:
            raise TriggerRefused(state, trigger, MODEL.allowed_triggers(state)) from None
        dest = State(_CURSOR.state)
    if not moved:
        raise TriggerRefused(state, trigger, MODEL.allowed_triggers(state), detail="guards failed")
    return dest, fired[0]


__all__ = ["Guard", "reference_step"]
