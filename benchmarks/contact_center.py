"""A synthetic contact center, warmed up, and a stream of valid switchboard steps to replay.

Theory of operation: a switchboard step is only worth timing on a switchboard that looks like a
real one: thousands of live conversations in every state, participants partially loaded, offers
out, timers pending. So `build(shape)` makes one, deterministically from `shape.seed` (a seeded
`random.Random`: randomness belongs in the benchmark, never in the core):

- The world: `shape.bots` bots of large capacity and `shape.humans` humans of capacity 3 to 8, in
  `shape.queues` queues. Every queue has its own bots and humans; each bot also serves the next
  queue, and some humans a second one. Strategies, offer and wait timeouts, overflow actions
  (end, back to the bot, on to another queue) and units (one queue costs 2) vary by queue, and
  finished conversations get a survey that times out.
- The warm-up: starting empty, a simulated crowd sends steps (below) until `shape.live`
  conversations are live and then for `shape.warmup_steps` more, long enough in simulated time
  for every kind of timer to have fired. Conversations ended by then are forgotten (an embedder
  archives them) and the switchboard is pickled: that is the warm state.
- The stream: the same crowd goes on for `shape.stream_steps` steps on the same switchboard, and
  each step it sends is recorded as (event, now, step id). A valid step needs the state it acts
  on (who holds this conversation, who has its offer), so after each step the crowd files every
  conversation the step or one of its effects names by what it is now (held by a bot, held by a
  human, offered, waiting, in its survey), read through `benchmarks.internals` (`state_of`,
  the router's `offer_of`), and asks the router's `holder` or `offer_of` for the actor of the
  next step. When timeouts are due, the next step is a tick, so no step is chosen on a state
  they are about to change. Any step that changes a conversation names it in an effect, so the
  files stay true; a step the switchboard refused anyway would become a tick at the same time (which
  moves time exactly as the refused step did), and is counted (`substituted`: 0 so far).
  Because the switchboard is deterministic, replaying the recorded stream on the unpickled warm
  state gives the very same steps, every one accepted: `benchmarks.switchboard_figures` times
  that replay, not the crowd.

The crowd's mix (`WEIGHTS`): mostly messages (customer, bot, agent), then escalations (explicit,
by fallbacks, or by a customer's phrase), accepts and declines of offers, transfers (to a queue,
a kind, or a named participant), ends with and without a survey, survey responses, customers
leaving a wait (and cancelling one by phrase), presence flips of humans (away and back, a few
offline, which drops their holds back into line), and ticks. Humans answer offers after about
`OFFER_RESPONSE_TIME` seconds (so answers come at a rate proportional to the offers out, and a
few offers time out). Whenever fewer than `shape.live` conversations are live, the next step
starts a new one: one starts for each that ends. A chosen step with nobody to do it (no offer
out to accept, say) becomes a customer message. Simulated time moves on by an exponential gap of
mean `shape.mean_gap` seconds per step (a center of 10,000 conversations hears about 200 steps a
second), so offers, waits and surveys time out inside the stream as they would in production.

Sets are never iterated: the crowd samples from `_Bag`s (a list plus an index), so the same seed
gives the same stream in any process whatever the hash seed.
"""

from __future__ import annotations

import functools
import pickle
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from benchmarks.center_shapes import Shape, make_config
from benchmarks.internals import line_length, router_of, state_of
from handoff_fsm.config import (
    Config,
    Kind,
)
from handoff_fsm.effects import Effect
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import (
    Accept,
    AgentMessage,
    BotMessage,
    CustomerLeft,
    CustomerMessage,
    Decline,
    End,
    Escalate,
    Event,
    Fallback,
    Presence,
    PresenceStatus,
    Start,
    SurveyResponse,
    Tick,
    Transfer,
    Wanted,
)
from handoff_fsm.lifecycle import BOT_HOLDING_STATES, State
from handoff_fsm.switchboard import Switchboard

#: One recorded step: the event, the time it comes with, and its delivery id.
Step = tuple[Event, float, str]


