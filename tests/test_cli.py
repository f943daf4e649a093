"""The command line imports a subcommand only when it runs, and every listed command is real.

What a command imports is read in a fresh interpreter (`sys.modules` after `main`), so this is a
test of what is loaded, not of how fast: the start-up time itself is measured by hand (see
docs/cli.md), never in a timed unit test."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from handoff_fsm.adapters.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "docs" / "scenarios" / "two_bots_one_queue.yaml"


def _loaded_by(*argv: str) -> set[str]:
    code = (
        "import contextlib, io, json, sys\n"
        "from handoff_fsm.adapters.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({list(argv)!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(result.stdout))


def test_help_imports_no_command() -> None:
    loaded = _loaded_by("--help")
    assert not {module for module, _ in COMMANDS.values()} & loaded
    assert "handoff_fsm.switchboard" not in loaded


def test_run_imports_the_runner_and_the_core_only() -> None:
    loaded = _loaded_by("run", str(SEED))
    assert "handoff_fsm.adapters.run" in loaded
    heavy = {"networkx", "graphviz", "transitions", "matplotlib", "handoff_fsm.tools"}
    assert not heavy & loaded
    others = {module for name, (module, _) in COMMANDS.items() if name != "run"}
    assert not others & loaded


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_offers_arguments_and_run(name: str) -> None:
    module = importlib.import_module(COMMANDS[name][0])
    assert callable(module.add_arguments) and callable(module.run)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_lists_every_command_with_its_help(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"{name} {COMMANDS[name][1]}" in out


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["nonsense"])
    assert exit_.value.code == 2
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err
