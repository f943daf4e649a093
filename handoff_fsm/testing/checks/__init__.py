"""The runtime invariants of the switchboard, one `Check` per invariant, and their registry.

Theory of operation: an `Auditor` wraps a `Switchboard` and is handed every step instead of it
(`auditor.handle(event, now=..., step_id=...)` behaves exactly like `Switchboard.handle`). Around
each step it takes a `fingerprint` of the switchboard (every observable, read through the public
API only) before the step, when the step's own action starts (after the timeouts that time passing
fired) and after the step, and it feeds a `StepRecord` (event, effects or refusal, the three
fingerprints) to one `Check` per invariant. A check that finds its promise broken returns a
`Violation` naming the invariant, the conversation and the step; the auditor raises them together
as `InvariantViolation` (or only collects them, with `strict=False`).

Each check is independent of the engine it watches: it keeps its own small reference model, built
from the configuration, the events and the effect stream alone (a `Roster` of who is in each
conversation, the context every joiner must receive, who left, what ended), and compares the
switchboard's state with it. Nothing here calls the engine's internals, so an embedder can audit
its own effect streams, and a test can feed a check a hand-made stream to see it fail.

Definitions that need care (the lines of docs/verification.md say the same):
- A *join* is `participant_added` then `context_set` then, for a bot joining as holder, `greeting`,
  to that participant, before anything else about that conversation reaches it. Before the join
  only an `offer` and its `offer_withdrawn` may reach it (an offer is not a join). A monitor that
  takes over is joined again: `participant_added` (role holder) and `context_set`.
- A *leaver* gets `participant_removed` and then nothing about that conversation until it is added
  again. An `offer` to a leaver counts as new contact (it is how a named transfer reaches a
  previous holder), so it and its withdrawal are allowed; it is not a join, and anything else
  before `participant_added` is a violation.
- *The whole context* is every variable (given at start or set by the holder) and every message
  accepted so far, whoever sent it and in whatever state, in order. A `context_set` must be that
  context exactly: as it was before the step's own message for a join caused by a timeout that
  fired first, as it is after it for a join caused by the step itself. So the cancel-phrase
  message that brings a bot back from a wait reaches that bot through its `context_set`, and a
  message in `survey` is kept in the transcript without being relayed.
- *A message reaches the holder once*: a customer message accepted while a participant holds the
  conversation is relayed once to the holder and once to each monitor (an escalation-phrase
  message is relayed to the bot before the bot is removed); in `waiting` it is copied to the
  monitors and answered `queued` with the position in line, unless it is a cancel phrase (the
  whole message): then the wait ends instead (abandoned, or the bot returns with it in its
  context). Bot and agent messages reach the customer and every monitor once. No other step
  relays anything.
- *A refused step changes nothing*: a refusal may carry the timeouts that fired on the way to the
  step's date (time did pass), so the world after it must be exactly the world that merely letting
  time pass to that date gives (a copy of the switchboard is ticked to find out), and the refusal
  must carry exactly those timeouts' effects.
- *FIFO* is about routing picks, not every hold: a bot taking a cancelled or timed-out wait back is
  not a pick, nor is an accept (the pick was the offer).

Rules: checks never raise on a bad stream (they report and resynchronise, so one fault gives one
violation, not a cascade); they read the switchboard only through `fingerprint`; adding an
invariant is one `Check` subclass with a `name`, a one-line docstring saying what it guarantees,
and its place in `CHECKS`.
"""

from __future__ import annotations

from handoff_fsm.testing.checks.base import (
    BEFORE_JOIN,
    Check,
    InvariantViolation,
    RosterCheck,
    StepRecord,
    Violation,
    World,
    addressed,
)
from handoff_fsm.testing.checks.membership import (
    ActingMember,
    CloseOrder,
    ContextComplete,
    EndedIsSilent,
    JoinOrder,
    LeaveSilence,
)
from handoff_fsm.testing.checks.messages import NoMessageLost
from handoff_fsm.testing.checks.requests import RequestKept
from handoff_fsm.testing.checks.routing import (
    BooksMatch,
    Capacity,
    Fifo,
    OneHolder,
    OneOffer,
    WorkConserving,
)
from handoff_fsm.testing.checks.rules import (
    MissedOffers,
    PriorityOrder,
    RequirementsMet,
    WrapUpAnnounced,
)
from handoff_fsm.testing.checks.steps import (
    DuplicateChangesNothing,
    RefusalChangesNothing,
    TimeMonotonic,
    TimeoutsFirst,
)
from handoff_fsm.testing.checks.timers import OneTimerEach
from handoff_fsm.testing.checks.world import (
    ForgottenLeaveNoTrace,
    OffersToMembers,
    RemovedHoldNothing,
)

#: Every invariant, in the order violations are reported.
CHECKS: tuple[type[Check], ...] = (
    TimeMonotonic,
    DuplicateChangesNothing,
    RefusalChangesNothing,
    TimeoutsFirst,
    JoinOrder,
    LeaveSilence,
    ContextComplete,
    OneHolder,
    Capacity,
    OneOffer,
    Fifo,
    WorkConserving,
    NoMessageLost,
    ActingMember,
    EndedIsSilent,
    CloseOrder,
    BooksMatch,
    RemovedHoldNothing,
    OffersToMembers,
    ForgottenLeaveNoTrace,
    PriorityOrder,
    RequirementsMet,
    MissedOffers,
    WrapUpAnnounced,
    OneTimerEach,
    RequestKept,
)
#: name -> what it guarantees (the first line of its check's docstring).
INVARIANTS: dict[str, str] = {check.name: check.guarantee() for check in CHECKS}

__all__ = [
    "BEFORE_JOIN",
    "CHECKS",
    "INVARIANTS",
    "ActingMember",
    "BooksMatch",
    "Capacity",
    "Check",
    "CloseOrder",
    "ContextComplete",
    "DuplicateChangesNothing",
    "EndedIsSilent",
    "Fifo",
    "ForgottenLeaveNoTrace",
    "InvariantViolation",
    "JoinOrder",
    "LeaveSilence",
    "MissedOffers",
    "NoMessageLost",
    "OffersToMembers",
    "OneHolder",
    "OneOffer",
    "OneTimerEach",
    "PriorityOrder",
    "RefusalChangesNothing",
    "RemovedHoldNothing",
    "RequestKept",
    "RequirementsMet",
    "RosterCheck",
    "StepRecord",
    "TimeMonotonic",
    "TimeoutsFirst",
    "Violation",
    "WorkConserving",
    "World",
    "WrapUpAnnounced",
    "addressed",
]
