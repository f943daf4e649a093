"""`handoff-fsm check FILE [--json]`: what a deployment can do wrong, before it goes live.

Theory of operation: the file is a scenario (SPEC §5); its `settings`, `participants` and
`queues` are the deployment, read by the scenario reader (same limits, same one-line messages),
and its `steps` (and a `simulation` key) are ignored. `handoff_fsm.planning.check` explores it;
this module prints the findings: one a line, `LEVEL CODE PLACE: sentence`, each witness step
under its finding as an indented scenario step (`    - {...}`, ready to paste into a file's
`steps`), or with `--json` one JSON object a line (`level`, `code`, `place`, `message`,
`witness`).

Rules: exit status 1 if any finding is an error, else 0; 2 for a bad file (`cli.main`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from handoff_fsm.adapters.run import utf8_stdout
from handoff_fsm.adapters.scenario import load_document, parse_scenario
from handoff_fsm.config import Config
from handoff_fsm.planning.check import Report, check

HELP = "explore what a deployment can do and report what can go wrong, each error with a witness"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="a scenario file; steps ignored")
    parser.add_argument("--json", action="store_true", help="one JSON object per finding")


def run(args: argparse.Namespace) -> int:
    report = check(load_deployment(args.file))
    with utf8_stdout() as out:
        out.write("".join(line + "\n" for line in render(report, as_json=args.json)))
    return 1 if report.errors else 0


def load_deployment(path: Path) -> Config:
    data, file = load_document(path)
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if key != "simulation"}
        data["steps"] = []
    return parse_scenario(data, file).config


def render(report: Report, *, as_json: bool = False) -> list[str]:
    lines = []
    for finding in report.findings:
        if as_json:
            lines.append(json.dumps(finding.to_json(), ensure_ascii=False))
            continue
        lines.append(finding.line())
        lines.extend(
            "    - " + json.dumps(step, ensure_ascii=False, separators=(", ", ": "))
            for step in finding.witness
        )
    return lines
