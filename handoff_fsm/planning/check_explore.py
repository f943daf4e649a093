"""The bounded, exhaustive exploration behind `handoff-fsm check`: the real switchboard, driven.

Theory of operation: from a switchboard built from the deployment (no conversation yet, everyone
available, time 0), `explore` tries every move of a small step vocabulary, breadth first, on a
copy of the switchboard per move, and keeps each new state once (by `check_world.fingerprint`).
Breadth first, so the first path to anything is a shortest one: the witnesses the findings show
are those paths, as scenario steps that `handoff-fsm run` replays.

The moves (`Bounds` limits them): a customer starts a conversation in any queue (at most
`conversations` live at once); the bot holding one escalates it, or ends it; a human holding one
ends it, or transfers it asking for a bot to a queue meant to take conversations back (one that
lists a bot after a human, or has bots and no human); the human offered one accepts or declines;
a waiting customer cancels or leaves; a human of a queue in play goes available, away or offline
(at most `absent` humans not available at once; bots stay available); and time passes to the
next deadline (a tick), so offers and waits time out and overflow.

While it runs, it keeps what the findings need (`Exploration`): who was ever offered or given a
conversation, which queues' escalations and transfers-to-bot were ever served, waits that ran
out, overflow chains that came back to a queue, and waits that nothing could ever end (a
`rescue`: with every other conversation gone and every human available, still nobody takes it).

Rules: the switchboard is driven only through `handle`, `state_of` and `next_deadline`; a move
it refuses is not a move. Deterministic: moves are tried in a fixed order.
"""

from __future__ import annotations

import io
import pickle
from collections import deque
from collections.abc import Hashable, Iterator, Sequence

import attrs

from handoff_fsm.config import Config, Kind, OverflowReturnToBot
from handoff_fsm.effects import Effect, Offer, ParticipantAdded, Role
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import (
    Accept,
    Cancel,
    CustomerLeft,
    Decline,
    End,
    Escalate,
    Event,
    Presence,
    PresenceStatus,
    Start,
    Tick,
    Transfer,
    Wanted,
)  # fmt: skip
from handoff_fsm.lifecycle import State
from handoff_fsm.planning.check_parts import bots_only, components, takes_back
from handoff_fsm.planning.check_world import (
    Conversation,
    Observed,
    World,
    fingerprint,
    observe,
    participant_classes,
    still_reachable,
)  # fmt: skip
from handoff_fsm.switchboard import Switchboard


@attrs.frozen(kw_only=True)
class Bounds:
    """How far the exploration looks (docs/check.md says what lies past it)."""

    conversations: int = 2  # live at once
    absent: int = 1  # humans not available at once
    depth: int = 40  # steps on a path
    crowded_depth: int = 6  # steps on a path where more than one conversation is live
    states: int = 50_000  # distinct states, per part of the deployment
    ticks: int = 6  # ticks a witness may add to show where a wait goes


@attrs.frozen(kw_only=True)
class Move:
    """One step: the event, and the time it happens at (only ticks move time)."""

    event: Event
    now: float | None = None


Path = tuple[Move, ...]


@attrs.define
class Exploration:
    """What the exploration saw; each path is the shortest it found."""

    states: int = 0
    moves: int = 0
    complete: bool = True  # no bound cut a path short
    reached: set[str] = attrs.Factory(set)
    first_takers: dict[str, tuple[str, Path]] = attrs.Factory(dict)  # queue -> who, start
    escalations: dict[str, tuple[str, Path]] = attrs.Factory(dict)  # queue -> conversation
    escalations_served: set[str] = attrs.Factory(set)
    transfers: dict[str, tuple[str, Path]] = attrs.Factory(dict)  # queue -> conversation
    transfers_served: set[str] = attrs.Factory(set)
    return_failed: dict[str, tuple[str, Path]] = attrs.Factory(dict)  # queue -> conversation
    returned: set[str] = attrs.Factory(set)
    cycles: dict[tuple[str, ...], tuple[str, Path]] = attrs.Factory(dict)
    stuck: dict[Hashable, tuple[Conversation, Path]] = attrs.Factory(dict)


class _Node:
    __slots__ = ("board", "depth", "path", "world")

    def __init__(self, board: bytes, world: World, path: Path) -> None:
        self.board = board  # pickled: a frontier of thousands stays small
        self.world = world
        self.path = path
        self.depth = len(path)


