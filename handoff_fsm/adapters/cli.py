"""The `handoff-fsm` command line.

Theory of operation: each subcommand lives in its own adapter module that offers `HELP`,
`add_arguments(parser)` and `run(args) -> int` (the exit status). This module only wires them
into argparse, so adding a command is one line in `_COMMANDS`. Errors of the `HandoffError` family
become one line on standard error and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Protocol, cast

from handoff_fsm import __version__
from handoff_fsm.adapters import check, demo, replay, run, simulate, verify
from handoff_fsm.adapters import diagrams as diagrams_command
from handoff_fsm.errors import HandoffError


class _Command(Protocol):
    HELP: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


_COMMANDS: dict[str, ModuleType] = {
    "demo": demo,
    "verify": verify,
    "run": run,
    "diagrams": diagrams_command,
    "replay": replay,
    "simulate": simulate,
    "check": check,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handoff-fsm",
        description="Hand customer conversations between bots and human agents, verifiably.",
    )
    parser.add_argument("--version", action="version", version=f"handoff-fsm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _COMMANDS.items():
        command = cast(_Command, module)
        sub = commands.add_parser(name, help=command.HELP, description=command.HELP)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = cast(Callable[[argparse.Namespace], int], args.run)
    try:
        return run(args)
    except HandoffError as exc:
        print(f"handoff-fsm {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
