"""The two runs of the long-run suite: a steady state over many conversations, and a full
collection at a million live. `benchmarks.longrun_figures` runs each in a child process and turns
what it returns into figures; the why of every choice is in its docstring.

Theory of operation:

- `Crowd`: customers, bots and humans sending valid steps to one switchboard in simulated time.
  Each conversation has a script (start; one or two rounds of a customer message and a bot
  reply; then the end, or, one time in five, an escalation, the human's accept, a message, the
  end). Its steps come about `STEP_GAP` seconds apart, in the order of a heap of due steps. The
  crowd learns holders and offers from the effects only (a `ParticipantAdded` names the holder,
  an `Offer` the human who will accept after about `ACCEPT_DELAY` seconds, always inside the
  offer timeout), and replaces each ended conversation (`Ended`) by a new one at once, so the
  live count holds. Every step has a step id. Seeded: the same run every time.
- `steady`: the crowd until `conversations` have ended, measured per tenth (`Window`).
- `contact_center_heap` and `pause`: a million conversations in a contact center's mix, built by
  steps at one time, then full collections timed, before and after `gc.freeze()`.
"""

from __future__ import annotations

import gc
import heapq
import math
import os
import pickle
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from benchmarks.harness import retained_bytes
from benchmarks.internals import remembered_ids
from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.config import Settings as BoardSettings
from handoff_fsm.effects import Effect, Ended, Offer, ParticipantAdded
from handoff_fsm.events import (
    Accept,
    AgentMessage,
    BotMessage,
    CustomerMessage,
    End,
    Escalate,
    Event,
    Start,
)
from handoff_fsm.switchboard import Switchboard

Log = Callable[[str], None]

SEED = 20261130
QUEUES = 4
BOT_CAPACITY = 200
HUMAN_CAPACITY = 5
RETENTION = 600.0  # seconds an ended conversation stays
DEDUP_WINDOW = 300.0  # seconds a step id stays
STEP_GAP = 30.0  # mean simulated seconds between two steps of one conversation
ACCEPT_DELAY = 8.0  # mean seconds a human takes to accept an offer
OFFER_TIMEOUT = 60.0
ESCALATE_SHARE = 0.2
WINDOWS = 10
CHUNK = 128  # steps whose mean step time is one sample of a window's
PAUSE_REPEATS = 3
PAUSE_ESCALATE_SHARE = 0.12
TEXTS = ("hi, where is my order?", "order 48213", "it says payment failed", "thanks", "ok")


