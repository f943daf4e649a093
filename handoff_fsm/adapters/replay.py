"""`handoff-fsm replay STORE`: re-derive every effect of a store's log and print the run's JSONL.

Theory of operation: decisions are a function of the config and the calls made (time and ids are
inputs), so the log alone gives back every effect. A fresh switchboard is built from the store's
config and every logged step is handed to it exactly as it was handed in the first time (same
event, `now` and `step_id`, refused steps and duplicates included); its lines are made by the
runner's own formatter (`run.step_lines`) with the step index the log recorded. So the output is
byte for byte what the original `run` printed, or, for a store filled by several `run --store`
calls, their outputs back to back.

Rules:
- Every step is checked against what the log says it gave when it was acknowledged (refused or
  not, how many effects); a difference stops the replay with a `StoreError` naming the step
  (a store written by an engine whose decisions differ), after the lines before it.
- The store is opened read-only, without the writer lock: a store that a service is writing can
  be replayed; the replay sees the log as it was when it started reading. A store on media this
  process cannot write is opened immutable (see `handoff_fsm.adapters.store.files`).
- Every row is checked against the log's hash chain before it is used: a flipped byte stops the
  replay at that row with one line naming it, never a silently different line.
- A compacted store replays from its base checkpoint: the lines of the steps after it, numbered
  on from the lines the dropped steps made.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from handoff_fsm.adapters.run import step_lines, utf8_stdout
from handoff_fsm.adapters.scenario import ScenarioStep

if TYPE_CHECKING:
    from handoff_fsm.adapters.store import Store

HELP = "re-derive every effect of a store's log and print the same JSONL as the original run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "store", metavar="STORE", type=Path, help="a store written by `run --store` or a service"
    )


def run(args: argparse.Namespace) -> int:
    from handoff_fsm.adapters.store import Store  # loaded on use, like run's switchboard

    with Store.open(args.store, readonly=True) as store, utf8_stdout() as out:
        replay(store, out)
    return 0


def replay(store: Store, out: TextIO) -> int:
    """Write the lines of every logged step to `out`; return how many were written."""
    from handoff_fsm.adapters.store.restore import apply_logged, starting_point

    start = store.first_seq()
    board, _ = starting_point(store, start)
    seq = store.info_of("base").get("lines", 0) if start > 0 else 0
    written = 0
    for logged in store.steps(after=start):
        applied = apply_logged(board, logged)
        step = ScenarioStep(
            index=logged.index, event=logged.event, at=logged.now, id=logged.step_id
        )
        lines = step_lines(board, seq, step, applied.effects, applied.refused)
        out.write("".join(line + "\n" for line in lines))
        seq += len(lines)
        written += len(lines)
    return written
