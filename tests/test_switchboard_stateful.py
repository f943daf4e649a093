"""Stateful fuzzing of the switchboard: every step kind, many conversations, time, retries.

Theory of operation: `SwitchboardMachine` is a Hypothesis `RuleBasedStateMachine` over one
switchboard with three queues (strategies drawn per run; units 1 and 2; offer and wait timeouts;
the three overflow actions), three bots and four humans with small capacities (so capacity binds)
and up to six live conversations at once (ten ids). Its rules draw from the whole step vocabulary
(the 30 event types): actors are picked by role (the holder, the offered participant, a monitor)
or at random among every participant and an unknown one, conversations by the situation the step
is made for (waiting, offered, bot-held, ended...) or among every id and an unknown one, so that
most steps are meaningful and many are refused. Steps carry dates (forward, exactly at a timeout,
sometimes backwards) and ids (fresh, reused, redelivered). `hypothesis.event` counts accepted and
refused steps per kind (`--hypothesis-show-statistics`).

Every step goes through `handoff_fsm.testing.Auditor`, which checks every runtime invariant and
raises `InvariantViolation` on the first broken one; the router's own audit and the timer view
are `@invariant`s. The engine class is an attribute, so `tests/test_seeded_defects.py` runs this
same machine against defective engines and expects it to fail.

Budget: the `ci` profile runs a bounded number of examples (well under a minute on two cores);
`make fuzz` (HYPOTHESIS_PROFILE=fuzz) runs many more and longer ones. The live changes (drawn by
`tests/live_changes.py`) and the retention windows (drawn per run) are part of every run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import ClassVar

import attrs
import hypothesis
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from live_changes import CHANGE_KINDS, draw_change

from handoff_fsm.config import (
    Config,
    Kind,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Requirement,
    Settings,
    Strategy,
)
from handoff_fsm.effects import Effect
from handoff_fsm.errors import StepRefused
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
    LeaveQueue,
    Monitor,
    Presence,
    PresenceStatus,
    Propose,
    Reject,
    RemoveParticipant,
    SetCapacity,
    SetVariable,
    Start,
    SurveyResponse,
    TakeOver,
    Tick,
    Transfer,
    Wanted,
    WrapUpDone,
)
from handoff_fsm.lifecycle import BOT_HOLDING_STATES, HOLDING_STATES, State
from handoff_fsm.routing import inspect as routing_inspect
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect
from handoff_fsm.testing import Auditor

FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"

PEOPLE: dict[str, tuple[Kind, int]] = {
    "bot-a": (Kind.BOT, 3),
    "bot-b": (Kind.BOT, 1),
    "bot-c": (Kind.BOT, 2),
    "rep-1": (Kind.HUMAN, 2),
    "rep-2": (Kind.HUMAN, 1),
    "rep-3": (Kind.HUMAN, 1),
    "rep-4": (Kind.HUMAN, 3),
}
BOTS = tuple(p for p, (k, _) in PEOPLE.items() if k is Kind.BOT)
HUMANS = tuple(p for p, (k, _) in PEOPLE.items() if k is Kind.HUMAN)
PIDS = (*PEOPLE, "nobody")
#: Who may be asked to supervise: mostly humans, sometimes a bot or an unknown id (refused).
SUPERVISORS = (*HUMANS, *HUMANS, "bot-a", "nobody")
QUEUES = ("sales", "care", "vip")
CIDS = tuple(f"c{n}" for n in range(1, 11))
MAX_LIVE = 6
#: (retention, dedup_window): keep for ever, or forget soon (ended conversations are restarted
#: under their ids; retried ids are processed again), or at once.
WINDOWS: tuple[tuple[float | None, float | None], ...] = ((None, None), (30.0, 20.0), (0.0, 0.0))
SETTINGS = Settings(
    fallback_limit=2,
    escalation_phrases=("talk to agent", "human please"),
    cancel_phrases=("never mind", "cancel"),
    survey_timeout=45,
    missed_offers_to_away=2,
)
#: Skills (contract v2): some people have billing or french, at different levels.
SKILLS: dict[str, dict[str, int]] = {
    "bot-a": {"billing": 2},
    "rep-1": {"billing": 5, "french": 2},
    "rep-3": {"billing": 1},
    "rep-4": {"french": 7},
}
#: Requirements a request may carry: none, lasting ones, relaxing ones, one nobody has.
REQUIREMENTS = st.sampled_from(
    [
        (),
        (),
        (Requirement(skill="billing"),),
        (Requirement(skill="billing", level=4, for_=25.0),),
        (Requirement(skill="french", level=2), Requirement(skill="billing", for_=40.0)),
        (Requirement(skill="german"),),
    ]
)
PRIORITIES = st.sampled_from([None, None, 0, 3, -1])


def make_config(
    strategies: tuple[Strategy, Strategy, Strategy], shifts: tuple[int, ...] = ()
) -> Config:
    """Three queues that differ in every routing setting; members overlap so queues compete.
    `shifts` moves each participant's capacity (in `PEOPLE` order) up or down, never below 0."""
    sales, care, vip = strategies
    queues = [
        QueueSpec(name="sales", members=("bot-a", "rep-1", "rep-2", "bot-b"), strategy=sales,
                  offer_timeout=30, wait_timeout=120, overflow=OverflowTransfer(queue="care"),
                  wrap_up=15),
        QueueSpec(name="care", members=("rep-2", "rep-3", "bot-c", "rep-4"), strategy=care,
                  offer_timeout=20, wait_timeout=90, overflow=OverflowReturnToBot()),
        QueueSpec(name="vip", members=("rep-4", "rep-1", "bot-b"), strategy=vip, units=2,
                  wait_timeout=60, overflow=OverflowEnd(), priority=2, wrap_up=40),
    ]  # fmt: skip
    shifts = shifts or (0,) * len(PEOPLE)
    people = [
        ParticipantSpec(id=p, kind=k, capacity=max(0, c + shift), skills=SKILLS.get(p, {}))
        for (p, (k, c)), shift in zip(PEOPLE.items(), shifts, strict=True)
    ]
    return Config.build(people, queues, SETTINGS)


