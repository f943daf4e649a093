"""`handoff-fsm diagrams`: writes three files per model, and `--check` fails naming every file that
a model change (or a hand edit) left stale. The committed `diagrams/` folder must be current."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from handoff_fsm.adapters.cli import main
from handoff_fsm.adapters.diagrams import render_svg
from handoff_fsm.diagrams import to_dot, to_mermaid
from handoff_fsm.model import bundled_models_dir, load_bundled, load_model

REPO_ROOT = Path(__file__).resolve().parent.parent
EXPECTED = sorted(
    f"{name}.{ext}" for name in ("lifecycle", "routing") for ext in ("dot", "svg", "mmd")
)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A private copy of the bundled models, to edit."""
    return Path(shutil.copytree(bundled_models_dir(), tmp_path / "models"))


def _generate(models: Path, out: Path) -> None:
    assert main(["diagrams", "--no-scenarios", "--models", str(models), "--out", str(out)]) == 0


def _check(models: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    status = main(
        ["diagrams", "--check", "--no-scenarios", "--models", str(models), "--out", str(out)]
    )
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_committed_diagrams_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    """Edit a model without running `handoff-fsm diagrams` (make diagrams), and this fails."""
    capsys.readouterr()
    status = main(
        ["diagrams", "--check", "--models", str(REPO_ROOT / "models"),
         "--scenarios", str(REPO_ROOT / "docs" / "scenarios"),
         "--out", str(REPO_ROOT / "diagrams")]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err


def test_writes_dot_svg_and_mermaid_for_every_bundled_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["diagrams"]) == 0  # default folder: ./diagrams
    out = tmp_path / "diagrams"
    assert sorted(p.name for p in out.iterdir()) == EXPECTED
    assert "wrote" in capsys.readouterr().out
    assert (out / "lifecycle.dot").read_text() == to_dot(load_bundled("lifecycle"))
    assert (out / "lifecycle.mmd").read_text().count("stateDiagram-v2") == 1
    svg = (out / "lifecycle.svg").read_text()
    root = ET.fromstring(svg.split("\n", 3)[3])  # past the XML declaration and DOCTYPE
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    for state in load_bundled("lifecycle").states:
        assert f"<title>{state}</title>" in svg

    # A second run rewrites nothing.
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["diagrams"]) == 0
    assert "wrote" not in capsys.readouterr().out
    assert before == {p.name: p.stat().st_mtime_ns for p in out.iterdir()}


def test_check_passes_on_fresh_output(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _generate(models, tmp_path / "out")
    status, report = _check(models, tmp_path / "out", capsys)
    assert status == 0, report
    assert "current" in report


def test_check_names_every_file_of_an_edited_model(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _generate(models, out)
    lifecycle = models / "lifecycle.yaml"
    lifecycle.write_text(
        lifecycle.read_text().replace(
            "  - {trigger: enqueue, source: [new], dest: waiting}\n",
            "  - {trigger: enqueue, source: [new], dest: waiting}\n"
            "  - {trigger: reopen, source: [ended], dest: waiting}\n",
        )
    )
    status, report = _check(models, out, capsys)
    assert status == 1
    for name in ("lifecycle.dot", "lifecycle.svg", "lifecycle.mmd"):
        assert f"{out / name}: differs" in report
    assert "routing." not in report
    assert "handoff-fsm diagrams --out" in report

    _generate(models, out)
    assert _check(models, out, capsys)[0] == 0


@pytest.mark.parametrize("name", ["routing.mmd", "routing.dot", "lifecycle.svg"])
def test_check_names_a_tampered_file(
    name: str, models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _generate(models, out)
    with (out / name).open("a") as file:
        file.write("\n")
    status, report = _check(models, out, capsys)
    assert status == 1
    assert f"{out / name}: differs" in report
    assert [n for n in EXPECTED if str(out / n) in report] == [name]


def test_check_names_missing_and_extra_files(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _generate(models, out)
    (out / "routing.svg").unlink()
    (out / "retired.dot").write_text("digraph retired {}\n")
    (out / "README.txt").write_text("not ours: left alone\n")
    status, report = _check(models, out, capsys)
    assert status == 1
    assert f"{out / 'routing.svg'}: missing" in report
    assert f"{out / 'retired.dot'}: produced by no model" in report
    assert "README" not in report


def test_check_of_a_folder_that_does_not_exist_names_every_file(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nothing-here"
    status, report = _check(models, out, capsys)
    assert status == 1
    for name in EXPECTED:
        assert f"{out / name}: missing" in report
    assert not out.exists()


def test_missing_dot_fails_with_a_clear_message(
    models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    _generate(models, out)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    status, report = _check(models, out, capsys)
    assert status == 2
    assert "Graphviz's `dot` is needed" in report
    assert "Traceback" not in report


def test_svg_is_byte_stable_and_names_no_graphviz_version() -> None:
    dot = to_dot(load_bundled("routing"))
    svg = render_svg(dot)
    assert svg == render_svg(dot)
    assert "Generated by graphviz" not in svg
    assert svg.startswith("<?xml")
    assert svg.endswith("</svg>\n")


def test_docs_embed_the_current_mermaid_diagrams() -> None:
    docs = (REPO_ROOT / "docs" / "diagrams.md").read_text()
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", docs, re.MULTILINE | re.DOTALL)
    assert blocks == [
        to_mermaid(load_model(REPO_ROOT / "models" / f"{name}.yaml"))
        for name in ("lifecycle", "routing")
    ], "docs/diagrams.md: paste the regenerated diagrams/*.mmd into its mermaid blocks"


def test_scenario_paths_are_drawn_for_every_conversation(tmp_path: Path) -> None:
    scenarios = REPO_ROOT / "docs" / "scenarios"
    assert main(["diagrams", "--scenarios", str(scenarios), "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {f"scenario.end_with_survey.{c}.mmd" for c in ("c1", "c2", "c3")} <= names
    mermaid = (tmp_path / "scenario.two_bots_one_queue.c1.mmd").read_text()
    for number, trigger in enumerate(
        ["bot_takes", "escalate", "agent_accepts", "transfer", "bot_takes"], start=1
    ):
        assert f"({number}) {trigger}" in mermaid
    assert "(6)" not in mermaid


def test_a_changed_scenario_makes_its_committed_path_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = Path(shutil.copytree(REPO_ROOT / "docs" / "scenarios", tmp_path / "scenarios"))
    out = tmp_path / "out"
    assert main(["diagrams", "--scenarios", str(scenarios), "--out", str(out)]) == 0
    flow = scenarios / "two_bots_one_queue.yaml"
    flow.write_text(
        flow.read_text().replace(
            "kind: bot}", "kind: bot}\n  - end: {conversation: c1, participant: bot-b}"
        )
    )
    capsys.readouterr()
    status = main(["diagrams", "--check", "--scenarios", str(scenarios), "--out", str(out)])
    report = capsys.readouterr().err
    assert status == 1
    assert "scenario.two_bots_one_queue.c1.mmd" in report
