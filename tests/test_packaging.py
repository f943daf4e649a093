"""What a user installs: a plain install carries only attrs and PyYAML, the rest are extras; the
built wheel carries the models, the seed scenarios and py.typed, and works outside the repository.

The wheel test installs the built wheel into a fresh virtual environment with `--no-deps
--no-index` (no network) and lends it this environment's attrs and PyYAML, nothing else, so it is
also a real plain install: networkx, graphviz, transitions and matplotlib are not there."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import attr
import attrs
import graphviz
import pytest
import yaml
from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted(p.name for p in (ROOT / "docs" / "scenarios").glob("*.yaml"))
#: The libraries of the extras, which a plain install must do without.
EXTRAS_LIBRARIES = ("networkx", "graphviz", "transitions", "matplotlib")


def _requirement_name(requirement: str) -> str:
    for stop in "<>=!~[; ":
        requirement = requirement.split(stop)[0]
    return requirement.lower()


def test_a_plain_install_needs_only_attrs_and_pyyaml() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(_requirement_name(r) for r in project["dependencies"]) == ["attrs", "pyyaml"]
    extras = project["optional-dependencies"]
    assert {"tools", "testing", "plot", "dev", "bench"} <= set(extras)
    tools = {_requirement_name(r) for r in extras["tools"]}
    assert tools == {"networkx", "graphviz"}
    assert "transitions" in {_requirement_name(r) for r in extras["testing"]}


def _without_extras(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the command line in this environment with the extras' libraries made unimportable."""
    code = (
        "import sys\n"
        f"for name in {EXTRAS_LIBRARIES!r}: sys.modules[name] = None\n"
        "from handoff_fsm.adapters.cli import main\n"
        f"sys.exit(main({list(argv)!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_run_works_without_the_extras(tmp_path: Path) -> None:
    seed = ROOT / "docs" / "scenarios" / "two_bots_one_queue.yaml"
    result = _without_extras("run", str(seed), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = seed.with_name("two_bots_one_queue.expected.jsonl").read_text(encoding="utf-8")
    assert result.stdout == expected


@pytest.mark.parametrize(
    ("argv", "library"), [(["verify"], "networkx"), (["diagrams", "--check"], "graphviz")]
)
def test_a_command_that_needs_an_extra_names_it_in_one_line(
    argv: list[str], library: str, tmp_path: Path
) -> None:
    result = _without_extras(*argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"handoff-fsm {argv[0]}: this needs {library}, which is not installed; "
        "install handoff-fsm[tools] (pip install 'handoff-fsm[tools]')\n"
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    return Path(next(WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])))


def test_wheel_ships_models_seed_scenarios_and_py_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "handoff_fsm/py.typed" in names
    models = {p.name for p in (ROOT / "models").glob("*.yaml")}
    assert models and {f"handoff_fsm/models/{m}" for m in models} <= names
    assert SEEDS and {f"handoff_fsm/scenarios/{s}" for s in SEEDS} <= names
    assert "handoff_fsm/tools/analysis.py" in names


def _lend(site: Path, *modules: object) -> None:
    """Make this environment's copy of each (package) module importable in another venv."""
    lent = site / "lent"
    lent.mkdir(exist_ok=True)
    for module in modules:
        package = Path(str(getattr(module, "__file__", ""))).parent
        (lent / package.name).symlink_to(package)
    (site / "lent.pth").write_text(f"{lent}\n")


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and attrs and PyYAML only; its `bin` folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "--quiet"]
    subprocess.run([*pip, "install", "--no-deps", "--no-index", str(wheel)], check=True)
    [site] = venv.glob("lib/python*/site-packages")
    _lend(site, attr, attrs, yaml)
    return venv / "bin"


def _installed_cli(
    bin_dir: Path, *argv: str, cwd: Path, path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    return subprocess.run(
        [str(bin_dir / "handoff-fsm"), *argv],
        cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_installed_wheel_runs_every_seed_scenario_outside_the_repository(
    installed: Path, tmp_path: Path
) -> None:
    result = _installed_cli(installed, "demo", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"({len(SEEDS)} files)" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        s.replace(".yaml", ".jsonl") for s in SEEDS
    ]
    assert "/site-packages/handoff_fsm/scenarios/" in result.stdout


def test_installed_wheel_is_a_plain_install(installed: Path, tmp_path: Path) -> None:
    result = _installed_cli(installed, "verify", cwd=tmp_path)
    assert result.returncode == 2
    assert "install handoff-fsm[tools]" in result.stderr
    assert result.stderr.count("\n") == 1


def test_installed_wheel_checks_the_seed_scenario_diagrams_outside_the_repository(
    installed: Path, tmp_path: Path
) -> None:
    lent = tmp_path / "graphviz-only"
    lent.mkdir()
    (lent / "graphviz").symlink_to(Path(str(graphviz.__file__)).parent)
    committed = ROOT / "diagrams"
    result = _installed_cli(
        installed, "diagrams", "--check", "--out", str(committed), cwd=tmp_path, path=lent
    )
    assert result.returncode == 0, result.stderr
    scenario_files = len(list(committed.glob("scenario.*")))
    assert scenario_files and f"the {scenario_files + 6} files" in result.stdout