# ----------------------------------------------------------------------------- known bugs
#
# Steps that trip an engine bug the fuzzing found. Each has a minimal reproduction below, marked
# `xfail(strict=True)`; until the engine is fixed the machine does not send such steps (so that
# it keeps looking for other bugs). Fixing a bug: remove its entry here and its xfail marker.


KNOWN_BUGS: dict[str, Callable[[Switchboard, Event], bool]] = {
    # none today: the three bugs this machine found are fixed (their tests are below)
}


# ----------------------------------------------------------------------------- strategies


def conversations(prefer: str = "live") -> st.SearchStrategy[tuple[str, int]]:
    """A conversation: mostly the i-th one in the situation the step is made for (see
    `SwitchboardMachine.PREFER`), else the i-th live one, else any id or an unknown one."""
    return st.tuples(st.sampled_from([prefer, prefer, prefer, "live", "any"]), st.integers(0, 7))


def actors(role: str) -> st.SearchStrategy[tuple[str, str]]:
    """An actor: mostly the participant with `role` in the conversation (the holder, the one
    offered it, its first monitor), else a peer of the holder (same kind, not it: refused deep in
    the handler), or any participant or an unknown one."""
    roles = [role, role, role, "holder", "offered", "monitor", "peer", "any"]
    return st.tuples(st.sampled_from(roles), st.sampled_from(PIDS))


