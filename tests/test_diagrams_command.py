"""`handoff-fsm diagrams`: writes three files per model, and `--check` fails naming every file that
a model change (or a hand edit) left stale. The committed `diagrams/` folder must be current.

Checking compares DOT and Mermaid text and each SVG's recorded digest of its DOT, so it needs no
Graphviz: only the tests that render (marked `needs_program("dot")`) skip without it."""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import needs_program

from handoff_fsm.adapters.cli import main
from handoff_fsm.adapters.diagrams import dot_digest, recorded_digest, render_svg, scenario_diagrams
from handoff_fsm.model import bundled_models_dir, load_bundled, load_model
from handoff_fsm.tools.diagrams import to_dot, to_mermaid

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMITTED = REPO_ROOT / "diagrams"
EXPECTED = sorted(
    f"{name}.{ext}" for name in ("lifecycle", "routing") for ext in ("dot", "svg", "mmd")
)
needs_dot = needs_program("dot")


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A private copy of the bundled models, to edit."""
    return Path(shutil.copytree(bundled_models_dir(), tmp_path / "models"))


@pytest.fixture
def current(tmp_path: Path) -> Path:
    """A diagrams folder holding the committed (current) diagrams of the two models."""
    out = tmp_path / "out"
    out.mkdir()
    for name in EXPECTED:
        shutil.copy(COMMITTED / name, out / name)
    return out


@pytest.fixture
def no_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Graphviz's `dot` is not on PATH."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


def _generate(models: Path, out: Path) -> int:
    return main(["diagrams", "--no-scenarios", "--models", str(models), "--out", str(out)])


def _check(models: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    status = main(
        ["diagrams", "--check", "--no-scenarios", "--models", str(models), "--out", str(out)]
    )
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def _edit_lifecycle(models: Path) -> None:
    lifecycle = models / "lifecycle.yaml"
    lifecycle.write_text(
        lifecycle.read_text().replace(
            "  - {trigger: enqueue, source: [new], dest: waiting}\n",
            "  - {trigger: enqueue, source: [new], dest: waiting}\n"
            "  - {trigger: reopen, source: [ended], dest: waiting}\n",
        )
    )


def test_committed_diagrams_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    """Edit a model without running `handoff-fsm diagrams` (make diagrams), and this fails."""
    capsys.readouterr()
    status = main(
        ["diagrams", "--check", "--models", str(REPO_ROOT / "models"),
         "--scenarios", str(REPO_ROOT / "docs" / "scenarios"), "--out", str(COMMITTED)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err


def test_check_uses_the_shipped_seed_scenarios_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["diagrams", "--check", "--out", str(COMMITTED)]) == 0
    assert "the 36 files" in capsys.readouterr().out


def test_check_needs_no_graphviz(
    models: Path, current: Path, no_dot: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = _check(models, current, capsys)
    assert status == 0, report
    assert "current" in report


def test_writing_a_current_folder_needs_no_graphviz(
    models: Path, current: Path, no_dot: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in current.iterdir()}
    assert _generate(models, current) == 0
    assert "wrote" not in capsys.readouterr().out
    assert before == {p.name: p.stat().st_mtime_ns for p in current.iterdir()}


def test_check_names_every_file_of_an_edited_model(
    models: Path, current: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit_lifecycle(models)
    status, report = _check(models, current, capsys)
    assert status == 1
    for name in ("lifecycle.dot", "lifecycle.svg", "lifecycle.mmd"):
        assert f"{current / name}: differs" in report
    assert "routing." not in report
    assert "handoff-fsm diagrams --out" in report


@needs_dot
def test_regenerating_an_edited_model_renders_its_svg_only(
    models: Path, current: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit_lifecycle(models)
    routing_svg = (current / "routing.svg").stat().st_mtime_ns
    assert _generate(models, current) == 0
    assert _check(models, current, capsys)[0] == 0
    assert (current / "routing.svg").stat().st_mtime_ns == routing_svg
    svg = (current / "lifecycle.svg").read_bytes()
    assert recorded_digest(svg) == dot_digest((current / "lifecycle.dot").read_text())
    assert b"<title>ended&#45;&gt;waiting</title>" in svg  # the new row is drawn


def test_missing_dot_fails_with_a_clear_message_and_writes_nothing(
    models: Path, current: Path, no_dot: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit_lifecycle(models)
    before = {p.name: p.read_bytes() for p in current.iterdir()}
    assert _generate(models, current) == 2
    report = capsys.readouterr().err
    assert "Graphviz's `dot` is needed" in report
    assert "Traceback" not in report
    assert before == {p.name: p.read_bytes() for p in current.iterdir()}


@pytest.mark.parametrize("name", ["routing.mmd", "routing.dot"])
def test_check_names_a_tampered_text_file(
    name: str, models: Path, current: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (current / name).open("a") as file:
        file.write("\n")
    status, report = _check(models, current, capsys)
    assert status == 1
    assert f"{current / name}: differs" in report
    assert [n for n in EXPECTED if str(current / n) in report] == [name]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda svg: re.sub(r"sha256:[0-9a-f]{8}", "sha256:00000000", svg),  # another DOT's SVG
        lambda svg: re.sub(r"<!-- handoff-fsm: [^>]*-->\n", "", svg),  # rendered by hand
    ],
    ids=["other digest", "no digest"],
)
def test_check_names_an_svg_not_rendered_from_the_current_dot(
    tamper: object, models: Path, current: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert callable(tamper)
    svg = current / "lifecycle.svg"
    svg.write_text(tamper(svg.read_text()))
    status, report = _check(models, current, capsys)
    assert status == 1
    assert f"{svg}: differs: not rendered from the current DOT" in report
    assert [n for n in EXPECTED if str(current / n) in report] == ["lifecycle.svg"]


def test_check_names_missing_and_extra_files(
    models: Path, current: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (current / "routing.svg").unlink()
    (current / "retired.dot").write_text("digraph retired {}\n")
    (current / "README.txt").write_text("not ours: left alone\n")
    status, report = _check(models, current, capsys)
    assert status == 1
    assert f"{current / 'routing.svg'}: missing" in report
    assert f"{current / 'retired.dot'}: produced by no model" in report
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


@pytest.mark.parametrize("check", [False, True], ids=["write", "check"])
def test_out_that_is_a_file_is_one_error_line(
    check: bool, models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "a-file"
    target.write_text("mine\n")
    argv = ["diagrams", "--no-scenarios", "--models", str(models), "--out", str(target)]
    assert main(argv + ["--check"] * check) == 2
    err = capsys.readouterr().err
    assert err == (
        f"handoff-fsm diagrams: {target}: is not a folder; name the diagrams folder "
        "with --out DIR\n"
    )
    assert target.read_text() == "mine\n"


def test_out_that_cannot_be_written_is_one_error_line(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_dot: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "read-only"
    shutil.copytree(COMMITTED, out)
    (out / "routing.mmd").unlink()
    out.chmod(0o555)
    try:
        if os.access(out, os.W_OK):  # root writes anywhere: let the file system refuse instead
            monkeypatch.setattr(Path, "write_bytes", _refuse)
        status = _generate(models, out)
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith(f"handoff-fsm diagrams: {out / 'routing.mmd'}: cannot be written (")
    assert "Traceback" not in err


def _refuse(self: Path, data: bytes) -> int:
    raise PermissionError(13, "Permission denied", str(self))


def test_an_empty_scenarios_folder_is_an_error_not_zero_diagrams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["diagrams", "--check", "--scenarios", str(tmp_path), "--out", str(COMMITTED)]
    assert main(argv) == 2
    assert "holds no *.yaml scenario file" in capsys.readouterr().err


@needs_dot
def test_writes_dot_svg_and_mermaid_for_every_bundled_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["diagrams", "--no-scenarios"]) == 0  # default folder: ./diagrams
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
    assert main(["diagrams", "--no-scenarios"]) == 0
    assert "wrote" not in capsys.readouterr().out
    assert before == {p.name: p.stat().st_mtime_ns for p in out.iterdir()}


@needs_dot
def test_svg_records_its_dot_is_byte_stable_and_names_no_graphviz_version() -> None:
    dot = to_dot(load_bundled("routing"))
    svg = render_svg(dot)
    assert svg == render_svg(dot)
    assert recorded_digest(svg.encode()) == dot_digest(dot)
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


def test_scenario_paths_are_drawn_for_every_conversation() -> None:
    scenarios = REPO_ROOT / "docs" / "scenarios"
    lifecycle = load_bundled("lifecycle")
    survey = scenario_diagrams(lifecycle, scenarios / "end_with_survey.yaml")
    assert [d.stem for d in survey] == [f"scenario.end_with_survey.{c}" for c in ("c1", "c2", "c3")]
    [flow] = scenario_diagrams(lifecycle, scenarios / "two_bots_one_queue.yaml")
    for number, trigger in enumerate(
        ["bot_takes", "escalate", "agent_accepts", "transfer", "bot_takes"], start=1
    ):
        assert f"({number}) {trigger}" in flow.mermaid
    assert "(6)" not in flow.mermaid


def test_a_changed_scenario_makes_its_committed_path_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = Path(shutil.copytree(REPO_ROOT / "docs" / "scenarios", tmp_path / "scenarios"))
    flow = scenarios / "two_bots_one_queue.yaml"
    flow.write_text(
        flow.read_text().replace(
            "kind: bot}", "kind: bot}\n  - end: {conversation: c1, participant: bot-b}"
        )
    )
    capsys.readouterr()
    status = main(["diagrams", "--check", "--scenarios", str(scenarios), "--out", str(COMMITTED)])
    report = capsys.readouterr().err
    assert status == 1
    stale = {line.split(": ")[0].strip() for line in report.splitlines()[1:-1]}
    assert stale == {
        str(COMMITTED / f"scenario.two_bots_one_queue.c1.{ext}") for ext in ("dot", "svg", "mmd")
    } | {str(scenarios / "two_bots_one_queue.sequence.md")}


def test_sequence_pages_are_written_beside_their_scenarios_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(REPO_ROOT / "docs" / "scenarios" / "two_bots_one_queue.yaml", scenarios)
    out = tmp_path / "out"
    out.mkdir()
    flow = [f"scenario.two_bots_one_queue.c1.{ext}" for ext in ("dot", "svg", "mmd")]
    for name in [*EXPECTED, *flow]:
        shutil.copy(COMMITTED / name, out / name)  # current: writing renders nothing
    argv = ["diagrams", "--scenarios", str(scenarios), "--out", str(out)]
    page = scenarios / "two_bots_one_queue.sequence.md"
    assert main([*argv, "--check"]) == 1
    assert f"{page}: missing" in capsys.readouterr().err
    assert main(argv) == 0
    committed = REPO_ROOT / "docs" / "scenarios" / "two_bots_one_queue.sequence.md"
    assert page.read_bytes() == committed.read_bytes()
    assert main([*argv, "--check"]) == 0
    page.write_text(page.read_text().replace("Thanks!", "Thanks"))
    (scenarios / "gone.sequence.md").write_text("old\n")
    capsys.readouterr()
    assert main([*argv, "--check"]) == 1
    report = capsys.readouterr().err
    assert f"{page}: differs from what a run of its scenario gives now" in report
    assert f"{scenarios / 'gone.sequence.md'}: produced by no scenario" in report


def test_sequences_option_names_the_folder_of_the_pages(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    argv = ["diagrams", "--out", str(COMMITTED), "--sequences", str(pages)]
    assert main(argv) == 0
    names = sorted(p.name for p in pages.iterdir())
    assert names == sorted(
        f"{p.stem}.sequence.md" for p in (REPO_ROOT / "docs" / "scenarios").glob("*.yaml")
    )
    assert main([*argv, "--check"]) == 0


def test_other_models_without_a_lifecycle_get_no_scenario_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(bundled_models_dir() / "routing.yaml", models)
    out = tmp_path / "out"
    out.mkdir()
    for suffix in (".dot", ".svg", ".mmd"):
        shutil.copy(COMMITTED / f"routing{suffix}", out)
    assert main(["diagrams", "--check", "--models", str(models), "--out", str(out)]) == 0
    argv = ["diagrams", "--check", "--models", str(models), "--out", str(out), "--scenarios"]
    assert main([*argv, str(REPO_ROOT / "docs" / "scenarios")]) == 2
    assert "lifecycle.yaml: cannot be read" in capsys.readouterr().err
