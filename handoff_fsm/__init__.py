"""handoff-fsm: a sans-I/O core that hands customer conversations between bots and human agents.

The core (lifecycle, routing, switchboard) takes events in and gives effects out; it does no I/O,
reads no clock and draws no random numbers. Adapters in `handoff_fsm.adapters` (the command-line
runner, the store, the diagram writer) sit around it and depend on it, never the reverse; the
testing kit (`handoff_fsm.testing`) proves it keeps its promises. docs/architecture.md draws it.
"""

from handoff_fsm.errors import (
    ErrorCode,
    HandoffError,
    InvalidStep,
    ModelError,
    ScenarioError,
    StepRefused,
    StoreError,
    TriggerRefused,
)

__version__ = "0.1.0"

__all__ = [
    "ErrorCode",
    "HandoffError",
    "InvalidStep",
    "ModelError",
    "ScenarioError",
    "StepRefused",
    "StoreError",
    "TriggerRefused",
    "__version__",
]