def branch(board: Switchboard) -> Switchboard:
    """An independent copy of a switchboard (what `copy.deepcopy` gives, faster)."""
    frozen = _Frozen(board.config)
    return frozen.thaw(frozen.freeze(board))


class _Frozen:
    """Switchboards as bytes, sharing the configuration's values (immutable) instead of copying
    them: a copy per move is most of the exploration's cost."""

    def __init__(self, config: Config) -> None:
        shared: list[object] = [config, config.settings, *config.participants, *config.queues]
        shared += [q.overflow for q in config.queues]
        self._ids = {id(value): n for n, value in enumerate(shared)}
        self._values = shared

    def _shared_id(self, value: object) -> int | None:
        return self._ids.get(id(value))

    def freeze(self, board: Switchboard) -> bytes:
        stream = io.BytesIO()
        pickler = pickle.Pickler(stream, pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = self._shared_id  # type: ignore[method-assign]
        pickler.dump(board)
        return stream.getvalue()

    def thaw(self, data: bytes) -> Switchboard:
        unpickler = pickle.Unpickler(io.BytesIO(data))
        unpickler.persistent_load = self._values.__getitem__  # type: ignore[method-assign]
        board: Switchboard = unpickler.load()
        return board


def replay(config: Config, path: Sequence[Move]) -> Switchboard:
    """A new switchboard that went through `path` (every move of a path was accepted once)."""
    board = Switchboard(config)
    for move in path:
        board.handle(move.event, now=move.now)
    return board


_LEAVING = (PresenceStatus.AWAY, PresenceStatus.OFFLINE)


class Explorer:
    """One exploration of one deployment."""

    def __init__(self, config: Config, bounds: Bounds) -> None:
        self.config = config
        self.bounds = bounds
        self.classes = participant_classes(config)
        self.reach = still_reachable(config)
        self.kinds = {p.id: p.kind for p in config.participants}
        self.queues = {q.name: q for q in config.queues}
        humans = [p.id for p in config.participants if p.kind is Kind.HUMAN]
        self.humans_of = {
            q.name: [m for m in q.members if self.kinds[m] is Kind.HUMAN] for q in config.queues
        }
        self.humans = humans
        self.bot_queues = [q.name for q in config.queues if bots_only(q, self.kinds)]
        self.takes_back = {q.name for q in config.queues if takes_back(q, self.kinds)}
        self.seen: set[Hashable] = set()
        self.rescued: set[Hashable] = set()
        self.found = Exploration()
        self.frozen = _Frozen(config)

    # -- the search -----------------------------------------------------------------------------

    def run(self) -> Exploration:
        board = Switchboard(self.config)
        world = World()
        self.seen.add(self._key(board, world))
        frontier = deque([_Node(self.frozen.freeze(board), world, ())])
        self.found.states = 1
        while frontier:
            node = frontier.popleft()
            if len(node.world.conversations) > 1 and node.depth >= self.bounds.crowded_depth:
                continue
            last = node.depth >= self.bounds.depth  # its new successors are past the bound
            source = self.frozen.thaw(node.board)
            moves = list(
                self.moves(source, node.world, crowd=node.depth < self.bounds.crowded_depth)
            )
            for n, move in enumerate(moves):
                board = source if n == len(moves) - 1 else self.frozen.thaw(node.board)
                outcome = self.apply(board, node.world, move)
                if outcome is None:
                    continue
                self.found.moves += 1
                world, observed = outcome
                path = (*node.path, move)
                self.note(node.world, move, observed, path)
                key = self._key(board, world)
                if key in self.seen:
                    continue
                if last or self.found.states >= self.bounds.states:
                    self.found.complete = False
                    continue
                self.seen.add(key)
                self.found.states += 1
                self.rescue_all(board, world, path)
                frontier.append(_Node(self.frozen.freeze(board), world, path))
        return self.found

    def _key(self, board: Switchboard, world: World) -> Hashable:
        states = {c.id: board.state_of(c.id) for c in world.conversations}
        return fingerprint(self.config, self.classes, world, states, self.reach)

    def apply(self, board: Switchboard, world: World, move: Move) -> tuple[World, Observed] | None:
        """Drive the switchboard one move; the world after it, or None if it refused."""
        before = self.before(world, move)
        try:
            effects = board.handle(move.event, now=move.now)
        except StepRefused:
            return None
        now = world.now if move.now is None else move.now
        states = {c.id: board.state_of(c.id) for c in before.conversations}
        return observe(self.config, before, effects, now, states)

    def before(self, world: World, move: Move) -> World:
        """What the step itself tells, before its effects: a new wait, a presence."""
        event = move.event
        if isinstance(event, Start):
            fresh = Conversation(id=event.conversation, queue=event.queue)
            fresh = fresh.waits("start", event.queue, Wanted.ANY, world.now)
            return attrs.evolve(
                world, conversations=(*world.conversations, fresh), started=world.started + 1
            )
        if isinstance(event, Escalate):
            record = world.conversation(event.conversation)
            return world.replace(record.waits("escalation", record.queue, Wanted.HUMAN, world.now))
        if isinstance(event, Transfer):
            record = world.conversation(event.conversation)
            return world.replace(record.waits("transfer_bot", event.queue, event.kind, world.now))
        if isinstance(event, Presence):
            absent = dict(world.absent)
            absent.pop(event.participant, None)
            if event.status is not PresenceStatus.AVAILABLE:
                absent[event.participant] = event.status
            return attrs.evolve(world, absent=tuple(sorted(absent.items())))
        return world

    # -- the moves ------------------------------------------------------------------------------

    def moves(self, board: Switchboard, world: World, *, crowd: bool = True) -> Iterator[Move]:
        live = len(world.conversations)
        if live < self.bounds.conversations and (live == 0 or crowd):
            cid = f"c{world.started + 1}"
            for queue in self.queues:
                yield Move(event=Start(conversation=cid, queue=queue))
        for record in world.conversations:
            yield from self._conversation_moves(board, record)
        yield from self._presence_moves(world)
        deadline = board.next_deadline()
        if deadline is not None:
            yield Move(event=Tick(now=deadline), now=deadline)

    def _conversation_moves(self, board: Switchboard, record: Conversation) -> Iterator[Move]:
        cid = record.id
        holder = record.holder
        if holder is None:
            if record.offer is not None:
                yield Move(event=Accept(conversation=cid, participant=record.offer))
                yield Move(event=Decline(conversation=cid, participant=record.offer))
            if board.state_of(cid) is State.WAITING:
                yield Move(event=Cancel(conversation=cid))
                yield Move(event=CustomerLeft(conversation=cid))
            return
        if self.kinds[holder] is Kind.BOT:
            yield Move(event=Escalate(conversation=cid, participant=holder))
        else:
            own = [record.queue] if record.queue in self.takes_back else []
            for queue in (*own, *self.bot_queues):
                yield Move(
                    event=Transfer(
                        conversation=cid, participant=holder, queue=queue, kind=Wanted.BOT
                    )
                )
        yield Move(event=End(conversation=cid, participant=holder))

    def _presence_moves(self, world: World) -> Iterator[Move]:
        """Presence changes that matter now: a human holding a conversation goes offline (it
        drops back to waiting), a human of a queue where one waits goes away or offline, and
        one not available comes back. One move per class and status: the others of a class
        are the same move, renamed."""
        absent = dict(world.absent)
        changes: dict[str, set[PresenceStatus]] = {}
        for pid in absent:
            changes.setdefault(pid, set()).add(PresenceStatus.AVAILABLE)
        if len(absent) < self.bounds.absent:
            for record in world.conversations:
                if record.holder is not None and self.kinds[record.holder] is Kind.HUMAN:
                    changes.setdefault(record.holder, set()).add(PresenceStatus.OFFLINE)
                if record.holder is None:
                    for pid in self.humans_of[record.queue]:
                        if pid not in absent:
                            changes.setdefault(pid, set()).update(_LEAVING)
        tried: set[tuple[Hashable, PresenceStatus, PresenceStatus]] = set()
        for pid in self.humans:
            status = absent.get(pid, PresenceStatus.AVAILABLE)
            for new in sorted(changes.get(pid, ())):
                if (self.classes[pid], status, new) not in tried:
                    tried.add((self.classes[pid], status, new))
                    yield Move(event=Presence(participant=pid, status=new))

    # -- what the findings need -----------------------------------------------------------------

    def note(
        self,
        world: World,
        move: Move,
        observed: Observed,
        path: Path,
    ) -> None:
        found = self.found
        found.reached |= observed.reached
        event = move.event
        if (
            isinstance(event, Start)
            and not world.conversations
            and event.queue not in found.first_takers
        ):
            taker = next(iter(observed.reached), None)
            if taker is not None:
                found.first_takers[event.queue] = (taker, path)
        if isinstance(event, Escalate):
            queue = world.conversation(event.conversation).queue
            found.escalations.setdefault(queue, (event.conversation, path))
        if isinstance(event, Transfer):
            found.transfers.setdefault(event.queue, (event.conversation, path))
        prior = self.before(world, move)
        for record in prior.conversations:
            if record.origin == "escalation" and record.id in observed.humans_offered:
                found.escalations_served.add(record.origin_queue or "")
            if record.origin == "transfer_bot" and record.id in observed.bots_took:
                found.transfers_served.add(record.origin_queue or "")
        for record, state in observed.ran_out:
            if not isinstance(self.queues[record.queue].overflow, OverflowReturnToBot):
                continue
            if state in (State.BOT_ACTIVE, State.RETURNED_TO_BOT):
                found.returned.add(record.queue)
            else:
                found.return_failed.setdefault(record.queue, (record.id, path))
        for cycle in observed.cycles:
            ring = _ring(cycle)
            if ring not in found.cycles:
                cid = next(r.id for r, _ in observed.ran_out)
                found.cycles[ring] = (cid, path)

    def rescue_all(self, board: Switchboard, world: World, path: Path) -> None:
        """For each wait that no timeout ends and no offer serves, see whether anything could."""
        for record in world.conversations:
            if record.holder is not None or record.offer is not None:
                continue
            if self.queues[record.queue].wait_timeout is not None:
                continue
            names = sorted(record.held), sorted(record.passed)
            key = (record.queue, record.wanted, record.origin, record.origin_queue, repr(names))
            if key in self.rescued:
                continue
            self.rescued.add(key)
            rescue = rescue_moves(world, record.id)
            copy = branch(board)
            served = False
            for move in rescue:
                effects = copy.handle(move.event, now=move.now)
                served = served or _serves(effects, record.id)
            if not served and copy.state_of(record.id) is State.WAITING:
                self.found.stuck[key] = (record, (*path, *rescue))


def rescue_moves(world: World, cid: str) -> Path:
    """Everything that could free a member for `cid`: every other conversation's customer leaves,
    and every human not available comes back."""
    moves = [
        Move(event=CustomerLeft(conversation=c.id)) for c in world.conversations if c.id != cid
    ]
    moves += [
        Move(event=Presence(participant=pid, status=PresenceStatus.AVAILABLE))
        for pid, _ in world.absent
    ]
    return tuple(moves)


def _serves(effects: Sequence[Effect], cid: str) -> bool:
    return any(
        (isinstance(e, Offer) or (isinstance(e, ParticipantAdded) and e.role is Role.HOLDER))
        and e.conversation == cid
        for e in effects
    )


def _ring(cycle: tuple[str, ...]) -> tuple[str, ...]:
    """A cycle of queues (first = last) named from its smallest queue, so each ring is one."""
    body = list(cycle[:-1])
    start = body.index(min(body))
    turned = body[start:] + body[:start]
    return (*turned, turned[0])


def explore(config: Config, bounds: Bounds | None = None) -> Exploration:
    """Explore each part of the deployment (`components`) and put what they saw together."""
    total = Exploration()
    for part in components(config):
        found = Explorer(part, bounds or Bounds()).run()
        total.states += found.states
        total.moves += found.moves
        total.complete = total.complete and found.complete
        for name in ("reached", "escalations_served", "transfers_served", "returned"):
            getattr(total, name).update(getattr(found, name))
        for name in (
            "first_takers",
            "escalations",
            "transfers",
            "return_failed",
            "cycles",
            "stuck",
        ):
            shortest = getattr(total, name)
            for key, value in getattr(found, name).items():
                if key not in shortest or len(value[1]) < len(shortest[key][1]):
                    shortest[key] = value
    return total
