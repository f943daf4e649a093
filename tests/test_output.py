"""The output folder and files of a command: every refusal of the system is one `OutputError`."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff_fsm.adapters.output import OutputError, ensure_folder, write_file


def test_a_new_folder_is_created_with_its_parents(tmp_path: Path) -> None:
    ensure_folder(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


def test_a_folder_under_a_file_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=r"/file/sub: cannot be created \(") as caught:
        ensure_folder(tmp_path / "file" / "sub")
    assert caught.value.code == "cannot_write"


def test_a_file_in_a_missing_folder_cannot_be_written(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"/missing/x.txt: cannot be written \("):
        write_file(tmp_path / "missing" / "x.txt", b"x")