def resident_bytes() -> int:
    """This process's resident set, from /proc (0 where there is none)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def center_config(
    live: int, *, bots: float, humans: float, settings: BoardSettings | None = None
) -> Config:
    """`QUEUES` queues, each with bots and humans of its own, room for `bots` and `humans` times
    `live` conversations in all."""
    participants: list[ParticipantSpec] = []
    queues = []
    share = live / QUEUES
    for q in range(QUEUES):
        members = [
            ParticipantSpec(id=f"bot-{q}-{n:03d}", kind=Kind.BOT, capacity=BOT_CAPACITY)
            for n in range(max(1, math.ceil(share * bots / BOT_CAPACITY)))
        ] + [
            ParticipantSpec(id=f"agent-{q}-{n:04d}", kind=Kind.HUMAN, capacity=HUMAN_CAPACITY)
            for n in range(max(1, math.ceil(share * humans / HUMAN_CAPACITY)))
        ]
        participants += members
        queues.append(
            QueueSpec(
                name=f"queue-{q}",
                members=tuple(p.id for p in members),
                offer_timeout=OFFER_TIMEOUT,
            )
        )
    return Config.build(participants, queues, settings)


def steady_config(live: int) -> Config:
    """Bots with room for twice the live conversations, humans for a fifth of them: an
    escalation is nearly always offered at once (and waits a little when it is not)."""
    settings = BoardSettings(retention=RETENTION, dedup_window=DEDUP_WINDOW)
    return center_config(live, bots=2.0, humans=0.2, settings=settings)


@dataclass
class Conversation:
    """What the crowd knows of one conversation: who holds it, and what it does next."""

    id: str
    script: list[str]  # the kinds of its steps still to come, in order
    holder: str = ""
    steps: int = 0


@dataclass
class Window:
    """What one window of the steady state measured."""

    traced: int = 0  # bytes a copy of the switchboard holds (tracemalloc) at the window's end
    resident: int = 0  # bytes the process holds beyond its start then
    chunks: list[float] = field(default_factory=list)  # mean step time of each chunk, us
    cpu_share: list[float] = field(default_factory=list)  # each chunk's CPU time / wall time
    steps: int = 0
    held: int = 0  # conversations the switchboard holds at the window's end (live and ended)
    ids: int = 0  # step ids it remembers then

    def as_json(self) -> dict[str, float | int]:
        chunks = self.chunks * 2 if len(self.chunks) == 1 else self.chunks
        q1, median, q3 = statistics.quantiles(chunks, n=4, method="inclusive")
        return {
            "traced": self.traced,
            "resident": self.resident,
            "step_us": median,
            "q1_us": q1,
            "q3_us": q3,
            # the step's CPU time, estimated: each chunk's step time times the share of its wall
            # time the thread ran (per-step CPU clocks cost ten times a step's timing)
            "cpu_us": statistics.median(
                c * s for c, s in zip(self.chunks, self.cpu_share, strict=True)
            ),
            "steps": self.steps,
            "held": self.held,
            "ids": self.ids,
        }


class Crowd:
    """Customers, bots and humans sending valid steps to one switchboard, in simulated time."""

    def __init__(self, live: int, board: Switchboard) -> None:
        self.board = board
        self.rng = random.Random(SEED)
        self.due: list[tuple[float, int, Conversation]] = []
        self.seq = 0
        self.started = 0
        self.ended = 0
        self.refused = 0
        self.now = 0.0
        self.live: dict[str, Conversation] = {}
        for n in range(live):
            self._begin(n * STEP_GAP / live)

    def _script(self) -> list[str]:
        script = ["start"] + ["customer", "bot"] * self.rng.randint(1, 2)
        if self.rng.random() < ESCALATE_SHARE:
            return [*script, "escalate", "agent", "end"]  # the accept comes with the offer
        return [*script, "end"]

    def _begin(self, at: float) -> None:
        self.started += 1
        conversation = Conversation(id=f"c{self.started:08d}", script=self._script())
        self.live[conversation.id] = conversation
        self._push(at, conversation)

    def _push(self, at: float, conversation: Conversation) -> None:
        self.seq += 1
        heapq.heappush(self.due, (at, self.seq, conversation))

    def _event(self, conversation: Conversation, kind: str) -> Event:
        cid, holder = conversation.id, conversation.holder
        if kind == "start":
            variables = {"channel": self.rng.choice(("web", "app")), "lang": "en"}
            queue = f"queue-{self.rng.randrange(QUEUES)}"
            return Start(conversation=cid, queue=queue, variables=variables)
        if kind == "escalate":
            return Escalate(conversation=cid, participant=holder)
        if kind == "accept":
            return Accept(conversation=cid, participant=holder)
        if kind == "end":
            return End(conversation=cid, participant=holder)
        text = self.rng.choice(TEXTS)
        if kind == "customer":
            return CustomerMessage(conversation=cid, text=text)
        if kind == "bot":
            return BotMessage(conversation=cid, participant=holder, text=text)
        return AgentMessage(conversation=cid, participant=holder, text=text)

    def step(self) -> int:
        """Send the next due step; the nanoseconds `Switchboard.handle` took."""
        at, _, conversation = heapq.heappop(self.due)
        self.now = max(self.now, at)
        kind = conversation.script.pop(0)
        event = self._event(conversation, kind)
        conversation.steps += 1
        step_id = f"{conversation.id}-{conversation.steps}"
        start = time.perf_counter_ns()
        try:
            effects = self.board.handle(event, now=self.now, step_id=step_id)
        except Exception:  # counted, and the run refused: see `steady`
            self.refused += 1
            effects = []
        elapsed = time.perf_counter_ns() - start
        self._follow(effects)
        if conversation.script and kind not in ("escalate", "end"):
            self._push(self.now + self.rng.expovariate(1 / STEP_GAP), conversation)
        return elapsed

    def _follow(self, effects: Sequence[Effect]) -> None:
        """Learn holders and offers from the effects, and replace each ended conversation."""
        for effect in effects:
            if isinstance(effect, ParticipantAdded):
                self.live[effect.conversation].holder = effect.to
            elif isinstance(effect, Offer):
                conversation = self.live[effect.conversation]
                conversation.holder = effect.to
                conversation.script.insert(0, "accept")
                delay = min(self.rng.expovariate(1 / ACCEPT_DELAY), OFFER_TIMEOUT / 2)
                self._push(self.now + delay, conversation)
            elif isinstance(effect, Ended):
                del self.live[effect.conversation]
                self.ended += 1
                self._begin(self.now + self.rng.expovariate(1 / STEP_GAP) / 10)


def _copy_bytes(board: Switchboard) -> int:
    """What the switchboard's state takes, traced, as a copy of it holds it. The copy is made in
    a forked child (where fork exists), so that this process's resident set never holds it."""
    if not hasattr(os, "fork"):
        return _traced_copy(board)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and exits
        os.close(read)
        os.write(write, str(_traced_copy(board)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        measured = answer.read()
    os.waitpid(child, 0)
    return int(measured)


def _traced_copy(board: Switchboard) -> int:
    frozen = pickle.dumps(board, protocol=pickle.HIGHEST_PROTOCOL)
    return retained_bytes(lambda: pickle.loads(frozen))


def steady(conversations: int, live: int, log: Log = lambda _: None) -> list[Window]:
    """Pass `conversations` through one switchboard, `live` at a time; one `Window` a tenth."""
    gc.collect()
    base = resident_bytes()
    board = Switchboard(steady_config(live))
    crowd = Crowd(live, board)
    windows: list[Window] = []
    while len(windows) < WINDOWS:
        window, goal = Window(), conversations * (len(windows) + 1) // WINDOWS
        total, count, cpu, wall = 0, 0, time.thread_time_ns(), time.perf_counter_ns()
        while crowd.ended < goal:
            total += crowd.step()
            count += 1
            if count == CHUNK:
                now_cpu, now_wall = time.thread_time_ns(), time.perf_counter_ns()
                window.chunks.append(total / count / 1000)
                window.cpu_share.append(min(1.0, (now_cpu - cpu) / max(1, now_wall - wall)))
                window.steps += count
                total, count, cpu, wall = 0, 0, now_cpu, now_wall
        if count:  # the window's last, shorter chunk
            window.chunks.append(total / count / 1000)
            window.cpu_share.append(
                min(1.0, (time.thread_time_ns() - cpu) / max(1, time.perf_counter_ns() - wall))
            )
            window.steps += count
        gc.collect()
        window.resident = resident_bytes() - base
        window.traced = _copy_bytes(board)
        window.held = len(board.conversations())
        window.ids = remembered_ids(board)
        windows.append(window)
        log(
            f"longrun: {goal:,} conversations, {window.traced / 1e6:.1f} MB traced,"
            f" {window.resident / 1e6:.1f} MB resident, {window.as_json()['step_us']:.1f} us/step"
        )
    if crowd.refused:
        raise AssertionError(f"{crowd.refused} steps of the steady state were refused")
    return windows


def pause_config(live: int) -> Config:
    """Bots with room for every conversation, humans for one in ten: of the one in eight that
    escalate, most are offered and some wait."""
    return center_config(live, bots=1.25, humans=0.1)


@dataclass(frozen=True, kw_only=True)
class Pause:
    live: int
    mix: dict[str, int]  # conversations by state ("offered": waiting with an offer out)
    bytes_per_conversation: float  # resident set the build added, per conversation
    collect_ms: float  # median full collection, the heap as built
    frozen_ms: float  # the same after gc.freeze()


def contact_center_heap(live: int) -> tuple[Switchboard, dict[str, int]]:
    """`live` conversations in a contact center's mix, by steps at time 0 (no timer runs out):
    all start with a bot; of those that escalate, three in four offers are accepted."""
    rng = random.Random(SEED)
    board = Switchboard(pause_config(live))
    queues = [f"queue-{q}" for q in range(QUEUES)]
    holders: dict[str, str] = {}
    for n in range(live):
        cid = f"c{n:08d}"
        start = Start(conversation=cid, queue=rng.choice(queues), variables={"lang": "en"})
        for effect in board.handle(start, now=0.0):
            if isinstance(effect, ParticipantAdded):
                holders[cid] = effect.to
    offers: list[Offer] = []
    for cid in rng.sample(sorted(holders), int(live * PAUSE_ESCALATE_SHARE)):
        effects = board.handle(Escalate(conversation=cid, participant=holders[cid]), now=0.0)
        offers += [effect for effect in effects if isinstance(effect, Offer)]
    accepted = len(offers) * 3 // 4
    for offer in offers[:accepted]:
        board.handle(Accept(conversation=offer.conversation, participant=offer.to), now=0.0)
    mix = Counter(str(board.state_of(cid)) for cid in board.conversations())
    mix["offered"] = len(offers) - accepted
    mix["waiting"] -= mix["offered"]
    return board, dict(mix)


def _collections_ms() -> float:
    times = []
    for _ in range(PAUSE_REPEATS):
        start = time.perf_counter_ns()
        gc.collect()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times)


def pause(live: int) -> Pause:
    gc.collect()
    base = resident_bytes()
    enabled = gc.isenabled()
    gc.disable()  # a build by steps, not a test of the collector's thresholds
    try:
        board, mix = contact_center_heap(live)
    finally:
        if enabled:
            gc.enable()
    collect_ms = _collections_ms()
    grown = resident_bytes() - base
    gc.freeze()
    frozen_ms = _collections_ms()
    gc.unfreeze()
    del board
    return Pause(
        live=live,
        mix=mix,
        bytes_per_conversation=grown / live,
        collect_ms=collect_ms,
        frozen_ms=frozen_ms,
    )
