"""Comparing whole object graphs in tests: what the store's tests use to prove that a restored
switchboard is in exactly the state of one that never stopped."""

from __future__ import annotations

import enum

from handoff_fsm.routing.records import QueueRecord


def plain(value: object, path: frozenset[int] = frozenset()) -> object:
    """Everything an object holds, as comparable data: two switchboards with equal `plain` are
    in the same state, down to timers, seen ids and routing indexes (sets compare as sets)."""
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value) if isinstance(value, enum.Enum) else value
    if id(value) in path:
        return "<cycle>"
    inner = path | {id(value)}
    if isinstance(value, dict):
        return ["dict", *[(plain(k, inner), plain(v, inner)) for k, v in value.items()]]
    if isinstance(value, list | tuple):
        return [type(value).__name__, *[plain(item, inner) for item in value]]
    if isinstance(value, set | frozenset):
        return ["set", *sorted((plain(item, inner) for item in value), key=repr)]
    fields: dict[str, object] = dict(getattr(value, "__dict__", {}))
    for cls in type(value).__mro__:
        slots = getattr(cls, "__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot != "__weakref__" and hasattr(value, slot):
                fields[slot] = getattr(value, slot)
    if isinstance(value, QueueRecord):
        # Parked waits are a cache of "nobody free may take it" that a checkpoint does not carry
        # (routing.lines): compared as the ready waits they are.
        parked: list[list[int]] = [*value.parked, []]
        del fields["parked"], fields["excluding"]
        fields["ready"] = [sorted([*ready, *parked[sub]]) for sub, ready in enumerate(value.ready)]
    return [type(value).__qualname__, *[(k, plain(v, inner)) for k, v in sorted(fields.items())]]
