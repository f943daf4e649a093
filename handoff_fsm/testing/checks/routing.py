"""Checks on routing: one holder, capacity, one offer, first in first out, no idle capacity beside
a waiting conversation, and the books the router keeps matching the stream.
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff_fsm.config import Kind
from handoff_fsm.effects import (
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    Role,
    WrapUp,
)
from handoff_fsm.events import (
    Presence,
    PresenceStatus,
    RemoveParticipant,
    SetCapacity,
    WrapUpDone,
)
from handoff_fsm.lifecycle import BOT_HOLDING_STATES, HOLDING_STATES, State
from handoff_fsm.testing.checks.base import (
    Check,
    RosterCheck,
    StepRecord,
    Violation,
    World,
)
from handoff_fsm.testing.fingerprint import Fingerprint


class OneHolder(RosterCheck):
    """A conversation in a holding state has exactly one holder, of the kind its state names, and
    one in any other state has none; the stream never shows two holders at once.
    """

    name = "one_holder"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        roster = self._roster
        for effect in step.effects:
            if isinstance(effect, ParticipantAdded) and effect.role is Role.HOLDER:
                holders = [h for h in roster.holders(effect.conversation) if h != effect.to]
                if holders:
                    yield self.violation(
                        step,
                        effect.conversation,
                        f"{effect.to} added as holder while {', '.join(holders)} still holds it "
                        f"(no participant_removed first)",
                    )
            roster.apply(effect)
        for cid, conv in step.after.conversations.items():
            stream = roster.holders(cid)
            if conv.state in HOLDING_STATES:
                if conv.holder is None or len(stream) != 1:
                    detail = (
                        f"{conv.state} with holder {conv.holder} "
                        f"(the stream shows {stream or 'none'})"
                    )
                    yield self.violation(step, cid, detail)
                    continue
                want = Kind.BOT if conv.state in BOT_HOLDING_STATES else Kind.HUMAN
                if self.world.kind(conv.holder) is not want:
                    yield self.violation(
                        step, cid, f"{conv.state} but its holder {conv.holder} is not a {want}"
                    )
            elif conv.holder is not None or stream:
                detail = (
                    f"{conv.state} yet held by {conv.holder} (the stream shows {stream or 'none'})"
                )
                yield self.violation(step, cid, detail)


class Capacity(RosterCheck):
    """No participant's load (holds and offers out, in their queue's units) ever exceeds its
    capacity, but for the holds it kept when a live change set its capacity below its load: then
    it has no offer out and its load does not grow until it is below its capacity again.
    """

    name = "capacity"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        self._streamed: dict[str, int] = {}

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        for effect in step.effects:
            self._roster.apply(effect)
        streamed = self._roster.loads(self.world.hold_units(step.after), self.world.units)
        previous, self._streamed = self._streamed, streamed
        for pid, seat in step.after.participants.items():
            capacity = self.world.capacity(pid)
            was = step.before.participants.get(pid)
            lowered = isinstance(step.event, SetCapacity) and step.event.participant == pid
            sources = (
                ("its load", seat.load, was.load if was is not None else 0),
                ("the stream", streamed.get(pid, 0), previous.get(pid, 0)),
            )
            for source, load, before in sources:
                kept = (lowered or load <= before) and not seat.offers
                if load > capacity and not kept:
                    yield self.violation(
                        step, None, f"{pid} uses {load} units by {source}, capacity {capacity}"
                    )


class OneOffer(RosterCheck):
    """A conversation has at most one offer out, only to a human and only while it waits; an offer
    ends once, by accept or withdrawal.
    """

    name = "one_offer"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        roster = self._roster
        for effect in step.effects:
            if effect.conversation is None:
                continue
            cid, out = effect.conversation, roster.offer(effect.conversation)
            if isinstance(effect, Offer):
                if self.world.kind(effect.to) is not Kind.HUMAN:
                    yield self.violation(step, cid, f"offer to {effect.to}, who is not a human")
                if out is not None:
                    yield self.violation(
                        step, cid, f"offer to {effect.to} while the offer to {out.to} is out"
                    )
            elif isinstance(effect, OfferWithdrawn) and (out is None or out.to != effect.to):
                yield self.violation(step, cid, f"offer to {effect.to} withdrawn but none was out")
            elif (
                isinstance(effect, ParticipantAdded)
                and effect.role is Role.HOLDER
                and out is not None
                and out.to != effect.to
            ):
                yield self.violation(
                    step, cid, f"{effect.to} took it while the offer to {out.to} was out"
                )
            roster.apply(effect)
        for cid, conv in step.after.conversations.items():
            out = roster.offer(cid)
            if (out is not None or conv.offer is not None) and conv.state is not State.WAITING:
                who = conv.offer or (out.to if out is not None else None)
                yield self.violation(step, cid, f"offer to {who} still out in {conv.state}")


class Fifo(Check):
    """Within a queue the line keeps arrival order, and a later arrival is never given a participant
    that an earlier conversation, still waiting, could have taken.
    """

    name = "fifo"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        yield from self._line_order(step)
        yield from self._pick_order(step)

    def _drop_backs(self, step: StepRecord) -> set[str]:
        """Holds that went back into their line because their holder went offline (or was
        removed, which goes offline first)."""
        event = step.event
        offline = isinstance(event, Presence) and event.status is PresenceStatus.OFFLINE
        if not (offline or isinstance(event, RemoveParticipant)):
            return set()
        assert isinstance(event, Presence | RemoveParticipant)
        return {
            cid
            for cid, conv in step.before.conversations.items()
            if conv.holder == event.participant
        }

    def _line_order(self, step: StepRecord) -> Iterator[Violation]:
        dropped = self._drop_backs(step)
        for name, queue in step.after.queues.items():
            old = step.before.queues[name].line if name in step.before.queues else ()
            # Waiting all along: in the line before and after, in the same wait (same ticket);
            # one that left the line and came back during the step is a newcomer.
            kept = [
                cid
                for cid in old
                if cid in queue.line
                and step.before.conversations[cid].ticket == step.after.conversations[cid].ticket
            ]
            if [cid for cid in queue.line if cid in kept] != kept:
                yield self.violation(
                    step, None, f"line of {name} reordered: {list(old)} -> {list(queue.line)}"
                )
            for at, cid in enumerate(queue.line):
                if cid in kept:
                    continue
                if cid in dropped:
                    was, now = step.before.conversations[cid], step.after.conversations.get(cid)
                    if now is None or now.ticket != was.ticket:
                        yield self.violation(
                            step, cid, f"back in {name} without its original place in line"
                        )
                elif any(
                    other in kept and _priority(step, other) >= _priority(step, cid)
                    for other in queue.line[at + 1 :]
                ):
                    yield self.violation(
                        step, cid, f"joined {name} ahead of conversations already waiting"
                    )

    def _picks(self, step: StepRecord) -> Iterator[tuple[str, str, str]]:
        """(conversation, participant, queue) for every routing pick in the step."""
        lines = {cid: name for name, q in step.before.queues.items() for cid in q.line}
        for effect in step.effects:
            cid = effect.conversation
            if cid is None:
                continue
            queue = lines.get(cid)
            if isinstance(effect, Offer) and queue == effect.queue:
                yield cid, effect.to, effect.queue
            elif (
                isinstance(effect, ParticipantAdded)
                and effect.role is Role.HOLDER
                and queue is not None
                and self.world.kind(effect.to) is Kind.BOT
            ):
                was, now = step.before.conversations[cid], step.after.conversations.get(cid)
                taken_back = effect.to == was.return_bot and effect.to in was.held_before
                if not taken_back and now is not None and now.held_in == queue:
                    yield cid, effect.to, queue

    def _pick_order(self, step: StepRecord) -> Iterator[Violation]:
        touched = {effect.conversation for effect in step.effects}
        for later, pid, queue in self._picks(step):
            line = step.before.queues[queue].line
            for earlier in line[: line.index(later)]:
                was = step.before.conversations[earlier]
                now = step.after.conversations.get(earlier)
                if (
                    was.offer is None
                    and earlier not in touched
                    and now is not None
                    and now.queue == queue
                    and now.offer is None
                    and (was.wanted, was.named) == (now.wanted, now.named)
                    and self.world.eligible_by_request(pid, queue, now)
                ):
                    detail = (
                        f"{pid} went to {later}, who came later to {queue}, "
                        f"while {earlier} was waiting and could take {pid}"
                    )
                    yield self.violation(step, earlier, detail)


def _priority(step: StepRecord, cid: str) -> int:
    conv = step.after.conversations.get(cid)
    return 0 if conv is None else conv.priority or 0


class WorkConserving(Check):
    """No conversation waits without an offer out while a participant that the routing rules make
    eligible for it has room for it.
    """

    name = "work_conserving"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        after = step.after
        for name, queue in after.queues.items():
            for cid in queue.line:
                conv = after.conversations.get(cid)
                if conv is None or conv.offer is not None:
                    continue
                free = [
                    pid
                    for pid in self.world.queues[name].members
                    if self.world.eligible_by_request(pid, name, conv)
                    and self.world.has_room(pid, name, after)
                ]
                if free:
                    yield self.violation(
                        step, cid, f"waits in {name} while {', '.join(free)} could take it"
                    )


class BooksMatch(RosterCheck):
    """The holders, monitors, offers and loads an embedder rebuilds from the effect stream alone are
    exactly the switchboard's own.
    """

    name = "books_match"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        # participant -> conversation -> (units, until): wrap-ups told by `wrap_up` effects, which
        # end at `until`, at the human's `wrap_up_done`, or when it goes offline.
        self._wrapping: dict[str, dict[str, tuple[int, float]]] = {}

    def _wrap_ups(self, step: StepRecord) -> dict[str, int]:
        """Units each human keeps in wrap-up after the step, from the stream and the steps."""
        event = step.event
        ends = isinstance(event, WrapUpDone) or (
            isinstance(event, Presence) and event.status is PresenceStatus.OFFLINE
        )
        if ends and step.accepted:
            assert isinstance(event, WrapUpDone | Presence)
            self._wrapping.pop(event.participant, None)
        for effect in step.effects:
            if isinstance(effect, WrapUp):
                was = step.before.conversations.get(effect.conversation)
                queue = None if was is None else was.held_in
                units = self.world.units.get(queue or "", 1)
                self._wrapping.setdefault(effect.to, {})[effect.conversation] = (
                    units,
                    effect.until,
                )
        kept: dict[str, int] = {}
        for pid, wraps in list(self._wrapping.items()):
            for cid, (used, until) in list(wraps.items()):
                if until <= step.after.now:
                    del wraps[cid]
                else:
                    kept[pid] = kept.get(pid, 0) + used
            if not wraps:
                del self._wrapping[pid]
        return kept

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        roster = self._roster
        for effect in step.effects:
            roster.apply(effect)
        wrapped = self._wrap_ups(step)
        for cid, conv in step.after.conversations.items():
            offer = roster.offer(cid)
            stream = (roster.holder(cid), roster.monitors(cid), offer.to if offer else None)
            books = (conv.holder, conv.monitors, conv.offer)
            if stream != books:
                detail = (
                    f"(holder, monitors, offer) is {books} by the switchboard, "
                    f"{stream} by the stream"
                )
                yield self.violation(step, cid, detail)
        loads = roster.loads(self.world.hold_units(step.after), self.world.units)
        for pid, units in wrapped.items():
            loads[pid] = loads.get(pid, 0) + units
        for pid, seat in step.after.participants.items():
            if seat.load != loads.get(pid, 0):
                yield self.violation(
                    step, None, f"{pid}: load {seat.load}, the stream gives {loads.get(pid, 0)}"
                )


__all__ = [
    "BooksMatch",
    "Capacity",
    "Fifo",
    "OneHolder",
    "OneOffer",
    "WorkConserving",
]
