"""The testing kit: what proves a switchboard keeps its promises, shipped for embedders and tests.

Theory of operation: like `trio.testing`, this is not the core's API but a kit beside it:

- `auditor`: `Auditor`, which drives a switchboard step by step and checks every invariant;
- `checks`: one `Check` per invariant (`CHECKS`, `INVARIANTS`), in modules by subject;
- `fingerprint`: every observable of a switchboard, to compare around a step;
- `roster`: who is in each conversation, rebuilt from the effect stream alone;
- `reference`: the lifecycle model interpreted by `transitions` (needs the `testing` extra:
  `pip install 'handoff-fsm[testing]'`), the reference the compiled table is held to.

Rules: the kit reads the core through its read API and its inspection modules
(`handoff_fsm.switchboard.inspect`, `handoff_fsm.routing.inspect`); the core never imports the kit.
This package does not import `reference`, so it works without `transitions`.
"""

from handoff_fsm.testing.auditor import Auditor
from handoff_fsm.testing.checks import (
    CHECKS,
    INVARIANTS,
    Check,
    InvariantViolation,
    RosterCheck,
    StepRecord,
    Violation,
    World,
)
from handoff_fsm.testing.fingerprint import (
    ConversationPrint,
    Fingerprint,
    ParticipantPrint,
    QueuePrint,
    differences,
    fingerprint,
)
from handoff_fsm.testing.roster import Roster

__all__ = [
    "CHECKS",
    "INVARIANTS",
    "Auditor",
    "Check",
    "ConversationPrint",
    "Fingerprint",
    "InvariantViolation",
    "ParticipantPrint",
    "QueuePrint",
    "Roster",
    "RosterCheck",
    "StepRecord",
    "Violation",
    "World",
    "differences",
    "fingerprint",
]
