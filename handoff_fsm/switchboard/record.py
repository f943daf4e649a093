"""What the switchboard remembers about one conversation besides routing.

Theory of operation: routing knows who holds or is offered a conversation; the lifecycle knows
its state (`snapshot`). A `ConversationRecord` keeps the rest: the context (variables and
transcript), the monitors, the fallback counter, the bot to return to after a wait, pending
approvals, the survey answers, and the tokens that tell a live timer from a stale one.
`STEP_STATES` says in which states each step kind is allowed at all.

Rules: the context handed out (`context()`) is a copy sharing nothing mutable with the record.
A record is small, as the switchboard holds one per live conversation: what most conversations
never have (monitors, proposals, survey answers) costs nothing until they do (a shared empty
tuple, or None), and the transcript is one flat list of texts (sender, text, sender, ...): no
object per line for memory or the garbage collector (`Entry` values are made when a context is
handed out); so are the variables (name, value, name, ...: a third of a small dict).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from typing import cast

import attrs

from handoff_fsm import lifecycle
from handoff_fsm.effects import Context, Entry, Handover
from handoff_fsm.values import copy_mapping
from handoff_fsm.vocabulary import BOT_HOLDING_STATES, HOLDING_STATES, JsonValue, State

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
class Proposal:
    bot: str
    supervisor: str
    action: str


class ConversationRecord:
    """Everything the switchboard remembers about one conversation besides routing."""

    __slots__ = (
        "fallbacks",
        "handover",
        "id",
        "monitors",
        "offer_token",
        "proposals",
        "request_token",
        "return_bot",
        "snapshot",
        "survey_answers",
        "transcript",
        "variables",
        "wait_since",
        "wait_token",
    )

    def __init__(self, cid: str, variables: Mapping[str, JsonValue]) -> None:
        self.id = cid
        self.snapshot = lifecycle.NEW
        self.variables = _flat(variables)  # flat: name, value, name, value... (`variable_map`)
        self.transcript: tuple[str, ...] = ()  # sender, text, sender, ... (`say`, `lines`)
        self.monitors: tuple[str, ...] = ()  # in the order they joined
        self.fallbacks = 0
        self.return_bot: str | None = None  # the bot that handed this conversation to its wait
        self.proposals: tuple[Proposal, ...] = ()  # oldest first
        self.wait_token = 0
        self.wait_since = 0.0  # when the current (or last) wait began
        self.offer_token = 0
        self.survey_answers: dict[str, JsonValue] | None = None  # None: no answers (or none yet)
        self.handover: Handover | None = None  # the last hand-over, when it gave a reason
        self.request_token = 0  # a new request (not a requeue) stales its relax timers

    @property
    def state(self) -> State:
        return self.snapshot.state

    def variable_map(self) -> dict[str, JsonValue]:
        """The variables by name, in the order they were first set (values not copied)."""
        flat = self.variables
        return dict(zip(cast(tuple[str, ...], flat[::2]), flat[1::2], strict=True))

    def merge_variables(self, changes: Mapping[str, JsonValue]) -> None:
        """Set each of `changes` (already copies), as `dict.update` would."""
        merged = self.variable_map()
        merged.update(changes)
        self.variables = _flat(merged)

    def say(self, sender: str, text: str) -> None:
        """One more transcript line. A tuple of texts, which the garbage collector does not
        track, costs a copy per line: nothing at the tens of lines a conversation has."""
        self.transcript = (*self.transcript, sender, text)

    def say_all(self, lines: Iterable[tuple[str, str]]) -> None:
        """Many transcript lines in one copy (a start's seed, a restored transcript), where
        `say` line by line would copy the tuple once a line."""
        self.transcript = (*self.transcript, *(part for line in lines for part in line))

    def lines(self) -> Iterator[tuple[str, str]]:
        """The transcript as (sender, text), oldest first."""
        transcript = self.transcript
        return zip(transcript[::2], transcript[1::2], strict=True)

    def context(self) -> Context:
        return Context(
            variables=copy_mapping(self.variable_map()),
            transcript=tuple(Entry(sender=sender, text=text) for sender, text in self.lines()),
            handover=self.handover,
        )


def _flat(variables: Mapping[str, JsonValue]) -> tuple[JsonValue, ...]:
    return tuple(chain.from_iterable(variables.items()))


__all__ = ["STEP_STATES", "ConversationRecord", "Proposal"]