# What the crowd does, by weight (percent of steps, before starts, which keep the live count).
WEIGHTS: dict[str, float] = {
    "customer": 32.0,
    "bot": 18.0,
    "agent": 18.0,
    "fallback": 1.0,
    "escalate": 3.0,
    "transfer": 1.5,
    "end": 7.0,  # half of them with a survey
    "survey_response": 1.5,
    "customer_left": 0.5,
    "presence": 0.4,
    "tick": 2.0,
}
OFFER_RESPONSE_TIME = 8.0  # seconds a human takes to answer an offer, on average
DECLINE_SHARE = 0.15  # of answers to offers
HUMAN_END_SHARE = 0.75  # of ends, by a human (the rest by a bot)
ESCALATION_PHRASE_RATE = 0.02  # of customer messages to a bot
CANCEL_PHRASE_RATE = 0.02  # of customer messages while waiting
HUMAN_AWAY_SHARE = 0.05  # presence flips keep about this share of humans away or offline
TEXTS = (
    "hi, I have a question about my order",
    "it still has not arrived",
    "order number 48213",
    "can you check the delivery date?",
    "thanks",
    "the app says payment failed",
    "I was charged twice",
    "ok",
)
# Where a conversation is, as far as the crowd cares.
BOT_HELD, HUMAN_HELD, OFFERED, WAITING, SURVEY = (
    "bot_held",
    "human_held",
    "offered",
    "waiting",
    "survey",
)
CLASSES = (BOT_HELD, HUMAN_HELD, OFFERED, WAITING, SURVEY)


@dataclass(frozen=True, kw_only=True)
class ContactCenter:
    """A warm switchboard (pickled) and the stream of steps recorded from it."""

    shape: Shape
    config: Config
    warm: bytes  # the pickled switchboard the stream starts from
    steps: tuple[Step, ...]
    kinds: tuple[str, ...]  # each step's kind, for the mix
    effects: tuple[int, ...]  # how many effects each step gave when it was recorded
    warm_classes: Mapping[str, int]  # live conversations by class at the start of the stream
    warm_human_load: float  # units in use / capacity of the humans, at the start of the stream
    warm_lines: Mapping[str, int]  # conversations waiting in each queue's line, at that start
    substituted: int  # steps the crowd chose but the switchboard refused (replaced by ticks)

    def restore(self) -> Switchboard:
        """A fresh switchboard in the warm state."""
        board: Switchboard = pickle.loads(self.warm)
        return board

    def mix(self) -> dict[str, int]:
        return dict(Counter(self.kinds).most_common())


class _Bag:
    """A set of ids with uniform random choice in O(1), never iterated in hash order."""

    __slots__ = ("items", "where")

    def __init__(self) -> None:
        self.items: list[str] = []
        self.where: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: str) -> None:
        if item not in self.where:
            self.where[item] = len(self.items)
            self.items.append(item)

    def discard(self, item: str) -> None:
        where = self.where.pop(item, None)
        if where is None:
            return
        last = self.items.pop()
        if where < len(self.items):
            self.items[where] = last
            self.where[last] = where

    def choice(self, rng: random.Random) -> str | None:
        return rng.choice(self.items) if self.items else None


