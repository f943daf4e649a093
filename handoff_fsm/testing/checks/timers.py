"""Checks on timers: one live timer per open offer and per wait, at its deadline.

Theory of operation: the check keeps its own model of every open offer and every wait, built from
the configuration (each queue's `offer_timeout` and `wait_timeout`, its overflow rule), the
`offer`, `offer_withdrawn` and `participant_added` effects and the steps (their dates, the
lifecycle states before and after), and compares it with the switchboard's live timers as the
fingerprint shows them (`handoff_fsm.switchboard.inspect.pending_timers`). An offer made by the
step's own action is due at the step's date plus its queue's offer timeout; one made while the
timeouts that time passing fired is due somewhere in the window those timeouts span, and the model
adopts the timer it finds there. A wait begins when a conversation starts waiting (at the step's
date) or when its wait ran out into an overflow queue (at the old deadline).

Live changes and retention: `update_queue` applies to what comes after, so what time passing
did before the step's action (offers and overflows of the timeouts that fired) follows the queues
as they were before the step, and the action follows the queues as the step left them. Offers
withdrawn by a live change (`set_capacity`, `leave_queue`, `remove_participant`) come as
`offer_withdrawn` effects like any other; a conversation forgotten (retention) leaves the model.
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff_fsm.config import OverflowTransfer
from handoff_fsm.effects import (
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    Role,
    WithdrawReason,
)
from handoff_fsm.events import Start, Transfer
from handoff_fsm.lifecycle import State
from handoff_fsm.testing.checks.base import Check, StepRecord, Violation, World
from handoff_fsm.testing.fingerprint import Fingerprint

OFFER, WAIT = "offer", "wait"


class OneTimerEach(Check):
    """Each open offer has exactly one live timer, at its deadline (the offer's date plus its
    queue's offer timeout), and each wait exactly one, at the wait's start plus its queue's wait
    timeout; nothing else has an offer or a wait timer.
    """

    name = "one_timer_each"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        # conversation -> (participant, deadline or None, the window it lies in when unsure)
        self._offers: dict[str, tuple[str, float | None, tuple[float, float] | None]] = {}
        # conversation -> (queue, deadline or None)
        self._waits: dict[str, tuple[str, float | None]] = {}
        # conversation -> the queue it last entered or was offered from
        self._queue_of: dict[str, str] = {}
        for cid, conv in start.conversations.items():
            if conv.queue is not None:
                self._queue_of[cid] = conv.queue
        # The queues as they were before the step: time passing (offers and overflows made by
        # the timeouts that fired first) runs under them, the step's own action under the new.
        self._queues_before = dict(world.queues)

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if step.duplicate:
            return
        yield from self._follow_offers(step)
        event = step.event
        if step.accepted and isinstance(event, Start | Transfer):  # after time passing's offers
            self._queue_of[event.conversation] = event.queue
        yield from self._follow_waits(step)
        for gone in (set(self._offers) | set(self._waits)) - set(step.after.conversations):
            self._offers.pop(gone, None)  # forgotten (retention): nothing of it is left
            self._waits.pop(gone, None)
        yield from self._compare(step)
        self._queues_before = dict(self.world.queues)

    def _follow_offers(self, step: StepRecord) -> Iterator[Violation]:
        date = step.after.now
        for at, effect in enumerate(step.effects):
            cid = effect.conversation
            if cid is None:  # a presence line names no conversation
                continue
            if isinstance(effect, Offer):
                self._queue_of[cid] = effect.queue
                queues = self.world.queues if at >= step.fired else self._queues_before
                timeout = queues[effect.queue].offer_timeout
                if timeout is None:
                    self._offers[cid] = (effect.to, None, None)
                elif at >= step.fired:
                    self._offers[cid] = (effect.to, date + timeout, None)
                else:
                    window = (step.before.now + timeout, date + timeout)
                    self._offers[cid] = (effect.to, None, window)
            elif isinstance(effect, OfferWithdrawn):
                made = self._offers.pop(cid, None)
                due = None if made is None else made[1]
                if effect.reason is WithdrawReason.TIMEOUT and due is not None and due > date:
                    yield self.violation(
                        step, cid, f"offer to {effect.to} timed out before its deadline {due:g}"
                    )
            elif isinstance(effect, ParticipantAdded) and effect.role is Role.HOLDER:
                self._offers.pop(cid, None)

    def _follow_waits(self, step: StepRecord) -> Iterator[Violation]:
        date = step.after.now
        for cid, conv in step.after.conversations.items():
            if conv.state is not State.WAITING:
                self._waits.pop(cid, None)
                if conv.held_in is not None:  # a drop-back waits in the queue it was held from
                    self._queue_of[cid] = conv.held_in
                continue
            was = step.before.conversations.get(cid)
            if (
                was is None
                or was.state is not State.WAITING
                or cid not in self._waits
                or cid in self._let_go(step)
            ):
                queue = self._queue_of.get(cid)
                if queue is None:
                    yield self.violation(step, cid, "waits, but in no queue the steps name")
                    continue
                self._waits[cid] = (queue, self._due(queue, date))
                continue
            queue, due = self._waits[cid]
            while due is not None and due <= date:  # ran out: into the overflow queue, at `due`
                overflow = self._queues_before[queue].overflow
                if not isinstance(overflow, OverflowTransfer):
                    yield self.violation(
                        step, cid, f"still waits after its wait ran out at {due:g}"
                    )
                    break
                queue, due = overflow.queue, self._due(overflow.queue, due, before=True)
                self._queue_of[cid] = queue
            self._waits[cid] = (queue, due)

    def _let_go(self, step: StepRecord) -> set[str]:
        """Conversations a holder joined or left during the step's own action, or the step
        started (an id whose conversation ended and was forgotten on the way to the step's date):
        one waiting after it waits afresh, from the step's date (an escalation, a transfer, a
        drop-back, a new conversation)."""
        held = {cid: conv.holder for cid, conv in step.before.conversations.items()}
        moved: set[str] = set()
        if step.accepted and isinstance(step.event, Start):
            moved.add(step.event.conversation)
        for at, effect in enumerate(step.effects):
            cid = effect.conversation
            if cid is None:  # a presence line names no conversation
                continue
            if isinstance(effect, ParticipantAdded) and effect.role is Role.HOLDER:
                held[cid] = effect.to
            elif isinstance(effect, ParticipantRemoved) and held.get(cid) == effect.to:
                held[cid] = None
            else:
                continue
            if at >= step.fired:
                moved.add(cid)
        return moved

    def _due(self, queue: str, began: float, *, before: bool = False) -> float | None:
        queues = self._queues_before if before else self.world.queues
        timeout = queues[queue].wait_timeout
        return None if timeout is None else began + timeout

    def _compare(self, step: StepRecord) -> Iterator[Violation]:
        live: dict[tuple[str, str], list[tuple[float, str]]] = {}
        for deadline, kind, cid, pid in step.after.timers:
            live.setdefault((kind, cid), []).append((deadline, pid))
        for cid, (pid, due, window) in list(self._offers.items()):
            found = live.pop((OFFER, cid), [])
            if due is None and window is None:
                if found:
                    yield self.violation(step, cid, f"offer without timeout has timers {found}")
                continue
            if len(found) != 1 or found[0][1] != pid:
                yield self.violation(
                    step, cid, f"open offer to {pid} due {_when(due, window)} has timers {found}"
                )
                continue
            deadline = found[0][0]
            if window is not None and window[0] <= deadline <= window[1]:
                self._offers[cid] = (pid, deadline, None)
            elif deadline != due:
                yield self.violation(
                    step, cid, f"offer to {pid} due {_when(due, window)}, its timer at {deadline:g}"
                )
        for cid, (queue, due) in self._waits.items():
            found = live.pop((WAIT, cid), [])
            expected = [] if due is None else [(due, "")]
            if found != expected:
                yield self.violation(
                    step, cid, f"wait in {queue} due {due} has timers {[d for d, _ in found]}"
                )
        for (kind, cid), found in live.items():
            if kind in (OFFER, WAIT):
                yield self.violation(
                    step, cid, f"{kind} timers {[d for d, _ in found]} with no open {kind}"
                )


def _when(due: float | None, window: tuple[float, float] | None) -> str:
    if window is not None:
        return f"between {window[0]:g} and {window[1]:g}"
    return f"at {due:g}" if due is not None else "never"


__all__ = ["OneTimerEach"]
