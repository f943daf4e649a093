"""Runtime invariants of the switchboard, checked step by step against its effects and its state.

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
  monitors and answered `queued` with the position in line, unless it holds a cancel phrase: then
  the wait ends instead (abandoned, or the bot returns with it in its context). Bot and agent
  messages reach the customer and every monitor once. No other step relays anything.
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

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import ClassVar

import attrs

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.effects import (
    CUSTOMER,
    Context,
    ContextSet,
    Effect,
    Ended,
    Entry,
    Greeting,
    Message,
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    Queued,
    Role,
    Survey,
)
from handoff_fsm.errors import HandoffError, StepRefused
from handoff_fsm.events import (
    AgentMessage,
    BotMessage,
    CustomerMessage,
    Event,
    JsonValue,
    Presence,
    PresenceStatus,
    SetVariable,
    Start,
    Tick,
    Wanted,
)
from handoff_fsm.lifecycle import BOT_HOLDING_STATES, HOLDING_STATES, Outcome, State
from handoff_fsm.routing import inspect as routing_inspect
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect

# ----------------------------------------------------------------------------- fingerprints


@attrs.frozen(kw_only=True)
class ConversationPrint:
    """Everything observable about one conversation."""

    state: State
    outcome: Outcome | None
    context: Context
    monitors: tuple[str, ...]
    holder: str | None
    held_in: str | None
    offer: str | None
    offer_expires: float | None
    queue: str | None
    position: int | None
    ticket: int | None
    wanted: Wanted | None
    named: str | None
    held_before: frozenset[str]
    declined: frozenset[str]
    fallbacks: int
    return_bot: str | None
    proposals: tuple[tuple[str, str, str], ...]
    survey_answers: Mapping[str, JsonValue]


@attrs.frozen(kw_only=True)
class ParticipantPrint:
    presence: PresenceStatus
    load: int
    holds: tuple[str, ...]
    offers: tuple[str, ...]
    idle_since: float


@attrs.frozen(kw_only=True)
class QueuePrint:
    line: tuple[str, ...]
    last_picked: str | None


@attrs.frozen(kw_only=True)
class Fingerprint:
    """Every observable of a switchboard at one moment. Two switchboards with equal fingerprints
    answer every query alike and decide alike (the router's own `dump` is part of it)."""

    now: float
    conversations: Mapping[str, ConversationPrint]
    participants: Mapping[str, ParticipantPrint]
    queues: Mapping[str, QueuePrint]
    timers: tuple[tuple[float, str, str, str], ...]
    router: Mapping[str, object]


def fingerprint(board: Switchboard) -> Fingerprint:
    """Read every observable of `board` through its public API (nothing is changed)."""
    router = switchboard_inspect.router_of(board)
    conversations = {
        cid: ConversationPrint(
            state=_known_state(board, cid),
            outcome=board.outcome_of(cid),
            context=board.context_of(cid),
            monitors=board.monitors_of(cid),
            holder=router.holder(cid),
            held_in=router.held_in(cid),
            offer=router.offer_of(cid),
            offer_expires=router.offer_expires_at(cid),
            queue=router.queue_of(cid),
            position=router.position(cid),
            ticket=router.ticket(cid),
            wanted=router.wanted(cid),
            named=router.named(cid),
            held_before=router.held_before(cid),
            declined=router.declined(cid),
            fallbacks=switchboard_inspect.fallbacks_of(board, cid),
            return_bot=switchboard_inspect.return_bot_of(board, cid),
            proposals=switchboard_inspect.proposals_of(board, cid),
            survey_answers=switchboard_inspect.survey_answers_of(board, cid),
        )
        for cid in board.conversations()
    }
    participants = {
        spec.id: ParticipantPrint(
            presence=router.presence(spec.id),
            load=router.load(spec.id),
            holds=router.holds_of(spec.id),
            offers=router.offers_of(spec.id),
            idle_since=router.idle_since(spec.id),
        )
        for spec in board.config.participants
    }
    queues = {
        spec.name: QueuePrint(
            line=router.line(spec.name), last_picked=router.last_picked(spec.name)
        )
        for spec in board.config.queues
    }
    return Fingerprint(
        now=board.now,
        conversations=conversations,
        participants=participants,
        queues=queues,
        timers=switchboard_inspect.pending_timers(board),
        router=routing_inspect.dump(router),
    )


def _known_state(board: Switchboard, cid: str) -> State:
    state = board.state_of(cid)
    assert state is not None, f"{cid} is listed by conversations() but has no state"
    return state


def differences(a: Fingerprint, b: Fingerprint) -> list[str]:
    """What differs between two fingerprints, one short line per observable."""
    found: list[str] = []
    if a.now != b.now:
        found.append(f"now: {a.now:g} -> {b.now:g}")
    for label, left, right in (
        ("conversation", a.conversations, b.conversations),
        ("participant", a.participants, b.participants),
        ("queue", a.queues, b.queues),
    ):
        for key in sorted(set(left) | set(right)):
            x, y = left.get(key), right.get(key)
            if x == y:
                continue
            if x is None or y is None:
                found.append(f"{label} {key}: {'appeared' if x is None else 'disappeared'}")
                continue
            for field in attrs.fields(type(x)):
                fx, fy = getattr(x, field.name), getattr(y, field.name)
                if fx != fy:
                    found.append(f"{label} {key}.{field.name}: {fx!r} -> {fy!r}")
    if a.timers != b.timers:
        found.append(f"timers: {a.timers!r} -> {b.timers!r}")
    if a.router != b.router and not found:
        found.append("router: internal books differ (see Router.dump)")
    return found


# ----------------------------------------------------------------------------- records


@attrs.frozen(kw_only=True)
class Violation:
    """One broken promise: which invariant, about which conversation, at which step."""

    invariant: str
    step: int
    conversation: str | None
    detail: str

    def __str__(self) -> str:
        about = f" [{self.conversation}]" if self.conversation is not None else ""
        return f"step {self.step}: {self.invariant}{about}: {self.detail}"


class InvariantViolation(HandoffError):
    """The switchboard broke at least one runtime invariant at one step."""

    def __init__(self, violations: Iterable[Violation], event: Event | None = None) -> None:
        self.violations = tuple(violations)
        self.event = event
        lines = [str(v) for v in self.violations]
        if event is not None:
            lines.insert(0, f"during {event!r}:")
        super().__init__("\n  ".join(lines))

    @property
    def invariants(self) -> frozenset[str]:
        return frozenset(v.invariant for v in self.violations)


@attrs.frozen(kw_only=True)
class StepRecord:
    """What one step did, as a check sees it.

    `timeouts` are the effects that merely letting time pass to `date` gives (the timeouts that
    fire before the step's own action); `at_action` is the world once they fired.
    """

    index: int
    event: Event
    date: float | None
    step_id: str | None
    duplicate: bool
    effects: tuple[Effect, ...]
    refusal: str | None
    timeouts: tuple[Effect, ...]
    before: Fingerprint
    at_action: Fingerprint
    after: Fingerprint

    @property
    def accepted(self) -> bool:
        """The step's own action ran (neither refused nor ignored as a duplicate)."""
        return self.refusal is None and not self.duplicate

    @property
    def fired(self) -> int:
        """How many leading effects are timeouts that fired before the action."""
        return len(self.timeouts)

    @property
    def conversation(self) -> str | None:
        value = getattr(self.event, "conversation", None)
        return value if isinstance(value, str) else None


# ----------------------------------------------------------------------------- the roster


class Roster:
    """Who is in each conversation, and which offer is out, rebuilt from the effect stream alone.

    Permissive on purpose: it applies whatever it is given (a check decides what is wrong), so it
    is also the reference model an embedder can keep next to its own store.
    """

    def __init__(self) -> None:
        self.members: dict[str, dict[str, Role]] = {}
        self.left: dict[str, set[str]] = {}
        self.offers: dict[str, Offer] = {}
        self.closed: dict[str, str] = {}

    @classmethod
    def of(cls, start: Fingerprint) -> Roster:
        """The roster of a switchboard that already has conversations."""
        roster = cls()
        for cid, conv in start.conversations.items():
            members = roster.members.setdefault(cid, {})
            for monitor in conv.monitors:
                members[monitor] = Role.MONITOR
            if conv.holder is not None:
                members[conv.holder] = Role.HOLDER
            if conv.offer is not None and conv.queue is not None:
                roster.offers[cid] = Offer(conversation=cid, to=conv.offer, queue=conv.queue)
            if conv.state in (State.SURVEY, State.ENDED):
                roster.closed[cid] = str(conv.state)
        return roster

    def role(self, conversation: str, participant: str) -> Role | None:
        return self.members.get(conversation, {}).get(participant)

    def holders(self, conversation: str) -> list[str]:
        members = self.members.get(conversation, {})
        return [pid for pid, role in members.items() if role is Role.HOLDER]

    def holder(self, conversation: str) -> str | None:
        holders = self.holders(conversation)
        return holders[0] if holders else None

    def monitors(self, conversation: str) -> tuple[str, ...]:
        members = self.members.get(conversation, {})
        return tuple(pid for pid, role in members.items() if role is Role.MONITOR)

    def offer(self, conversation: str) -> Offer | None:
        return self.offers.get(conversation)

    def has_left(self, conversation: str, participant: str) -> bool:
        return participant in self.left.get(conversation, set())

    def apply(self, effect: Effect) -> None:
        cid = effect.conversation
        if isinstance(effect, ParticipantAdded):
            self.members.setdefault(cid, {})[effect.to] = effect.role
            self.left.get(cid, set()).discard(effect.to)
            offer = self.offers.get(cid)
            if effect.role is Role.HOLDER and offer is not None and offer.to == effect.to:
                del self.offers[cid]  # the offer was accepted
        elif isinstance(effect, ParticipantRemoved):
            self.members.get(cid, {}).pop(effect.to, None)
            self.left.setdefault(cid, set()).add(effect.to)
        elif isinstance(effect, Offer):
            self.offers[cid] = effect
        elif isinstance(effect, OfferWithdrawn):
            offer = self.offers.get(cid)
            if offer is not None and offer.to == effect.to:
                del self.offers[cid]
        elif isinstance(effect, Survey):
            self.closed[cid] = str(State.SURVEY)
        elif isinstance(effect, Ended):
            self.closed[cid] = str(State.ENDED)

    def loads(self, units_of_hold: Mapping[str, int], units: Mapping[str, int]) -> dict[str, int]:
        """Units in use per participant: holds (by `units_of_hold[conversation]`, 1 if unknown)
        and offers out (by their queue's units)."""
        used: dict[str, int] = {}
        for cid, members in self.members.items():
            for pid, role in members.items():
                if role is Role.HOLDER:
                    used[pid] = used.get(pid, 0) + units_of_hold.get(cid, 1)
        for offer in self.offers.values():
            used[offer.to] = used.get(offer.to, 0) + units.get(offer.queue, 1)
        return used


# ----------------------------------------------------------------------------- checks


class World:
    """What a check may know of the configuration (the contract's, not the router's copy)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.participants: dict[str, ParticipantSpec] = {p.id: p for p in config.participants}
        self.queues: dict[str, QueueSpec] = {q.name: q for q in config.queues}
        self.units: dict[str, int] = {q.name: q.units for q in config.queues}
        self.cancel_phrases = tuple(p.casefold() for p in config.settings.cancel_phrases)

    def kind(self, pid: str) -> Kind | None:
        spec = self.participants.get(pid)
        return None if spec is None else spec.kind

    def capacity(self, pid: str) -> int:
        return self.participants[pid].capacity

    def eligible_by_request(self, pid: str, queue: str, conv: ConversationPrint) -> bool:
        """SPEC §3 eligibility rules that do not depend on presence or load."""
        spec, qspec = self.participants.get(pid), self.queues.get(queue)
        if spec is None or qspec is None or pid not in qspec.members:
            return False
        if conv.named is not None and pid != conv.named:
            return False
        if conv.wanted not in (None, Wanted.ANY) and str(conv.wanted) != str(spec.kind):
            return False
        if pid in conv.held_before and pid != conv.named:
            return False
        return pid not in conv.declined

    def has_room(self, pid: str, queue: str, world: Fingerprint) -> bool:
        seat = world.participants.get(pid)
        return (
            seat is not None
            and seat.presence is PresenceStatus.AVAILABLE
            and self.capacity(pid) - seat.load >= self.units[queue]
        )

    def hold_units(self, after: Fingerprint) -> dict[str, int]:
        return {
            cid: self.units[conv.held_in]
            for cid, conv in after.conversations.items()
            if conv.held_in is not None and conv.held_in in self.units
        }


class Check:
    """Base of the checks; a subclass's docstring says, in one line, what it guarantees."""

    name: ClassVar[str] = ""

    def __init__(self, world: World, start: Fingerprint) -> None:
        self.world = world

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        raise NotImplementedError

    @classmethod
    def guarantee(cls) -> str:
        """The docstring's first paragraph, on one line."""
        paragraph = (cls.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(line.strip() for line in paragraph.splitlines())

    def violation(self, step: StepRecord, conversation: str | None, detail: str) -> Violation:
        return Violation(
            invariant=self.name, step=step.index, conversation=conversation, detail=detail
        )


class RosterCheck(Check):
    """A check that keeps its own `Roster`, rebuilt from the effect stream alone."""

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        self._roster = Roster.of(start)


def _addressed(effect: Effect) -> str | None:
    """The participant an effect is for (None for the customer and for broadcast lines)."""
    to = effect.to
    return None if to is None or to == CUSTOMER else to


_BEFORE_JOIN = frozenset({Offer.KIND, OfferWithdrawn.KIND})


class JoinOrder(Check):
    """A joiner's first effects about a conversation are participant_added, context_set and, for a
    bot holder, greeting (only an offer and its withdrawal may come earlier).
    """

    name = "join_order"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        # (conversation, participant) -> "in", "left", or the kinds still due in a join
        self._status: dict[tuple[str, str], str | list[str]] = {}
        self._role: dict[tuple[str, str], Role] = {}
        roster = Roster.of(start)
        for cid, members in roster.members.items():
            for pid, role in members.items():
                self._status[(cid, pid)] = "in"
                self._role[(cid, pid)] = role

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        for effect in step.effects:
            pid = _addressed(effect)
            if pid is None:
                continue
            key = (effect.conversation, pid)
            status = self._status.get(key)
            if isinstance(status, list):
                if status[0] == effect.KIND:
                    status.pop(0)
                    if not status:
                        self._status[key] = "in"
                    continue
                yield self.violation(
                    step, key[0], f"{pid} got {effect.KIND} where {status[0]} was due in its join"
                )
                self._status[key] = status = "in"
            if isinstance(effect, ParticipantAdded):
                if status == "in" and not (
                    self._role.get(key) is Role.MONITOR and effect.role is Role.HOLDER
                ):
                    yield self.violation(
                        step,
                        key[0],
                        f"{pid} added as {effect.role} while already in as {self._role.get(key)}",
                    )
                due = [ContextSet.KIND]
                if effect.role is Role.HOLDER and self.world.kind(pid) is Kind.BOT:
                    due.append(Greeting.KIND)
                self._status[key] = due
                self._role[key] = effect.role
            elif isinstance(effect, ParticipantRemoved):
                if status == "in":
                    self._status[key] = "left"
            elif status is None and effect.KIND not in _BEFORE_JOIN:
                yield self.violation(step, key[0], f"{pid} got {effect.KIND} before it joined")
            elif status == "in" and effect.KIND in (ContextSet.KIND, Greeting.KIND):
                yield self.violation(step, key[0], f"{pid} got {effect.KIND} outside a join")
        for key, status in self._status.items():
            if isinstance(status, list):
                yield self.violation(
                    step, key[0], f"join of {key[1]} incomplete: {', '.join(status)} never came"
                )
                self._status[key] = "in"


class LeaveSilence(RosterCheck):
    """A leaver gets participant_removed once and then nothing about that conversation until it is
    added again (a fresh offer and its withdrawal excepted).
    """

    name = "leave_silence"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        roster = self._roster
        for effect in step.effects:
            pid = _addressed(effect)
            if pid is not None:
                cid = effect.conversation
                if isinstance(effect, ParticipantRemoved) and roster.role(cid, pid) is None:
                    again = "again" if roster.has_left(cid, pid) else "though it never joined"
                    yield self.violation(step, cid, f"{pid} removed {again}")
                elif (
                    roster.has_left(cid, pid)
                    and roster.role(cid, pid) is None
                    and not isinstance(effect, ParticipantAdded | ParticipantRemoved)
                    and effect.KIND not in _BEFORE_JOIN
                ):
                    yield self.violation(step, cid, f"{pid} got {effect.KIND} after it left")
            roster.apply(effect)


class ContextComplete(Check):
    """Every context_set is the whole context so far (every variable and every accepted message, in
    order), and so is the switchboard's own context.
    """

    name = "context_complete"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        self._ref: dict[str, Context] = {
            cid: conv.context for cid, conv in start.conversations.items()
        }

    def _after_action(self, step: StepRecord) -> Context | None:
        """The reference context of the step's conversation once the step's action ran."""
        event, cid = step.event, step.conversation
        if cid is None:
            return None
        if isinstance(event, Start):
            return Context(variables=dict(event.variables), transcript=())
        ref = self._ref.get(cid)
        if ref is None:
            return None
        if isinstance(event, CustomerMessage):
            entry = Entry(sender=CUSTOMER, text=event.text)
        elif isinstance(event, BotMessage | AgentMessage):
            entry = Entry(sender=event.participant, text=event.text)
        elif isinstance(event, SetVariable):
            variables = {**ref.variables, event.name: event.value}
            return Context(variables=variables, transcript=ref.transcript)
        else:
            return ref
        return Context(variables=ref.variables, transcript=(*ref.transcript, entry))

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        before = dict(self._ref)
        if step.accepted and step.conversation is not None:
            after = self._after_action(step)
            if after is not None:
                self._ref[step.conversation] = after
        for i, effect in enumerate(step.effects):
            if not isinstance(effect, ContextSet):
                continue
            cid = effect.conversation
            expected = (before if i < step.fired else self._ref).get(cid)
            if expected is None or not _same_context(effect.context, expected):
                detail = (
                    f"context_set to {effect.to} is {_show(effect.context)}, "
                    f"the whole context is {_show(expected)}"
                )
                yield self.violation(step, cid, detail)
        for cid, conv in step.after.conversations.items():
            expected = self._ref.get(cid)
            if expected is None:
                yield self.violation(step, cid, "conversation appeared without an accepted start")
                self._ref[cid] = conv.context
            elif not _same_context(conv.context, expected):
                detail = (
                    f"the switchboard keeps {_show(conv.context)}, "
                    f"the whole context is {_show(expected)}"
                )
                yield self.violation(step, cid, detail)
                self._ref[cid] = conv.context


def _same_context(a: Context, b: Context) -> bool:
    return dict(a.variables) == dict(b.variables) and tuple(a.transcript) == tuple(b.transcript)


def _show(context: Context | None) -> str:
    if context is None:
        return "nothing (unknown conversation)"
    lines = "; ".join(f"{e.sender}: {e.text}" for e in context.transcript)
    return f"variables {dict(context.variables)!r}, transcript [{lines}]"


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
    """No participant's load (holds and offers out, in their queue's units) ever exceeds the
    capacity its configuration gives it.
    """

    name = "capacity"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        for effect in step.effects:
            self._roster.apply(effect)
        streamed = self._roster.loads(self.world.hold_units(step.after), self.world.units)
        for pid, seat in step.after.participants.items():
            capacity = self.world.capacity(pid)
            for source, load in (("its load", seat.load), ("the stream", streamed.get(pid, 0))):
                if load > capacity:
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
        """Holds that went back into their line because their holder went offline."""
        event = step.event
        if not (isinstance(event, Presence) and event.status is PresenceStatus.OFFLINE):
            return set()
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
                elif any(other in kept for other in queue.line[at + 1 :]):
                    yield self.violation(
                        step, cid, f"joined {name} ahead of conversations already waiting"
                    )

    def _picks(self, step: StepRecord) -> Iterator[tuple[str, str, str]]:
        """(conversation, participant, queue) for every routing pick in the step."""
        lines = {cid: name for name, q in step.before.queues.items() for cid in q.line}
        for effect in step.effects:
            cid = effect.conversation
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


class NoMessageLost(RosterCheck):
    """Every accepted message reaches each current member once (a customer's: the holder and
    monitors; while waiting, the monitors and a queued answer), and nothing else is relayed.
    """

    name = "no_message_lost"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        roster = self._roster
        for effect in step.effects[: step.fired]:
            if isinstance(effect, Message):
                yield self.violation(step, effect.conversation, "a timeout relayed a message")
            roster.apply(effect)
        action = step.effects[step.fired :]
        yield from self._relays(step, action)
        for effect in action:
            roster.apply(effect)

    def _relays(self, step: StepRecord, action: tuple[Effect, ...]) -> Iterator[Violation]:
        event, cid = step.event, step.conversation
        relayed = [e for e in action if isinstance(e, Message)]
        if not step.accepted or cid is None:
            for message in relayed:
                yield self.violation(step, message.conversation, "relayed with no message step")
            return
        roster = self._roster
        monitors = list(roster.monitors(cid))
        expected: list[str]
        if isinstance(event, CustomerMessage):
            sender, text = CUSTOMER, event.text
            conv = step.at_action.conversations.get(cid)
            state = None if conv is None else conv.state
            holder = roster.holder(cid)
            if state in HOLDING_STATES:
                expected = ([holder] if holder is not None else []) + monitors
            elif state is State.WAITING:
                expected = monitors
                yield from self._waiting(step, action, event.text, conv)
            else:
                expected = []
        elif isinstance(event, BotMessage | AgentMessage):
            sender, text = event.participant, event.text
            expected = [CUSTOMER, *monitors]
        else:
            sender, text, expected = "", "", []
        got = [m.to for m in relayed if m.sender == sender and m.text == text]
        if sorted(got) != sorted(expected):
            detail = (
                f"message from {sender or 'nobody'} reached {sorted(got)}, "
                f"should reach {sorted(expected)} once each"
            )
            yield self.violation(step, cid, detail)
        for message in relayed:
            if (message.sender, message.text) != (sender, text) or message.conversation != cid:
                detail = f"relayed {message.text!r} from {message.sender}, which no step sent"
                yield self.violation(step, message.conversation, detail)
        if not isinstance(event, CustomerMessage):
            for answer in (e for e in action if isinstance(e, Queued)):
                yield self.violation(step, answer.conversation, "queued answer to no message")

    def _waiting(
        self,
        step: StepRecord,
        action: tuple[Effect, ...],
        text: str,
        conv: ConversationPrint | None,
    ) -> Iterator[Violation]:
        cid = step.conversation
        answers = [e for e in action if isinstance(e, Queued) and e.conversation == cid]
        if any(phrase in text.casefold() for phrase in self.world.cancel_phrases):
            ended = any(
                isinstance(e, Ended) and e.conversation == cid and e.outcome is Outcome.ABANDONED
                for e in action
            )
            entry = Entry(sender=CUSTOMER, text=text)
            carried = any(
                isinstance(e, ContextSet)
                and e.conversation == cid
                and e.context.transcript[-1:] == (entry,)
                for e in action
            )
            if answers or not (ended or carried):
                detail = (
                    "a cancel-phrase message must end the wait (abandoned, or the bot "
                    "back with it in its context), not be answered queued"
                )
                yield self.violation(step, cid, detail)
            return
        line = () if conv is None or conv.queue is None else step.at_action.queues[conv.queue].line
        place = line.index(cid) + 1 if cid in line else None
        if len(answers) != 1 or conv is None:
            yield self.violation(step, cid, f"{len(answers)} queued answers to one message")
        elif (answers[0].queue, answers[0].position) != (conv.queue, place):
            detail = (
                f"queued says {answers[0].queue} #{answers[0].position}, "
                f"the line says {conv.queue} #{place}"
            )
            yield self.violation(step, cid, detail)


#: Which member may take each step kind that names an actor (the step's `participant`).
_HOLDER_STEPS = frozenset(
    {"bot", "agent", "fallback", "set_variable", "escalate", "transfer", "propose", "end"}
)
_OFFERED_STEPS = frozenset({"accept", "decline"})
_MONITOR_STEPS = frozenset({"approve", "reject", "take_over"})


class ActingMember(RosterCheck):
    """Only a participant in the conversation, in the role its step needs, may act on it: the
    holder speaks, reports, escalates, transfers, proposes and ends; the offered human answers the
    offer; a monitor answers a proposal or takes over; a monitor joins only from outside.
    """

    name = "acting_member"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        roster = self._roster
        for effect in step.effects[: step.fired]:
            roster.apply(effect)
        actor = getattr(step.event, "participant", None)
        cid, kind = step.conversation, step.event.STEP
        if step.accepted and cid is not None and isinstance(actor, str):
            offer = roster.offer(cid)
            role = roster.role(cid, actor)
            if kind in _HOLDER_STEPS:
                allowed, needs = role is Role.HOLDER, "its holder"
            elif kind in _OFFERED_STEPS:
                allowed, needs = offer is not None and offer.to == actor, "offered it"
            elif kind in _MONITOR_STEPS:
                allowed, needs = role is Role.MONITOR, "one of its monitors"
            else:
                allowed, needs = kind != "monitor" or role is None, "outside it"
            if not allowed:
                detail = f"{kind} by {actor} accepted, but {actor} is not {needs}"
                yield self.violation(step, cid, detail)
        for effect in step.effects[step.fired :]:
            roster.apply(effect)


class EndedIsSilent(Check):
    """Once its ended line is out, nothing happens to a conversation: every step naming it is
    refused, no effect names it, and its outcome never changes.
    """

    name = "ended_is_silent"

    def __init__(self, world: World, start: Fingerprint) -> None:
        super().__init__(world, start)
        self._ended: dict[str, Outcome | None] = {
            cid: conv.outcome
            for cid, conv in start.conversations.items()
            if conv.state is State.ENDED
        }

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        cid = step.conversation
        if step.accepted and cid in self._ended:
            if isinstance(step.event, Start) and cid not in step.before.conversations:
                del self._ended[cid]  # forgotten (`Switchboard.forget`), then a new one started
            else:
                yield self.violation(step, cid, f"{step.event.STEP} accepted after it ended")
        for effect in step.effects:
            about = effect.conversation
            if about in self._ended:
                yield self.violation(step, about, f"{effect.KIND} to {effect.to} after it ended")
            if isinstance(effect, Ended):
                self._ended.setdefault(about, effect.outcome)
        for about, outcome in self._ended.items():
            conv = step.after.conversations.get(about)
            if conv is not None and (conv.state is not State.ENDED or conv.outcome != outcome):
                yield self.violation(
                    step, about, f"ended {outcome} but now {conv.state} {conv.outcome}"
                )
        for about, conv in step.after.conversations.items():
            if conv.state is State.ENDED and about not in self._ended:
                yield self.violation(step, about, "ended without an ended line")
                self._ended[about] = conv.outcome


class CloseOrder(RosterCheck):
    """Before a survey or ended line, every offer of that conversation is withdrawn and its holder
    and monitors are removed; it is in survey exactly while its survey is out.
    """

    name = "close_order"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        roster = self._roster
        for effect in step.effects:
            if isinstance(effect, Survey | Ended):
                cid = effect.conversation
                still = [*roster.holders(cid), *roster.monitors(cid)]
                offer = roster.offer(cid)
                if still or offer is not None:
                    extra = f", offer to {offer.to} out" if offer is not None else ""
                    yield self.violation(
                        step, cid, f"{effect.KIND} while {still or 'nobody'} still in{extra}"
                    )
            roster.apply(effect)
        for cid, conv in step.after.conversations.items():
            closed = roster.closed.get(cid)
            if (conv.state is State.SURVEY) != (closed == str(State.SURVEY)):
                yield self.violation(
                    step, cid, f"state {conv.state} but the last closing line was {closed}"
                )


class RefusalChangesNothing(Check):
    """A refused step changes nothing: the world after it is the world that letting time pass to its
    date gives, and it carries exactly those timeouts' effects.
    """

    name = "refusal_changes_nothing"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if step.refusal is None or step.duplicate:
            return
        if step.effects != step.timeouts:
            detail = (
                f"refusal carries {[e.KIND for e in step.effects]}, "
                f"time passing alone gives {[e.KIND for e in step.timeouts]}"
            )
            yield self.violation(step, step.conversation, detail)
        if step.after != step.at_action:
            changed = "; ".join(differences(step.at_action, step.after))
            yield self.violation(step, step.conversation, f"refused but changed: {changed}")


class DuplicateChangesNothing(Check):
    """A step whose id was processed before (refused or not) gives no effect, is not refused, and
    changes nothing, not even the time.
    """

    name = "duplicate_changes_nothing"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if not step.duplicate:
            return
        if step.effects or step.refusal is not None:
            outcome = f"refused ({step.refusal})" if step.refusal else "processed"
            detail = (
                f"id {step.step_id!r} seen before, yet {outcome}: {[e.KIND for e in step.effects]}"
            )
            yield self.violation(step, step.conversation, detail)
        if step.after != step.before:
            changed = "; ".join(differences(step.before, step.after))
            yield self.violation(step, step.conversation, f"duplicate changed: {changed}")


class TimeoutsFirst(Check):
    """A step's effects begin with exactly the effects that letting time pass to its date gives:
    timeouts fire first, each at its deadline.
    """

    name = "timeouts_first"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if step.accepted and step.effects[: step.fired] != step.timeouts:
            detail = (
                f"effects begin {[e.KIND for e in step.effects]}, "
                f"the timeouts due give {[e.KIND for e in step.timeouts]}"
            )
            yield self.violation(step, step.conversation, detail)


class TimeMonotonic(Check):
    """Time never goes backwards: a step dated before the switchboard's time is refused, and after a
    step the time is its date (unchanged without one).
    """

    name = "time_monotonic"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        if step.duplicate:
            return
        then, now, date = step.before.now, step.after.now, step.date
        if date is not None and date < then and step.refusal is None:
            yield self.violation(
                step, step.conversation, f"accepted a step dated {date:g} < {then:g}"
            )
        expected = then if date is None or date < then else date
        if now != expected:
            yield self.violation(
                step, step.conversation, f"time is {now:g}, should be {expected:g}"
            )


class BooksMatch(RosterCheck):
    """The holders, monitors, offers and loads an embedder rebuilds from the effect stream alone are
    exactly the switchboard's own.
    """

    name = "books_match"

    def observe(self, step: StepRecord) -> Iterator[Violation]:
        roster = self._roster
        for effect in step.effects:
            roster.apply(effect)
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
        for pid, seat in step.after.participants.items():
            if seat.load != loads.get(pid, 0):
                yield self.violation(
                    step, None, f"{pid}: load {seat.load}, the stream gives {loads.get(pid, 0)}"
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
)
#: name -> what it guarantees (the first line of its check's docstring).
INVARIANTS: dict[str, str] = {check.name: check.guarantee() for check in CHECKS}


# ----------------------------------------------------------------------------- the auditor


class Auditor:
    """Drives a switchboard one step at a time, exactly like `Switchboard.handle`, and checks
    every invariant after each step. Raises `InvariantViolation` (strict) or collects them in
    `violations`. Costs two fingerprints per step and, when a step's date makes timeouts fire, a
    deep copy of the switchboard (to learn what time passing alone does), and it remembers a
    little about every conversation it saw: meant for tests, audits and canaries, not for every
    step of a busy production switchboard."""

    def __init__(
        self,
        board: Switchboard,
        *,
        checks: Iterable[type[Check]] = CHECKS,
        strict: bool = True,
    ) -> None:
        self.board = board
        self.world = World(board.config)
        start = fingerprint(board)
        self.checks = [check(self.world, start) for check in checks]
        self.strict = strict
        self.violations: list[Violation] = []
        self.steps = 0
        self._ids: set[str] = set()

    def handle(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> list[Effect]:
        """Apply one step to the switchboard, check it, and return its effects (re-raising its
        `StepRefused` if it was refused, after the checks)."""
        board = self.board
        before = fingerprint(board)
        duplicate = step_id is not None and step_id in self._ids
        date = now if now is not None else (event.now if isinstance(event, Tick) else None)
        timeouts: tuple[Effect, ...] = ()
        at_action = before
        if not duplicate and date is not None and date >= before.now:
            if any(timer[0] <= date for timer in before.timers) and not isinstance(event, Tick):
                twin = copy.deepcopy(board)
                timeouts = tuple(twin.handle(Tick(now=date)))
                at_action = fingerprint(twin)
            else:
                at_action = attrs.evolve(before, now=date)
        refusal: StepRefused | None = None
        try:
            effects = tuple(board.handle(event, now=now, step_id=step_id))
        except StepRefused as refused:
            refusal = refused
            effects = tuple(refused.effects)
        after = fingerprint(board)
        if isinstance(event, Tick) and refusal is None and not duplicate:
            timeouts, at_action = effects, after
        if step_id is not None:
            self._ids.add(step_id)
        record = StepRecord(
            index=self.steps,
            event=event,
            date=date,
            step_id=step_id,
            duplicate=duplicate,
            effects=effects,
            refusal=None if refusal is None else str(refusal),
            timeouts=timeouts,
            before=before,
            at_action=at_action,
            after=after,
        )
        self.steps += 1
        found = self.observe(record)
        if found and self.strict:
            raise InvariantViolation(found, event)
        if refusal is not None:
            raise refusal
        return list(effects)

    def observe(self, step: StepRecord) -> list[Violation]:
        """Run every check on one step record (also for records made by hand)."""
        found = [violation for check in self.checks for violation in check.observe(step)]
        self.violations.extend(found)
        return found


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
    "StepRecord",
    "Violation",
    "World",
    "differences",
    "fingerprint",
]