class _Crowd:
    """Everyone outside the switchboard: customers, bots, humans and the clock."""

    def __init__(self, shape: Shape, config: Config, rng: random.Random) -> None:
        self.shape = shape
        self.rng = rng
        self.board = Switchboard(config)
        self.queues = [q.name for q in config.queues]
        self.humans = [p.id for p in config.participants if p.kind is Kind.HUMAN]
        kinds = {p.id: p.kind for p in config.participants}
        self.humans_of = {
            q.name: [m for m in q.members if kinds[m] is Kind.HUMAN] for q in config.queues
        }
        self.bags = {name: _Bag() for name in CLASSES}
        self.live = _Bag()
        self.class_of: dict[str, str] = {}
        self.ended: list[str] = []
        self.away = _Bag()  # humans not available
        self.available = _Bag()
        for human in self.humans:
            self.available.add(human)
        self.started = 0
        self.now = 0.0
        weights = WEIGHTS | dict(shape.weights)
        self.kinds = list(weights)
        self.weights = list(weights.values())
        self.substituted = 0

    # --- what each conversation is -----------------------------------------------------------

    def _classify(self, cid: str) -> None:
        board = self.board
        state = state_of(board, cid)
        new: str | None
        if state is None or state is State.NEW or state is State.ENDED:
            new = None
        elif state is State.AGENT_ENGAGED:
            new = HUMAN_HELD
        elif state in BOT_HOLDING_STATES:
            new = BOT_HELD
        elif state is State.SURVEY:
            new = SURVEY
        else:
            new = OFFERED if router_of(board).offer_of(cid) is not None else WAITING
        old = self.class_of.get(cid)
        if old == new:
            return
        if old is not None:
            self.bags[old].discard(cid)
        if new is None:
            self.class_of.pop(cid, None)
            self.live.discard(cid)
            if state is State.ENDED:
                self.ended.append(cid)
        else:
            self.class_of[cid] = new
            self.bags[new].add(cid)
            self.live.add(cid)

    def _pick(self, name: str) -> str | None:
        return self.bags[name].choice(self.rng)

    # --- the next step -----------------------------------------------------------------------

    def next_step(self) -> tuple[Event, str]:
        rng = self.rng
        due = self.board.next_deadline()
        if due is not None and due <= self.now:
            # Timeouts are due: they fire first in whatever step comes, and may move the very
            # conversation a step would be chosen for (an offer that timed out goes to a bot
            # now that a start asks for anyone), so time passes alone first.
            return Tick(now=self.now), "tick"
        if len(self.live) < self.shape.live:
            self.started += 1
            cid = f"c-{self.started:07d}"
            queue = rng.choice(self.queues)
            variables = {"channel": rng.choice(("web", "app", "whatsapp")), "lang": "en"}
            # `kind: any`: the strategy alone picks, bots and humans alike (the load this center
            # measures); a start without `kind` would ask for bots first.
            start = Start(conversation=cid, queue=queue, variables=variables, kind=Wanted.ANY)
            return start, "start"
        offers = len(self.bags[OFFERED])
        if offers and rng.random() < offers * self.shape.mean_gap / OFFER_RESPONSE_TIME:
            kind = "decline" if rng.random() < DECLINE_SHARE else "accept"
        else:
            kind = rng.choices(self.kinds, self.weights)[0]
        made = self._make(kind)
        if made is not None:
            return made
        anyone = self.live.choice(rng)
        if anyone is None:
            return Tick(now=self.now), "tick"
        return self._customer(anyone)

    def _make(self, kind: str) -> tuple[Event, str] | None:
        rng, router = self.rng, router_of(self.board)
        if kind == "customer":
            cid = self.live.choice(rng)
            return None if cid is None else self._customer(cid)
        if kind == "tick":
            return Tick(now=self.now), "tick"
        if kind == "presence":
            return self._presence()
        if kind in ("bot", "fallback", "escalate"):
            cid = self._pick(BOT_HELD)
            if cid is None:
                return None
            bot = router.holder(cid)
            assert bot is not None
            if kind == "bot":
                return BotMessage(conversation=cid, participant=bot, text=rng.choice(TEXTS)), kind
            if kind == "fallback":
                return Fallback(conversation=cid, participant=bot), kind
            return self._escalation(cid, bot)
        if kind == "agent":
            cid = self._pick(HUMAN_HELD)
            if cid is None:
                return None
            human = router.holder(cid)
            assert human is not None
            return AgentMessage(conversation=cid, participant=human, text=rng.choice(TEXTS)), kind
        if kind in ("accept", "decline"):
            cid = self._pick(OFFERED)
            if cid is None:
                return None
            offered = router.offer_of(cid)
            assert offered is not None
            if kind == "accept":
                return Accept(conversation=cid, participant=offered), kind
            return Decline(conversation=cid, participant=offered), kind
        if kind == "transfer":
            return self._transfer()
        if kind == "end":
            cid = self._pick(HUMAN_HELD if rng.random() < HUMAN_END_SHARE else BOT_HELD)
            if cid is None:
                return None
            holder = router.holder(cid)
            assert holder is not None
            survey = rng.random() < 0.5
            return End(conversation=cid, participant=holder, survey=survey), (
                "end with survey" if survey else "end"
            )
        if kind == "survey_response":
            cid = self._pick(SURVEY)
            if cid is None:
                return None
            answers = {"score": rng.randint(1, 5)}
            return SurveyResponse(conversation=cid, answers=answers), kind
        assert kind == "customer_left"
        cid = self._pick(WAITING if rng.random() < 0.7 else OFFERED)
        return None if cid is None else (CustomerLeft(conversation=cid), kind)

    def _customer(self, cid: str) -> tuple[Event, str]:
        rng = self.rng
        cls = self.class_of[cid]
        text = rng.choice(TEXTS)
        kind = "customer"
        if cls == BOT_HELD and rng.random() < ESCALATION_PHRASE_RATE:
            text, kind = "please let me talk to agent now", "customer (escalation phrase)"
        elif cls in (WAITING, OFFERED) and rng.random() < CANCEL_PHRASE_RATE:
            text, kind = "never mind, I found it", "customer (cancel phrase)"
        return CustomerMessage(conversation=cid, text=text), kind

    def _escalation(self, cid: str, bot: str) -> tuple[Event, str] | None:
        """An escalation routing could serve: one whose every human held it before is refused
        `cannot_serve`, so the crowd does not choose it."""
        router = router_of(self.board)
        queue = router.held_in(cid)
        assert queue is not None
        try:
            router.check_request(queue, wanted=Wanted.HUMAN, conversation=cid)
        except StepRefused:
            return None
        return Escalate(conversation=cid, participant=bot), "escalate"

    def _transfer(self) -> tuple[Event, str] | None:
        """A transfer routing could serve: one that no member could ever take (everyone of the
        kind held it before) is refused `cannot_serve`, so the crowd does not choose it."""
        chosen = self._any_transfer()
        if chosen is None:
            return None
        event = chosen[0]
        assert isinstance(event, Transfer)
        try:
            router_of(self.board).check_request(
                event.queue, wanted=event.kind, named=event.to, conversation=event.conversation
            )
        except StepRefused:
            return None
        return chosen

    def _any_transfer(self) -> tuple[Event, str] | None:
        rng, router = self.rng, router_of(self.board)
        by_bot = rng.random() < 0.4
        cid = self._pick(BOT_HELD if by_bot else HUMAN_HELD)
        if cid is None:
            return None
        holder = router.holder(cid)
        assert holder is not None
        queue = rng.choice(self.queues)
        roll = rng.random()
        if by_bot:
            wanted = Wanted.HUMAN if roll < 0.5 else (Wanted.BOT if roll < 0.8 else Wanted.ANY)
            return Transfer(conversation=cid, participant=holder, queue=queue, kind=wanted), (
                "transfer"
            )
        if roll < 0.1:
            named = rng.choice(self.humans_of[queue])
            if named != holder:
                event = Transfer(
                    conversation=cid, participant=holder, queue=queue, kind=Wanted.HUMAN, to=named
                )
                return event, "transfer (named)"
        wanted = Wanted.HUMAN if roll < 0.7 else Wanted.ANY
        return Transfer(conversation=cid, participant=holder, queue=queue, kind=wanted), "transfer"

    def _presence(self) -> tuple[Event, str]:
        rng = self.rng
        if len(self.away) < HUMAN_AWAY_SHARE * len(self.humans):
            human = self.available.choice(rng)
            assert human is not None
            self.available.discard(human)
            self.away.add(human)
            if rng.random() < 0.2:
                return Presence(participant=human, status=PresenceStatus.OFFLINE), (
                    "presence (offline)"
                )
            return Presence(participant=human, status=PresenceStatus.AWAY), "presence (away)"
        human = self.away.choice(rng)
        assert human is not None
        self.away.discard(human)
        self.available.add(human)
        return Presence(participant=human, status=PresenceStatus.AVAILABLE), "presence (back)"

    # --- running -----------------------------------------------------------------------------

    def step(self, step_id: str | None) -> tuple[Event, str, list[Effect]]:
        """Choose one step, send it, and re-file every conversation it touched."""
        self.now += self.rng.expovariate(1.0 / self.shape.mean_gap)
        event, kind = self.next_step()
        try:
            effects = self.board.handle(event, now=self.now, step_id=step_id)
        except StepRefused as refused:
            # Not expected (the crowd reads the state first); time did pass, so the step
            # becomes a tick at the same time, which has exactly that effect.
            self.substituted += 1
            effects = list(refused.effects)
            event, kind = Tick(now=self.now), "tick (substituted)"
        touched = dict.fromkeys(e.conversation for e in effects)
        conversation = getattr(event, "conversation", None)
        if isinstance(conversation, str):
            touched[conversation] = None
        for cid in touched:
            self._classify(cid)
        return event, kind, effects

    def warm_up(self) -> None:
        while len(self.live) < self.shape.live:
            self.step(None)
        for _ in range(self.shape.warmup_steps):
            self.step(None)
        for cid in self.ended:
            self.board.forget(cid)
        self.ended.clear()


