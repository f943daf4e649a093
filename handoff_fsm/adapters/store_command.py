"""`handoff-fsm store verify FILE` and `handoff-fsm store compact FILE`: look after a store.

Theory of operation: `verify` re-derives the state at each checkpoint from the log and compares
(hash chain, every row's checksum, every state row), printing one `ok` line, or one line naming
the first bad row and exit status 2. `compact` makes the live checkpoint the base of the log and
drops the rows before it (they are no longer needed to restore or replay), after verifying.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "look after a durable store: verify it against its log, or compact its log"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "verify", help="re-derive the state from the log and compare every checkpoint"
    )
    check.add_argument("store", metavar="FILE", type=Path, help="a store")
    shrink = actions.add_parser(
        "compact", help="drop the log before the live checkpoint (after verifying)"
    )
    shrink.add_argument("store", metavar="FILE", type=Path, help="a store, not open elsewhere")


def run(args: argparse.Namespace) -> int:
    from handoff_fsm.adapters.store import Store
    from handoff_fsm.adapters.store.maintenance import compact, verify

    if args.action == "verify":
        with Store.open(args.store, readonly=True) as store:
            print(verify(store).render(args.store))
        return 0
    with Store.open(args.store) as store:
        verify(store)
        dropped = compact(store)
        print(f"{args.store}: compacted: {dropped} log rows dropped; the log starts after seq "
              f"{store.first_seq()}")  # fmt: skip
    return 0
