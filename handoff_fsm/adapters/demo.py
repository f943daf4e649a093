"""`handoff-fsm demo`: run the seed scenarios and print a readable timeline of each.

Theory of operation: the seed flows of the five source articles ship as scenario files in
`docs/scenarios/`. The demo runs each through the same code path as `handoff-fsm run` (so what it
shows is what the JSONL says), writes the JSONL beside a timeline in `--out` (default
`out/demo/`), and prints, step by step, who holds each conversation, every effect and to whom,
and the state after the step.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterable
from pathlib import Path

import attrs

from handoff_fsm.adapters.run import BASE_KEYS, run_scenario
from handoff_fsm.adapters.scenario import Scenario, ScenarioStep, load_scenario

HELP = "run the seed handoff scenarios and print their timelines"

SCENARIOS = Path(__file__).resolve().parents[2] / "docs" / "scenarios"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenarios", type=Path, default=SCENARIOS, help="folder of *.yaml")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="where JSONL goes")


def run(args: argparse.Namespace) -> int:
    files = sorted(Path(args.scenarios).glob("*.yaml"))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for file in files:
        scenario = load_scenario(file)
        buffer = io.StringIO()
        run_scenario(scenario, buffer)
        jsonl = buffer.getvalue()
        (out_dir / f"{file.stem}.jsonl").write_text(jsonl, encoding="utf-8")
        print(f"\n=== {file.stem}  ({file})")
        for line in timeline(scenario, [json.loads(row) for row in jsonl.splitlines()]):
            print(line)
    print(f"\nJSONL of each run: {out_dir.resolve()}/<scenario>.jsonl ({len(files)} files)")
    return 0


def timeline(scenario: Scenario, lines: list[dict[str, object]]) -> Iterable[str]:
    """Render the effect lines of a run, grouped under the step that caused them."""
    holders: dict[str, str] = {}
    by_step: dict[int, list[dict[str, object]]] = {}
    for line in lines:
        by_step.setdefault(int(str(line["step"])), []).append(line)
    for step in scenario.steps:
        rows = by_step.get(step.index, [])
        yield f"{step.index:>3}  {_describe(step)}"
        for row in rows:
            _track(holders, row)
            extra = {k: v for k, v in row.items() if k not in BASE_KEYS and k != "context"}
            if "context" in row:
                context = row["context"]
                assert isinstance(context, dict)
                extra["context"] = (
                    f"{len(context['variables'])} variables, {len(context['transcript'])} messages"
                )
            details = ", ".join(f"{k}={v}" for k, v in extra.items())
            to = row["to"] or "-"
            yield f"       -> {to!s:<14} {row['kind']!s:<20} {details}".rstrip()
        conversation = step.event.conversation
        if rows or conversation:
            states = {str(r["conversation"]): r["state"] for r in rows if r["conversation"]}
            for name, state in states.items():
                yield f"       [{name}: {state}, held by {holders.get(name, 'nobody')}]"
            if not rows:
                yield "       (no visible effect)"


def _track(holders: dict[str, str], row: dict[str, object]) -> None:
    conversation = str(row["conversation"])
    if row["kind"] == "participant_added" and row.get("role") == "holder":
        holders[conversation] = str(row["to"])
    elif row["kind"] == "participant_removed" and holders.get(conversation) == row["to"]:
        del holders[conversation]


def _describe(step: ScenarioStep) -> str:
    event = step.event
    fields = attrs.asdict(event)
    text = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, {}, ""))
    when = f" at={step.at:g}" if step.at is not None else ""
    return f"{event.STEP}: {text}{when}"