@functools.cache
def build(shape: Shape) -> ContactCenter:
    """Make the center, warm it up, pickle it, and record `shape.stream_steps` steps after it.
    Cached: suites of one run that need the same center build it once."""
    rng = random.Random(shape.seed)
    config = make_config(shape, rng)
    crowd = _Crowd(shape, config, rng)
    crowd.warm_up()
    warm = pickle.dumps(crowd.board, protocol=pickle.HIGHEST_PROTOCOL)
    warm_classes = {name: len(crowd.bags[name]) for name in CLASSES}
    warm_lines = {q.name: line_length(crowd.board, q.name) for q in config.queues}
    router = router_of(crowd.board)
    used = sum(router.load(h) for h in crowd.humans)
    capacity = sum(router.participant(h).capacity for h in crowd.humans)
    substituted_before = crowd.substituted
    steps: list[Step] = []
    kinds: list[str] = []
    effects: list[int] = []
    for n in range(shape.stream_steps):
        step_id = f"step-{n:07d}"
        event, kind, made = crowd.step(step_id)
        steps.append((event, crowd.now, step_id))
        kinds.append(kind)
        effects.append(len(made))
    return ContactCenter(
        shape=shape,
        config=config,
        warm=warm,
        steps=tuple(steps),
        kinds=tuple(kinds),
        effects=tuple(effects),
        warm_classes=warm_classes,
        warm_human_load=used / capacity,
        warm_lines=warm_lines,
        substituted=crowd.substituted - substituted_before,
    )
