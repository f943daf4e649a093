"""Writing the files a command produces (`demo`'s JSONL, `diagrams`' folder), with one clear error.

Theory of operation: a command that writes into a folder named on its command line goes through
`ensure_folder` and `write_file`, which turn every operating-system refusal (the name is a file, the
folder is read-only, the disk is full) into `OutputError`: one line naming the path and the
reason, exit status 2 on the command line, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from handoff_fsm.errors import ErrorCode, HandoffError


class OutputError(HandoffError):
    """An output file or folder that cannot be created or written."""

    code = ErrorCode.CANNOT_WRITE

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


def ensure_folder(folder: Path) -> None:
    """Create `folder` (and its parents) unless it exists; it must be a folder."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(folder, "is not a folder; name a folder to write into")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, f"cannot be created ({exc.strerror or exc})") from None


def write_file(path: Path, content: bytes) -> None:
    try:
        path.write_bytes(content)
    except OSError as exc:
        raise OutputError(path, f"cannot be written ({exc.strerror or exc})") from None
