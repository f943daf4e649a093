"""Durable conversations: an SQLite store of every step, checkpoints, restore, replay, delivery.

Theory of operation: the switchboard is a pure, deterministic function of its config and the
sequence of `handle(event, now=, step_id=)` calls it was given, so the calls are the truth to
keep. The package is cut by job, one module each:

- `encoding`: events, configs and effects as JSON; canonical bytes and checksums;
- `files` and `lock`: the SQLite file (recognised, created atomically, opened read-only or
  immutable) and the one-writer lock;
- `log`: `Store`, the hash-chained log of steps, appended in batches of one transaction;
- `checkpoint_codec`: the only module that reads engine internals, the state as JSON rows;
- `checkpoints`: the live checkpoint kept at the cost of what changed, and base documents;
- `restore`: the state at any seq, the effects after any seq;
- `durable`: `DurableSwitchboard`, one step per commit, for one thread;
- `center`: `DurableCenter`, one writer thread, group commit, for any threads and asyncio tasks;
- `maintenance`: `verify` and `compact` (the `handoff-fsm store` command).

Nothing stored is ever unpickled or evaluated: a store is data, read by explicit code.
"""

from handoff_fsm.adapters.store.center import DEFAULT_BATCH_SIZE, Acknowledgement, DurableCenter
from handoff_fsm.adapters.store.checkpoints import DEFAULT_CHECKPOINT_EVERY
from handoff_fsm.adapters.store.durable import DurableSwitchboard, StepNotStorable
from handoff_fsm.adapters.store.encoding import (
    config_from_json,
    config_to_json,
    encode_config,
    encode_event,
    event_from_json,
    event_to_json,
)
from handoff_fsm.adapters.store.errors import (
    StoreClosedError,
    StoreConfigError,
    StoreCorruptError,
    StoreError,
    StoreWarning,
    StoreWriteError,
)
from handoff_fsm.adapters.store.files import APPLICATION_ID, SCHEMA_VERSION
from handoff_fsm.adapters.store.lock import LOCK_SUFFIX
from handoff_fsm.adapters.store.log import LoggedStep, Store
from handoff_fsm.adapters.store.restore import (
    Applied,
    Restored,
    apply_logged,
    effects_after,
    restore,
    state_at,
)

__all__ = [
    "APPLICATION_ID",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHECKPOINT_EVERY",
    "LOCK_SUFFIX",
    "SCHEMA_VERSION",
    "Acknowledgement",
    "Applied",
    "DurableCenter",
    "DurableSwitchboard",
    "LoggedStep",
    "Restored",
    "StepNotStorable",
    "Store",
    "StoreClosedError",
    "StoreConfigError",
    "StoreCorruptError",
    "StoreError",
    "StoreWarning",
    "StoreWriteError",
    "apply_logged",
    "config_from_json",
    "config_to_json",
    "effects_after",
    "encode_config",
    "encode_event",
    "event_from_json",
    "event_to_json",
    "restore",
    "state_at",
]
