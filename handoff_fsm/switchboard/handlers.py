"""The step handlers: one method per step kind of the contract (SPEC §5).

Theory of operation: `Switchboard.step` dispatches each event to its handler through
`_DISPATCH` (data, so a switchboard pickles and a new step kind is one line there plus its
handler). A handler checks every precondition first (the conversation is known and in a state
where the step is allowed, `STEP_STATES`; the actor holds it, or has the offer, or monitors it),
raising `StepRefused` with its code before the first change, then composes the moves of `Moves`.
"""

from __future__ import annotations

from typing import ClassVar

from handoff_fsm.config import Kind, whole_message
from handoff_fsm.effects import CUSTOMER, Approval, ApprovalRequested, Handover, Queued
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import (
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
    Monitor,
    Presence,
    Propose,
    Reject,
    SetVariable,
    Start,
    SurveyResponse,
    TakeOver,
    Tick,
    Transfer,
    WrapUpDone,
)
from handoff_fsm.switchboard.moves import Moves
from handoff_fsm.switchboard.record import ConversationRecord, Proposal
from handoff_fsm.values import copy_json, copy_mapping
from handoff_fsm.vocabulary import (
    BOT_HOLDING_STATES,
    Guard,
    PresenceStatus,
    Role,
    State,
    Trigger,
    Wanted,
)


