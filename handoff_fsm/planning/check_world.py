"""What the check knows of one explored state: the live conversations as the effects told it.

Theory of operation: the check drives the real switchboard and never reads its insides. What it
needs to tell two states apart (who holds each conversation, who it is offered to, who held it
or passed on it during this wait, what it asked for, since when it waits) it learns from the
effects of each step and from the step itself, in a `World`: a small immutable value that
`advance` rebuilds after every move. `fingerprint` is the ONE place that turns a world and the
switchboard's public accessors (`state_of`, `next_deadline`) into the canonical key the
exploration deduplicates on: conversations are named by their order of appearance, and
participants of one class (same kind, capacity and queues) by the order in which the key meets
them, so two states that differ only by such a renaming are explored once.

Rules: a world is immutable (the exploration shares it between branches). Time enters the key
coarsely: the order in which the pending wait and offer deadlines fall (ties kept together),
not how far off they are; two states that differ only there are explored once (docs/check.md).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

import attrs

from handoff_fsm.config import Config, OverflowTransfer, QueueSpec
from handoff_fsm.effects import (
    Effect,
    Ended,
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    Role,
    WithdrawReason,
)
from handoff_fsm.events import PresenceStatus, Wanted
from handoff_fsm.lifecycle import State
from handoff_fsm.planning.check_parts import bots_only


@attrs.frozen(kw_only=True)
class Conversation:
    """One live conversation as the check sees it. `origin` is what began the current wait
    (`start`, `escalation`, `transfer_bot`, `drop`) and `origin_queue` where; `chain` lists the
    queues the current wait went through by overflow, the first being where it began."""

    id: str
    queue: str
    holder: str | None = None
    offer: str | None = None
    wanted: Wanted = Wanted.ANY
    held: frozenset[str] = frozenset()
    passed: frozenset[str] = frozenset()
    origin: str | None = None
    origin_queue: str | None = None
    since: float | None = None
    offered_at: float | None = None
    chain: tuple[str, ...] = ()

    def waits(self, origin: str, queue: str, wanted: Wanted, now: float) -> Conversation:
        """The conversation begins a new wait in `queue`."""
        return attrs.evolve(
            self, queue=queue, wanted=wanted, passed=frozenset(), origin=origin,
            origin_queue=queue, since=now, chain=(queue,),
        )  # fmt: skip


@attrs.frozen(kw_only=True)
class World:
    """The live conversations in order of appearance, who is not available, and the time."""

    conversations: tuple[Conversation, ...] = ()
    absent: tuple[tuple[str, PresenceStatus], ...] = ()
    started: int = 0
    now: float = 0.0

    def conversation(self, cid: str) -> Conversation:
        return next(c for c in self.conversations if c.id == cid)

    def presence(self, pid: str) -> PresenceStatus:
        return dict(self.absent).get(pid, PresenceStatus.AVAILABLE)

    def replace(self, conversation: Conversation) -> World:
        return attrs.evolve(
            self,
            conversations=tuple(
                conversation if c.id == conversation.id else c for c in self.conversations
            ),
        )


@attrs.frozen(kw_only=True)
class Observed:
    """What one move did, beyond the new world: the facts the findings are built from."""

    reached: frozenset[str] = frozenset()  # offered a conversation, or given one to hold
    humans_offered: frozenset[str] = frozenset()  # conversations offered to or held by a human
    bots_took: frozenset[str] = frozenset()  # conversations a bot began to hold
    ran_out: tuple[tuple[Conversation, State | None], ...] = ()  # waits that timed out
    cycles: tuple[tuple[str, ...], ...] = ()  # overflow chains that came back to a queue
    ended: Mapping[str, Ended] = attrs.field(factory=dict)


def observe(
    config: Config,
    world: World,
    effects: Sequence[Effect],
    now: float,
    states: Mapping[str, State | None],
) -> tuple[World, Observed]:
    """The world after `effects` (of a step at `now`), given each conversation's state after it.
    `world` already carries what the step itself said (a new wait, a presence)."""
    queues = {q.name: q for q in config.queues}
    kinds = {p.id: p.kind for p in config.participants}
    due = _waits_due(world, queues, now)
    live = {c.id: c for c in world.conversations}
    reached: set[str] = set()
    humans: set[str] = set()
    bots: set[str] = set()
    ended: dict[str, Ended] = {}
    for effect in effects:
        record = live.get(effect.conversation or "")
        if record is None:
            continue
        if isinstance(effect, ParticipantAdded) and effect.role is Role.HOLDER:
            reached.add(effect.to)
            (bots if kinds[effect.to] == "bot" else humans).add(record.id)
            record = attrs.evolve(
                record, holder=effect.to, offer=None, held=record.held | {effect.to},
                passed=frozenset(), origin=None, origin_queue=None, since=None,
                offered_at=None, chain=(),
            )  # fmt: skip
        elif isinstance(effect, ParticipantRemoved) and record.holder == effect.to:
            record = attrs.evolve(record, holder=None)
        elif isinstance(effect, Offer):
            reached.add(effect.to)
            humans.add(record.id)
            record = attrs.evolve(record, offer=effect.to, queue=effect.queue, offered_at=now)
        elif isinstance(effect, OfferWithdrawn):
            passed = record.passed
            if effect.reason is not WithdrawReason.CANCELLED:
                passed = passed | {effect.to}
            record = attrs.evolve(record, offer=None, passed=passed)
        elif isinstance(effect, Ended):
            ended[record.id] = effect
        live[record.id] = record
    ran_out: list[tuple[Conversation, State | None]] = []
    cycles: list[tuple[str, ...]] = []
    for cid, deadline in due:
        before = world.conversation(cid)
        ran_out.append((before, states.get(cid)))
        overflow = queues[before.queue].overflow
        if not isinstance(overflow, OverflowTransfer) or cid in ended:
            continue
        chain = before.chain or (before.queue,)
        if overflow.queue in chain:  # the ring closes: it goes round from there on
            cycles.append((*chain[chain.index(overflow.queue) :], overflow.queue))
            chain = chain[: chain.index(overflow.queue)]
        record = attrs.evolve(live[cid], queue=overflow.queue)
        if states.get(cid) is State.WAITING:
            record = attrs.evolve(
                record, since=deadline, chain=(*chain, overflow.queue), passed=frozenset()
            )
        live[cid] = record
    for cid, state in states.items():
        record = live.get(cid)
        if record is None or cid in ended:
            continue
        if state is State.WAITING and record.since is None:  # its holder went offline
            live[cid] = record.waits("drop", record.queue, record.wanted, now)
    kept = tuple(live[c.id] for c in world.conversations if c.id not in ended)
    new_world = attrs.evolve(world, conversations=kept, now=now)
    return new_world, Observed(
        reached=frozenset(reached), humans_offered=frozenset(humans),
        bots_took=frozenset(bots), ran_out=tuple(ran_out), cycles=tuple(cycles), ended=ended,
    )  # fmt: skip


def _waits_due(
    world: World, queues: Mapping[str, QueueSpec], now: float
) -> list[tuple[str, float]]:
    """The waits whose timeout falls at or before `now` (a tick), with their deadlines."""
    due = []
    for record in world.conversations:
        timeout = queues[record.queue].wait_timeout
        if record.holder is None and record.since is not None and timeout is not None:
            deadline = record.since + timeout
            if deadline <= now:
                due.append((record.id, deadline))
    return due


# -- the canonical fingerprint -------------------------------------------------------------------


def participant_classes(config: Config) -> dict[str, Hashable]:
    """Participants that no routing rule tells apart but by their place in a queue's list: same
    kind, same capacity, same queues."""
    queues_of: dict[str, list[str]] = {p.id: [] for p in config.participants}
    for queue in config.queues:
        for member in queue.members:
            queues_of[member].append(queue.name)
    return {
        p.id: (p.kind.value, p.capacity, tuple(sorted(queues_of[p.id])))
        for p in config.participants
    }


class _Names:
    """Participant ids renamed by class, in the order the fingerprint meets them."""

    def __init__(self, classes: Mapping[str, Hashable]) -> None:
        self._classes = classes
        self._given: dict[str, tuple[Hashable, int]] = {}
        self._count: dict[Hashable, int] = {}

    def __call__(self, pid: str | None) -> tuple[Hashable, int] | None:
        if pid is None:
            return None
        name = self._given.get(pid)
        if name is None:
            kind = self._classes[pid]
            name = self._given[pid] = (kind, self._count.get(kind, 0))
            self._count[kind] = name[1] + 1
        return name

    def label(self, pid: str) -> str:
        """A participant's name if the key met it already, else only its class."""
        return repr(self._given[pid]) if pid in self._given else repr(self._classes[pid])

    def group(self, pids: Iterable[str]) -> tuple[object, ...]:
        """A set of participants: those already named by name, the others by class only (any of
        them could be renamed to any other)."""
        named = sorted(repr(self._given[p]) for p in pids if p in self._given)
        others = sorted(repr(self._classes[p]) for p in pids if p not in self._given)
        return (tuple(named), tuple(others))