texts = st.sampled_from(
    ["hello", "my card was declined", "please TALK TO AGENT", "never mind", "Cancel that", "ok"]
)
#: When a step happens: no date, a date this far after the switchboard's time (timeouts are 20,
#: 30, 45, 60, 90 and 120 seconds, so some land exactly on a deadline), or a date in the past.
offsets = st.one_of(
    st.none(), st.sampled_from([0.0, 1.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0]), st.just(-7.0)
)
#: How a step is identified: no id, a fresh id, or the id of an earlier step (a retried delivery).
deliveries = st.tuples(offsets, st.sampled_from(["none", "none", "fresh", "reuse"]), st.integers())
Delivery = tuple[float | None, str, int]
Choice = tuple[str, int]
Who = tuple[str, str]


class SwitchboardMachine(RuleBasedStateMachine):
    """One switchboard under random steps, audited after each."""

    ENGINE: ClassVar[type[Switchboard]] = Switchboard
    #: The situations a rule may prefer its conversation in.
    PREFER: ClassVar[dict[str, Callable[[Switchboard, str], bool]]] = {
        "live": lambda b, c: b.state_of(c) is not State.ENDED,
        "waiting": lambda b, c: b.state_of(c) is State.WAITING,
        "offered": lambda b, c: switchboard_inspect.router_of(b).offer_of(c) is not None,
        "bot": lambda b, c: b.state_of(c) in BOT_HOLDING_STATES,
        "human": lambda b, c: b.state_of(c) is State.AGENT_ENGAGED,
        "held": lambda b, c: b.state_of(c) in HOLDING_STATES,
        "monitored": lambda b, c: bool(b.monitors_of(c)) and b.state_of(c) in BOT_HOLDING_STATES,
        "proposed": lambda b, c: bool(switchboard_inspect.proposals_of(b, c)),
        "survey": lambda b, c: b.state_of(c) is State.SURVEY,
        "ended": lambda b, c: b.state_of(c) is State.ENDED,
    }

    def __init__(self) -> None:
        super().__init__()
        self.configure((Strategy.HIGHEST_CAPACITY, Strategy.ROUND_ROBIN, Strategy.LEAST_ACTIVE))

    def configure(
        self,
        strategies: tuple[Strategy, Strategy, Strategy],
        shifts: tuple[int, ...] = (),
        windows: tuple[float | None, float | None] = (None, None),
    ) -> None:
        config = make_config(strategies, shifts)
        retention, dedup_window = windows
        settings = attrs.evolve(config.settings, retention=retention, dedup_window=dedup_window)
        self.board = self.ENGINE(attrs.evolve(config, settings=settings))
        self.auditor = Auditor(self.board)
        self.sent: list[tuple[Event, float | None, str | None]] = []
        self.ids: list[str] = []

    @initialize(
        strategies=st.tuples(*[st.sampled_from(Strategy)] * 3),
        shifts=st.tuples(*[st.sampled_from([0, 0, -1, 1])] * len(PEOPLE)),
        queues=st.lists(st.sampled_from(QUEUES), max_size=4),
        windows=st.sampled_from(WINDOWS),
    )
    def open_contact_center(
        self,
        strategies: tuple[Strategy, Strategy, Strategy],
        shifts: tuple[int, ...],
        queues: list[str],
        windows: tuple[float | None, float | None],
    ) -> None:
        """Draw the strategies, capacities (0 included) and retention windows, and start a few
        conversations so that every run has traffic."""
        self.configure(strategies, shifts, windows)
        for cid, queue in zip(CIDS, queues, strict=False):
            self.send(Start(conversation=cid, queue=queue), None, None)

    # ------------------------------------------------------------------------- helpers

    def conversation(self, choice: Choice) -> str:
        how, i = choice
        board = self.board
        if how != "any":
            situation = self.PREFER[how]
            for wanted in (situation, self.PREFER["live"]):
                found = [c for c in board.conversations() if wanted(board, c)]
                if found:
                    return found[i % len(found)]
        return (*CIDS, "ghost")[i % (len(CIDS) + 1)]

    def actor(self, cid: str, choice: Who) -> str:
        role, pid = choice
        router = switchboard_inspect.router_of(self.board)
        found: str | None = None
        if role == "holder":
            found = router.holder(cid)
        elif role == "offered":
            found = router.offer_of(cid)
        elif role == "monitor" and cid in self.board.conversations():
            monitors = self.board.monitors_of(cid)
            found = monitors[0] if monitors else None
        elif role == "peer":
            holder = router.holder(cid) or router.offer_of(cid)
            kind = PEOPLE.get(holder, (None, 0))[0] if holder is not None else None
            peers = [p for p, (k, _) in PEOPLE.items() if k is kind and p != holder]
            found = peers[PIDS.index(pid) % len(peers)] if peers else None
        return found or pid

    def step(self, event: Event, delivery: Delivery) -> list[Effect]:
        offset, mode, pick = delivery
        now = None if offset is None else self.board.now + offset
        step_id: str | None = None
        if mode == "fresh" or (mode == "reuse" and not self.ids):
            step_id = f"s{len(self.ids)}"
            self.ids.append(step_id)
        elif mode == "reuse":
            step_id = self.ids[pick % len(self.ids)]
        return self.send(event, now, step_id)

    def send(self, event: Event, now: float | None, step_id: str | None) -> list[Effect]:
        if any(trips(self.board, event) for trips in KNOWN_BUGS.values()):
            return []
        self.sent.append((event, now, step_id))
        try:
            effects = self.auditor.handle(event, now=now, step_id=step_id)
        except StepRefused:
            hypothesis.event(f"{event.STEP}: refused")  # --hypothesis-show-statistics
            return []
        hypothesis.event(f"{event.STEP}: accepted")
        return effects

    # ------------------------------------------------------------------------- rules

    @rule(
        cid=st.sampled_from((*CIDS, "c1")),
        queue=st.sampled_from((*QUEUES, "sales", "nowhere")),
        variables=st.dictionaries(st.sampled_from(["FirstName", "Plan"]), st.sampled_from(["x"])),
        kind=st.none() | st.sampled_from(Wanted),
        requires=REQUIREMENTS,
        priority=PRIORITIES,
        delivery=deliveries,
    )
    def start(
        self,
        cid: str,
        queue: str,
        variables: dict[str, str],
        kind: Wanted | None,
        requires: tuple[Requirement, ...],
        priority: int | None,
        delivery: Delivery,
    ) -> None:
        event = Start(
            conversation=cid, queue=queue, variables=variables, kind=kind, requires=requires,
            priority=priority,
        )  # fmt: skip
        self.step(event, delivery)

    @precondition(
        lambda self: (
            len(self.board.conversations()) < len(CIDS)
            and sum(self.PREFER["live"](self.board, c) for c in self.board.conversations())
            < MAX_LIVE
        )
    )
    @rule(queue=st.sampled_from(QUEUES), delivery=deliveries)
    def start_another(self, queue: str, delivery: Delivery) -> None:
        """A new conversation in a known queue (`start` also tries taken ids, unknown queues)."""
        cid = next(c for c in CIDS if c not in self.board.conversations())
        self.step(Start(conversation=cid, queue=queue, variables={"FirstName": cid}), delivery)

    @rule(
        conv=st.one_of(
            conversations("live"),
            conversations("waiting"),
            conversations("bot"),
            conversations("ended"),
        ),
        text=texts,
        delivery=deliveries,
    )
    def customer(self, conv: Choice, text: str, delivery: Delivery) -> None:
        self.step(CustomerMessage(conversation=self.conversation(conv), text=text), delivery)

    @precondition(lambda self: any(self.PREFER["waiting"](self.board, c) for c in CIDS))
    @rule(pick=st.integers(), text=texts, delivery=deliveries)
    def customer_while_waiting(self, pick: int, text: str, delivery: Delivery) -> None:
        """Customers write most while they wait (queued answers, cancel phrases)."""
        waiting = [c for c in self.board.conversations() if self.PREFER["waiting"](self.board, c)]
        self.step(CustomerMessage(conversation=waiting[pick % len(waiting)], text=text), delivery)

    @rule(conv=conversations("bot"), who=actors("holder"), text=texts, delivery=deliveries)
    def bot(self, conv: Choice, who: Who, text: str, delivery: Delivery) -> None:
        cid = self.conversation(conv)
        self.step(
            BotMessage(conversation=cid, participant=self.actor(cid, who), text=text), delivery
        )

    @rule(conv=conversations("human"), who=actors("holder"), text=texts, delivery=deliveries)
    def agent(self, conv: Choice, who: Who, text: str, delivery: Delivery) -> None:
        cid = self.conversation(conv)
        event = AgentMessage(conversation=cid, participant=self.actor(cid, who), text=text)
        self.step(event, delivery)

    @rule(conv=conversations("bot"), who=actors("holder"), delivery=deliveries)
    def fallback(self, conv: Choice, who: Who, delivery: Delivery) -> None:
        cid = self.conversation(conv)
        self.step(Fallback(conversation=cid, participant=self.actor(cid, who)), delivery)

    @rule(
        conv=conversations("held"),
        who=actors("holder"),
        name=st.sampled_from(["Plan", "Topic"]),
        value=st.sampled_from(["gold", 3, None]),
        delivery=deliveries,
    )
    def set_variable(
        self, conv: Choice, who: Who, name: str, value: str | int | None, delivery: Delivery
    ) -> None:
        cid = self.conversation(conv)
        actor = self.actor(cid, who)
        self.step(
            SetVariable(conversation=cid, participant=actor, name=name, value=value), delivery
        )

    @rule(
        conv=conversations("bot"),
        who=actors("holder"),
        requires=REQUIREMENTS,
        priority=PRIORITIES,
        reason=st.sampled_from(["explicit", "billing dispute"]),
        delivery=deliveries,
    )
    def escalate(
        self,
        conv: Choice,
        who: Who,
        requires: tuple[Requirement, ...],
        priority: int | None,
        reason: str,
        delivery: Delivery,
    ) -> None:
        cid = self.conversation(conv)
        event = Escalate(
            conversation=cid, participant=self.actor(cid, who), requires=requires,
            priority=priority, reason=reason, variables={"Topic": "x"},
        )  # fmt: skip
        self.step(event, delivery)

    @rule(who=st.sampled_from((*HUMANS, "nobody")), delivery=deliveries)
    def wrap_up_done(self, who: str, delivery: Delivery) -> None:
        self.step(WrapUpDone(participant=who), delivery)

    @rule(conv=conversations("offered"), who=actors("offered"), delivery=deliveries)
    def accept(self, conv: Choice, who: Who, delivery: Delivery) -> None:
        cid = self.conversation(conv)
        self.step(Accept(conversation=cid, participant=self.actor(cid, who)), delivery)

    @precondition(lambda self: any(self.PREFER["offered"](self.board, c) for c in CIDS))
    @rule(pick=st.integers(), accept=st.booleans(), delivery=deliveries)
    def answer_an_offer(self, pick: int, accept: bool, delivery: Delivery) -> None:
        """The offered human answers (humans answer offers far more often than anything else)."""
        offered = [c for c in self.board.conversations() if self.PREFER["offered"](self.board, c)]
        cid = offered[pick % len(offered)]
        answer = Accept if accept else Decline
        self.step(answer(conversation=cid, participant=self.actor(cid, ("offered", ""))), delivery)

    @rule(conv=conversations("offered"), who=actors("offered"), delivery=deliveries)
    def decline(self, conv: Choice, who: Who, delivery: Delivery) -> None:
        cid = self.conversation(conv)
        self.step(Decline(conversation=cid, participant=self.actor(cid, who)), delivery)

    @rule(
        conv=conversations("held"),
        who=actors("holder"),
        queue=st.sampled_from((*QUEUES, "nowhere")),
        kind=st.sampled_from(Wanted),
        to=st.none() | st.sampled_from(PIDS),
        requires=REQUIREMENTS,
        reason=st.none() | st.just("wrong team"),
        delivery=deliveries,
    )
    def transfer(
        self,
        conv: Choice,
        who: Who,
        queue: str,
        kind: Wanted,
        to: str | None,
        requires: tuple[Requirement, ...],
        reason: str | None,
        delivery: Delivery,
    ) -> None:
        cid = self.conversation(conv)
        actor = self.actor(cid, who)
        event = Transfer(
            conversation=cid, participant=actor, queue=queue, kind=kind, to=to,
            requires=requires, reason=reason,
        )  # fmt: skip
        self.step(event, delivery)

    @precondition(lambda self: any(self.PREFER["human"](self.board, c) for c in CIDS))
    @rule(pick=st.integers(), queue=st.sampled_from(QUEUES), delivery=deliveries)
    def hand_back_to_a_bot(self, pick: int, queue: str, delivery: Delivery) -> None:
        """The agent hands its conversation back to a bot (the way to `returned_to_bot`)."""
        held = [c for c in self.board.conversations() if self.PREFER["human"](self.board, c)]
        cid = held[pick % len(held)]
        actor = self.actor(cid, ("holder", ""))
        event = Transfer(conversation=cid, participant=actor, queue=queue, kind=Wanted.BOT)
        self.step(event, delivery)

    @rule(conv=conversations("waiting"), delivery=deliveries)
    def cancel(self, conv: Choice, delivery: Delivery) -> None:
        self.step(Cancel(conversation=self.conversation(conv)), delivery)

    @rule(
        conv=conversations("live"),
        who=actors("any"),
        status=st.sampled_from(PresenceStatus),
        delivery=deliveries,
    )
    def presence(self, conv: Choice, who: Who, status: PresenceStatus, delivery: Delivery) -> None:
        """Someone's presence changes: often a participant of a live conversation (its holder,
        the one offered it, a monitor), else anyone or an unknown id."""
        pid = self.actor(self.conversation(conv), who)
        self.step(Presence(participant=pid, status=status), delivery)

    @rule(
        conv=conversations("bot"),
        who=actors("holder"),
        supervisor=st.sampled_from(SUPERVISORS),
        delivery=deliveries,
    )
    def propose(self, conv: Choice, who: Who, supervisor: str, delivery: Delivery) -> None:
        cid = self.conversation(conv)
        actor = self.actor(cid, who)
        action = "refund 20 EUR"
        self.step(
            Propose(conversation=cid, participant=actor, supervisor=supervisor, action=action),
            delivery,
        )

    @rule(
        conv=conversations("proposed"),
        who=actors("monitor"),
        approved=st.booleans(),
        delivery=deliveries,
    )
    def answer(self, conv: Choice, who: Who, approved: bool, delivery: Delivery) -> None:
        cid = self.conversation(conv)
        kind = Approve if approved else Reject
        self.step(kind(conversation=cid, participant=self.actor(cid, who)), delivery)

    @rule(conv=conversations("bot"), pid=st.sampled_from(SUPERVISORS), delivery=deliveries)
    def monitor(self, conv: Choice, pid: str, delivery: Delivery) -> None:
        self.step(Monitor(conversation=self.conversation(conv), participant=pid), delivery)

    @precondition(lambda self: any(self.PREFER["bot"](self.board, c) for c in CIDS))
    @rule(pick=st.integers(), pid=st.sampled_from(HUMANS), delivery=deliveries)
    def barge_in(self, pick: int, pid: str, delivery: Delivery) -> None:
        """A supervisor monitors a bot's conversation and takes it over at once."""
        held = [c for c in self.board.conversations() if self.PREFER["bot"](self.board, c)]
        cid = held[pick % len(held)]
        self.step(Monitor(conversation=cid, participant=pid), delivery)
        self.step(TakeOver(conversation=cid, participant=pid), (None, "none", 0))

    @rule(conv=conversations("monitored"), who=actors("monitor"), delivery=deliveries)
    def take_over(self, conv: Choice, who: Who, delivery: Delivery) -> None:
        cid = self.conversation(conv)
        self.step(TakeOver(conversation=cid, participant=self.actor(cid, who)), delivery)

    @rule(
        conv=conversations("held"), who=actors("holder"), survey=st.booleans(), delivery=deliveries
    )
    def end(self, conv: Choice, who: Who, survey: bool, delivery: Delivery) -> None:
        cid = self.conversation(conv)
        self.step(End(conversation=cid, participant=self.actor(cid, who), survey=survey), delivery)

    @rule(conv=conversations("survey"), delivery=deliveries)
    def survey_response(self, conv: Choice, delivery: Delivery) -> None:
        event = SurveyResponse(conversation=self.conversation(conv), answers={"rating": 4})
        self.step(event, delivery)

    @rule(conv=conversations("live"), delivery=deliveries)
    def customer_left(self, conv: Choice, delivery: Delivery) -> None:
        self.step(CustomerLeft(conversation=self.conversation(conv)), delivery)

    @rule(
        offset=st.sampled_from([0.0, 5.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, -1.0]),
        delivery=deliveries,
    )
    def tick(self, offset: float, delivery: Delivery) -> None:
        _, mode, pick = delivery
        self.step(Tick(now=self.board.now + offset), (None, mode, pick))

    @precondition(lambda self: bool(self.sent))
    @rule(pick=st.integers())
    def redeliver(self, pick: int) -> None:
        """A transport retries a step exactly as it was sent (same event, date and id)."""
        event, now, step_id = self.sent[pick % len(self.sent)]
        self.send(event, now, step_id)

    # ------------------------------------------------------------------------- invariants

    @rule(kind=st.sampled_from(CHANGE_KINDS), data=st.data(), delivery=deliveries)
    def change_the_world(self, kind: str, data: st.DataObject, delivery: Delivery) -> None:
        """A live change: participants and queues added, removed and changed (SPEC §5)."""
        self.step(draw_change(data.draw, kind, tuple(PEOPLE), QUEUES), delivery)

    @precondition(lambda self: any(self.PREFER["offered"](self.board, c) for c in CIDS))
    @rule(pick=st.integers(), capacity=st.integers(0, 1), leave=st.booleans())
    def change_someone_offered(self, pick: int, capacity: int, leave: bool) -> None:
        """A live change aimed at a participant with an offer out: it leaves that queue, or its
        capacity drops (the offers it cannot carry must be withdrawn)."""
        router = switchboard_inspect.router_of(self.board)
        offered = [c for c in self.board.conversations() if router.offer_of(c) is not None]
        cid = offered[pick % len(offered)]
        pid, queue = router.offer_of(cid), router.queue_of(cid)
        assert pid is not None and queue is not None
        change: Event = SetCapacity(participant=pid, capacity=capacity)
        if leave:
            change = LeaveQueue(participant=pid, queue=queue)
        self.send(change, None, None)

    @precondition(lambda self: any(self.PREFER["held"](self.board, c) for c in CIDS))
    @rule(pick=st.integers())
    def remove_a_holder(self, pick: int) -> None:
        """The holder of a conversation is removed (it goes offline first: the conversation
        goes back to its line)."""
        router = switchboard_inspect.router_of(self.board)
        held = [c for c in self.board.conversations() if router.holder(c) is not None]
        holder = router.holder(held[pick % len(held)])
        assert holder is not None
        self.send(RemoveParticipant(participant=holder), None, None)

    @invariant()
    def router_books_balance(self) -> None:
        assert routing_inspect.audit(switchboard_inspect.router_of(self.board)) == []

    @invariant()
    def next_deadline_is_the_earliest_pending_timer(self) -> None:
        timers = switchboard_inspect.pending_timers(self.board)
        assert self.board.next_deadline() == (timers[0][0] if timers else None)
        assert all(deadline > self.board.now for deadline, *_ in timers)


