"""One writer per store: an exclusive `flock` on `STORE-lock`, which also remembers the head.

Theory of operation: a writer holds an exclusive advisory lock on the file `STORE-lock` beside
the store for as long as it has the store open; the OS frees it when the process dies, so a
crash never leaves a stale lock. The lock file also holds, as text, the `seq` of the last batch
the writer committed (written after each commit, not synced): if the store's log ends before it
(the WAL file was removed after a crash), openers warn that acknowledged steps may be missing.

Rules: the `-lock` file is never removed (removing it would let two writers lock two different
files); it holds no data the store needs, only that hint.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Final

from handoff_fsm.adapters.store.errors import StoreError

if sys.platform != "win32":
    import fcntl

LOCK_SUFFIX: Final = "-lock"


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)


def recorded_head(path: Path) -> int | None:
    """The head the last writer recorded beside `path`, if any."""
    try:
        text = lock_path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


class WriterLock:
    """An exclusive advisory lock on `STORE-lock`, held while a writer has the store open."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = lock_path(path)
        self._fd: int | None = None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the writer lock ({exc.strerror})") from None
        if sys.platform == "win32":  # pragma: no cover - no flock; the head check still holds
            self._fd = fd
            return
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    waited = f" (waited {timeout:g} s)" if timeout > 0 else ""
                    raise StoreError(
                        f"{path}: another writer has this store open{waited}; one writer at "
                        "a time (readers such as `replay` need no lock)"
                    ) from None
                time.sleep(0.02)
            except OSError as exc:
                os.close(fd)
                raise StoreError(f"{self.path}: cannot lock ({exc.strerror})") from None
            else:
                self._fd = fd
                return

    def record_head(self, seq: int) -> None:
        """Remember the last committed seq (a hint for openers; errors are ignored)."""
        if self._fd is None:
            return
        data = f"{seq:020d}\n".encode("ascii")
        with contextlib.suppress(OSError):
            os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


__all__ = ["LOCK_SUFFIX", "WriterLock", "lock_path", "recorded_head"]
