"""Every center in PostgreSQL: the one source of truth for any number of `serve` processes.

Theory of operation: the switchboard is a deterministic function of its config and its calls, so
a center is its config and its log; PostgreSQL keeps both, for every center, in a handful of
tables (`schema`). A process that serves a center keeps its switchboard warm in memory and, to
apply steps, takes the center's row lock (`SELECT ... FOR UPDATE`), reads the steps another
process logged since (`log.steps_after`, checked against the same hash chain as the SQLite
store), replays them, applies its own batch and commits it in the same transaction. Timers are
rows of `handoff_due_timers`, claimed with `FOR UPDATE SKIP LOCKED` by whichever process is
alive (`timers`). The same encodings and checksums as the SQLite store
(`handoff_fsm.adapters.store.encoding`, `chain_next`, `genesis`).

Rules: nothing here holds state between calls but what the database holds; the service side
(`handoff_fsm.service.pg_center`) owns the warm switchboards.
"""

from handoff_fsm.adapters.pgstore.log import (
    CenterHead,
    LoggedRow,
    append_steps,
    create_center,
    lock_center,
    read_center,
    replies_for,
    steps_after,
    verify_center,
)
from handoff_fsm.adapters.pgstore.schema import ensure_schema
from handoff_fsm.adapters.pgstore.timers import claim_due, set_due

__all__ = [
    "CenterHead",
    "LoggedRow",
    "append_steps",
    "claim_due",
    "create_center",
    "ensure_schema",
    "lock_center",
    "read_center",
    "replies_for",
    "set_due",
    "steps_after",
    "verify_center",
]
