"""The switchboard: the engine platforms embed, joining the lifecycle and routing.

Theory of operation: a `Switchboard` holds every conversation, participant and queue of one contact
center. `handle(event, now=..., step_id=...)` takes one input event (the step vocabulary of SPEC
§5, as the classes of `handoff_fsm.events`) and returns the effects it decides, in the order they
must be delivered (`handoff_fsm.effects`). It never sends, sleeps or reads a clock: time comes in
with each event, and timeouts (offers, waits, surveys) fire when time passes their deadline, in
deadline order, before the event's own action, each processed at its own deadline.

Who holds what is routing's business (`handoff_fsm.routing.Router`); which state a conversation is
in is the lifecycle's (`handoff_fsm.lifecycle.step`, driven only by the model's triggers). This
module keeps what is neither: the context (variables and transcript), monitors, the fallback
counter, the bot to return to after a wait, pending approvals, timers and delivery ids.

Rules:
- Effects order (SPEC §4): a joiner gets `participant_added`, `context_set` (the whole context),
  and for a bot `greeting`, before anything else about that conversation; a leaver gets
  `participant_removed` before the next holder is added, and nothing afterwards unless it joins
  again; offers are withdrawn and the holder and monitors removed before `survey` or `ended`.
- A refused step raises `StepRefused` and changes nothing: every precondition is checked before the
  first change. Timeouts that fired before the refusal did happen (time passed); their effects
  ride on the exception as `StepRefused.effects`.
- A step whose `step_id` was seen before gives no effect at all, whether the first was refused or
  not, and does not move time.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

import attrs

from handoff_fsm import lifecycle
from handoff_fsm.config import (
    Config,
    Kind,
    OverflowReturnToBot,
    OverflowTransfer,
)
from handoff_fsm.effects import (
    CUSTOMER,
    Approval,
    ApprovalRequested,
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
from handoff_fsm.errors import ErrorCode, InvalidStep, StepRefused
from handoff_fsm.events import (
    EVENT_TYPES,
    Accept,
    AgentMessage,
    Approve,
    BotMessage,
    Cancel,
    CustomerLeft,
    CustomerMessage,
    Decline,
    End,
    Escalate,
    Event,
    Fallback,
    JsonValue,
    Monitor,
    Presence,
    PresenceStatus,
    Propose,
    Reject,
    SetVariable,
    Start,
    SurveyResponse,
    TakeOver,
    Tick,
    Transfer,
    Wanted,
)
from handoff_fsm.lifecycle import (
    BOT_HOLDING_STATES,
    HOLDING_STATES,
    Guard,
    Outcome,
    State,
    Trigger,
)
from handoff_fsm.routing import Assigned, Decision, Offered, Router, Withdrawn
from handoff_fsm.values import copy_json, copy_mapping, describe, text_problem, time_problem

_ALL_LIVE = frozenset(State) - {State.NEW, State.ENDED}

#: In which states each step kind is allowed at all (further checks follow in its handler).
STEP_STATES: dict[str, frozenset[State]] = {
    "customer": _ALL_LIVE,
    "bot": BOT_HOLDING_STATES,
    "agent": frozenset({State.AGENT_ENGAGED}),
    "fallback": BOT_HOLDING_STATES,
    "set_variable": HOLDING_STATES,
    "escalate": BOT_HOLDING_STATES,
    "accept": frozenset({State.WAITING}),
    "decline": frozenset({State.WAITING}),
    "transfer": HOLDING_STATES,
    "cancel": frozenset({State.WAITING}),
    "propose": BOT_HOLDING_STATES,
    "approve": BOT_HOLDING_STATES,
    "reject": BOT_HOLDING_STATES,
    "monitor": BOT_HOLDING_STATES,
    "take_over": BOT_HOLDING_STATES,
    "end": HOLDING_STATES,
    "survey_response": frozenset({State.SURVEY}),
    "customer_left": _ALL_LIVE,
}


@attrs.frozen(kw_only=True)
class _Proposal:
    bot: str
    supervisor: str
    action: str


class _Conversation:
    """Everything the switchboard remembers about one conversation besides routing."""

    __slots__ = (
        "fallbacks",
        "id",
        "monitors",
        "offer_token",
        "proposals",
        "return_bot",
        "snapshot",
        "survey_answers",
        "transcript",
        "variables",
        "wait_token",
    )

    def __init__(self, cid: str, variables: dict[str, JsonValue]) -> None:
        self.id = cid
        self.snapshot = lifecycle.NEW
        self.variables = variables
        self.transcript: list[Entry] = []
        self.monitors: list[str] = []
        self.fallbacks = 0
        self.return_bot: str | None = None  # the bot that handed this conversation to its wait
        self.proposals: list[_Proposal] = []
        self.wait_token = 0
        self.offer_token = 0
        self.survey_answers: dict[str, JsonValue] = {}

    @property
    def state(self) -> State:
        return self.snapshot.state

    def context(self) -> Context:
        return Context(variables=copy_mapping(self.variables), transcript=tuple(self.transcript))


# Timer kinds, ordered only by (deadline, sequence number).
_OFFER, _WAIT, _SURVEY = "offer", "wait", "survey"


class _Timer(NamedTuple):
    """A pending timeout. A plain tuple on purpose: the heap compares (deadline, seq), which is
    unique, in C; an attrs class with order=True costs ~50x more per comparison."""

    deadline: float
    seq: int
    kind: str
    conversation: str
    participant: str
    token: int


class StepStatus(enum.StrEnum):
    APPLIED = "applied"
    REFUSED = "refused"
    DUPLICATE = "duplicate"


@attrs.frozen(kw_only=True)
class StepResult:
    """What one step did. `effects` are to be delivered in order whatever the status (a refused
    step's are those of the timeouts that fired before it); `error` is set when refused."""

    status: StepStatus
    effects: tuple[Effect, ...] = ()
    error: StepRefused | None = None

    @property
    def code(self) -> ErrorCode | None:
        """The refusal's code, or None for an applied or duplicate step."""
        return None if self.error is None else self.error.code

    def unwrap(self) -> list[Effect]:
        """The effects, or the refusal raised (carrying the effects as `StepRefused.effects`):
        for callers that prefer an exception to a status."""
        if self.error is not None:
            self.error.effects = self.effects
            raise self.error
        return list(self.effects)


#: The result of every retried delivery: nothing happens, nothing is said.
DUPLICATE = StepResult(status=StepStatus.DUPLICATE)


def _check_input(event: Event, now: object, step_id: object) -> None:
    """Everything about an input that can be checked without the state, before any change."""
    if type(event) not in _EVENT_CLASSES:
        raise InvalidStep(f"not a step event: {describe(event)}")
    event.validate()
    if now is not None:
        problem = time_problem(now)
        if problem is not None:
            raise InvalidStep(f"now {problem}", step=event.STEP, field="now")
    if step_id is not None:
        problem = text_problem(step_id)
        if problem is not None:
            raise InvalidStep(f"step_id {problem}", step=event.STEP, field="step_id")


_EVENT_CLASSES = frozenset(EVENT_TYPES)


class Switchboard:
    """One contact center's conversations, participants and queues. Not thread-safe: serialise
    calls per switchboard (an embedding service typically owns one per shard)."""

    def __init__(self, config: Config, *, trace: bool = False) -> None:
        self.config = config
        # With `trace`, every lifecycle transition is kept per conversation (for path diagrams
        # and debugging); off by default because a long-running service does not need it.
        self._traces: dict[str, list[lifecycle.Transition]] | None = {} if trace else None
        self.settings = config.settings
        self.router = Router(config.participants, config.queues)
        self.now = 0.0
        self._conversations: dict[str, _Conversation] = {}
        self._timers: list[_Timer] = []
        # Waits that began in this step: their timers are set once the step has served the
        # lines, and only for those still waiting (most waits are served at once, by a bot).
        self._new_waits: list[tuple[_Conversation, int, float]] = []
        # participant -> the conversations it monitors, in the order it joined them.
        self._monitoring: dict[str, list[str]] = {}
        self._timer_seq = 0
        self._seen_ids: set[str] = set()
        self._out: list[Effect] = []
        self._escalation_phrases = tuple(p.casefold() for p in self.settings.escalation_phrases)
        self._cancel_phrases = tuple(p.casefold() for p in self.settings.cancel_phrases)

    #: Which method handles which event type: data, so a switchboard pickles (the store's
    #: snapshots) and a new step kind is one line here plus its handler.
    _DISPATCH: ClassVar[dict[type[Event], str]] = {
        Start: "_start",
        CustomerMessage: "_customer",
        BotMessage: "_bot",
        AgentMessage: "_agent",
        Fallback: "_fallback",
        SetVariable: "_set_variable",
        Escalate: "_escalate",
        Accept: "_accept",
        Decline: "_decline",
        Transfer: "_transfer",
        Cancel: "_cancel",
        Presence: "_presence",
        Propose: "_propose",
        Approve: "_answer",
        Reject: "_answer",
        Monitor: "_monitor",
        TakeOver: "_take_over",
        End: "_end",
        SurveyResponse: "_survey_response",
        CustomerLeft: "_customer_left",
        Tick: "_tick",
    }

    # ----------------------------------------------------------------- public API

    def step(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> StepResult:
        """Apply one input event; say whether it was applied, refused or a duplicate, with the
        effects to deliver in order (for a refused step, those of the timeouts that fired on
        the way to its time). An input that is not a well-formed step raises `InvalidStep`
        before anything changes (its step id is not remembered)."""
        if isinstance(event, Tick) and now is None:
            now = event.now
        _check_input(event, now, step_id)
        if step_id is not None:
            if step_id in self._seen_ids:
                return DUPLICATE
            self._seen_ids.add(step_id)
        self._out = []
        if now is not None:
            if now < self.now:
                refused = StepRefused(
                    ErrorCode.TIME_BACKWARDS, f"time goes backwards (from {self.now:g} to {now:g})"
                )
                return self._refused(event, refused, ())
            self._advance(now)
        fired, self._out = self._out, []
        try:
            getattr(self, self._DISPATCH[type(event)])(event)
        except StepRefused as refused:
            self._out = []
            self._new_waits.clear()  # a refused step began no wait (it changed nothing)
            return self._refused(event, refused, tuple(fired))
        self._set_wait_timers()
        effects, self._out = (*fired, *self._out), []
        return StepResult(status=StepStatus.APPLIED, effects=effects)

    def handle(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> list[Effect]:
        """`step`, raising: the effects of an applied step (none for a duplicate), or
        `StepRefused` carrying the effects of the timeouts that fired first (`.effects`)."""
        return self.step(event, now=now, step_id=step_id).unwrap()

    def _refused(
        self, event: Event, refused: StepRefused, effects: tuple[Effect, ...]
    ) -> StepResult:
        refused.step = event.STEP
        state = self.state_of(event.conversation) if event.conversation is not None else None
        refused.state = None if state is None else state.value
        return StepResult(status=StepStatus.REFUSED, effects=effects, error=refused)

    def state_of(self, conversation: str) -> State | None:
        record = self._conversations.get(conversation)
        return None if record is None else record.state

    def outcome_of(self, conversation: str) -> Outcome | None:
        record = self._conversations.get(conversation)
        return None if record is None else record.snapshot.outcome

    def context_of(self, conversation: str) -> Context:
        return self._known(conversation).context()

    def monitors_of(self, conversation: str) -> tuple[str, ...]:
        return tuple(self._known(conversation).monitors)

    def trace_of(self, conversation: str) -> tuple[lifecycle.Transition, ...]:
        """The lifecycle transitions this conversation went through, in order (needs
        `trace=True`; intermediate states inside one step, such as `waiting` during a transfer
        straight to a bot, are included)."""
        if self._traces is None:
            raise StepRefused(ErrorCode.NOT_TRACED, "this switchboard was built without trace=True")
        self._known(conversation)
        return tuple(self._traces.get(conversation, ()))

    def conversations(self) -> tuple[str, ...]:
        return tuple(self._conversations)

    def next_deadline(self) -> float | None:
        """When the earliest pending timer is due, so an embedder knows when to send a tick."""
        while self._timers and not self._timer_is_live(self._timers[0]):
            heapq.heappop(self._timers)
        return self._timers[0].deadline if self._timers else None

    # Read-only views of what the switchboard keeps besides routing, so that a test or an audit
    # (`handoff_fsm.invariants.fingerprint`) can see every piece of state a step may change.

    def fallbacks_of(self, conversation: str) -> int:
        """Fallbacks counted during the current bot hold (every new holder starts at 0)."""
        return self._known(conversation).fallbacks

    def return_bot_of(self, conversation: str) -> str | None:
        """The bot that handed this conversation to its current wait (a cancel brings it back)."""
        return self._known(conversation).return_bot

    def proposals_of(self, conversation: str) -> tuple[tuple[str, str, str], ...]:
        """Pending approvals as (bot, supervisor, action), oldest first."""
        return tuple((p.bot, p.supervisor, p.action) for p in self._known(conversation).proposals)

    def survey_answers_of(self, conversation: str) -> dict[str, JsonValue]:
        """The answers of the survey response, if one came (a copy)."""
        return copy_mapping(self._known(conversation).survey_answers)

    def pending_timers(self) -> tuple[tuple[float, str, str, str], ...]:
        """Every live timer as (deadline, kind, conversation, participant), in firing order; kind
        is `offer`, `wait` or `survey`, participant is empty but for offers. Unlike
        `next_deadline`, it leaves the timer heap untouched."""
        live = sorted(t for t in self._timers if self._timer_is_live(t))
        return tuple((t.deadline, t.kind, t.conversation, t.participant) for t in live)

    def forget(self, conversation: str) -> None:
        """Drop an ended conversation from memory (a long-running service calls this once the
        conversation is archived). Refused for a live one."""
        record = self._known(conversation)
        if record.state is not State.ENDED:
            raise StepRefused(
                ErrorCode.NOT_ENDED, f"conversation {conversation!r} is {record.state}, not ended"
            )
        del self._conversations[conversation]
        if self._traces is not None:
            self._traces.pop(conversation, None)

    # ----------------------------------------------------------------- helpers

    def _known(self, conversation: str) -> _Conversation:
        record = self._conversations.get(conversation)
        if record is None:
            raise StepRefused(
                ErrorCode.UNKNOWN_CONVERSATION, f"unknown conversation {conversation!r}"
            )
        return record

    def _live(self, conversation: str, step: str) -> _Conversation:
        record = self._known(conversation)
        allowed = STEP_STATES[step]
        if record.state not in allowed:
            if record.state is State.ENDED:
                raise StepRefused(ErrorCode.ENDED, f"conversation {conversation!r} has ended")
            raise StepRefused(
                ErrorCode.WRONG_STATE,
                f"conversation {conversation!r} is {record.state}; {step} needs "
                f"{' or '.join(sorted(allowed))}",
            )
        return record

    def _holder_of(self, record: _Conversation, participant: str, kind: Kind | None) -> None:
        spec = self.router.participant(participant)  # refuses an unknown participant
        holder = self.router.holder(record.id)
        if holder != participant:
            raise StepRefused(
                ErrorCode.NOT_HOLDER,
                f"{participant!r} does not hold conversation {record.id!r} "
                f"(holder: {holder or 'nobody'})",
            )
        if kind is not None and spec.kind is not kind:
            raise StepRefused(ErrorCode.WRONG_KIND, f"{participant!r} is not a {kind}")

    def _emit(self, effect: Effect) -> None:
        self._out.append(effect)

    def _fire(
        self, record: _Conversation, trigger: Trigger, facts: lifecycle.Facts = frozenset()
    ) -> None:
        record.snapshot, transition = lifecycle.step(record.snapshot, trigger, facts)
        if self._traces is not None:
            self._traces.setdefault(record.id, []).append(transition)

    def _join(self, record: _Conversation, participant: str, role: Role) -> None:
        self._emit(ParticipantAdded(conversation=record.id, to=participant, role=role))
        self._emit(ContextSet(conversation=record.id, to=participant, context=record.context()))
        if role is Role.HOLDER and self.router.participant(participant).kind is Kind.BOT:
            self._emit(Greeting(conversation=record.id, to=participant))

    def _add_monitor(self, record: _Conversation, participant: str) -> None:
        record.monitors.append(participant)
        self._monitoring.setdefault(participant, []).append(record.id)

    def _drop_monitor(self, record: _Conversation, participant: str) -> None:
        """Stop monitoring; a supervisor that is no longer in the conversation cannot answer."""
        record.monitors.remove(participant)
        record.proposals = [p for p in record.proposals if p.supervisor != participant]
        watched = self._monitoring[participant]
        watched.remove(record.id)
        if not watched:
            del self._monitoring[participant]

    def _remove(self, record: _Conversation, participant: str) -> None:
        self._emit(ParticipantRemoved(conversation=record.id, to=participant))

    def _withdrawn(self, withdrawn: Withdrawn | None) -> None:
        if withdrawn is not None:
            self._emit(
                OfferWithdrawn(
                    conversation=withdrawn.conversation,
                    to=withdrawn.participant,
                    reason=withdrawn.reason,
                )
            )

    def _relay(self, record: _Conversation, sender: str, text: str, to: Sequence[str]) -> None:
        record.transcript.append(Entry(sender=sender, text=text))
        for receiver in to:
            self._emit(Message(conversation=record.id, to=receiver, sender=sender, text=text))

    def _schedule(
        self, deadline: float, kind: str, conversation: str, participant: str, token: int
    ) -> None:
        self._timer_seq += 1
        heapq.heappush(
            self._timers,
            _Timer(deadline, self._timer_seq, kind, conversation, participant, token),
        )

    def _enqueue(
        self, record: _Conversation, queue: str, wanted: Wanted, named: str | None = None
    ) -> None:
        """Put a conversation in a queue's line and start its wait timer."""
        self.router.enqueue(record.id, queue, self.now, wanted=wanted, named=named)
        self._wait_begins(record, queue)

    def _wait_begins(self, record: _Conversation, queue: str) -> None:
        record.wait_token += 1
        timeout = self.router.queue(queue).wait_timeout
        if timeout is not None:
            self._new_waits.append((record, record.wait_token, self.now + timeout))

    def _set_wait_timers(self) -> None:
        for record, token, deadline in self._new_waits:
            if record.wait_token == token and record.state is State.WAITING:
                self._schedule(deadline, _WAIT, record.id, "", token)
        self._new_waits.clear()

    def _serve(self) -> None:
        for decision in self.router.serve(self.now):
            self._apply(decision)

    def _apply(self, decision: Decision) -> None:
        record = self._conversations[decision.conversation]
        if isinstance(decision, Assigned):
            self._fire(record, Trigger.BOT_TAKES)
            self._took(record, decision.participant)
        else:
            assert isinstance(decision, Offered)
            if record.state is State.NEW:
                self._fire(record, Trigger.ENQUEUE)
            record.offer_token += 1
            self._emit(Offer(conversation=record.id, to=decision.participant, queue=decision.queue))
            if decision.expires_at is not None:
                self._schedule(
                    decision.expires_at, _OFFER, record.id, decision.participant,
                    record.offer_token,
                )  # fmt: skip

    def _took(self, record: _Conversation, holder: str) -> None:
        """A new holder has it: reset what belonged to the previous hold, and join. A monitor
        that becomes the holder (take-over, or accepting an offer) stops being a monitor, so it
        gets each message once."""
        record.fallbacks = 0
        record.return_bot = None
        record.proposals.clear()
        record.wait_token += 1  # the wait is over: its timer goes stale
        if holder in record.monitors:
            self._drop_monitor(record, holder)
        self._join(record, holder, Role.HOLDER)

    def _let_go(self, record: _Conversation) -> str:
        """The holder leaves (escalation, transfer, end): it is told, before anyone else joins."""
        holder = self.router.release(record.id, self.now)
        self._remove(record, holder)
        record.proposals.clear()
        return holder

    def _close(
        self, record: _Conversation, trigger: Trigger, facts: lifecycle.Facts = frozenset()
    ) -> None:
        """Go to survey or ended: withdraw offers, remove holder and monitors, then say so."""
        self._fire(record, trigger, facts)
        if self.router.queue_of(record.id) is not None:
            self._withdrawn(self.router.leave(record.id, self.now))
        if self.router.holder(record.id) is not None:
            self._let_go(record)
        for monitor in list(record.monitors):
            self._remove(record, monitor)
            self._drop_monitor(record, monitor)
        record.wait_token += 1
        if record.state is State.SURVEY:
            self._emit(Survey(conversation=record.id))
            timeout = self.settings.survey_timeout
            if timeout is not None:
                self._schedule(self.now + timeout, _SURVEY, record.id, "", record.wait_token)
        else:
            outcome = record.snapshot.outcome
            assert outcome is not None
            self._emit(Ended(conversation=record.id, outcome=outcome))
            self.router.forget(record.id)
        self._serve()

    def _bot_to_return_to(self, record: _Conversation) -> str | None:
        """The bot that handed this conversation to its wait, if it can take it back now."""
        bot = record.return_bot
        if bot is None:
            return None
        queue = self.router.queue_of(record.id)
        assert queue is not None
        if self.router.presence(bot) is PresenceStatus.OFFLINE or not self.router.has_room(
            bot, queue
        ):
            return None
        return bot

    def _return_to_bot(
        self, record: _Conversation, bot: str, trigger: Trigger, facts: lifecycle.Facts
    ) -> None:
        queue = self.router.queue_of(record.id)
        assert queue is not None
        self._fire(record, trigger, facts)
        self._withdrawn(self.router.leave(record.id, self.now))
        self.router.assign(record.id, bot, queue, self.now)
        self._took(record, bot)
        self._serve()

    # ----------------------------------------------------------------- time

    def _timer_is_live(self, timer: _Timer) -> bool:
        record = self._conversations.get(timer.conversation)
        if record is None:
            return False
        if timer.kind == _OFFER:
            return (
                record.offer_token == timer.token
                and self.router.offer_of(record.id) == timer.participant
            )
        if timer.kind == _WAIT:
            return record.wait_token == timer.token and record.state is State.WAITING
        return record.wait_token == timer.token and record.state is State.SURVEY

    def _advance(self, now: float) -> None:
        while self._timers and self._timers[0].deadline <= now:
            timer = heapq.heappop(self._timers)
            if not self._timer_is_live(timer):
                continue
            self.now = max(self.now, timer.deadline)
            record = self._conversations[timer.conversation]
            if timer.kind == _OFFER:
                self._withdrawn(self.router.expire_offer(record.id, timer.participant, self.now))
                self._serve()
            elif timer.kind == _WAIT:
                self._wait_ran_out(record)
            else:
                self._close(record, Trigger.SURVEY_TIMEOUT)
            self._set_wait_timers()
        self.now = now

    def _wait_ran_out(self, record: _Conversation) -> None:
        queue = self.router.queue_of(record.id)
        assert queue is not None
        overflow = self.router.queue(queue).overflow
        if isinstance(overflow, OverflowTransfer):
            wanted = self.router.wanted(record.id) or Wanted.ANY
            self._fire(record, Trigger.WAIT_TIMEOUT, frozenset({Guard.OVERFLOW_TRANSFER}))
            self._withdrawn(self.router.leave(record.id, self.now))
            self._enqueue(record, overflow.queue, wanted)
            self._serve()
            return
        if isinstance(overflow, OverflowReturnToBot):
            bot = self._bot_to_return_to(record)
            if bot is not None:
                facts = frozenset({Guard.OVERFLOW_RETURNS_TO_BOT})
                self._return_to_bot(record, bot, Trigger.WAIT_TIMEOUT, facts)
                return
        self._close(record, Trigger.WAIT_TIMEOUT)

    # ----------------------------------------------------------------- step handlers

    def _tick(self, event: Tick) -> None:
        del event  # time already moved in handle()

    def _start(self, event: Start) -> None:
        if event.conversation in self._conversations:
            raise StepRefused(
                ErrorCode.ALREADY_EXISTS, f"conversation {event.conversation!r} already exists"
            )
        self.router.queue(event.queue)  # refuses an unknown queue
        record = _Conversation(event.conversation, copy_mapping(event.variables))
        self._conversations[record.id] = record
        self._enqueue(record, event.queue, Wanted.ANY)
        self._serve()
        if record.state is State.NEW:
            self._fire(record, Trigger.ENQUEUE)

    def _customer(self, event: CustomerMessage) -> None:
        record = self._live(event.conversation, "customer")
        folded = event.text.casefold()
        state = record.state
        if state in BOT_HOLDING_STATES:
            holder = self.router.holder(record.id)
            assert holder is not None
            self._relay(record, CUSTOMER, event.text, [holder, *record.monitors])
            if any(phrase in folded for phrase in self._escalation_phrases):
                self._escalate_now(record, Trigger.ESCALATION_PHRASE)
        elif state is State.AGENT_ENGAGED:
            holder = self.router.holder(record.id)
            assert holder is not None
            self._relay(record, CUSTOMER, event.text, [holder, *record.monitors])
        elif state is State.WAITING:
            self._relay(record, CUSTOMER, event.text, record.monitors)
            if any(phrase in folded for phrase in self._cancel_phrases):
                self._cancel_wait(record)
            else:
                queue = self.router.queue_of(record.id)
                position = self.router.position(record.id)
                assert queue is not None and position is not None
                self._emit(Queued(conversation=record.id, queue=queue, position=position))
        else:  # survey: kept in the transcript, nobody to relay to
            self._relay(record, CUSTOMER, event.text, ())

    def _bot(self, event: BotMessage) -> None:
        record = self._live(event.conversation, "bot")
        self._holder_of(record, event.participant, Kind.BOT)
        self._relay(record, event.participant, event.text, [CUSTOMER, *record.monitors])

    def _agent(self, event: AgentMessage) -> None:
        record = self._live(event.conversation, "agent")
        self._holder_of(record, event.participant, Kind.HUMAN)
        self._relay(record, event.participant, event.text, [CUSTOMER, *record.monitors])

    def _fallback(self, event: Fallback) -> None:
        record = self._live(event.conversation, "fallback")
        self._holder_of(record, event.participant, Kind.BOT)
        record.fallbacks += 1
        if record.fallbacks >= self.settings.fallback_limit:
            self._escalate_now(record, Trigger.FALLBACK_LIMIT)

    def _set_variable(self, event: SetVariable) -> None:
        record = self._live(event.conversation, "set_variable")
        self._holder_of(record, event.participant, None)
        record.variables[event.name] = copy_json(event.value)

    def _escalate(self, event: Escalate) -> None:
        record = self._live(event.conversation, "escalate")
        self._holder_of(record, event.participant, Kind.BOT)
        self._escalate_now(record, Trigger.ESCALATE)

    def _escalate_now(self, record: _Conversation, trigger: Trigger) -> None:
        """The bot steps out and routing is asked for a human, in the queue it held it from."""
        queue = self.router.held_in(record.id)
        assert queue is not None
        self._fire(record, trigger)
        bot = self._let_go(record)
        self._enqueue(record, queue, Wanted.HUMAN)
        record.return_bot = bot
        self._serve()

    def _accept(self, event: Accept) -> None:
        record = self._live(event.conversation, "accept")
        self.router.check_offer(record.id, event.participant)
        self._fire(record, Trigger.AGENT_ACCEPTS)
        self.router.accept(record.id, event.participant, self.now)
        self._took(record, event.participant)

    def _decline(self, event: Decline) -> None:
        record = self._live(event.conversation, "decline")
        self.router.check_offer(record.id, event.participant)
        self._withdrawn(self.router.decline(record.id, event.participant, self.now))
        self._serve()

    def _transfer(self, event: Transfer) -> None:
        record = self._live(event.conversation, "transfer")
        self._holder_of(record, event.participant, None)
        if event.to == event.participant:
            raise StepRefused(
                ErrorCode.SELF_TRANSFER, f"{event.participant!r} cannot transfer to itself"
            )
        # Everything routing would refuse (unknown queue, a named participant outside it or of
        # the wrong kind) is refused here, before the holder is let go.
        self.router.check_request(event.queue, wanted=event.kind, named=event.to)
        self._fire(record, Trigger.TRANSFER)
        holder = self._let_go(record)
        is_bot = self.router.participant(holder).kind is Kind.BOT
        self._enqueue(record, event.queue, event.kind, named=event.to)
        record.return_bot = holder if is_bot else None
        self._serve()

    def _cancel(self, event: Cancel) -> None:
        record = self._live(event.conversation, "cancel")
        self._cancel_wait(record)

    def _cancel_wait(self, record: _Conversation) -> None:
        bot = self._bot_to_return_to(record)
        if bot is None:
            self._close(record, Trigger.CANCEL)
        else:
            self._return_to_bot(record, bot, Trigger.CANCEL, frozenset({Guard.BOT_TO_RETURN_TO}))

    def _presence(self, event: Presence) -> None:
        self.router.participant(event.participant)
        change = self.router.set_presence(event.participant, event.status, self.now)
        for withdrawn in change.withdrawn:
            self._withdrawn(withdrawn)
        for conversation in change.dropped:
            record = self._conversations[conversation]
            self._fire(record, Trigger.HOLDER_OFFLINE)
            self._remove(record, event.participant)
            record.proposals.clear()
            record.return_bot = None
            queue = self.router.queue_of(conversation)
            assert queue is not None
            self._wait_begins(record, queue)
        if event.status is PresenceStatus.OFFLINE:
            for conversation in list(self._monitoring.get(event.participant, ())):
                record = self._conversations[conversation]
                self._drop_monitor(record, event.participant)
                self._remove(record, event.participant)
        self._serve()

    def _propose(self, event: Propose) -> None:
        record = self._live(event.conversation, "propose")
        self._holder_of(record, event.participant, Kind.BOT)
        if self.router.participant(event.supervisor).kind is not Kind.HUMAN:
            raise StepRefused(
                ErrorCode.WRONG_KIND, f"supervisor {event.supervisor!r} is not a human"
            )
        if event.supervisor not in record.monitors:
            self._add_monitor(record, event.supervisor)
            self._join(record, event.supervisor, Role.MONITOR)
        record.proposals.append(
            _Proposal(bot=event.participant, supervisor=event.supervisor, action=event.action)
        )
        self._emit(
            ApprovalRequested(conversation=record.id, to=event.supervisor, action=event.action)
        )

    def _answer(self, event: Approve | Reject) -> None:
        record = self._live(event.conversation, event.STEP)
        self.router.participant(event.participant)
        pending = next((p for p in record.proposals if p.supervisor == event.participant), None)
        if pending is None:
            raise StepRefused(
                ErrorCode.NO_PROPOSAL,
                f"{event.participant!r} has no pending proposal in conversation {record.id!r}",
            )
        record.proposals.remove(pending)
        approved = isinstance(event, Approve)
        self._emit(Approval(conversation=record.id, to=pending.bot, approved=approved))

    def _monitor(self, event: Monitor) -> None:
        record = self._live(event.conversation, "monitor")
        if self.router.participant(event.participant).kind is not Kind.HUMAN:
            raise StepRefused(
                ErrorCode.WRONG_KIND, f"{event.participant!r} is not a human; only humans monitor"
            )
        if event.participant in record.monitors:
            raise StepRefused(
                ErrorCode.ALREADY_MONITORS, f"{event.participant!r} already monitors {record.id!r}"
            )
        self._add_monitor(record, event.participant)
        self._join(record, event.participant, Role.MONITOR)

    def _take_over(self, event: TakeOver) -> None:
        record = self._live(event.conversation, "take_over")
        if event.participant not in record.monitors:
            raise StepRefused(
                ErrorCode.NOT_MONITOR,
                f"{event.participant!r} does not monitor {record.id!r}; monitor it first",
            )
        # The router refuses (changing nothing) a monitor that is not available or has no room;
        # after that the lifecycle cannot refuse take_over from a bot-held state.
        bot = self.router.reassign(record.id, event.participant, self.now)
        self._fire(record, Trigger.TAKE_OVER)
        self._remove(record, bot)
        self._took(record, event.participant)
        self._serve()

    def _end(self, event: End) -> None:
        record = self._live(event.conversation, "end")
        self._holder_of(record, event.participant, None)
        self._close(record, Trigger.END_WITH_SURVEY if event.survey else Trigger.END)

    def _survey_response(self, event: SurveyResponse) -> None:
        record = self._live(event.conversation, "survey_response")
        record.survey_answers = copy_mapping(event.answers)
        self._close(record, Trigger.SURVEY_RESPONSE)

    def _customer_left(self, event: CustomerLeft) -> None:
        record = self._live(event.conversation, "customer_left")
        self._close(record, Trigger.CUSTOMER_LEFT)


__all__ = ["DUPLICATE", "STEP_STATES", "StepResult", "StepStatus", "Switchboard"]
