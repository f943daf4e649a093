"""`handoff-fsm verify [MODEL_DIR]`: run the static model checks and report every fault.

Theory of operation: every `*.yaml` in the folder (the bundled `models/` by default) is loaded
and checked by `handoff_fsm.tools.analysis.check_model` (the `tools` extra, imported when the
command runs), in file-name order. Each check prints PASS or FAIL with its problems under it,
then one summary line. A file that does not load is one more
failure, printed with the loader's message, and the other files are still checked: the point is
to show everything wrong at once, in CI as on a desk.

Rules: exit status 0 when every check of every file passes, 1 when anything fails. A folder that
does not exist or holds no model is not "all checks pass" but a usage error (`ModelError`, exit
status 2 through the command line's error handling), so a mistyped path never turns CI green.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from handoff_fsm.errors import ModelError
from handoff_fsm.model import bundled_models_dir, load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model_dir",
        nargs="?",
        type=Path,
        default=None,
        metavar="MODEL_DIR",
        help="folder of *.yaml model files (default: the models bundled with handoff-fsm)",
    )


def run(args: argparse.Namespace) -> int:
    from handoff_fsm.tools.analysis import check_model  # the `tools` extra, loaded on use

    folder: Path = args.model_dir if args.model_dir is not None else bundled_models_dir()
    if not folder.is_dir():
        raise ModelError(str(folder), "", "is not a folder")
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ModelError(str(folder), "", "holds no *.yaml model file")
    checks = failed = unloaded = 0
    for file in files:
        try:
            model = load_model(file)
        except ModelError as exc:
            unloaded += 1
            print(f"{file}: does not load")
            _print_check("load", [str(exc)])
            continue
        print(f"{file}: model {model.name!r}")
        for result in check_model(model):
            checks += 1
            failed += not result.ok
            _print_check(result.name, result.problems)
    if failed or unloaded:
        print(
            f"verify: FAIL: {failed} of {checks} checks failed, "
            f"{unloaded} of {len(files)} files did not load"
        )
        return 1
    print(f"verify: PASS: {checks} checks on {len(files)} models")
    return 0


def _print_check(name: str, problems: Sequence[str]) -> None:
    print(f"  {'FAIL' if problems else 'PASS'}  {name}")
    for problem in problems:
        print(f"        - {problem}")