def profile_settings(examples: int, steps: int) -> settings:
    """Bounded in `ci` and `dev`, much longer under `make fuzz`."""
    if FUZZ:
        examples, steps = examples * 30, steps * 3
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


TestSwitchboardStateful = SwitchboardMachine.TestCase
TestSwitchboardStateful.settings = profile_settings(examples=150, steps=80)


# ----------------------------------------------------------------------------- bugs found


def audited(*people: tuple[str, Kind, int], queue: QueueSpec | None = None) -> Auditor:
    specs = [ParticipantSpec(id=p, kind=k, capacity=c) for p, k, c in people]
    line = queue or QueueSpec(name="sales", members=tuple(p for p, _, _ in people))
    return Auditor(Switchboard(Config.build(specs, [line], SETTINGS)))


def test_bug_a_monitor_that_accepts_gets_every_message_once() -> None:
    """Found by this machine (books_match): a monitor that accepted an offer stayed a monitor
    too and got every message twice. Fixed: a monitor that becomes the holder stops monitoring."""
    auditor = audited(("bot-a", Kind.BOT, 1), ("rep-1", Kind.HUMAN, 1))
    auditor.handle(Start(conversation="c1", queue="sales"))
    auditor.handle(Monitor(conversation="c1", participant="rep-1"))
    auditor.handle(Escalate(conversation="c1", participant="bot-a"))  # offer to rep-1
    auditor.handle(Accept(conversation="c1", participant="rep-1"))  # books_match fails here
    effects = auditor.handle(CustomerMessage(conversation="c1", text="hello"))
    assert [(e.KIND, e.to) for e in effects] == [("message", "rep-1")]


