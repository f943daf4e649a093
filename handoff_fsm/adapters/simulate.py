"""`handoff-fsm simulate FILE [--json] [--plot FILE.png]`: what a configuration does to waits.

Theory of operation: the file is a scenario (SPEC §5) whose `settings`, `participants` and
`queues` are the deployment, and whose `simulation` key (SPEC §9) describes the traffic; its
`steps` may be left out and are ignored. The `simulation` mapping is read here, strictly, and the
rest goes through the scenario reader, so both are checked before anything runs and every
mistake is one line naming its place (`simulation.arrivals.support`). The run itself is
`handoff_fsm.planning.simulate`; this module only prints it: a table for people, one JSON object
for programs (`--json`), and with `--plot` a figure of waits, queue length and occupancy over
time.

Rules: matplotlib is an optional extra (`handoff-fsm[plot]`), imported only by the plot, and
looked for before the run so a missing extra costs no waiting. Exit status 0, or 2 for bad input.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handoff_fsm.adapters.scenario import (
    load_document,
    parse_scenario,
)
from handoff_fsm.adapters.scenario_values import ValueReader
from handoff_fsm.config import Config, Kind
from handoff_fsm.planning.simulate import Figures, Run, SimulationSpec, simulate

HELP = "simulate random traffic through the real switchboard: waits, abandonment, occupancy"
SIMULATION_KEYS = (
    "duration", "seed", "arrivals", "handle_time", "patience", "answer_within", "accept_delay",
)  # fmt: skip
REQUIRED_KEYS = ("duration", "arrivals", "handle_time")
PLOT_BINS = 96  # 15-minute bins over a day
PLOT_EXTRA = "install handoff-fsm[plot]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="scenario with a simulation key")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="draw waits, queue length and occupancy"
    )


def run(args: argparse.Namespace) -> int:
    if args.plot is not None and not _have_matplotlib():
        print(f"handoff-fsm simulate: --plot needs matplotlib: {PLOT_EXTRA}", file=sys.stderr)
        return 2
    config, spec = load_simulation(args.file)
    result = simulate(config, spec)
    queues = list(spec.arrivals)
    if args.json:
        print(json.dumps(report(result, queues), sort_keys=False))
    else:
        print(table(result, queues))
    if args.plot is not None:
        try:
            plot(result, queues, args.plot)
        except OSError as exc:
            problem = exc.strerror or exc
            print(f"handoff-fsm simulate: cannot write {args.plot}: {problem}", file=sys.stderr)
            return 2
    return 0


# -- reading ------------------------------------------------------------------------------------


def load_simulation(path: Path) -> tuple[Config, SimulationSpec]:
    data, file = load_document(path)
    return parse_simulation(data, file)


def parse_simulation(data: object, file: str) -> tuple[Config, SimulationSpec]:
    reader = ValueReader(file)
    top = reader.mapping(data, "")
    if "simulation" not in top:
        reader.fail("simulation", "is missing (duration, arrivals, handle_time, ...; SPEC §9)")
    rest = {key: value for key, value in top.items() if key != "simulation"}
    rest.setdefault("steps", [])
    config = parse_scenario(rest, file).config
    return config, _spec(reader, top["simulation"], config)


def _spec(reader: ValueReader, value: object, config: Config) -> SimulationSpec:
    place = "simulation"
    table = reader.mapping(value, place)
    reader.known_keys(table, place, SIMULATION_KEYS)
    for key in REQUIRED_KEYS:
        if key not in table:
            reader.fail(f"{place}.{key}", "is missing")
    given: dict[str, Any] = {"arrivals": _arrivals(reader, table["arrivals"], config)}
    for key in ("duration", "handle_time"):
        given[key] = reader.timeout(table[key], f"{place}.{key}")
        if given[key] is None:
            reader.fail(f"{place}.{key}", "must be a number of seconds > 0, got null")
    if "seed" in table:
        given["seed"] = reader.whole(table["seed"], f"{place}.seed", 0)
    if "patience" in table:
        given["patience"] = reader.timeout(table["patience"], f"{place}.patience")
    for key in ("answer_within", "accept_delay"):
        if key in table:
            given[key] = reader.time(table[key], f"{place}.{key}")
    return SimulationSpec(**given)


def _arrivals(reader: ValueReader, value: object, config: Config) -> dict[str, float]:
    place = "simulation.arrivals"
    table = reader.mapping(value, place)
    if not table:
        reader.fail(place, "is empty (give arrivals per hour for at least one queue)")
    kinds = {p.id: p.kind for p in config.participants}
    queues = {q.name: q for q in config.queues}
    arrivals = {}
    for name, rate in table.items():
        where = f"{place}.{name}"
        if name not in queues:
            reader.fail(where, f"names undefined queue {name!r}")
        members = [kinds[m] for m in queues[name].members]
        if Kind.HUMAN not in members:
            reader.fail(where, f"queue {name!r} has no human member to answer its arrivals")
        if Kind.BOT in members:
            reader.fail(where, f"queue {name!r} has bot members; arrivals ask for humans only")
        arrivals[name] = reader.time(rate, where)
    return arrivals


# -- printing -----------------------------------------------------------------------------------


def report(result: Run, queues: Sequence[str]) -> dict[str, Any]:
    return {
        "queues": {queue: result.figures(queue).as_json() for queue in queues},
        "total": result.figures().as_json(),
    }


_COLUMNS = (
    ("offered", 9), ("answered", 10), ("abandoned", 11), ("service_level", 15), ("asa", 9),
    ("p_wait", 9), ("occupancy", 11), ("estimate_error", 16),
)  # fmt: skip


def table(result: Run, queues: Sequence[str]) -> str:
    names = [*queues, "total"]
    width = max(len(name) for name in names)
    lines = ["queue".ljust(width) + "".join(title.rjust(size) for title, size in _COLUMNS)]
    for name in names:
        figures = result.figures(None if name == "total" else name)
        cells = zip(_cells(figures), _COLUMNS, strict=True)
        lines.append(name.ljust(width) + "".join(cell.rjust(size) for cell, (_, size) in cells))
    spec = result.spec
    lines.append(
        f"{len(result.records)} conversations over {spec.duration:g} s, seed {spec.seed}; "
        f"service level = answered within {spec.answer_within:g} s / offered"
    )
    return "\n".join(lines)


def _cells(figures: Figures) -> list[str]:
    def share(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f} %"

    def seconds(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f} s"

    return [
        f"{figures.offered:,}",
        f"{figures.answered:,}",
        f"{figures.abandoned:,}",
        share(figures.service_level),
        seconds(figures.asa),
        share(figures.p_wait),
        share(figures.occupancy),
        seconds(figures.estimate_error),
    ]


# -- plotting -----------------------------------------------------------------------------------


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401  (only looked for)
    except ImportError:
        return False
    return True


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def plot(result: Run, queues: Sequence[str], out: Path) -> None:
    """Three panels over the day, in bins: mean wait of the answered (by arrival), mean number
    waiting, and occupancy, per queue and in total."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    duration = result.spec.duration
    edges = [duration * i / PLOT_BINS for i in range(PLOT_BINS + 1)]
    hours = [(a + b) / 2 / 3600 for a, b in itertools.pairwise(edges)]
    figure, (waits, lengths, busy) = pyplot.subplots(3, 1, sharex=True, figsize=(10, 9))
    groups: list[str | None] = [None] if len(queues) == 1 else [*queues, None]
    for queue in groups:
        label = "total" if queue is None else queue
        windows = result.windows(edges, queue)
        waits.plot(hours, [_or_nan(f.asa) for f in windows], label=label)
        lengths.plot(hours, result.time_averages(edges, queue)[1], label=label)
        busy.plot(hours, [100 * _or_nan(f.occupancy) for f in windows], label=label)
    waits.axhline(result.spec.answer_within, color="grey", linestyle="--", label="answer within")
    waits.set_ylabel("mean wait of the answered (s)")
    waits.set_title(
        f"simulated: {len(result.records):,} conversations, seed {result.spec.seed}, "
        f"{PLOT_BINS} bins of {duration / PLOT_BINS / 60:g} min"
    )
    lengths.set_ylabel("conversations waiting (mean)")
    busy.set_ylabel("occupancy (%)")
    busy.set_ylim(0, 105)
    busy.set_xlabel("time (hours)")
    for axes, corner in ((waits, "upper right"), (lengths, "upper right"), (busy, "lower right")):
        axes.grid(True, alpha=0.3)
        axes.legend(loc=corner, fontsize="small")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    pyplot.close(figure)
