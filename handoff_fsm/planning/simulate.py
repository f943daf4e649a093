"""A discrete-event simulation of a contact center around the real switchboard.

Theory of operation: `simulate(config, spec)` builds a `Switchboard` from the same `Config` a
deployment runs, and feeds it random traffic: per queue, Poisson arrivals (`Start`), humans that
`Accept` an offer `accept_delay` seconds after it and `End` after an exponential handle time, and
customers that leave (`CustomerLeft`) when their wait outlasts an exponential patience. Everything
the switchboard decides (who is offered what, who waits, overflow, timeouts) is its own: this loop
only reacts to the effects it returns, the way an embedding platform would. Switchboard timers are
honoured by a `Tick` at each `next_deadline()` that falls before the next event.

The loop is the only impure part of the planning package: it draws from one `random.Random(seed)`
in event order, so a seed gives the same run byte for byte. Arrivals stop at `duration`; the
conversations already started are then run to their end (the drain), so each one offered has an
outcome. Ended conversations are forgotten by the switchboard at once, to keep a long run small.

What is measured, and how (the figures of SPEC §9):
- a conversation's wait runs from its start to the accept of the human that answers it; it
  *waited* (`p_wait`) when no human was offered it in the step that started it;
- `service_level` = answered within `answer_within` / offered; `asa` = mean wait of the answered;
- `occupancy` = human units in use (offers out count, as routing counts them) over the human
  capacity of the queue's members (of every queue's members for the total), averaged over time;
- `estimate_error` = mean absolute difference between the `estimated_wait` of the first `queued`
  effect a waiting conversation gets and its real wait (None when queued effects carry none); a
  waiting arrival is sent one customer message to get that effect;
- a conversation counts in the queue it arrived in, even after an overflow moved it.

`Run.figures` reads the figures over any window of arrival times (occupancy over the same window
of time), which is what `batch_means` uses for confidence intervals.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
import statistics
from collections.abc import Iterable, Mapping, Sequence

import attrs

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.effects import (
    Effect,
    Ended,
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    Queued,
    Role,
)
from handoff_fsm.events import Accept, CustomerLeft, CustomerMessage, End, Start, Tick
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.planning.erlang import QueueFigures, erlang_a, erlang_c
from handoff_fsm.switchboard import Switchboard

ASK_FOR_ESTIMATE = "how long is the wait?"
#: Whether `queued` effects carry an estimated wait (they will in contract v2).
_ESTIMATES = "estimated_wait" in attrs.fields_dict(Queued)


@attrs.frozen(kw_only=True)
class SimulationSpec:
    """The `simulation` key of a scenario file (SPEC §9); times in seconds."""

    duration: float
    arrivals: Mapping[str, float]  # queue -> arrivals per hour
    handle_time: float  # mean, exponential
    seed: int = 0
    patience: float | None = None  # mean, exponential; None: nobody leaves
    answer_within: float = 20.0
    accept_delay: float = 0.0


class ConversationRecord:
    """What happened to one simulated conversation (times in seconds from the start)."""

    __slots__ = (
        "answered_at", "arrived", "ended_at", "estimate", "id", "outcome", "queue", "waited",
    )  # fmt: skip

    def __init__(self, cid: str, queue: str, arrived: float) -> None:
        self.id = cid
        self.queue = queue
        self.arrived = arrived
        self.waited = True
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.outcome: Outcome | None = None
        self.estimate: float | None = None

    @property
    def wait(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.arrived


@attrs.frozen(kw_only=True)
class Figures:
    offered: int
    answered: int
    abandoned: int
    unserved: int  # ended with no human answering, not by leaving (wait timeout, overflow to a bot)
    service_level: float | None
    asa: float | None
    p_wait: float | None
    occupancy: float | None
    estimate_error: float | None

    def as_json(self) -> dict[str, int | float | None]:
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class Change:
    """At `time`, the conversations of `queue` use `busy` more human units and `waiting` more
    of them wait (either may be negative)."""

    time: float
    queue: str
    busy: int
    waiting: int


@attrs.frozen(kw_only=True)
class Run:
    spec: SimulationSpec
    records: tuple[ConversationRecord, ...]
    changes: tuple[Change, ...]
    capacity: Mapping[str, int]  # human units of each queue's members
    total_capacity: int  # human units of every queue's members

    def figures(
        self, queue: str | None = None, start: float = 0.0, end: float | None = None
    ) -> Figures:
        """The figures of the conversations of `queue` (all if None) that arrived in
        [start, end), occupancy over that time (end defaults to the duration)."""
        return self.windows([start, self.spec.duration if end is None else end], queue)[0]

    def windows(self, edges: Sequence[float], queue: str | None = None) -> list[Figures]:
        """`figures` for each window between consecutive edges, in one pass."""
        arrivals = [r.arrived for r in self.records]  # records are in arrival order
        capacity = self.total_capacity if queue is None else self.capacity.get(queue, 0)
        busy, _ = self.time_averages(edges, queue)
        found = []
        for (start, stop), units in zip(itertools.pairwise(edges), busy, strict=True):
            lo, hi = bisect.bisect_left(arrivals, start), bisect.bisect_left(arrivals, stop)
            chosen = [r for r in self.records[lo:hi] if queue is None or r.queue == queue]
            found.append(self._figures(chosen, units / capacity if capacity else None))
        return found

    def _figures(self, chosen: Sequence[ConversationRecord], occupancy: float | None) -> Figures:
        waits = [r.wait for r in chosen if r.wait is not None]
        offered = len(chosen)
        estimated = [(r.estimate, r.wait) for r in chosen if r.estimate is not None]
        errors = [abs(estimate - wait) for estimate, wait in estimated if wait is not None]
        abandoned = sum(1 for r in chosen if r.outcome is Outcome.ABANDONED)
        unanswered = sum(1 for r in chosen if r.outcome is not None and r.wait is None)
        return Figures(
            offered=offered,
            answered=len(waits),
            abandoned=abandoned,
            unserved=unanswered - abandoned,
            service_level=(
                sum(1 for w in waits if w <= self.spec.answer_within) / offered if offered else None
            ),
            asa=statistics.fmean(waits) if waits else None,
            p_wait=sum(r.waited for r in chosen) / offered if offered else None,
            occupancy=occupancy,
            estimate_error=statistics.fmean(errors) if errors else None,
        )

    def time_averages(
        self, edges: Sequence[float], queue: str | None = None
    ) -> tuple[list[float], list[float]]:
        """Mean human units in use and mean conversations waiting, between consecutive edges."""
        count = len(edges) - 1
        busy, waiting = [0.0] * count, [0.0] * count
        level_busy = level_waiting = 0
        last, window = edges[0], 0
        changes = [c for c in self.changes if queue is None or c.queue == queue]
        for change in [*changes, Change(time=math.inf, queue="", busy=0, waiting=0)]:
            while window < count and last < change.time:
                until = min(change.time, edges[window + 1])
                busy[window] += level_busy * (until - last)
                waiting[window] += level_waiting * (until - last)
                last = until
                if until >= edges[window + 1]:
                    window += 1
            if window == count:
                break
            level_busy += change.busy
            level_waiting += change.waiting
        spans = [b - a for a, b in itertools.pairwise(edges)]
        return (
            [b / s if s > 0 else 0.0 for b, s in zip(busy, spans, strict=True)],
            [w / s if s > 0 else 0.0 for w, s in zip(waiting, spans, strict=True)],
        )


# Event kinds of the loop, in the heap as (time, seq, kind, conversation, participant).
_ARRIVAL, _ACCEPT, _END, _LEAVE = 0, 1, 2, 3


class _Loop:
    """One run's mutable state; `simulate` is its only user."""

    def __init__(self, config: Config, spec: SimulationSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.board = Switchboard(config)
        self.humans = {p.id for p in config.participants if p.kind is Kind.HUMAN}
        self.units = {q.name: q.units for q in config.queues}
        self.heap: list[tuple[float, int, int, str, str]] = []
        self.seq = 0
        self.records: dict[str, ConversationRecord] = {}
        self.done: list[ConversationRecord] = []
        self.changes: list[Change] = []
        self.reserved: dict[str, tuple[str, int]] = {}  # conversation -> (human, units in use)
        self.offers: dict[str, str] = {}  # conversation -> human with the open offer
        self.in_line: set[str] = set()  # conversations that never had a holder yet
        self.arrivals = 0

    def push(self, time: float, kind: int, conversation: str, participant: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.heap, (time, self.seq, kind, conversation, participant))

    def run(self) -> None:
        for queue, per_hour in self.spec.arrivals.items():
            if per_hour > 0:
                self.push(self.rng.expovariate(per_hour / 3600), _ARRIVAL, queue)
        board = self.board
        while True:
            deadline = board.next_deadline()
            if self.heap and (deadline is None or self.heap[0][0] < deadline):
                now, _, kind, conversation, participant = heapq.heappop(self.heap)
                self.event(now, kind, conversation, participant)
            elif deadline is not None:
                self.apply(deadline, board.handle(Tick(now=deadline)))
            else:
                break

    def event(self, now: float, kind: int, conversation: str, participant: str) -> None:
        board, spec = self.board, self.spec
        if kind == _ARRIVAL:
            queue = conversation
            if now >= spec.duration:
                return
            rate = spec.arrivals[queue] / 3600
            self.push(now + self.rng.expovariate(rate), _ARRIVAL, queue)
            self.arrivals += 1
            cid = f"c{self.arrivals}"
            record = self.records[cid] = ConversationRecord(cid, queue, now)
            self.in_line.add(cid)
            self.changes.append(Change(time=now, queue=queue, busy=0, waiting=1))
            self.apply(now, board.handle(Start(conversation=cid, queue=queue), now=now))
            if spec.patience is not None:
                self.push(now + self.rng.expovariate(1 / spec.patience), _LEAVE, cid)
            waiting = record.waited and record.ended_at is None
            if _ESTIMATES and waiting and record.estimate is None:
                ask = CustomerMessage(conversation=cid, text=ASK_FOR_ESTIMATE)
                self.apply(now, board.handle(ask, now=now))
        elif kind == _ACCEPT:
            if self.offers.get(conversation) == participant:
                accept = Accept(conversation=conversation, participant=participant)
                self.apply(now, board.handle(accept, now=now))
        elif kind == _END:
            end = End(conversation=conversation, participant=participant)
            self.apply(now, board.handle(end, now=now))
        else:
            if board.state_of(conversation) is State.WAITING:
                self.apply(now, board.handle(CustomerLeft(conversation=conversation), now=now))

    def apply(self, now: float, effects: Sequence[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Offer):
                record = self.records[effect.conversation]
                if now == record.arrived and record.answered_at is None:
                    record.waited = False
                units = self.units[effect.queue]
                self.reserved[effect.conversation] = (effect.to, units)
                self.offers[effect.conversation] = effect.to
                self.changes.append(Change(time=now, queue=record.queue, busy=units, waiting=0))
                self.push(now + self.spec.accept_delay, _ACCEPT, effect.conversation, effect.to)
            elif isinstance(effect, OfferWithdrawn | ParticipantRemoved):
                self.release(now, effect.conversation, effect.to)
            elif isinstance(effect, ParticipantAdded) and effect.role is Role.HOLDER:
                self.joined(now, effect.conversation, effect.to)
            elif isinstance(effect, Queued):
                record = self.records[effect.conversation]
                estimate = getattr(effect, "estimated_wait", None)
                if record.estimate is None and isinstance(estimate, int | float):
                    record.estimate = float(estimate)
            elif isinstance(effect, Ended):
                record = self.records.pop(effect.conversation)
                record.ended_at, record.outcome = now, effect.outcome
                self.leave_line(now, record)
                self.done.append(record)
                self.board.forget(effect.conversation)

    def joined(self, now: float, conversation: str, holder: str) -> None:
        record = self.records[conversation]
        self.offers.pop(conversation, None)
        self.leave_line(now, record)
        if record.answered_at is None and holder in self.humans:
            record.answered_at = now
        self.push(now + self.rng.expovariate(1 / self.spec.handle_time), _END, conversation, holder)

    def leave_line(self, now: float, record: ConversationRecord) -> None:
        """The first holder, or the end, takes a conversation out of the line (a bot that takes
        it after an overflow too, though only a human answers it)."""
        if record.id in self.in_line:
            self.in_line.remove(record.id)
            self.changes.append(Change(time=now, queue=record.queue, busy=0, waiting=-1))

    def release(self, now: float, conversation: str, participant: str) -> None:
        held = self.reserved.get(conversation)
        if held is not None and held[0] == participant:
            del self.reserved[conversation]
            self.offers.pop(conversation, None)
            queue = self.records[conversation].queue
            self.changes.append(Change(time=now, queue=queue, busy=-held[1], waiting=0))


def simulate(config: Config, spec: SimulationSpec) -> Run:
    loop = _Loop(config, spec)
    loop.run()
    records = sorted([*loop.done, *loop.records.values()], key=lambda r: r.arrived)
    specs = {p.id: p for p in config.participants}

    def human_units(members: Iterable[str]) -> int:
        return sum(specs[m].capacity for m in members if specs[m].kind is Kind.HUMAN)

    return Run(
        spec=spec,
        records=tuple(records),
        changes=tuple(loop.changes),
        capacity={q.name: human_units(q.members) for q in config.queues},
        total_capacity=human_units({m for q in config.queues for m in q.members}),
    )


@attrs.frozen(kw_only=True)
class Interval:
    """A mean and the half width of its confidence interval."""

    mean: float
    half_width: float

    def __contains__(self, value: float) -> bool:
        return abs(value - self.mean) <= self.half_width


#: The figures `batch_means` gives intervals for (`abandoned` as a share of the offered).
BATCH_METRICS = ("p_wait", "asa", "service_level", "occupancy", "abandoned")


def batch_means(
    run: Run, *, batches: int, warmup: float, confidence: float = 0.95
) -> dict[str, Interval]:
    """Confidence intervals by batch means: after `warmup` seconds (dropped, the start is empty),
    the arrivals are cut into `batches` windows of equal time, each window's figures are one
    observation, and Student's t over them gives the interval. Batches must be long against the
    queue's memory (hundreds of handle times), or the interval comes out too narrow."""
    if batches < 2:
        raise ValueError("need at least 2 batches")
    width = (run.spec.duration - warmup) / batches
    samples: dict[str, list[float]] = {name: [] for name in BATCH_METRICS}
    for figures in run.windows([warmup + i * width for i in range(batches + 1)]):
        shares = {"abandoned": figures.abandoned / figures.offered if figures.offered else None}
        for name in BATCH_METRICS:
            value = shares[name] if name in shares else getattr(figures, name)
            samples[name].append(0.0 if value is None else float(value))
    factor = _student_t(batches - 1, confidence) / math.sqrt(batches)
    return {
        name: Interval(mean=statistics.fmean(values), half_width=factor * statistics.stdev(values))
        for name, values in samples.items()
    }


def _student_t(degrees: int, confidence: float) -> float:
    """The two-sided quantile of Student's t, by its Cornish-Fisher expansion around the
    normal's (error below 1e-3 from 5 degrees of freedom; no scipy needed)."""
    z = statistics.NormalDist().inv_cdf((1 + confidence) / 2)
    n = float(degrees)
    return (
        z
        + (z**3 + z) / (4 * n)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * n**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * n**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * n**4)
    )


# -- the check against the formulas -------------------------------------------------------------


def one_queue(servers: int, name: str = "support") -> Config:
    """`servers` humans of capacity 1 in one queue: the center the Erlang formulas describe."""
    humans = [ParticipantSpec(id=f"agent-{i}", kind=Kind.HUMAN, capacity=1) for i in range(servers)]
    return Config.build(humans, [QueueSpec(name=name, members=tuple(h.id for h in humans))])


@attrs.frozen(kw_only=True)
class ErlangCheck:
    """A simulated queue of `servers` humans at `load` (offered Erlangs per server), its
    batch-means intervals and the exact figures (Erlang C, or Erlang A with patience)."""

    servers: int
    load: float
    patience: float | None
    conversations: int
    intervals: Mapping[str, Interval]
    exact: QueueFigures

    def exact_value(self, metric: str) -> float:
        return float(getattr(self.exact, metric))

    def disagreements(self) -> list[str]:
        return [
            f"{metric}: exact {self.exact_value(metric):.4g} outside simulated "
            f"{interval.mean:.4g} ± {interval.half_width:.2g}"
            for metric, interval in self.intervals.items()
            if self.exact_value(metric) not in interval
        ]


def erlang_check(
    *,
    servers: int,
    load: float,
    patience: float | None = None,
    handle_time: float = 300.0,
    answer_within: float = 20.0,
    handle_times_per_batch: int = 200,
    batches: int = 20,
    seed: int = 1,
    confidence: float = 0.99,
) -> ErlangCheck:
    rate = load * servers / handle_time
    warmup = 50 * handle_time
    spec = SimulationSpec(
        duration=warmup + batches * handle_times_per_batch * handle_time,
        arrivals={"support": rate * 3600},
        handle_time=handle_time,
        seed=seed,
        patience=patience,
        answer_within=answer_within,
    )
    run = simulate(one_queue(servers), spec)
    if patience is None:
        exact = erlang_c(
            servers=servers, arrival_rate=rate, handle_time=handle_time, answer_within=answer_within
        )
    else:
        exact = erlang_a(
            servers=servers,
            arrival_rate=rate,
            handle_time=handle_time,
            patience=patience,
            answer_within=answer_within,
        )
    return ErlangCheck(
        servers=servers,
        load=load,
        patience=patience,
        conversations=len(run.records),
        intervals=batch_means(run, batches=batches, warmup=warmup, confidence=confidence),
        exact=exact,
    )
