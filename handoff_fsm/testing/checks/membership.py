"""Checks on who is in a conversation and what reaches them: joins, leavers, the whole context,
acting members, silence after the end, and the order of closing.
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff_fsm.config import Kind
from handoff_fsm.effects import (
    CUSTOMER,
    Context,
    ContextSet,
    Ended,
    Entry,
    Greeting,
    ParticipantAdded,
    ParticipantRemoved,
    Role,
    Survey,
)
from handoff_fsm.events import (
    AgentMessage,
    BotMessage,
    CustomerMessage,
    Escalate,
    SetVariable,
    Start,
    Transfer,
)
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.testing.checks.base import (
    BEFORE_JOIN,
    Check,
    RosterCheck,
    StepRecord,
    Violation,
    World,
    addressed,
)
from handoff_fsm.testing.fingerprint import (
    Fingerprint,
)
from handoff_fsm.testing.roster import Roster


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
            pid = addressed(effect)
            if pid is None or effect.conversation is None:
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
            elif status is None and effect.KIND not in BEFORE_JOIN:
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
            pid = addressed(effect)
            cid = effect.conversation
            if pid is not None and cid is not None:
                if isinstance(effect, ParticipantRemoved) and roster.role(cid, pid) is None:
                    again = "again" if roster.has_left(cid, pid) else "though it never joined"
                    yield self.violation(step, cid, f"{pid} removed {again}")
                elif (
                    roster.has_left(cid, pid)
                    and roster.role(cid, pid) is None
                    and not isinstance(effect, ParticipantAdded | ParticipantRemoved)
                    and effect.KIND not in BEFORE_JOIN
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
        if isinstance(event, Start):  # a transcript seed opens the transcript
            return Context(variables=dict(event.variables), transcript=tuple(event.transcript))
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
        elif isinstance(event, Escalate | Transfer):  # a hand-over's variables are merged
            variables = {**ref.variables, **event.variables}
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
        # Forgotten (`forget`, or retention before this step's action), then started again.
        restarted = (
            step.accepted
            and isinstance(step.event, Start)
            and cid not in step.at_action.conversations
        )
        if step.accepted and cid in self._ended:
            if restarted:
                del self._ended[cid]
            else:
                yield self.violation(step, cid, f"{step.event.STEP} accepted after it ended")
        for i, effect in enumerate(step.effects):
            about = effect.conversation
            if about is None:
                continue
            if about in self._ended:
                yield self.violation(step, about, f"{effect.KIND} to {effect.to} after it ended")
            if isinstance(effect, Ended) and not (restarted and about == cid and i < step.fired):
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


__all__ = [
    "ActingMember",
    "CloseOrder",
    "ContextComplete",
    "EndedIsSilent",
    "JoinOrder",
    "LeaveSilence",
]
