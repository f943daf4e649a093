"""`python -m benchmarks` (`make bench`): run every suite, print the tables, write the JSON.

Theory of operation: all suites run in this one process, one after the other, so every figure
and the floor it is compared with come from the same run on the same machine. Before measuring,
everything imported so far is collected and frozen out of the garbage collector's sight
(`gc.freeze`), so the full collections the harness runs between batches cost the same whatever
was imported. Progress goes to stderr, the tables to stdout. The JSON goes to
`benchmarks/results/latest.json` (the committed record of the last full run), written to a
temporary file first and then renamed, so an interrupted run never leaves half a file; a
`--quick` smoke run writes only where `--out` says, so it cannot overwrite that record.

The exit status is 0 whether or not targets are met (the tables say PASS or MISS), unless
`--fail-on-miss` is given.

The suites, and how to add one, are in `benchmarks.suites`.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import doc_tables
from benchmarks.harness import FULL, QUICK
from benchmarks.report import render_suite, report_json
from benchmarks.suites import SUITES, by_key

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: few, short batches (figures are rough)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write the JSON (default: {DEFAULT_OUT}; --quick writes only with --out)",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(by_key()),
        help="run only this suite (repeatable): "
        + "; ".join(f"{suite.key}, {suite.summary}" for suite in SUITES),
    )
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    out: Path | None = args.out if args.out is not None or args.quick else DEFAULT_OUT

    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    suites = []
    for name in args.suite or [suite.key for suite in SUITES]:
        suites.append(by_key()[name].load()(settings, _log))
    seconds = time.perf_counter() - started
    document = report_json(suites, settings, seconds)

    for suite in suites:
        print(render_suite(suite))
        print()
    mode = "quick (rough) run" if settings.quick else "full run"
    print(f"{mode} in {seconds:.0f} s on Python {document['environment']['python']}")
    if out is None:
        print("JSON not written (--quick without --out)")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".tmp")
        partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        partial.replace(out)
        print(f"wrote {out}")
        if out == DEFAULT_OUT and not settings.quick and not args.suite:
            doc_tables.rewrite(document)
            print(f"rewrote the last-run section of {doc_tables.DOC}")
    return 1 if args.fail_on_miss and not document["all_targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
