"""Checks on the world changing while it runs (SPEC §5, contract v2) and on retention (SPEC §3).

Theory of operation: the auditor keeps `World` current (every participant and queue the
switchboard has now, plus the kinds of those removed), so these checks compare each step's
fingerprint with the world as it is after the step: a removed participant holds, is offered and
monitors nothing, and hears nothing more; an offer is only ever out to a current member of the
queue the conversation waits in (so a member that left keeps no offer of it); and a forgotten
conversation (retention, `forget`) was ended and leaves no trace in routing or in the timers.
The capacity a change sets is held by `Capacity` (checks/routing.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff_fsm.effects import Ended
from handoff_fsm.events import AddParticipant, RemoveParticipant
from handoff_fsm.switchboard.timers import WRAP_UP
from handoff_fsm.testing.checks.base import Check, StepRecord, Violation, World, addressed
from handoff_fsm.testing.fingerprint import Fingerprint
from handoff_fsm.vocabulary import State


class RemovedHoldNothing(Check):
    """A participant that is not in the contact center (never added, or removed) holds, is
    offered and monitors nothing, and no effect is addressed to it after its removal step.
    """

    name = "removed_hold_nothing"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        self._removed: set[str] = set()

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        present = step.after.participants
        for effect in step.effects:
            to = addressed(effect)
            if to is not None and to in self._removed and to not in present:
                yield self.violation(
                    step, effect.conversation, f"{effect.KIND} to {to}, which was removed"
                )
        for cid, conv in step.after.conversations.items():
            for who, role in ((conv.holder, "holds"), (conv.offer, "is offered")):
                if who is not None and who not in present:
                    yield self.violation(step, cid, f"{who} {role} it but is not a participant")
            for monitor in conv.monitors:
                if monitor not in present:
                    yield self.violation(
                        step, cid, f"{monitor} monitors it but is not a participant"
                    )
        event = step.event
        if step.accepted and isinstance(event, RemoveParticipant):
            self._removed.add(event.participant)
        elif step.accepted and isinstance(event, AddParticipant):
            self._removed.discard(event.participant)


class OffersToMembers(Check):
    """An offer out is always to a current member of the queue the conversation waits in."""

    name = "offers_to_members"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        for cid, conv in step.after.conversations.items():
            if conv.offer is None or conv.queue is None:
                continue
            spec = self.world.queues.get(conv.queue)
            if spec is None or conv.offer not in spec.members:
                yield self.violation(
                    step, cid, f"offered to {conv.offer}, not a member of {conv.queue}"
                )


class ForgottenLeaveNoTrace(Check):
    """Only an ended conversation is forgotten (ended before the step, or by it), and a
    conversation the switchboard does not know appears in no line, hold, offer or pending timer
    (but a wrap-up's: it is its human's, whose units stay in use after the conversation).
    """

    name = "forgotten_leave_no_trace"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        after = step.after
        known = after.conversations
        ended = {effect.conversation for effect in step.effects if isinstance(effect, Ended)}
        for cid, conv in step.before.conversations.items():
            if cid not in known and conv.state is not State.ENDED and cid not in ended:
                yield self.violation(step, cid, f"forgotten while {conv.state}")
        traces: list[tuple[str, str]] = []
        for name, queue in after.queues.items():
            traces += [(cid, f"the line of {name}") for cid in queue.line]
        for pid, seat in after.participants.items():
            traces += [(cid, f"the holds of {pid}") for cid in seat.holds]
            traces += [(cid, f"the offers of {pid}") for cid in seat.offers]
        traces += [(t[2], f"a {t[1]} timer") for t in after.timers if t[1] != WRAP_UP]
        for cid, where in traces:
            if cid not in known:
                yield self.violation(step, cid, f"unknown, yet in {where}")


__all__ = ["ForgottenLeaveNoTrace", "OffersToMembers", "RemovedHoldNothing"]
