"""The docs stay true: every Python example in README.md and docs/ runs, and every command in a
`console` block runs from the repository root with exit status 0 and prints the lines shown."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[tuple[Path, int, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group(1) == language:
                found.append((page, text[: match.start()].count("\n") + 1, match.group(2)))
    return found


def commands() -> list[tuple[Path, int, str, list[str]]]:
    found = []
    for page, line, body in blocks("console"):
        command: str | None = None
        expected: list[str] = []
        for row in [*body.splitlines(), "$ "]:
            if row.startswith("$ "):
                if command:
                    found.append((page, line, command, expected))
                command, expected = row[2:].strip(), []
            elif row.strip():
                expected.append(row)
    return found


def _id(item: tuple[Path, int, object] | tuple[Path, int, object, object]) -> str:
    return f"{item[0].name}:{item[1]}"


PYTHON = blocks("python")
CONSOLE = commands()


def test_the_docs_have_examples_to_run() -> None:
    assert len(PYTHON) >= 2 and len(CONSOLE) >= 4


@pytest.mark.parametrize("example", PYTHON, ids=_id)
def test_python_example_runs(example: tuple[Path, int, str]) -> None:
    page, line, code = example
    exec(compile(code, f"{page.name}:{line}", "exec"), {"__name__": "__docs__"})


@pytest.mark.parametrize("example", CONSOLE, ids=_id)
def test_console_command_runs_and_prints_what_the_docs_show(
    example: tuple[Path, int, str, list[str]], tmp_path: Path
) -> None:
    _, _, command, expected = example
    words = command.split()
    assert words[0] == "handoff-fsm", f"docs may only show handoff-fsm commands: {command}"
    words = [str(tmp_path / "out") if w == "out/demo" else w for w in words]
    result = subprocess.run(
        [sys.executable, "-m", "handoff_fsm.adapters.cli", *words[1:]],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    output = result.stdout.splitlines()
    position = 0
    for want in expected:
        assert want in output[position:], f"{want!r} not printed by {command!r}"
        position = output.index(want, position) + 1


def test_readme_shows_the_current_lifecycle_diagram() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    mermaid = [body for page, _, body in blocks("mermaid") if page == ROOT / "README.md"]
    current = (ROOT / "diagrams" / "lifecycle.mmd").read_text(encoding="utf-8")
    assert mermaid == [current], "README.md: paste diagrams/lifecycle.mmd into its mermaid block"
    assert readme.splitlines()[3:5] == [
        "make demo   # creates .venv, installs, runs the seed handoff scenarios and prints their "
        "timelines",
        "make test   # creates .venv, installs, runs ruff, mypy --strict and the whole test suite",
    ]


def test_every_linked_doc_exists() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text(encoding="utf-8")):
            if not target.startswith("http"):
                assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
