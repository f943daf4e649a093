"""The store's errors: which side failed, so that a caller can tell a bad step from a bad disk.

Theory of operation: every store error is a `StoreError` (the project's one hierarchy, under
`HandoffError`), with a stable `code`. A refused step is not a store error at all: it is the
engine's `StepRefused`, raised after the refusal is logged. `StoreWriteError` means the disk did
not take a batch: the wrapper stops (`usable` becomes False). `StoreCorruptError` means stored
bytes do not match their checksums or the state they claim. `StoreConfigError` means a config was
given that is not the store's, and names the first difference.
"""

from __future__ import annotations

import warnings

from handoff_fsm.errors import ErrorCode, StoreError


class StoreWriteError(StoreError):
    """A batch was not made durable (disk full, I/O error, another writer): its steps were not
    acknowledged, and the wrapper takes no more steps."""

    code = ErrorCode.STORE_WRITE_FAILED


class StoreCorruptError(StoreError):
    """Stored bytes that do not match their checksum, their hash chain or the log they claim to
    follow; the message names the row."""

    code = ErrorCode.STORE_CORRUPT


class StoreConfigError(StoreError):
    """A config given to open a store that is not the store's own; names the first difference."""

    code = ErrorCode.STORE_CONFIG_DIFFERS


class StoreClosedError(StoreError):
    """A call on a wrapper that is closed or stopped after a failure."""

    code = ErrorCode.STORE_UNUSABLE


class StoreWarning(UserWarning):
    """Something a reader should know but that does not stop it (acknowledged steps that may be
    missing because the WAL file was removed)."""


def warn(message: str) -> None:
    warnings.warn(message, StoreWarning, stacklevel=3)


__all__ = [
    "StoreClosedError",
    "StoreConfigError",
    "StoreCorruptError",
    "StoreError",
    "StoreWarning",
    "StoreWriteError",
    "warn",
]
