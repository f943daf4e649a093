"""Checks on the routing rules of contract v2: priority order, requirements met when a
conversation is given, missed offers setting a human away, and wrap-ups announced in place.

Each keeps its own small model from the configuration, the events and the effect stream, and
reads the switchboard only through the fingerprints of the step (as every check does).
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff_fsm.config import Kind
from handoff_fsm.effects import (
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    PresenceChanged,
    Role,
    WrapUp,
)
from handoff_fsm.events import (
    Accept,
    AddParticipant,
    CustomerLeft,
    Decline,
    End,
    Presence,
    RemoveParticipant,
    Start,
    Transfer,
)
from handoff_fsm.testing.checks.base import Check, StepRecord, Violation, World
from handoff_fsm.testing.fingerprint import Fingerprint
from handoff_fsm.vocabulary import PresenceStatus, WithdrawReason


def _picks(
    step: StepRecord, world: World, *, starts: bool = False
) -> Iterator[tuple[str, str, str, int]]:
    """(conversation, participant, queue, effect index) for each routing pick of the step: an
    offer, or a bot joining as holder a conversation that was in a line (not the bot taking it
    back), and with `starts` a bot taking the conversation the step starts. A human joining as
    holder is accepting an offer: the pick was the offer, made earlier."""
    event = step.event
    for at, effect in enumerate(step.effects):
        cid = effect.conversation
        if cid is None:
            continue
        was = step.before.conversations.get(cid)
        started = starts and isinstance(event, Start) and cid == event.conversation
        if isinstance(effect, Offer):
            yield cid, effect.to, effect.queue, at
        elif (
            isinstance(effect, ParticipantAdded)
            and effect.role is Role.HOLDER
            and ((was is None and started) or (was is not None and was.queue is not None))
            and (was is None or effect.to != was.return_bot)
            and world.kind(effect.to) is Kind.BOT
        ):
            now = step.after.conversations.get(cid)
            if now is not None and now.held_in is not None:
                yield cid, effect.to, now.held_in, at


class PriorityOrder(Check):
    """Every line is in priority order (highest first), and a participant picked for a
    conversation was not free for a higher-priority one waiting in another of its queues.
    """

    name = "priority_order"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        after = step.after
        for name, line in after.queues.items():
            ranks = [
                self.world.priority(after.conversations[cid])
                for cid in line.line
                if cid in after.conversations
            ]
            if ranks != sorted(ranks, reverse=True):
                yield self.violation(
                    step, None, f"line of {name} is not in priority order: {list(line.line)}"
                )
        touched = {effect.conversation for effect in step.effects}
        for cid, pid, queue, _ in _picks(step, self.world):
            picked = after.conversations.get(cid)
            if picked is None:
                continue
            mine = self.world.priority(picked)
            yield from self._passed_over(step, cid, pid, queue, mine, touched)

    def _passed_over(
        self, step: StepRecord, cid: str, pid: str, queue: str, mine: int, touched: set[str | None]
    ) -> Iterator[Violation]:
        for other_name, other in self.world.queues.items():
            if other_name == queue or pid not in other.members:
                continue
            if self.world.units[other_name] > self.world.units.get(queue, 1):
                continue
            for other_cid in step.before.queues[other_name].line:
                was = step.before.conversations[other_cid]
                now = step.after.conversations.get(other_cid)
                if (
                    other_cid not in touched
                    and now is not None
                    and was.offer is None
                    and now.offer is None
                    and now.queue == other_name
                    and self.world.priority(now) > mine
                    and self.world.eligible_by_request(pid, other_name, now)
                ):
                    detail = (
                        f"{pid} went to {cid} (priority {mine}) while {other_cid} "
                        f"(priority {self.world.priority(now)}) waited in {other_name}"
                    )
                    yield self.violation(step, other_cid, detail)


class RequirementsMet(Check):
    """A conversation is offered or given only to a participant that has every current
    requirement of its request at or above its level.
    """

    name = "requirements_met"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        for cid, pid, _, at in _picks(step, self.world, starts=True):
            # A pick made while time passed answers the request as it was then: the step's own
            # action (an escalation, a transfer) may ask new requirements only after it.
            world = step.after if at >= step.fired else step.at_action
            conv = world.conversations.get(cid)
            spec = self.world.participants.get(pid)
            if conv is None or spec is None:
                continue
            unmet = [r for r in conv.requires if not r.met_by(spec.skills)]
            if unmet:
                missing = ", ".join(f"{r.skill} >= {r.level}" for r in unmet)
                yield self.violation(step, cid, f"given to {pid}, which lacks {missing}")


class MissedOffers(Check):
    """A human that lets `missed_offers_to_away` offers in a row time out while available is
    set away in that step and told so (`presence`); no other presence change is announced.
    """

    name = "missed_offers"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        self._missed: dict[str, int] = {}
        self._limit = world.config.settings.missed_offers_to_away

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        event = step.event
        told: set[str] = set()
        for effect in step.effects:
            if isinstance(effect, OfferWithdrawn):
                if effect.reason is WithdrawReason.TIMEOUT:
                    self._missed[effect.to] = self._missed.get(effect.to, 0) + 1
                elif effect.reason is WithdrawReason.DECLINED:
                    self._missed.pop(effect.to, None)
            elif isinstance(effect, PresenceChanged):
                due = self._limit and self._missed.get(effect.to, 0) >= self._limit
                if not due or effect.status is not PresenceStatus.AWAY:
                    yield self.violation(
                        step, None, f"{effect.to} told {effect.status} without missing offers"
                    )
                told.add(effect.to)
        # The step's own accept, decline or `available` comes after the timeouts it fired first
        # (SPEC §3), so it restarts the count after them; a participant removed or added anew
        # starts from zero too.
        if step.accepted and (
            isinstance(event, Accept | Decline | RemoveParticipant | AddParticipant)
            or (isinstance(event, Presence) and event.status is PresenceStatus.AVAILABLE)
        ):
            self._missed.pop(event.participant, None)
        if not self._limit:
            return
        for pid, count in self._missed.items():
            seat = step.after.participants.get(pid)
            if (
                count >= self._limit
                and seat is not None
                and seat.presence is PresenceStatus.AVAILABLE
            ):
                yield self.violation(
                    step, None, f"{pid} missed {count} offers in a row and is still available"
                )


class WrapUpAnnounced(Check):
    """A human that stops holding a conversation of a queue with `wrap_up` by end, transfer or
    the customer leaving gets `wrap_up` (until = now + wrap_up) just before its removal; nobody
    else gets one.
    """

    name = "wrap_up_announced"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        event = step.event
        ending = step.accepted and isinstance(event, End | Transfer | CustomerLeft)
        effects = step.effects
        for i, effect in enumerate(effects):
            if isinstance(effect, WrapUp):
                after = effects[i + 1] if i + 1 < len(effects) else None
                if not (
                    isinstance(after, ParticipantRemoved)
                    and (after.conversation, after.to) == (effect.conversation, effect.to)
                ):
                    yield self.violation(
                        step,
                        effect.conversation,
                        f"wrap_up to {effect.to} not just before its removal",
                    )
            if not (isinstance(effect, ParticipantRemoved) and ending and i >= step.fired):
                continue
            was = step.before.conversations.get(effect.conversation)
            if was is None or was.holder != effect.to or was.held_in is None:
                continue
            wrap_up = self.world.queues[was.held_in].wrap_up
            if wrap_up is None or self.world.kind(effect.to) is not Kind.HUMAN:
                continue
            previous = effects[i - 1] if i > 0 else None
            began = None if not isinstance(previous, WrapUp) else previous.until - wrap_up
            if began is None or not step.before.now <= began <= step.after.now:
                yield self.violation(
                    step, effect.conversation, f"{effect.to} left without its {wrap_up} s wrap_up"
                )


__all__ = ["MissedOffers", "PriorityOrder", "RequirementsMet", "WrapUpAnnounced"]