def test_bug_a_refused_transfer_naming_the_wrong_kind_changes_nothing() -> None:
    """Found by this machine (refusal_changes_nothing): routing refused the request only after
    the holder was let go, leaving the conversation waiting in no line. Fixed in d15aabb by
    checking the request first; kept as a regression test."""
    auditor = audited(("bot-a", Kind.BOT, 1), ("rep-1", Kind.HUMAN, 1))
    auditor.handle(Start(conversation="c1", queue="sales"))
    with pytest.raises(StepRefused, match="a bot is asked for"):
        auditor.handle(
            Transfer(
                conversation="c1", participant="bot-a", queue="sales", kind=Wanted.BOT, to="rep-1"
            )
        )
    assert auditor.board.state_of("c1") is State.BOT_ACTIVE


def test_bug_a_supervisor_that_left_cannot_answer_a_proposal() -> None:
    """Found by this machine (acting_member): a supervisor removed from the conversation could
    still answer its proposal. Fixed: leaving drops the proposals addressed to it."""
    auditor = audited(("bot-a", Kind.BOT, 1), ("rep-1", Kind.HUMAN, 1))
    auditor.handle(Start(conversation="c1", queue="sales"))
    auditor.handle(
        Propose(conversation="c1", participant="bot-a", supervisor="rep-1", action="refund")
    )  # rep-1 joins as monitor and is asked
    auditor.handle(Presence(participant="rep-1", status=PresenceStatus.OFFLINE))  # removed
    with pytest.raises(StepRefused):
        auditor.handle(Approve(conversation="c1", participant="rep-1"))  # acting_member fails


def test_bug_a_zero_wait_timeout_is_refused_before_it_can_loop_for_ever() -> None:
    """Found by probing: wait_timeout=0 with an overflow cycle looped for ever on the first
    tick. Fixed: the router refuses a timeout that is not > 0."""
    people = [ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=0)]
    queues = [
        QueueSpec(
            name="a", members=("rep-1",), wait_timeout=0, overflow=OverflowTransfer(queue="b")
        ),
        QueueSpec(
            name="b", members=("rep-1",), wait_timeout=0, overflow=OverflowTransfer(queue="a")
        ),
    ]
    with pytest.raises(ValueError, match="wait_timeout"):
        Switchboard(Config.build(people, queues))
