"""`handoff-fsm demo`: run the seed scenarios and print a readable timeline of each.

Theory of operation: the seed flows of the five source articles are scenario files in
`docs/scenarios/`, shipped inside the wheel as `handoff_fsm/scenarios/` (as `models/` is), so the
demo works from an installed package in any folder (`seed_scenarios_dir` finds them). The demo
runs each through the same code path as `handoff-fsm run` (so what it shows is what the JSONL
says), writes the JSONL beside a timeline in `--out` (default `out/demo/`), and prints, step by
step, who holds each conversation, every effect and to whom, and the state after the step.

Rule: a scenario folder that does not exist or holds no `*.yaml` is an error (exit status 2),
never a run of zero scenarios that looks like success.
"""

from __future__ import annotations

import argparse
import importlib.resources
import io
import json
from collections.abc import Iterable
from pathlib import Path

import attrs

from handoff_fsm.adapters.jsonl import BASE_KEYS
from handoff_fsm.adapters.output import ensure_folder, write_file
from handoff_fsm.adapters.run import run_scenario
from handoff_fsm.adapters.scenario import Scenario, ScenarioStep, load_scenario
from handoff_fsm.errors import ScenarioError


def seed_scenarios_dir() -> Path:
    """Where the seed scenarios live: `handoff_fsm/scenarios/` in a wheel, else (a checkout, an
    editable install) the repository's `docs/scenarios/`."""
    packaged = Path(str(importlib.resources.files("handoff_fsm"))) / "scenarios"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "docs" / "scenarios"


def scenario_files(folder: Path) -> list[Path]:
    """The `*.yaml` scenarios of `folder` in name order; none at all is a `ScenarioError`."""
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    if not files:
        problem = "holds no *.yaml scenario file" if folder.is_dir() else "is not a folder"
        raise ScenarioError(str(folder), "", problem)
    return files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenarios",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of *.yaml scenarios (default: the seed scenarios shipped with handoff-fsm)",
    )
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="where JSONL goes")


def run(args: argparse.Namespace) -> int:
    files = scenario_files(args.scenarios or seed_scenarios_dir())
    out_dir = Path(args.out)
    ensure_folder(out_dir)
    for file in files:
        scenario = load_scenario(file)
        buffer = io.StringIO()
        run_scenario(scenario, buffer)
        jsonl = buffer.getvalue()
        write_file(out_dir / f"{file.stem}.jsonl", jsonl.encode())
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