def still_reachable(config: Config) -> dict[str, frozenset[str]]:
    """For each queue, the participants a conversation there could still meet: the members of
    the queues it could reach from there (overflows, and the bot-only queues any human may hand
    it to). Who else held it before no longer matters to where it goes."""
    queues = {q.name: q for q in config.queues}
    kinds = {p.id: p.kind for p in config.participants}
    bot_only = [q.name for q in config.queues if bots_only(q, kinds)]
    reach: dict[str, frozenset[str]] = {}
    for name in queues:
        seen, todo = set(), [name, *bot_only]
        while todo:
            queue = queues[todo.pop()]
            if queue.name in seen:
                continue
            seen.add(queue.name)
            if isinstance(queue.overflow, OverflowTransfer):
                todo.append(queue.overflow.queue)
        reach[name] = frozenset(m for q in seen for m in queues[q].members)
    return reach


def fingerprint(
    config: Config,
    classes: Mapping[str, Hashable],
    world: World,
    states: Mapping[str, State | None],
    reach: Mapping[str, frozenset[str]],
) -> Hashable:
    """The canonical key of a state: equal keys, same future up to renaming (and timing)."""
    queues = {q.name: q for q in config.queues}
    names = _Names(classes)
    rows = []
    deadlines: list[tuple[float, str, int]] = []
    for index, record in enumerate(world.conversations):
        queue = queues[record.queue]
        if record.holder is None and record.since is not None and queue.wait_timeout is not None:
            deadlines.append((record.since + queue.wait_timeout, "wait", index))
        offered = record.offer is not None and record.offered_at is not None
        if offered and record.offered_at is not None and queue.offer_timeout is not None:
            deadlines.append((record.offered_at + queue.offer_timeout, "offer", index))
        rows.append((
            states.get(record.id), record.queue, names(record.holder), names(record.offer),
            record.wanted.value, record.origin, record.origin_queue,
        ))  # fmt: skip
    # Time, coarsely: which deadline comes first (ties together), not how far off it is.
    order = tuple(
        tuple(sorted((kind, index) for d, kind, index in deadlines if d == when))
        for when in sorted({d for d, _, _ in deadlines})
    )
    sets = [
        (names.group(r.held & reach[r.queue]), names.group(r.passed)) for r in world.conversations
    ]
    absent = sorted((names.label(pid), status.value) for pid, status in world.absent)
    return (tuple(rows), tuple(sets), tuple(absent), order)
