"""The `handoff-fsm` command line.

Theory of operation: `COMMANDS` maps each subcommand to the module that implements it and its
one-line help. A command's module offers `add_arguments(parser)` and `run(args) -> int` (the
exit status) and is imported only when that command runs (or its own `--help` is asked), so
`handoff-fsm --help` imports no subcommand and `run` imports only the runner, never networkx,
graphviz or the service. Adding a command is one line in `COMMANDS`.

Errors of the `HandoffError` family (a bad file, a missing extra, ...) become one line on
standard error and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from handoff_fsm import __version__
from handoff_fsm.errors import HandoffError

#: name -> (module implementing it, one-line help), in the order `--help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "handoff_fsm.adapters.demo",
        "run the seed handoff scenarios and print their timelines",
    ),
    "verify": (
        "handoff_fsm.adapters.verify",
        "check the machine models: reachability, traps, determinism, guards, outcomes",
    ),
    "run": (
        "handoff_fsm.adapters.run",
        "run a scenario file (JSON or YAML) and print one JSON line per effect",
    ),
    "diagrams": (
        "handoff_fsm.adapters.diagrams",
        "write the diagrams of every model (DOT, SVG, Mermaid), or --check that they are current",
    ),
    "replay": (
        "handoff_fsm.adapters.replay",
        "re-derive every effect of a store's log and print the same JSONL as the original run",
    ),
    "store": (
        "handoff_fsm.adapters.store_command",
        "look after a store: verify its checkpoints against its log, or compact it",
    ),
    "check": (
        "handoff_fsm.adapters.check",
        "explore what a deployment can do before it goes live, and report what would go wrong",
    ),
    "serve": (
        "handoff_fsm.adapters.serve",
        "run the HTTP/JSON service: centers, steps, the effects feed, views, metrics",
    ),
    "simulate": (
        "handoff_fsm.adapters.simulate",
        "simulate random traffic through the real switchboard: waits, abandonment, occupancy",
    ),
    "explain": ("handoff_fsm.adapters.explain", "show the routing decisions of a conversation"),
}


class _Command(Protocol):
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for `argv`: every command is listed, only the one `argv` names is imported."""
    parser = argparse.ArgumentParser(
        prog="handoff-fsm",
        description="Hand customer conversations between bots and human agents, verifiably.",
    )
    parser.add_argument("--version", action="version", version=f"handoff-fsm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            command = cast(_Command, importlib.import_module(module_name))
            command.add_arguments(sub)
            sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(arguments).parse_args(arguments)
        run = cast(Callable[[argparse.Namespace], int], args.run)
        return run(args)
    except HandoffError as exc:
        command = next((arg for arg in arguments if not arg.startswith("-")), "")
        print(f"handoff-fsm {command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
