"""Checks on requests: the kind, the named participant and the requirements a wait asked for are
kept across overflow and requeue, read from the steps and the configuration, never from the
router's state.

Theory of operation: the check keeps, per conversation, the request as the steps show it: `start`
asks for its `kind` (anyone when it names none) and its `to`; a bot stepping out into a wait
(`escalate`, an escalation phrase, the fallback limit) asks for a human; `transfer` asks for its
`kind` and, if it names one, its `to`. `start`, `escalate` and `transfer` carry their `requires`,
each of which holds until its `for` has run from the step that asked it (SPEC §3). A holder
that drops back into its line keeps the request; a wait that runs out into an overflow queue (the
configuration's overflow rule) keeps the kind and drops the name (the named participant need not
be in the overflow queue); a participant named that goes offline, is removed, or leaves the
queue of the wait is named no more (SPEC §3, §5); the requirements and their clock go with the
wait wherever it goes. Every offer, and every bot given the conversation by a routing pick, must
fit that request, with the skills the participant has; a bot taking back the conversation it
handed to the wait, and a monitor taking over, are not picks. The step's events are read in the
order they happen: waits running out while time passes, the picks that follow, the step's own
action, then its picks. A requirement is held to at a pick if it still holds at the step's date
(it held all the more before: requirements only ever drop with time).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from handoff_fsm.config import Kind, Requirement
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
    Escalate,
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


@attrs.frozen(kw_only=True)
class _Request:
    wanted: Wanted = Wanted.ANY
    named: str | None = None
    requires: tuple[Requirement, ...] = ()
    since: float = 0.0  # when the request was made: each `for` counts from here


_ANYONE = _Request()


class RequestKept(Check):
    """Every offer and every bot a routing pick gives a conversation is of the kind its request
    asked for (and the named participant, if the request names one) and has every skill the
    request still requires, the request being the one the steps made, kept across requeue and
    overflow.
    """

    name = "request_kept"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        self._asked: dict[str, _Request] = {}
        # conversation -> the bot that stepped out into the wait (it may take it back)
        self._left_by: dict[str, str] = {}
        for cid, conv in start.conversations.items():
            self._asked[cid] = _Request(
                wanted=conv.wanted or Wanted.ANY, named=conv.named, since=start.now
            )

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if step.duplicate:
            return
        for deadline, kind, ran_out, _ in step.before.timers:
            if kind == "wait" and step.date is not None and deadline <= step.date:
                # an overflow keeps the kind, the requirements and their clock; not the name
                asked = self._asked.get(ran_out, _ANYONE)
                self._asked[ran_out] = attrs.evolve(asked, named=None)
        yield from self._picks(step, 0, step.fired)
        if step.accepted:
            self._take_request(step)
            self._unname_the_gone(step)
        yield from self._picks(step, step.fired, len(step.effects))
        for gone in set(self._asked) - set(step.after.conversations):
            del self._asked[gone]
            self._left_by.pop(gone, None)

    def _take_request(self, step: StepRecord) -> None:
        event, now = step.event, step.after.now
        cid = event.conversation
        if cid is None:
            return
        was = step.before.conversations.get(cid)
        if isinstance(event, Start):
            self._asked[cid] = _Request(
                wanted=event.kind or Wanted.ANY, named=event.to, requires=event.requires, since=now
            )
        elif isinstance(event, Transfer):
            self._asked[cid] = _Request(
                wanted=event.kind, named=event.to, requires=event.requires, since=now
            )
        elif (
            was is not None
            and was.state in BOT_HOLDING_STATES
            and self._steps_out(step, cid, was.holder)
        ):
            requires = event.requires if isinstance(event, Escalate) else ()
            self._asked[cid] = _Request(wanted=Wanted.HUMAN, requires=requires, since=now)

    def _picks(self, step: StepRecord, first: int, end: int) -> Iterator[Violation]:
        event = step.event
        for at in range(first, end):
            effect = step.effects[at]
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
        for cid, asked in list(self._asked.items()):
            conv = step.at_action.conversations.get(cid)
            if asked.named == gone and (
                queue is None or (conv is not None and conv.queue == queue)
            ):
                self._asked[cid] = attrs.evolve(asked, named=None)

    def _forget_the_name(self, step: StepRecord, effect: Effect) -> None:
        """A request names its participant until that one declines or lets the offer time out,
        goes offline with the offer out, or the conversation drops back from a holder gone
        offline or removed (SPEC §3): then anyone of the kind asked will do."""
        cid = effect.conversation
        if cid is None:
            return
        asked = self._asked.get(cid, _ANYONE)
        named = asked.named
        if named is None:
            return
        gone = _gone_offline(step.event)
        offline = gone is not None
        if (
            isinstance(effect, OfferWithdrawn)
            and effect.to == named
            and (effect.reason is not WithdrawReason.CANCELLED or offline)
        ) or (isinstance(effect, ParticipantRemoved) and offline and effect.to == gone):
            self._asked[cid] = attrs.evolve(asked, named=None)

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
        asked = self._asked.get(cid, _ANYONE)
        wanted, named = asked.wanted, asked.named
        kind = self.world.kind(pid)
        if wanted is not Wanted.ANY and str(wanted) != str(kind):
            yield self.violation(step, cid, f"{how} {pid}, a {kind}, but it asked for a {wanted}")
        if named is not None and pid != named:
            yield self.violation(step, cid, f"{how} {pid}, but it asked for {named}")
        spec = self.world.participants.get(pid)
        now = step.after.now
        held = [r for r in asked.requires if r.for_ is None or now - asked.since < r.for_]
        unmet = [r for r in held if spec is not None and not r.met_by(spec.skills)]
        if unmet:
            missing = ", ".join(f"{r.skill} >= {r.level}" for r in unmet)
            yield self.violation(step, cid, f"{how} {pid}, which lacks {missing} it asked for")


def _gone_offline(event: Event) -> str | None:
    """The participant a step sets offline (removing one sets it offline first), if any."""
    if isinstance(event, Presence) and event.status is PresenceStatus.OFFLINE:
        return event.participant
    return event.participant if isinstance(event, RemoveParticipant) else None


__all__ = ["RequestKept"]
