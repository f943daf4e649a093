"""The one JSON encoding of the adapters: output lines of `run` (SPEC §5) and the store's records.

Theory of operation: `dumps` is the only place that says how a JSON value becomes text, and
`format_line` the only place that says in which order an output line's keys come. `run`, the
demo, `replay` and the store call them, so the bytes of a run are the same whichever adapter
wrote them.

Rules:
- Compact separators, no spaces; text as UTF-8 rather than `\\u` escapes (`ensure_ascii=False`);
  NaN and infinities refused (`allow_nan=False`: they are not JSON); text that UTF-8 cannot carry
  (an unpaired surrogate) refused too, as a `ValueError`, before anything is written.
- An output line's keys come in the contract's order, `BASE_KEYS`, never sorted, then the
  effect's own fields in their own order; a field may not overwrite a base key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from handoff_fsm.events import JsonValue

BASE_KEYS = ("seq", "step", "kind", "conversation", "to", "state")
"""The keys every output line starts with, in this order (SPEC §5)."""


def dumps(value: JsonValue) -> str:
    """`value` as compact JSON text; `ValueError` for what JSON or UTF-8 cannot carry."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # an unpaired surrogate raises UnicodeEncodeError, a ValueError
    return text


def format_line(
    *,
    seq: int,
    step: int,
    kind: str,
    conversation: str | None,
    to: str | None,
    state: str | None,
    fields: Mapping[str, JsonValue] | None = None,
) -> str:
    """One output line, without its line end: the base keys in the contract's order, then
    `fields` in their own order."""
    line: dict[str, JsonValue] = dict(
        zip(BASE_KEYS, (seq, step, kind, conversation, to, state), strict=True)
    )
    for key, value in (fields or {}).items():
        if key in line:
            raise ValueError(f"field {key!r} of a {kind!r} line would overwrite a base key")
        line[key] = value
    return dumps(line)
