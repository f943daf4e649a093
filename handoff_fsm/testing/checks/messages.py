"""The message check: every accepted message reaches the holder and each monitor exactly once,
and nothing else is relayed.
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff_fsm.config import whole_message
from handoff_fsm.effects import (
    CUSTOMER,
    ContextSet,
    Effect,
    Ended,
    Entry,
    Message,
    Queued,
)
from handoff_fsm.events import (
    AgentMessage,
    BotMessage,
    CustomerMessage,
)
from handoff_fsm.lifecycle import HOLDING_STATES, Outcome, State
from handoff_fsm.testing.checks.base import (
    RosterCheck,
    StepRecord,
    Violation,
)
from handoff_fsm.testing.fingerprint import (
    ConversationPrint,
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
        if whole_message(text) in self.world.cancel_phrases:
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


__all__ = [
    "NoMessageLost",
]
