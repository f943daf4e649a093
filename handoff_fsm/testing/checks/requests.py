"""Checks on requests: the kind (and the named participant) a wait asked for is kept across
overflow and requeue, read from the steps and the configuration, never from the router's state.

Theory of operation: the check keeps, per conversation, the request as the steps show it: `start`
asks for anyone; a bot stepping out into a wait (`escalate`, an escalation phrase, the fallback
limit) asks for a human; `transfer` asks for its `kind` and, if it names one, its `to`. A holder
that drops back into its line keeps the request; a wait that runs out into an overflow queue (the
configuration's overflow rule) keeps the kind and drops the name (the named participant need not
be in the overflow queue); a participant named that goes offline, is removed, or leaves the
queue of the wait is named no more (SPEC §3, §5). Every offer, and every bot given the
conversation by a routing pick, must fit that request; a bot taking back the conversation it
handed to the wait, and a monitor taking over, are not picks.
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff_fsm.config import Kind
from handoff_fsm.effects import (
    Effect,
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    Role,
    WithdrawReason,
)
from handoff_fsm.events import (
    Event,
    LeaveQueue,
    Presence,
    PresenceStatus,
    RemoveParticipant,
    Start,
    TakeOver,
    Transfer,
    Wanted,
)
from handoff_fsm.lifecycle import BOT_HOLDING_STATES, State
from handoff_fsm.testing.checks.base import Check, StepRecord, Violation, World
from handoff_fsm.testing.fingerprint import Fingerprint


class RequestKept(Check):
    """Every offer and every bot a routing pick gives a conversation is of the kind its request
    asked for (and the named participant, if the request names one), the request being the one the
    steps made, kept across requeue and overflow.
    """

    name = "request_kept"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        # conversation -> (wanted kind, named participant)
        self._asked: dict[str, tuple[Wanted, str | None]] = {}
        # conversation -> the bot that stepped out into the wait (it may take it back)
        self._left_by: dict[str, str] = {}
        for cid, conv in start.conversations.items():
            self._asked[cid] = (conv.wanted or Wanted.ANY, conv.named)

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if step.duplicate:
            return
        event = step.event
        cid = event.conversation
        if step.accepted and cid is not None:
            was = step.before.conversations.get(cid)
            if isinstance(event, Start):
                self._asked[cid] = (Wanted.ANY, None)
            elif isinstance(event, Transfer):
                self._asked[cid] = (event.kind, event.to)
            elif (
                was is not None
                and was.state in BOT_HOLDING_STATES
                and self._steps_out(step, cid, was.holder)
            ):
                self._asked[cid] = (Wanted.HUMAN, None)
        if step.accepted:
            self._unname_the_gone(step)
        for deadline, kind, ran_out, _ in step.before.timers:
            if kind == "wait" and step.date is not None and deadline <= step.date:
                wanted, _named = self._asked.get(ran_out, (Wanted.ANY, None))
                self._asked[ran_out] = (wanted, None)  # an overflow keeps the kind, not the name
        for at, effect in enumerate(step.effects):
            target = effect.conversation
            if target is None:  # a presence line names no conversation
                continue
            self._forget_the_name(step, effect)
            if isinstance(effect, ParticipantRemoved) and self.world.kind(effect.to) is Kind.BOT:
                self._left_by[target] = effect.to
            if isinstance(effect, Offer):
                yield from self._fits(step, target, effect.to, "offered to")
            elif (
                isinstance(effect, ParticipantAdded)
                and effect.role is Role.HOLDER
                and self.world.kind(effect.to) is Kind.BOT
                and self._left_by.get(target) != effect.to
                and not (isinstance(event, TakeOver) and at >= step.fired)
            ):
                yield from self._fits(step, target, effect.to, "given to")
        for gone in set(self._asked) - set(step.after.conversations):
            del self._asked[gone]
            self._left_by.pop(gone, None)

    def _unname_the_gone(self, step: StepRecord) -> None:
        """A participant that goes offline or is removed can be named by no wait any more, nor
        one that leaves the queue the wait is in: those waits ask anyone of their kind."""
        event = step.event
        queue: str | None = None
        gone = _gone_offline(event)
        if isinstance(event, LeaveQueue):
            gone, queue = event.participant, event.queue
        if gone is None:
            return
        for cid, (wanted, named) in list(self._asked.items()):
            conv = step.at_action.conversations.get(cid)
            if named == gone and (queue is None or (conv is not None and conv.queue == queue)):
                self._asked[cid] = (wanted, None)

    def _forget_the_name(self, step: StepRecord, effect: Effect) -> None:
        """A request names its participant until that one declines or lets the offer time out,
        goes offline with the offer out, or the conversation drops back from a holder gone
        offline or removed (SPEC §3): then anyone of the kind asked will do."""
        cid = effect.conversation
        if cid is None:
            return
        wanted, named = self._asked.get(cid, (Wanted.ANY, None))
        if named is None:
            return
        gone = _gone_offline(step.event)
        offline = gone is not None
        if (
            isinstance(effect, OfferWithdrawn)
            and effect.to == named
            and (effect.reason is not WithdrawReason.CANCELLED or offline)
        ) or (isinstance(effect, ParticipantRemoved) and offline and effect.to == gone):
            self._asked[cid] = (wanted, None)

    def _steps_out(self, step: StepRecord, cid: str, bot: str | None) -> bool:
        """The bot holding `cid` stepped out into a wait for a human during the step's action."""
        conv = step.after.conversations.get(cid)
        removed = any(
            isinstance(e, ParticipantRemoved) and e.conversation == cid and e.to == bot
            for e in step.effects[step.fired :]
        )
        return (
            removed
            and not isinstance(step.event, Presence | RemoveParticipant)
            and conv is not None
            and conv.state is State.WAITING
        )

    def _fits(self, step: StepRecord, cid: str, pid: str, how: str) -> Iterator[Violation]:
        wanted, named = self._asked.get(cid, (Wanted.ANY, None))
        kind = self.world.kind(pid)
        if wanted is not Wanted.ANY and str(wanted) != str(kind):
            yield self.violation(step, cid, f"{how} {pid}, a {kind}, but it asked for a {wanted}")
        if named is not None and pid != named:
            yield self.violation(step, cid, f"{how} {pid}, but it asked for {named}")


def _gone_offline(event: Event) -> str | None:
    """The participant a step sets offline (removing one sets it offline first), if any."""
    if isinstance(event, Presence) and event.status is PresenceStatus.OFFLINE:
        return event.participant
    return event.participant if isinstance(event, RemoveParticipant) else None


__all__ = ["RequestKept"]
