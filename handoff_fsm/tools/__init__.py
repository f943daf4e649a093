"""Tools over the models: static analysis (`analysis`, networkx) and diagrams (`diagrams`, DOT and
Mermaid text), shipped behind the `tools` extra (`pip install 'handoff-fsm[tools]'`).

Theory of operation: the core and a plain install never import this package's modules; the
commands that need them (`verify`, `diagrams`) import them when they run. Every third-party
library that an extra provides is imported through `require`, so a missing one is one clear
line naming the extra to install (`MissingExtra`, code `missing_extra`, exit status 2 on the
command line), never a traceback. This file itself imports nothing beyond the standard library
and the error hierarchy, so importing it is always safe and cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from handoff_fsm.errors import ErrorCode, HandoffError


class MissingExtra(HandoffError):
    """A library of an optional extra is not installed; the message names the extra to install."""

    code = ErrorCode.MISSING_EXTRA

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"this needs {module}, which is not installed; "
            f"install handoff-fsm[{extra}] (pip install 'handoff-fsm[{extra}]')"
        )


def require(module: str, *, extra: str) -> ModuleType:
    """Import `module`, or raise `MissingExtra` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(module, extra) from None


__all__ = ["MissingExtra", "require"]