class Handlers(Moves):
    """One handler per step kind."""

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
        WrapUpDone: "_wrap_up_done",
    }

    def _tick(self, event: Tick) -> None:
        del event  # time already moved in handle()

    def _start(self, event: Start) -> None:
        if event.conversation in self._conversations:
            raise StepRefused(
                ErrorCode.ALREADY_EXISTS, f"conversation {event.conversation!r} already exists"
            )
        self._router.queue(event.queue)  # refuses an unknown queue
        # No kind asked: anyone, bots before humans (bots take first; docs/routing.md).
        wanted = Wanted.ANY if event.kind is None else event.kind
        self._router.check_request(
            event.queue, wanted=wanted, named=event.to, requires=event.requires
        )
        record = ConversationRecord(event.conversation, copy_mapping(event.variables))
        record.say_all((entry.sender, entry.text) for entry in event.transcript)
        self._conversations[record.id] = record
        self._enqueue(
            record, event.queue, wanted, event.to, requires=event.requires,
            priority=event.priority, bots_first=event.kind is None, checked=True,
        )  # fmt: skip
        self._serve()
        if record.state is State.NEW:
            self._fire(record, Trigger.ENQUEUE)

    def _customer(self, event: CustomerMessage) -> None:
        record = self._live(event.conversation, "customer")
        folded = event.text.casefold()
        state = record.state
        if state in BOT_HOLDING_STATES:
            holder = self._router.holder(record.id)
            assert holder is not None
            self._relay(record, CUSTOMER, event.text, [holder, *record.monitors])
            if any(phrase in folded for phrase in self._escalation_phrases):
                self._escalate_if_servable(record, Trigger.ESCALATION_PHRASE)
        elif state is State.AGENT_ENGAGED:
            holder = self._router.holder(record.id)
            assert holder is not None
            self._relay(record, CUSTOMER, event.text, [holder, *record.monitors])
        elif state is State.WAITING:
            self._relay(record, CUSTOMER, event.text, record.monitors)
            if whole_message(event.text) in self._cancel_phrases:
                self._cancel_wait(record)
            else:
                queue = self._router.queue_of(record.id)
                position = self._router.position(record.id)
                assert queue is not None and position is not None
                self._emit(
                    Queued(
                        conversation=record.id, queue=queue, position=position,
                        estimated_wait=self._estimated_wait(queue, position),
                    )
                )  # fmt: skip
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
            self._escalate_if_servable(record, Trigger.FALLBACK_LIMIT)

    def _set_variable(self, event: SetVariable) -> None:
        record = self._live(event.conversation, "set_variable")
        self._holder_of(record, event.participant, None)
        record.merge_variables({event.name: copy_json(event.value)})

    def _escalate(self, event: Escalate) -> None:
        record = self._live(event.conversation, "escalate")
        self._holder_of(record, event.participant, Kind.BOT)
        queue = self._router.held_in(record.id)
        assert queue is not None
        self._router.check_request(
            queue, wanted=Wanted.HUMAN, requires=event.requires, conversation=record.id
        )
        # "explicit" names the trigger (the v1 form, and the seeds'); a reason is any other text.
        reason = None if event.reason == "explicit" else event.reason
        self._escalate_now(record, Trigger.ESCALATE, event, reason)

    def _escalate_if_servable(self, record: ConversationRecord, trigger: Trigger) -> None:
        """An escalation by phrase or fallback limit that no human could ever take does not
        happen: the bot keeps the conversation, and nothing is refused."""
        queue = self._router.held_in(record.id)
        assert queue is not None
        try:
            self._router.check_request(queue, wanted=Wanted.HUMAN, conversation=record.id)
        except StepRefused:
            return
        self._escalate_now(record, trigger)

    def _escalate_now(
        self,
        record: ConversationRecord,
        trigger: Trigger,
        event: Escalate | None = None,
        reason: str | None = None,
    ) -> None:
        """The bot steps out and routing is asked for a human, in the queue it held it from."""
        queue = self._router.held_in(record.id)
        assert queue is not None
        self._fire(record, trigger)
        bot = self._let_go(record)
        self._hand_over(record, bot, reason, event)
        self._enqueue(
            record, queue, Wanted.HUMAN,
            requires=() if event is None else event.requires,
            priority=None if event is None else event.priority,
        )  # fmt: skip
        record.return_bot = bot
        self._serve()

    def _hand_over(
        self,
        record: ConversationRecord,
        sender: str,
        reason: str | None,
        event: Escalate | Transfer | None,
    ) -> None:
        """Merge the hand-over's variables before anyone joins; the next holder sees who handed
        over and why (`context.handover`, only when a reason was given)."""
        if event is not None:
            record.merge_variables(copy_mapping(event.variables))
        record.handover = None if reason is None else Handover(sender=sender, reason=reason)

    def _accept(self, event: Accept) -> None:
        record = self._live(event.conversation, "accept")
        self._router.check_offer(record.id, event.participant)
        queue = self._router.queue_of(record.id)
        assert queue is not None
        self._fire(record, Trigger.AGENT_ACCEPTS)
        self._router.accept(record.id, event.participant, self.now)
        self._served_from(queue)
        self._took(record, event.participant)

    def _decline(self, event: Decline) -> None:
        record = self._live(event.conversation, "decline")
        self._router.check_offer(record.id, event.participant)
        self._withdrawn(self._router.decline(record.id, event.participant, self.now))
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
        self._router.check_request(
            event.queue, wanted=event.kind, named=event.to, requires=event.requires,
            conversation=record.id,
        )  # fmt: skip
        self._fire(record, Trigger.TRANSFER)
        holder = self._let_go(record, wrap=True)
        is_bot = self._router.participant(holder).kind is Kind.BOT
        self._hand_over(record, holder, event.reason, event)
        self._enqueue(
            record, event.queue, event.kind, named=event.to, requires=event.requires,
            priority=event.priority,
        )  # fmt: skip
        record.return_bot = holder if is_bot else None
        self._serve()

    def _cancel(self, event: Cancel) -> None:
        record = self._live(event.conversation, "cancel")
        self._cancel_wait(record)

    def _cancel_wait(self, record: ConversationRecord) -> None:
        bot = self._bot_to_return_to(record)
        if bot is None:
            self._close(record, Trigger.CANCEL)
        else:
            self._return_to_bot(record, bot, Trigger.CANCEL, frozenset({Guard.BOT_TO_RETURN_TO}))

    def _presence(self, event: Presence) -> None:
        self._router.participant(event.participant)
        change = self._router.set_presence(event.participant, event.status, self.now)
        for withdrawn in change.withdrawn:
            self._withdrawn(withdrawn)
        for conversation in change.dropped:
            record = self._conversations[conversation]
            self._fire(record, Trigger.HOLDER_OFFLINE)
            self._remove(record, event.participant)
            record.proposals = ()
            record.return_bot = None
            queue = self._router.queue_of(conversation)
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
        if self._router.participant(event.supervisor).kind is not Kind.HUMAN:
            raise StepRefused(
                ErrorCode.WRONG_KIND, f"supervisor {event.supervisor!r} is not a human"
            )
        if event.supervisor not in record.monitors:
            self._add_monitor(record, event.supervisor)
            self._join(record, event.supervisor, Role.MONITOR)
        proposal = Proposal(bot=event.participant, supervisor=event.supervisor, action=event.action)
        record.proposals = (*record.proposals, proposal)
        self._emit(
            ApprovalRequested(conversation=record.id, to=event.supervisor, action=event.action)
        )

    def _answer(self, event: Approve | Reject) -> None:
        record = self._live(event.conversation, event.STEP)
        self._router.participant(event.participant)
        pending = next((p for p in record.proposals if p.supervisor == event.participant), None)
        if pending is None:
            raise StepRefused(
                ErrorCode.NO_PROPOSAL,
                f"{event.participant!r} has no pending proposal in conversation {record.id!r}",
            )
        record.proposals = tuple(p for p in record.proposals if p is not pending)
        approved = isinstance(event, Approve)
        self._emit(Approval(conversation=record.id, to=pending.bot, approved=approved))

    def _monitor(self, event: Monitor) -> None:
        record = self._live(event.conversation, "monitor")
        if self._router.participant(event.participant).kind is not Kind.HUMAN:
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
        bot = self._router.reassign(record.id, event.participant, self.now)
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
        record.survey_answers = copy_mapping(event.answers) or None
        self._close(record, Trigger.SURVEY_RESPONSE)

    def _wrap_up_done(self, event: WrapUpDone) -> None:
        self._router.participant(event.participant)  # refuses an unknown participant
        if self._router.end_wrap_up(event.participant):
            self._serve()

    def _customer_left(self, event: CustomerLeft) -> None:
        record = self._live(event.conversation, "customer_left")
        self._close(record, Trigger.CUSTOMER_LEFT)


__all__ = ["Handlers"]
