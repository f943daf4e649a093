"""`handoff-fsm explain FILE --conversation C [--step N]`: the routing decisions of one
conversation, as a table.

Theory of operation: the scenario runs on a plain switchboard (refused steps are skipped, as the
runner would print an `error` line and go on), up to step N if given; after each step the new
decisions of the conversation (`Switchboard.decisions`) are tagged with that step's index. Each
decision prints who was chosen, then every member with its verdict, in the queue's order.

Rules: exit status 0; a conversation with no decision prints one line saying so; an unknown
conversation is a usage error (exit status 2, one line).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from handoff_fsm.adapters.scenario import load_scenario
from handoff_fsm.errors import HandoffError, StepRefused
from handoff_fsm.routing import PastDecision
from handoff_fsm.switchboard import Switchboard


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="scenario file (JSON or YAML)")
    parser.add_argument("--conversation", required=True, metavar="C", help="conversation id")
    parser.add_argument(
        "--step", type=int, default=None, metavar="N", help="stop after step N (from 0)"
    )


def run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file)
    board = Switchboard(scenario.config)
    found: list[tuple[int, PastDecision]] = []
    seen = 0
    for step in scenario.steps:
        if args.step is not None and step.index > args.step:
            break
        with contextlib.suppress(StepRefused):  # the runner prints an error line and goes on
            board.handle(step.event, now=step.now, step_id=step.id)
        if args.conversation in board.conversations():
            decisions = board.decisions(args.conversation)
            found += [(step.index, d) for d in decisions[seen:]]
            seen = len(decisions)
    if args.conversation not in board.conversations():
        raise HandoffError(f"explain: conversation {args.conversation!r} is not in {args.file}")
    print(render(args.conversation, found))
    return 0


def render(conversation: str, found: list[tuple[int, PastDecision]]) -> str:
    if not found:
        return f"conversation {conversation}: no routing decision"
    rows = [("step", "time", "queue", "member", "verdict")]
    for index, decision in found:
        head = (str(index), f"{decision.at:g}", decision.queue)
        if not decision.considered:
            rows.append((*head, decision.chosen, "chosen (other members not kept)"))
        for number, c in enumerate(decision.considered):
            where = head if number == 0 else ("", "", "")
            rows.append((*where, c.participant, c.verdict.value))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
