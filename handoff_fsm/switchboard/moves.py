"""The moves every step is made of: join, relay, hand over, serve, close, and time passing.

Theory of operation: `Moves` holds a switchboard's state (conversation records, the router, the
timers, the delivery ids) and the small operations the step handlers (`handlers`) compose. Each
operation keeps the effects order of SPEC §4 on its own: `_join` sends `participant_added`,
`context_set` (the whole context) and, for a bot holder, `greeting`; `_let_go` tells the leaver
before anyone else joins; `_close` withdraws offers and removes the holder and monitors before
the `survey` or `ended` line. Who holds what is routing's business (`self._router`); which state
a conversation is in is the lifecycle's (`_fire`, driven only by the model's triggers).

Rules:
- One place for each rule: "can the bot take it back" is `_bot_to_return_to`; capacity is the
  router's `has_room`; "is the offer open" is the router's `check_offer`.
- Time: timeouts fire when time passes their deadline, in deadline order, each processed at its
  own deadline (`_advance`), before the step's own action.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from handoff_fsm import lifecycle
from handoff_fsm.config import (
    Config,
    Kind,
    OverflowReturnToBot,
    OverflowTransfer,
    Requirement,
    whole_message,
)
from handoff_fsm.effects import (
    ContextSet,
    Effect,
    Ended,
    Greeting,
    Message,
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    PresenceChanged,
    Survey,
    WrapUp,
)
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.routing import Assigned, Decision, Offered, Router, Withdrawn
from handoff_fsm.switchboard.record import STEP_STATES, ConversationRecord
from handoff_fsm.switchboard.timers import OFFER, RELAX, SURVEY, WAIT, WRAP_UP, Timer, TimerHeap
from handoff_fsm.vocabulary import Guard, PresenceStatus, Role, State, Trigger, Wanted


class Moves:
    """A switchboard's state and the operations its step handlers are made of."""

    def __init__(self, config: Config, *, trace: bool = False) -> None:
        self.config = config
        # With `trace`, every lifecycle transition is kept per conversation (for path diagrams
        # and debugging); off by default because a long-running service does not need it.
        self._traces: dict[str, list[lifecycle.Transition]] | None = {} if trace else None
        self.settings = config.settings
        self._router = Router(config.participants, config.queues)
        self.now = 0.0
        self._conversations: dict[str, ConversationRecord] = {}
        self._timers = TimerHeap()
        # Waits that began in this step: their timers are set once the step has served the
        # lines, and only for those still waiting (most waits are served at once, by a bot).
        self._new_waits: list[tuple[ConversationRecord, int, float]] = []
        # participant -> the conversations it monitors, in the order it joined them.
        self._monitoring: dict[str, list[str]] = {}
        # Step id -> until when it is remembered (inf: no dedup window); ids with a window, and
        # ended conversations under retention, leave memory in time order (`_expire`).
        self._seen_ids: dict[str, float] = {}
        self._id_expiry: deque[tuple[float, str]] = deque()
        self._ended: deque[tuple[float, ConversationRecord]] = deque()
        # Timer tokens come from one counter, so a stale timer never matches a conversation
        # started again under a forgotten one's id.
        self._tokens = 0
        self._out: list[Effect] = []
        self._escalation_phrases = tuple(p.casefold() for p in self.settings.escalation_phrases)
        self._cancel_phrases = frozenset(whole_message(p) for p in self.settings.cancel_phrases)
        # queue -> when its last waits ended in a hold (at most RECENT_SERVICES): the estimate.
        self._served: dict[str, list[float]] = {}

    def _known(self, conversation: str) -> ConversationRecord:
        record = self._conversations.get(conversation)
        if record is None:
            raise StepRefused(
                ErrorCode.UNKNOWN_CONVERSATION, f"unknown conversation {conversation!r}"
            )
        return record

    def _live(self, conversation: str, step: str) -> ConversationRecord:
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

    def _holder_of(self, record: ConversationRecord, participant: str, kind: Kind | None) -> None:
        spec = self._router.participant(participant)  # refuses an unknown participant
        holder = self._router.holder(record.id)
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
        self, record: ConversationRecord, trigger: Trigger, facts: lifecycle.Facts = frozenset()
    ) -> None:
        record.snapshot, transition = lifecycle.step(record.snapshot, trigger, facts)
        if self._traces is not None:
            self._traces.setdefault(record.id, []).append(transition)

    def _join(self, record: ConversationRecord, participant: str, role: Role) -> None:
        self._emit(ParticipantAdded(conversation=record.id, to=participant, role=role))
        self._emit(ContextSet(conversation=record.id, to=participant, context=record.context()))
        if role is Role.HOLDER and self._router.participant(participant).kind is Kind.BOT:
            self._emit(Greeting(conversation=record.id, to=participant))

    def _add_monitor(self, record: ConversationRecord, participant: str) -> None:
        record.monitors = (*record.monitors, participant)
        self._monitoring.setdefault(participant, []).append(record.id)

    def _drop_monitor(self, record: ConversationRecord, participant: str) -> None:
        """Stop monitoring; a supervisor that is no longer in the conversation cannot answer."""
        record.monitors = tuple(m for m in record.monitors if m != participant)
        record.proposals = tuple(p for p in record.proposals if p.supervisor != participant)
        watched = self._monitoring[participant]
        watched.remove(record.id)
        if not watched:
            del self._monitoring[participant]

    def _remove(self, record: ConversationRecord, participant: str) -> None:
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

    def _relay(self, record: ConversationRecord, sender: str, text: str, to: Sequence[str]) -> None:
        record.say(sender, text)
        for receiver in to:
            self._emit(Message(conversation=record.id, to=receiver, sender=sender, text=text))

    def _schedule(
        self, deadline: float, kind: str, conversation: str, participant: str, token: int
    ) -> None:
        self._timers.set(deadline, kind, conversation, participant, token)

    def _enqueue(
        self,
        record: ConversationRecord,
        queue: str,
        wanted: Wanted,
        named: str | None = None,
        *,
        requires: tuple[Requirement, ...] = (),
        priority: int | None = None,
        since: float | None = None,
        bots_first: bool = False,
        checked: bool = False,
    ) -> None:
        """Put a conversation in a queue's line and start its wait timer, and a relax timer for
        each requirement with `for` (a new request, `since` None, stales the old ones).
        `checked`: the caller already asked `check_request` (a start checks before it makes
        the record)."""
        self._router.enqueue(
            record.id, queue, self.now, wanted=wanted, named=named, requires=requires,
            priority=priority, since=since, check=since is None and not checked,
            bots_first=bots_first,
        )  # fmt: skip
        if since is None:
            record.request_token = self._token()
        if requires:
            for deadline in self._router.relax_deadlines(record.id):
                self._schedule(deadline, RELAX, record.id, "", record.request_token)
        self._wait_begins(record, queue)

    def _token(self) -> int:
        self._tokens += 1
        return self._tokens

    def _estimated_wait(self, queue: str, position: int) -> float | None:
        """position x (now - t1) / k over the queue's last k services t1..tk (docs/routing.md);
        None before its second service."""
        served = self._served.get(queue, ())
        if len(served) < 2 or self.now <= served[0]:
            return None
        return round(position * (self.now - served[0]) / len(served), 1)

    def _served_from(self, queue: str) -> None:
        served = self._served.setdefault(queue, [])
        served.append(self.now)
        if len(served) > RECENT_SERVICES:
            del served[0]

    def _wait_begins(self, record: ConversationRecord, queue: str) -> None:
        record.wait_token = self._token()
        record.wait_since = self.now
        timeout = self._router.queue(queue).wait_timeout
        if timeout is not None:
            self._new_waits.append((record, record.wait_token, self.now + timeout))

    def _set_wait_timers(self) -> None:
        for record, token, deadline in self._new_waits:
            if record.wait_token == token and record.state is State.WAITING:
                self._schedule(deadline, WAIT, record.id, "", token)
        self._new_waits.clear()

    def _serve(self) -> None:
        for decision in self._router.serve(self.now):
            self._apply(decision)

    def _apply(self, decision: Decision) -> None:
        record = self._conversations[decision.conversation]
        if isinstance(decision, Assigned):
            if record.state is State.WAITING:
                self._served_from(decision.queue)
            self._fire(record, Trigger.BOT_TAKES)
            self._took(record, decision.participant)
        else:
            assert isinstance(decision, Offered)
            if record.state is State.NEW:
                self._fire(record, Trigger.ENQUEUE)
            record.offer_token = self._token()
            self._emit(Offer(conversation=record.id, to=decision.participant, queue=decision.queue))
            if decision.expires_at is not None:
                self._schedule(
                    decision.expires_at, OFFER, record.id, decision.participant,
                    record.offer_token,
                )  # fmt: skip

    def _took(self, record: ConversationRecord, holder: str) -> None:
        """A new holder has it: reset what belonged to the previous hold, and join. A monitor
        that becomes the holder (take-over, or accepting an offer) stops being a monitor, so it
        gets each message once."""
        record.fallbacks = 0
        record.return_bot = None
        record.proposals = ()
        record.wait_token = self._token()  # the wait is over: its timer goes stale
        if holder in record.monitors:
            self._drop_monitor(record, holder)
        self._join(record, holder, Role.HOLDER)

    def _let_go(self, record: ConversationRecord, *, wrap: bool = False) -> str:
        """The holder leaves (escalation, transfer, end): it is told, before anyone else joins.
        With `wrap`, a human holder of a queue with `wrap_up` begins its wrap-up (its units stay
        in use), and is told so just before its `participant_removed`."""
        holder = self._router.holder(record.id)
        queue = self._router.held_in(record.id)
        assert holder is not None and queue is not None
        wrap_up = self._router.queue(queue).wrap_up
        until = None
        if wrap and wrap_up is not None and self._router.participant(holder).kind is Kind.HUMAN:
            until = self.now + wrap_up
        self._router.release(record.id, self.now, wrap_until=until)
        if until is not None:
            self._emit(WrapUp(conversation=record.id, to=holder, until=until))
            self._schedule(until, WRAP_UP, record.id, holder, 0)
        self._remove(record, holder)
        record.proposals = ()
        return holder

    def _close(
        self, record: ConversationRecord, trigger: Trigger, facts: lifecycle.Facts = frozenset()
    ) -> None:
        """Go to survey or ended: withdraw offers, remove holder and monitors, then say so."""
        self._fire(record, trigger, facts)
        if self._router.queue_of(record.id) is not None:
            self._withdrawn(self._router.leave(record.id, self.now))
        if self._router.holder(record.id) is not None:
            self._let_go(record, wrap=True)
        for monitor in record.monitors:
            self._remove(record, monitor)
            self._drop_monitor(record, monitor)
        record.wait_token = self._token()
        if record.state is State.SURVEY:
            self._emit(Survey(conversation=record.id))
            timeout = self.settings.survey_timeout
            if timeout is not None:
                self._schedule(self.now + timeout, SURVEY, record.id, "", record.wait_token)
        else:
            outcome = record.snapshot.outcome
            assert outcome is not None
            self._emit(Ended(conversation=record.id, outcome=outcome))
            self._router.forget(record.id)
            if self.settings.retention is not None:
                self._ended.append((self.now + self.settings.retention, record))
        self._serve()

    def _bot_to_return_to(self, record: ConversationRecord) -> str | None:
        """The bot that handed this conversation to its wait, if it can take it back now."""
        bot = record.return_bot
        if bot is None or not self._router.knows(bot):  # gone: removed since it handed over
            return None
        queue = self._router.queue_of(record.id)
        assert queue is not None
        if self._router.presence(bot) is PresenceStatus.OFFLINE or not self._router.has_room(
            bot, queue
        ):
            return None
        return bot

    def _return_to_bot(
        self, record: ConversationRecord, bot: str, trigger: Trigger, facts: lifecycle.Facts
    ) -> None:
        queue = self._router.queue_of(record.id)
        assert queue is not None
        self._fire(record, trigger, facts)
        self._withdrawn(self._router.leave(record.id, self.now))
        self._router.assign(record.id, bot, queue, self.now)
        self._took(record, bot)
        self._serve()

    # ----------------------------------------------------------------- time

    def _timer_is_live(self, timer: Timer) -> bool:
        if timer.kind == WRAP_UP:
            if not self._router.knows(timer.participant):  # removed: offline ended the wrap-up
                return False
            wrapping = self._router.wrapping(timer.participant)
            return wrapping.get(timer.conversation) == timer.deadline
        record = self._conversations.get(timer.conversation)
        if record is None:
            return False
        if timer.kind == RELAX:
            return record.request_token == timer.token and record.state is State.WAITING
        if timer.kind == OFFER:
            return (
                record.offer_token == timer.token
                and self._router.offer_of(record.id) == timer.participant
            )
        if timer.kind == WAIT:
            return record.wait_token == timer.token and record.state is State.WAITING
        return record.wait_token == timer.token and record.state is State.SURVEY

    def _missed_offer(self, participant: str) -> None:
        """Set away a human that let `missed_offers_to_away` offers in a row time out."""
        limit = self.settings.missed_offers_to_away
        if not limit or self._router.missed_offers(participant) < limit:
            return
        if self._router.presence(participant) is not PresenceStatus.AVAILABLE:
            return
        change = self._router.set_presence(participant, PresenceStatus.AWAY, self.now)
        self._emit(
            PresenceChanged(to=participant, status=PresenceStatus.AWAY, reason="missed_offers")
        )
        for withdrawn in change.withdrawn:
            self._withdrawn(withdrawn)

    def _advance(self, now: float) -> None:
        if not self._timers.due_by(now):  # the common case: nothing due
            self.now = now
            return
        for timer in self._timers.due(now):
            if not self._timer_is_live(timer):
                continue
            self.now = max(self.now, timer.deadline)
            record = self._conversations.get(timer.conversation)
            if record is None:  # a wrap-up outlives its forgotten conversation
                self._router.end_wrap_up(timer.participant, timer.conversation, timer.deadline)
                self._serve()
                self._set_wait_timers()
                continue
            if timer.kind == WRAP_UP:
                self._router.end_wrap_up(timer.participant, timer.conversation, timer.deadline)
                self._serve()
            elif timer.kind == RELAX:
                self._router.relax(record.id, self.now)
                self._serve()
            elif timer.kind == OFFER:
                self._withdrawn(self._router.expire_offer(record.id, timer.participant, self.now))
                self._missed_offer(timer.participant)
                self._serve()
            elif timer.kind == WAIT:
                self._wait_ran_out(record)
            else:
                self._close(record, Trigger.SURVEY_TIMEOUT)
            self._set_wait_timers()
        self.now = now

    def _expire(self, now: float) -> None:
        """Forget what retention and the dedup window let go by `now`: ended conversations and
        step ids, oldest first, O(expired). An entry whose subject changed since (a conversation
        forgotten and started again, an id processed again after its window) is skipped."""
        ended = self._ended
        while ended and ended[0][0] <= now:
            record = ended.popleft()[1]
            if self._conversations.get(record.id) is record:
                self._drop(record)
        ids = self._id_expiry
        while ids and ids[0][0] <= now:
            until, step_id = ids.popleft()
            if self._seen_ids.get(step_id) == until:
                del self._seen_ids[step_id]

    def _drop(self, record: ConversationRecord) -> None:
        """Forget an ended conversation: routing already has (`_close`); its timers are stale."""
        del self._conversations[record.id]
        if self._traces is not None:
            self._traces.pop(record.id, None)

    def _wait_ran_out(self, record: ConversationRecord) -> None:
        queue = self._router.queue_of(record.id)
        assert queue is not None
        overflow = self._router.queue(queue).overflow
        if isinstance(overflow, OverflowTransfer):
            wanted = self._router.wanted(record.id) or Wanted.ANY
            requires = self._router.requires(record.id)
            priority = self._router.priority(record.id)
            since = self._router.request_since(record.id)
            bots_first = self._router.bots_first(record.id)
            self._fire(record, Trigger.WAIT_TIMEOUT, frozenset({Guard.OVERFLOW_TRANSFER}))
            self._withdrawn(self._router.leave(record.id, self.now))
            self._enqueue(
                record, overflow.queue, wanted, requires=requires, priority=priority,
                since=since, bots_first=bots_first,
            )  # fmt: skip
            self._serve()
            return
        if isinstance(overflow, OverflowReturnToBot):
            bot = self._bot_to_return_to(record)
            if bot is not None:
                facts = frozenset({Guard.OVERFLOW_RETURNS_TO_BOT})
                self._return_to_bot(record, bot, Trigger.WAIT_TIMEOUT, facts)
                return
        self._close(record, Trigger.WAIT_TIMEOUT)


RECENT_SERVICES = 20
"""How many of a queue's last services the estimated wait reads."""


__all__ = ["RECENT_SERVICES", "Moves"]
