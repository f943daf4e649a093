"""Model-based testing: every generated lifecycle path, replayed through the real switchboard.

Theory of operation: `tools.analysis` generates walks through `models/lifecycle.yaml` (the
transition cover, one path to each edge, and every simple path to a final state). `Replay` turns
each walk into switchboard steps, edge by edge, under one fixed configuration that makes every
edge possible, runs them through `handoff_fsm.testing.Auditor` (so every runtime invariant is
checked on the way), and asserts that after each edge the conversation is in the edge's
destination state (and, on a final edge, has the edge's outcome).

The configuration: bots `bot-1..3` and humans `rep-1..3`, all in every queue, with room to spare;
four queues that differ only in what a wait that runs out does (`q_end`: end, `q_rtb`: return to
bot, `q_to_end` and `q_to_rtb`: move to those). Everyone is `away` between steps, so that nothing
is routed by accident: an edge that needs routing makes exactly the participant it needs
`available` for its step, then `away` again (away keeps what it holds). The queue a conversation
starts in (or is transferred to) is chosen by looking ahead at the `wait_timeout` edges that
follow until the next choice, so that each finds the overflow action its guard facts name.

Feasibility rule (docs/verification.md): a lifecycle walk can ask for guard facts that no real
conversation can have at that point, because the lifecycle does not remember how a wait began.
The translator refuses such an edge with `Infeasible` and one of these reasons, never silently:
- `NO_BOT_HANDED_OVER`: `bot_to_return_to` or `overflow_returns_to_bot` must hold, but the wait
  did not begin with a bot handing the conversation over (escalation or a bot's transfer, maybe
  followed by overflow moves): it began at start, with a human's transfer, or with the holder
  going offline, so there is no bot to return to (SPEC §2, cancel).
- `WAIT_ASKS_FOR_A_HUMAN`: `bot_takes` from `waiting`, but the wait asks for a human (it began
  with an escalation, which asks routing for a human, SPEC §2), so no bot may take it.
Each refusal is then demonstrated on the switchboard: the translator makes the edge's step
happen as well as it can (the cancel, the wait running out, every bot becoming available) and
the test asserts that the conversation does not reach the edge's destination.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import attrs
import pytest

from handoff_fsm.config import (
    Config,
    Kind,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Settings,
)
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import (
    Accept,
    Cancel,
    CustomerLeft,
    CustomerMessage,
    End,
    Escalate,
    Event,
    Fallback,
    Monitor,
    Presence,
    PresenceStatus,
    Start,
    SurveyResponse,
    TakeOver,
    Tick,
    Transfer,
    Wanted,
)
from handoff_fsm.lifecycle import Guard, Outcome, State
from handoff_fsm.model import load_bundled
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect
from handoff_fsm.testing import Auditor
from handoff_fsm.tools.analysis import Path, PathEdge, simple_paths_to_finals, transition_cover

MODEL = load_bundled("lifecycle")
C = "c1"
BOTS = ("bot-1", "bot-2", "bot-3")
HUMANS = ("rep-1", "rep-2", "rep-3")
WAIT = 100.0
SETTINGS = Settings(fallback_limit=2, survey_timeout=50)
#: Each queue's overflow, and where a wait goes when it runs out there.
QUEUES: dict[str, OverflowEnd | OverflowReturnToBot | OverflowTransfer] = {
    "q_end": OverflowEnd(),
    "q_rtb": OverflowReturnToBot(),
    "q_to_end": OverflowTransfer(queue="q_end"),
    "q_to_rtb": OverflowTransfer(queue="q_rtb"),
}


def config() -> Config:
    people = [ParticipantSpec(id=p, kind=Kind.BOT, capacity=5) for p in BOTS]
    people += [ParticipantSpec(id=p, kind=Kind.HUMAN, capacity=5) for p in HUMANS]
    members = (*BOTS, *HUMANS)
    queues = [
        QueueSpec(name=name, members=members, wait_timeout=WAIT, overflow=overflow)
        for name, overflow in QUEUES.items()
    ]
    return Config.build(people, queues, SETTINGS)


NO_BOT_HANDED_OVER = "no bot handed this wait over, so none can take it back"
WAIT_ASKS_FOR_A_HUMAN = "the wait asks for a human, so no bot may take it"
REASONS = (NO_BOT_HANDED_OVER, WAIT_ASKS_FOR_A_HUMAN)


class Infeasible(Exception):
    """This edge cannot happen to a real conversation that followed the path so far."""

    def __init__(self, edge: int, reason: str, reached: State | None = None) -> None:
        self.edge = edge
        self.reason = reason
        self.reached = reached  # where the switchboard went when the edge's step was tried
        super().__init__(f"edge {edge}: {reason}")


#: What a wait_timeout edge needs from the queue it waits in: move on, return to the bot, end.
MOVE, RETURN, END = "move", "return", "end"


def timeout_need(edge: PathEdge) -> str:
    if Guard.OVERFLOW_TRANSFER in edge.facts:
        return MOVE
    return RETURN if Guard.OVERFLOW_RETURNS_TO_BOT in edge.facts else END


def after_timeout(lane: str, need: str) -> str | None:
    """The queue a wait is in once it ran out in `lane` as `need` asks (None: it cannot)."""
    overflow = QUEUES[lane]
    if isinstance(overflow, OverflowTransfer):
        return overflow.queue if need == MOVE else None
    if need == RETURN:
        return lane if isinstance(overflow, OverflowReturnToBot) else None
    return lane if need == END else None


def lane_for(needs: list[str]) -> str | None:
    """A queue whose overflow chain serves these wait timeouts in turn (None: no such queue)."""
    for start in QUEUES:
        lane: str | None = start
        for need in needs:
            lane = None if lane is None else after_timeout(lane, need)
        if lane is not None:
            return start
    return None


@attrs.define
class Replay:
    """Drives one conversation of a fresh switchboard along a lifecycle path."""

    path: Path
    board: Switchboard = attrs.field(factory=lambda: Switchboard(config()))
    auditor: Auditor = attrs.field(init=False)
    lane: str = "q_end"  # the queue it waits (or was held) in
    handed_over_by: str | None = None  # the bot that handed the current wait over
    wanted: Wanted = Wanted.ANY  # what the current wait asks for
    holder: str | None = None
    held: set[str] = attrs.Factory(set)
    offline: set[str] = attrs.Factory(set)
    steps: list[Event] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        self.auditor = Auditor(self.board)
        for pid in (*BOTS, *HUMANS):
            self.send(Presence(participant=pid, status=PresenceStatus.AWAY))

    # ------------------------------------------------------------------------- helpers

    def send(self, event: Event) -> None:
        self.steps.append(event)
        self.auditor.handle(event)

    def presence(self, pid: str, status: PresenceStatus) -> None:
        self.send(Presence(participant=pid, status=status))

    def fresh(self, people: tuple[str, ...]) -> str:
        """Someone who never held this conversation and is not offline (routing's rule)."""
        return next(p for p in people if p not in self.held and p not in self.offline)

    def routed_to(self, pid: str, event: Event | None = None) -> None:
        """Make `pid` the only one available for this step (and away again after it)."""
        self.presence(pid, PresenceStatus.AVAILABLE)
        if event is not None:
            self.send(event)
        self.presence(pid, PresenceStatus.AWAY)

    def took(self, pid: str) -> None:
        self.holder = pid
        self.held.add(pid)
        self.handed_over_by = None

    def choose_lane(self, at: int) -> str:
        """The queue for a wait starting at edge `at`: look ahead at the wait timeouts that
        follow until the next free choice (a transfer) and serve them all."""
        needs = []
        for edge in self.path.edges[at + 1 :]:
            if edge.trigger == "transfer":
                break
            if edge.trigger == "wait_timeout":
                needs.append(timeout_need(edge))
        lane = lane_for(needs)
        assert lane is not None, f"no queue serves the wait timeouts {needs}"
        return lane

    def wait_deadline(self) -> float:
        return next(
            t[0] for t in switchboard_inspect.pending_timers(self.board) if t[1:3] == ("wait", C)
        )

    def disable_return(self) -> None:
        """The bot that handed the wait over can no longer take it back (it goes offline)."""
        if self.handed_over_by is not None:
            self.presence(self.handed_over_by, PresenceStatus.OFFLINE)
            self.offline.add(self.handed_over_by)
            self.handed_over_by = None

    def enqueued(self, wanted: Wanted, handed_over_by: str | None) -> None:
        self.holder = None
        self.wanted = wanted
        self.handed_over_by = handed_over_by

    # ------------------------------------------------------------------------- the edges

    def run(self) -> Iterator[tuple[PathEdge, State | None, Outcome | None]]:
        """Replay edge by edge; yield each edge with the state and outcome it led to."""
        for at, edge in enumerate(self.path.edges):
            self.apply(at, edge)
            yield edge, self.board.state_of(C), self.board.outcome_of(C)

    def apply(self, at: int, edge: PathEdge) -> None:
        """Make one edge happen: the steps of its trigger (one method each, below)."""
        getattr(self, f"_{edge.trigger}")(at, edge)

    def _bot_takes(self, at: int, edge: PathEdge) -> None:
        if edge.source == State.NEW:
            self.lane = self.choose_lane(at)
            bot = self.fresh(BOTS)
            self.routed_to(bot, Start(conversation=C, queue=self.lane))
            self.took(bot)
            return
        if self.wanted is Wanted.HUMAN:
            for bot in (b for b in BOTS if b not in self.offline):
                self.presence(bot, PresenceStatus.AVAILABLE)
            raise Infeasible(at, WAIT_ASKS_FOR_A_HUMAN, self.board.state_of(C))
        bot = self.fresh(BOTS)
        self.routed_to(bot)
        self.took(bot)

    def _enqueue(self, at: int, edge: PathEdge) -> None:
        self.lane = self.choose_lane(at)
        self.send(Start(conversation=C, queue=self.lane))
        self.enqueued(Wanted.ANY, None)

    def _agent_accepts(self, at: int, edge: PathEdge) -> None:
        human = self.fresh(HUMANS)
        self.routed_to(human, Accept(conversation=C, participant=human))
        self.took(human)

    def _escalate(self, at: int, edge: PathEdge) -> None:
        self.send(Escalate(conversation=C, participant=self.holder or ""))
        self.enqueued(Wanted.HUMAN, self.holder)

    def _escalation_phrase(self, at: int, edge: PathEdge) -> None:
        self.send(CustomerMessage(conversation=C, text="Can I TALK TO AGENT please"))
        self.enqueued(Wanted.HUMAN, self.holder)

    def _fallback_limit(self, at: int, edge: PathEdge) -> None:
        for _ in range(SETTINGS.fallback_limit):
            self.send(Fallback(conversation=C, participant=self.holder or ""))
        self.enqueued(Wanted.HUMAN, self.holder)

    def _transfer(self, at: int, edge: PathEdge) -> None:
        holder = self.holder or ""
        self.lane = self.choose_lane(at)
        self.send(Transfer(conversation=C, participant=holder, queue=self.lane))
        self.enqueued(Wanted.ANY, holder if holder in BOTS else None)

    def _holder_offline(self, at: int, edge: PathEdge) -> None:
        holder = self.holder or ""
        self.presence(holder, PresenceStatus.OFFLINE)
        self.offline.add(holder)
        self.enqueued(self.wanted, None)  # back in line, asking what its wait asked

    def _cancel(self, at: int, edge: PathEdge) -> None:
        if Guard.BOT_TO_RETURN_TO not in edge.facts:
            self.disable_return()
            self.send(Cancel(conversation=C))
            return
        returning = self.handed_over_by
        if returning is None:
            self.send(Cancel(conversation=C))
            raise Infeasible(at, NO_BOT_HANDED_OVER, self.board.state_of(C))
        self.send(CustomerMessage(conversation=C, text="Never mind!"))  # a cancel phrase
        self.took(returning)

    def _wait_timeout(self, at: int, edge: PathEdge) -> None:
        need = timeout_need(edge)
        returning = self.handed_over_by
        if need == RETURN and returning is None:
            self.send(Tick(now=self.wait_deadline()))
            raise Infeasible(at, NO_BOT_HANDED_OVER, self.board.state_of(C))
        if need == END:
            self.disable_return()
        self.send(Tick(now=self.wait_deadline()))
        if need == MOVE:
            overflow = QUEUES[self.lane]
            assert isinstance(overflow, OverflowTransfer)
            self.lane = overflow.queue
        elif need == RETURN and returning is not None:
            self.took(returning)

    def _take_over(self, at: int, edge: PathEdge) -> None:
        human = self.fresh(HUMANS)
        self.presence(human, PresenceStatus.AVAILABLE)
        self.send(Monitor(conversation=C, participant=human))
        self.send(TakeOver(conversation=C, participant=human))
        self.presence(human, PresenceStatus.AWAY)
        self.took(human)

    def _end(self, at: int, edge: PathEdge) -> None:
        self.send(End(conversation=C, participant=self.holder or ""))

    def _end_with_survey(self, at: int, edge: PathEdge) -> None:
        self.send(End(conversation=C, participant=self.holder or "", survey=True))

    def _survey_response(self, at: int, edge: PathEdge) -> None:
        self.send(SurveyResponse(conversation=C, answers={"rating": 5}))

    def _survey_timeout(self, at: int, edge: PathEdge) -> None:
        survey = next(
            t[0] for t in switchboard_inspect.pending_timers(self.board) if t[1:3] == ("survey", C)
        )
        self.send(Tick(now=survey))

    def _customer_left(self, at: int, edge: PathEdge) -> None:
        self.send(CustomerLeft(conversation=C))


@attrs.frozen(kw_only=True)
class Result:
    family: str
    index: int
    path: Path
    fired: tuple[tuple[str, int], ...]  # (source, row) of every edge replayed
    skipped: Infeasible | None = None


def replay(family: str, index: int, path: Path) -> Result:
    """Replay one path; assert the state (and outcome) after every edge."""
    run = Replay(path)
    fired: list[tuple[str, int]] = []
    try:
        for edge, state, outcome in run.run():
            where = f"{family}[{index}] edge {len(fired)} ({edge.source} -{edge.trigger}->)"
            assert state == edge.dest, f"{where}: reached {state}, steps {run.steps}"
            if edge.outcome is not None:
                assert outcome == edge.outcome, f"{where}: outcome {outcome}"
            fired.append((edge.source, edge.row))
    except Infeasible as verdict:
        return Result(family=family, index=index, path=path, fired=tuple(fired), skipped=verdict)
    except StepRefused as refused:  # pragma: no cover - a translation the switchboard refused
        raise AssertionError(f"{family}[{index}]: {refused}; steps {run.steps}") from refused
    return Result(family=family, index=index, path=path, fired=tuple(fired))


# ----------------------------------------------------------------------------- the paths

COVER = transition_cover(MODEL)
SIMPLE = simple_paths_to_finals(MODEL)
#: Every edge the generators produce, with the facts that fire it.
POOL = frozenset(edge for path in (*COVER, *SIMPLE) for edge in path.edges)
HANDING_OVER = frozenset({"escalate", "escalation_phrase", "fallback_limit"})


@attrs.frozen(kw_only=True)
class Wait:
    """What the feasibility rule knows of the current wait: did a bot hand it over, and does
    it ask for a human."""

    by_bot: bool = False
    for_human: bool = False


def after(wait: Wait, edge: PathEdge) -> Wait | str:
    """The wait after `edge`, or the reason the edge is infeasible (the rule, statically)."""
    facts = edge.facts
    if {Guard.BOT_TO_RETURN_TO, Guard.OVERFLOW_RETURNS_TO_BOT} & facts and not wait.by_bot:
        return NO_BOT_HANDED_OVER
    if edge.trigger == "bot_takes" and edge.source == State.WAITING and wait.for_human:
        return WAIT_ASKS_FOR_A_HUMAN
    if edge.trigger == "enqueue":
        return Wait()
    if edge.trigger in HANDING_OVER:
        return Wait(by_bot=True, for_human=True)
    if edge.trigger == "transfer":
        return Wait(by_bot=edge.source != State.AGENT_ENGAGED)
    if edge.trigger == "holder_offline":
        return Wait(for_human=wait.for_human)
    return wait


def infeasible_at(path: Path) -> tuple[int, str] | None:
    wait = Wait()
    for at, edge in enumerate(path.edges):
        step = after(wait, edge)
        if isinstance(step, str):
            return at, step
        wait = step
    return None


def witnesses(wanted: set[tuple[str, int]]) -> list[Path]:
    """For each (source, row), the shortest feasible walk that ends by firing it: breadth first
    over (state, human held before, wait) with the generators' edges."""
    held = str(Guard.HUMAN_HELD_BEFORE)
    start = (str(MODEL.initial), False, Wait())
    walks: dict[tuple[str, bool, Wait], tuple[PathEdge, ...]] = {start: ()}
    found: dict[tuple[str, int], Path] = {}
    frontier = [start]
    while frontier and len(found) < len(wanted):
        following = []
        for node in frontier:
            state, human, wait = node
            for edge in sorted(POOL, key=lambda e: (e.row, sorted(e.facts))):
                if edge.source != state or (held in edge.facts) != human:
                    continue
                step = after(wait, edge)
                if isinstance(step, str):
                    continue
                walk = (*walks[node], edge)
                if (edge.source, edge.row) in wanted:
                    found.setdefault((edge.source, edge.row), Path(edges=walk))
                nxt = (edge.dest, human or edge.dest == State.AGENT_ENGAGED, step)
                if edge.dest not in MODEL.final and nxt not in walks:
                    walks[nxt] = walk
                    following.append(nxt)
        frontier = following
    return [found[key] for key in sorted(found)]


def fired_by_feasible(paths: tuple[Path, ...]) -> set[tuple[str, int]]:
    return {(e.source, e.row) for p in paths if infeasible_at(p) is None for e in p.edges}


EDGES = {
    (source, row)
    for row, spec in enumerate(MODEL.transitions)
    for source in spec.sources
    if source not in MODEL.final
}
#: Edges that only infeasible generated paths fire get a feasible witness walk of their own.
WITNESSES = witnesses(EDGES - fired_by_feasible((*COVER, *SIMPLE)))

PATHS: list[tuple[str, int, Path]] = [
    *(("cover", i, p) for i, p in enumerate(COVER)),
    *(("simple", i, p) for i, p in enumerate(SIMPLE)),
    *(("witness", i, p) for i, p in enumerate(WITNESSES)),
]


@functools.cache
def results() -> tuple[Result, ...]:
    return tuple(replay(family, i, path) for family, i, path in PATHS)


def describe(path: Path) -> str:
    return " ".join(f"{e.source} -{e.trigger}[{','.join(sorted(e.facts))}]->" for e in path.edges)


@pytest.mark.parametrize(
    ("family", "index", "path"), PATHS, ids=[f"{family}-{i:03d}" for family, i, _ in PATHS]
)
def test_path_replays_through_the_switchboard(family: str, index: int, path: Path) -> None:
    result = replay(family, index, path)
    if result.skipped is not None:
        verdict = result.skipped
        assert verdict.reason in REASONS
        assert verdict.reached != path.edges[verdict.edge].dest, (
            f"{describe(path)}: declared infeasible at edge {verdict.edge}, yet the switchboard "
            f"reached {verdict.reached}"
        )
    else:
        assert len(result.fired) == len(path.edges)


def test_the_feasibility_rule_and_the_replay_agree_on_every_path() -> None:
    """The rule, applied to the walk alone, predicts exactly where the replay stopped."""
    for result in results():
        verdict = result.skipped
        expected = None if verdict is None else (verdict.edge, verdict.reason)
        assert infeasible_at(result.path) == expected, describe(result.path)


def test_a_bot_cannot_take_a_wait_that_asks_for_a_human() -> None:
    """The second reason fires on no generated path today; it is still proved on a hand-made
    one: after an escalation, every bot becoming available leaves the conversation waiting."""
    by_trigger = {(e.source, e.trigger, e.dest): e for e in POOL if not e.facts}
    path = Path(
        edges=(
            by_trigger[(State.NEW, "bot_takes", State.BOT_ACTIVE)],
            by_trigger[(State.BOT_ACTIVE, "escalate", State.WAITING)],
            by_trigger[(State.WAITING, "bot_takes", State.BOT_ACTIVE)],
        )
    )
    verdict = replay("hand-made", 0, path).skipped
    assert verdict is not None and verdict.reason == WAIT_ASKS_FOR_A_HUMAN
    assert verdict.reached is State.WAITING


def test_replay_counts_and_every_skip_is_explained() -> None:
    """The numbers docs/verification.md gives; a change here must be a change there."""
    counts: dict[tuple[str, str], int] = {}
    for result in results():
        outcome = "replayed" if result.skipped is None else result.skipped.reason
        counts[(result.family, outcome)] = counts.get((result.family, outcome), 0) + 1
    assert counts == {
        ("cover", "replayed"): 29,
        ("cover", NO_BOT_HANDED_OVER): 4,
        ("simple", "replayed"): 84,
        ("simple", NO_BOT_HANDED_OVER): 40,
        ("witness", "replayed"): 4,
    }
    # The skipped paths share six infeasible beginnings (a wait that began at start, with a
    # human's transfer or with the holder going offline, then asked to return to a bot); the
    # simple paths multiply them by every way to go on from the bot state.
    beginnings = {
        describe(Path(edges=r.path.edges[: r.skipped.edge + 1]))
        for r in results()
        if r.skipped is not None
    }
    assert len(beginnings) == 6


def test_every_edge_of_the_lifecycle_is_fired_by_some_replayed_path() -> None:
    fired = {edge for result in results() if result.skipped is None for edge in result.fired}
    assert EDGES - fired == set()
