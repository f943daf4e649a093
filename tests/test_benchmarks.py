"""The benchmark harness runs, and its contenders are the lifecycle: correctness, never timings.

Every contender of `benchmarks.lifecycle_contenders` replays the benchmark's own walk and seeded
random walks, and must be, after every step, where `handoff_fsm.lifecycle.step` is (state,
outcome, human held). The floor's table must refuse exactly what the lifecycle refuses. The
harness must time with the collector off and count retained memory, the transition figure must
refuse a contender that does nothing, and `python -m benchmarks --quick --out FILE` must write
JSON with every figure for every contender. Nothing here asserts how fast anything is.

The switchboard suite's synthetic contact center (at its `--quick` size) must be warm in every
state, its recorded stream must hold every kind of step and replay on the restored warm state
with no refusal and the recorded effects, the same whatever the hash seed; a replay that refuses
or does nothing must be caught. The routing suite's selection must go, at every size up to
100,000 members, to the participant `explain` names, without scanning, and leave the queue as
it found it.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import itertools
import json
import math
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from benchmarks import (
    center_shapes,
    contact_center,
    harness,
    lifecycle_figures,
    routing_figures,
    start_figures,
    startup_figures,
    switchboard_figures,
)
from benchmarks.harness import QUICK, Batch, measure, measure_all, retained_bytes
from benchmarks.internals import (
    Explanation,
    Router,
    conversations,
    pending_timers,
    state_of,
)
from benchmarks.lifecycle_contenders import (
    CALLER_GUARDS,
    CONTENDERS,
    CYCLE,
    CYCLE_START,
    TO_CYCLE,
    Contender,
    DictFloor,
    HandoffFsm,
    Observed,
    Step,
    Store,
)
from benchmarks.report import (
    BELOW_ONE,
    Figure,
    Result,
    SuiteResult,
    Target,
    render_suite,
    report_json,
)
from benchmarks.suites import SUITES
from handoff_fsm import lifecycle
from handoff_fsm.errors import TriggerRefused
from handoff_fsm.events import Accept
from handoff_fsm.lifecycle import Guard, Snapshot, State, Trigger
from handoff_fsm.routing import inspect as routing_inspect

ROOT = Path(__file__).resolve().parent.parent
FACT_SETS = [
    frozenset(combo)
    for n in range(len(CALLER_GUARDS) + 1)
    for combo in itertools.combinations(CALLER_GUARDS, n)
]


def _step(snapshot: Snapshot, step: Step) -> Snapshot:
    trigger, facts = step
    return lifecycle.step(snapshot, Trigger(trigger), frozenset(Guard(g) for g in facts))[0]


def _expected(walk: Sequence[Step]) -> list[Observed]:
    snapshot, seen = lifecycle.NEW, []
    for step in walk:
        snapshot = _step(snapshot, step)
        seen.append(Observed.of_snapshot(snapshot))
    return seen


def _random_walks(count: int, seed: int = 20240611) -> list[list[Step]]:
    """Walks the lifecycle accepts, from `new` until `ended` or 14 steps, with random facts."""
    rng = random.Random(seed)
    walks = []
    for _ in range(count):
        snapshot, walk = lifecycle.NEW, list[Step]()
        while not snapshot.is_final and len(walk) < 14:
            trigger = rng.choice(lifecycle.allowed_triggers(snapshot.state))
            facts = rng.choice(FACT_SETS)
            if lifecycle.can_step(snapshot, trigger, frozenset(Guard(g) for g in facts)):
                walk.append((trigger.value, facts))
                snapshot = _step(snapshot, walk[-1])
        walks.append(walk)
    return walks


def _replay(contender: Contender[Any], walk: Sequence[Step], cid: str) -> list[Observed]:
    store: Store = {}
    contender.create(store, [cid])
    assert contender.observe(store, cid) == Observed("new", None, False)
    seen = []
    for step in walk:
        contender.fire(store, cid, contender.native([step]))
        seen.append(contender.observe(store, cid))
    contender.release(store)
    return seen


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap() -> Iterator[None]:
    """The harness runs a full collection between batches; freezing what is already alive, as
    `python -m benchmarks` does, keeps those cheap in a test process with a large heap."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module", params=CONTENDERS, ids=lambda c: c.key)
def contender(request: pytest.FixtureRequest) -> Contender[Any]:
    made: Contender[Any] = request.param()
    return made


def test_the_benchmark_walk_is_the_lifecycle_and_comes_back_to_its_start() -> None:
    seen = _expected([*TO_CYCLE, *CYCLE, *CYCLE])
    start = seen[len(TO_CYCLE) - 1]
    assert start == Observed(CYCLE_START, None, True)
    assert seen[-1] == seen[len(TO_CYCLE) + len(CYCLE) - 1] == start
    assert set(seen) > {start}  # it does go round


def test_every_contender_follows_the_benchmark_walk(contender: Contender[Any]) -> None:
    walk = [*TO_CYCLE, *CYCLE, *CYCLE]
    assert _replay(contender, walk, "walk") == _expected(walk)


def test_every_contender_agrees_with_the_lifecycle_on_random_walks(
    contender: Contender[Any],
) -> None:
    walks = _random_walks(40)
    outcomes = {_expected(walk)[-1].outcome for walk in walks} - {None}
    assert len(outcomes) >= 4  # the walks do end, with several outcomes
    for n, walk in enumerate(walks):
        assert _replay(contender, walk, f"random-{n}") == _expected(walk), walk


def test_every_contender_holds_many_conversations_apart(contender: Contender[Any]) -> None:
    store: Store = {}
    contender.create(store, ["a", "b", "c"])
    contender.fire(store, "b", contender.native(TO_CYCLE))
    assert contender.observe(store, "a") == contender.observe(store, "c")
    assert contender.observe(store, "a") == Observed("new", None, False)
    assert contender.observe(store, "b") == Observed(CYCLE_START, None, True)
    contender.release(store)
    assert not store


def test_the_floor_is_a_nested_dict_of_plain_strings() -> None:
    """`table[state][trigger]`: no tuple key to build and hash, the cheapest lookup there is."""
    table, names = DictFloor().table, DictFloor().names
    assert table and all(isinstance(state, str) and state in names for state in table)
    for row in table.values():
        assert row and all(isinstance(trigger, str) for trigger in row)


def test_the_floor_refuses_exactly_what_the_lifecycle_refuses() -> None:
    floor = DictFloor()
    names = {observed: name for name, observed in floor.names.items()}
    checked = 0
    for state, held, trigger, facts in itertools.product(State, (False, True), Trigger, FACT_SETS):
        snapshot = Snapshot(state=state, outcome=None, human_held=held)
        guards = frozenset(Guard(g) for g in facts)
        try:
            expected: Observed | None = Observed.of_snapshot(
                lifecycle.step(snapshot, trigger, guards)[0]
            )
        except TriggerRefused:
            expected = None
        store: Store = {"c": names.get(Observed(state.value, None, held), "absent")}
        try:
            floor.fire(store, "c", [(trigger.value, facts)])
            got: Observed | None = floor.observe(store, "c")
        except KeyError:
            got = None
        assert got == expected, (state, held, trigger, facts)
        checked += 1
    assert checked == len(State) * 2 * len(Trigger) * len(FACT_SETS)


def test_measure_times_with_the_collector_off_and_restores_it() -> None:
    during: list[bool] = []
    prepared: list[int] = []

    def batch_of(scale: int) -> Batch[list[int]]:
        def run(items: list[int]) -> None:
            during.append(gc.isenabled())
            items.extend(range(scale))

        def prepare() -> list[int]:
            prepared.append(scale)
            return []

        return Batch(ops=scale, run=run, prepare=prepare)

    assert gc.isenabled()
    timing = measure(batch_of, QUICK)
    assert gc.isenabled()
    assert during and not any(during)
    assert len(prepared) == len(during)  # prepare runs once per batch
    assert timing.repetitions == QUICK.repetitions
    assert timing.q1_us <= timing.median_us <= timing.q3_us
    assert timing.ops_per_batch >= 1 and timing.median_us > 0


def test_retained_bytes_counts_what_is_kept_and_not_the_garbage() -> None:
    def build() -> bytearray:
        for _ in range(100):
            bytearray(100_000)  # garbage
        return bytearray(1_000_000)

    kept = retained_bytes(build)
    assert 1_000_000 <= kept < 1_100_000


class _Idle(HandoffFsm):
    """A contender that accepts every trigger and does nothing: it must not get a figure."""

    key = "idle"

    def fire(self, store: Store, cid: str, steps: Sequence[Any]) -> None:
        for _ in steps:
            store[cid] = store[cid]


def test_the_transition_figure_refuses_a_contender_that_does_nothing() -> None:
    results = lifecycle_figures.measure_transition([HandoffFsm()], QUICK)
    assert list(results) == ["handoff_fsm"]
    with pytest.raises(AssertionError, match="idle"):
        lifecycle_figures.measure_transition([HandoffFsm(), _Idle()], QUICK)


def test_measure_all_interleaves_the_contenders() -> None:
    order: list[str] = []

    def maker(key: str) -> Callable[[int], Batch[None]]:
        def batch_of(scale: int) -> Batch[None]:
            return Batch(ops=scale, run=lambda _: order.append(key), prepare=lambda: None)

        return batch_of

    timings = measure_all({k: maker(k) for k in "abc"}, dataclasses.replace(QUICK, max_scale=4))
    assert set(timings) == set("abc")
    timed = order[-3 * QUICK.repetitions :]
    rounds = [timed[i : i + 3] for i in range(0, len(timed), 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert len({r[0] for r in rounds}) == min(3, QUICK.repetitions)  # the order rotates


def test_targets_pass_within_their_limit_and_miss_beyond_it() -> None:
    figure = Figure(
        key="f",
        title="f",
        unit="us",
        description="",
        baseline="floor",
        results={"floor": Result(2.0), "fast": Result(9.0), "slow": Result(11.0)},
    )
    fast, slow = (
        Target(description=k, figure="f", contender=k, limit=5.0, kind="ratio").judge({"f": figure})
        for k in ("fast", "slow")
    )
    assert fast.passed and fast.measured == 4.5 and fast.line().startswith("PASS")
    assert not slow.passed and slow.measured == 5.5 and slow.line().startswith("MISS")
    assert "over by 1.10x" in slow.line()


def test_an_excess_target_is_the_distance_above_the_baseline() -> None:
    figure = Figure(
        key="f",
        title="f",
        unit="ms",
        description="",
        baseline="python",
        results={"python": Result(30.0), "lazy": Result(120.0), "eager": Result(400.0)},
    )
    lazy, eager = (
        Target(description=k, figure="f", contender=k, limit=100.0, kind="excess").judge(
            {"f": figure}
        )
        for k in ("lazy", "eager")
    )
    assert lazy.passed and lazy.measured == 90.0
    assert not eager.passed and eager.measured == 370.0 and "over by 3.70x" in eager.line()


def test_a_ratio_under_one_against_the_lowest_baseline_is_flagged() -> None:
    figure = Figure(
        key="routing.select",
        title="select",
        unit="us",
        description="",
        baseline="n100",
        results={"n100": Result(10.0), "n1000": Result(9.0), "n10000": Result(12.0)},
    )
    assert figure.flagged() == ["n1000"]
    assert figure.as_json()["below_baseline"] == ["n1000"]
    suite = SuiteResult(
        key="s", title="s", contenders={k: k for k in figure.results}, figures=[figure], targets=[]
    )
    table = render_suite(suite)
    assert f"0.90{BELOW_ONE}" in table and "FLAG: routing.select: n1000" in table
    assert "1.20" in table and f"1.20{BELOW_ONE}" not in table
    free = dataclasses.replace(figure, floor_is_lowest=False)
    assert free.flagged() == []


def test_measuring_until_stable_stops_when_two_passes_agree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def timing(median: float) -> harness.Timing:
        return harness.Timing(median, median, median, median, 1, 1)

    def scripted(medians: list[float]) -> Callable[..., dict[str, harness.Timing]]:
        passes = iter(medians)
        return lambda makers, settings: {"a": timing(next(passes))}

    monkeypatch.setattr(harness, "measure_all", scripted([10.0, 20.0, 20.5, 99.0]))
    timings, passes, stable = harness.measure_until_stable({}, QUICK)
    assert (timings["a"].median_us, passes, stable) == (20.5, 3, True)
    monkeypatch.setattr(harness, "measure_all", scripted([10.0, 20.0, 30.0, 40.0, 50.0]))
    timings, passes, stable = harness.measure_until_stable({}, QUICK, max_passes=4)
    assert (timings["a"].median_us, passes, stable) == (40.0, 4, False)


def test_a_suite_flags_timings_the_busy_machine_stretched() -> None:
    def timed(wall: float, cpu: float) -> Result:
        return Result(wall, q1=wall, q3=wall, detail={"cpu_median": cpu})

    figure = Figure(
        key="f",
        title="f",
        unit="us",
        description="",
        baseline="floor",
        results={"floor": timed(1.0, 0.98), "busy": timed(3.0, 1.0)},
    )
    suite = SuiteResult(
        key="s",
        title="s",
        contenders={"floor": "floor", "busy": "busy"},
        figures=[figure],
        targets=[],
    )
    assert suite.disturbed() == ["f busy (wall/CPU 3.00)"]
    assert "WARNING" in render_suite(suite)
    assert suite.as_json()["disturbed"] == suite.disturbed()


def test_quick_run_writes_json_with_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "PASS" in result.stdout or "MISS" in result.stdout
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["settings"]["quick"] is True
    suite = document["suites"]["lifecycle"]
    keys = [c.key for c in CONTENDERS]
    assert list(suite["contenders"]) == keys
    figures = suite["figures"]
    assert set(figures) == {"lifecycle.create", "lifecycle.transition", "lifecycle.memory"}
    for figure in figures.values():
        assert set(figure["results"]) == set(keys) == set(figure["ratios"])
        assert figure["ratios"]["floor"] == 1.0
        for value in [r["value"] for r in figure["results"].values()]:
            assert value > 0 and math.isfinite(value)
    for timed in ("lifecycle.create", "lifecycle.transition"):
        for result_ in figures[timed]["results"].values():
            assert result_["q1"] <= result_["value"] <= result_["q3"]
    assert {t["figure"] for t in suite["targets"]} == set(figures)
    assert all(isinstance(t["passed"], bool) for t in suite["targets"])
    assert isinstance(document["all_targets_met"], bool)

    switchboard = document["suites"]["switchboard"]
    step = switchboard["figures"]["switchboard.step"]
    assert set(step["results"]) == {"floor", "handoff_fsm", "backlog"}
    for center in ("handoff_fsm", "backlog"):
        measured = step["results"][center]
        assert measured["refused"] == 0 and measured["substituted"] == 0
        assert measured["replayed"] >= measured["ops_per_batch"] * QUICK.repetitions
        assert measured["steps_per_s"] == pytest.approx(1e6 / measured["value"])
    assert step["results"]["backlog"]["waiting_in_lines"] > 10 * max(
        1, step["results"]["handoff_fsm"]["waiting_in_lines"]
    )
    assert [t["contender"] for t in switchboard["targets"]] == ["handoff_fsm", "backlog"]
    assert {t["kind"] for t in switchboard["targets"]} == {"value"}

    start = figures["lifecycle.create"]["results"]["handoff_fsm"]
    assert start["value"] > 10 * figures["lifecycle.create"]["results"]["floor"]["value"]
    memory = figures["lifecycle.memory"]["results"]["handoff_fsm"]
    assert memory["switchboard_bytes"] > memory["empty_switchboard_bytes"] > 0
    assert memory["conversations"] == center_shapes.QUICK_SHAPE.live

    startup = document["suites"]["startup"]
    wall = startup["figures"]["startup.wall"]
    assert list(wall["results"]) == ["python", "help", "run"]
    assert [t["kind"] for t in startup["targets"]] == ["excess", "excess"]
    assert set(document["suites"]) == {suite.key for suite in SUITES}

    routing = document["suites"]["routing"]
    select = routing["figures"]["routing.select"]
    sizes = routing_figures.QUICK_SIZES
    assert list(select["results"]) == [f"n{size}" for size in sizes]
    assert select["ratios"][f"n{sizes[0]}"] == 1.0
    for size in sizes:
        assert select["results"][f"n{size}"]["members"] == size
        assert math.isfinite(select["ratios"][f"n{size}"])
    assert [t["contender"] for t in routing["targets"]] == [f"n{sizes[-1]}"]


# --- the switchboard suite: the synthetic contact center and its replay ---------------------------


STREAM = 6_000  # steps: enough for the rarest kinds (named transfers, presence) to appear


@pytest.fixture(scope="module")
def center() -> contact_center.ContactCenter:
    shape = dataclasses.replace(center_shapes.QUICK_SHAPE, stream_steps=STREAM)
    return contact_center.build(shape)


def test_the_contact_center_is_warm_in_every_state(center: contact_center.ContactCenter) -> None:
    shape = center.shape
    assert sum(center.warm_classes.values()) == shape.live
    assert set(center.warm_classes) == set(contact_center.CLASSES)
    assert all(n > 0 for name, n in center.warm_classes.items() if name != "waiting")
    assert 0.3 < center.warm_human_load < 1.0
    board = center.restore()
    live = [c for c in conversations(board) if state_of(board, c) is not State.ENDED]
    assert len(live) == shape.live == len(conversations(board))  # the ended were forgotten
    assert pending_timers(board)  # offers, waits and surveys are running


def test_the_stream_holds_every_kind_of_step(center: contact_center.ContactCenter) -> None:
    mix = center.mix()
    assert len(center.steps) == len(center.kinds) == len(center.effects) == STREAM
    assert center.substituted == 0
    for kind in (
        "customer",
        "bot",
        "agent",
        "fallback",
        "escalate",
        "customer (escalation phrase)",
        "accept",
        "decline",
        "transfer",
        "transfer (named)",
        "end",
        "end with survey",
        "survey_response",
        "customer_left",
        "start",
        "tick",
    ):
        assert mix.get(kind, 0) > 0, kind
    assert any(kind.startswith("presence") for kind in mix)
    messages = sum(mix[k] for k in mix if k.split()[0] in ("customer", "bot", "agent"))
    assert messages > len(center.steps) / 2  # messages are the majority
    assert sorted({step_id for _, _, step_id in center.steps}) == [s[2] for s in center.steps]
    times = [now for _, now, _ in center.steps]
    assert times == sorted(times)


def test_the_stream_replays_on_the_warm_state_with_no_refusal(
    center: contact_center.ContactCenter,
) -> None:
    switchboard_figures.verify(center)  # every step accepted, with the recorded effects
    source = switchboard_figures.Replay(center)
    window = center.shape.window
    for _ in range(len(center.steps) // window + 2):  # past the end: restores and goes on
        part = source.take(window)
        switchboard_figures.replay(part)
        source.settle(part)
    assert source.refused == 0
    assert source.restores == 2
    assert sum(source.replayed.values()) == window * (len(center.steps) // window + 2)


def test_a_replay_that_refuses_or_does_nothing_is_caught(
    center: contact_center.ContactCenter,
) -> None:
    board = center.restore()
    bogus = Accept(conversation="no-such-conversation", participant="agent-000")
    part = switchboard_figures.Slice(board=board, steps=[(bogus, center.steps[0][1], "bogus")])
    switchboard_figures.replay(part)
    assert part.refused == 1
    silent = dataclasses.replace(center, effects=(center.effects[0] + 1, *center.effects[1:]))
    with pytest.raises(AssertionError, match="effects on replay"):
        switchboard_figures.verify(silent)
    refused = dataclasses.replace(center, steps=((bogus, 0.0, "bogus"), *center.steps[1:]))
    with pytest.raises(AssertionError, match="refused on replay"):
        switchboard_figures.verify(refused)


def test_the_stream_is_the_same_whatever_the_hash_seed(
    center: contact_center.ContactCenter,
) -> None:
    code = (
        "import dataclasses, hashlib\n"
        "from benchmarks import center_shapes, contact_center as cc\n"
        f"shape = dataclasses.replace(center_shapes.QUICK_SHAPE, stream_steps={STREAM})\n"
        "c = cc.build(shape)\n"
        "print(hashlib.sha256(repr((c.steps, c.kinds, c.effects)).encode()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    here = hashlib.sha256(repr((center.steps, center.kinds, center.effects)).encode())
    assert digests == {here.hexdigest()}


def test_a_start_in_a_full_switchboard_makes_a_live_conversation(
    center: contact_center.ContactCenter,
) -> None:
    starts = start_figures.Starts(center)
    batch = starts.batch(5)
    batch.run(batch.prepare())
    assert starts.made == 5
    starts.check()
    assert state_of(starts.board, "new-0000005") is State.BOT_ACTIVE


def test_a_start_that_makes_nothing_is_caught(
    center: contact_center.ContactCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    starts = start_figures.Starts(center)
    monkeypatch.setattr(starts.board, "handle", lambda event, now, step_id: [])
    batch = starts.batch(3)
    batch.run(batch.prepare())
    with pytest.raises(AssertionError, match="3 starts"):
        starts.check()


def test_memory_per_conversation_is_the_whole_switchboard_less_an_empty_one(
    center: contact_center.ContactCenter,
) -> None:
    result = start_figures.memory_per_conversation(center)
    whole, empty, total, held = (
        float(result.detail[key])
        for key in ("switchboard_bytes", "empty_switchboard_bytes", "total_bytes", "conversations")
    )
    assert held == center.shape.live
    assert total == whole - empty and empty > 0
    assert result.value == pytest.approx(total / held)
    assert result.value > 200  # a conversation carries its context, ticket and timers


def test_the_backlog_center_has_long_lines_in_every_queue() -> None:
    backlog = contact_center.build(center_shapes.QUICK_BACKLOG_SHAPE)
    lines = backlog.warm_lines
    assert len(lines) == center_shapes.QUICK_BACKLOG_SHAPE.queues
    assert all(n >= 20 for n in lines.values())
    assert sum(lines.values()) > backlog.shape.live / 2
    switchboard_figures.verify(backlog)  # still every step accepted, effects as recorded


def test_every_registered_suite_loads_and_has_a_run() -> None:
    keys = [suite.key for suite in SUITES]
    assert len(set(keys)) == len(keys)
    for suite in SUITES:
        assert callable(suite.load())


def test_startup_times_each_command_and_refuses_one_that_fails() -> None:
    argvs = {"bare": [sys.executable, "-c", "pass"], "json": [sys.executable, "-c", "import json"]}
    results = startup_figures.measure(argvs, runs=2)
    assert list(results) == ["bare", "json"]
    for result in results.values():
        assert result.value > 0 and result.detail["runs"] == 2
    with pytest.raises(AssertionError, match="exited 3"):
        startup_figures.measure({"fails": [sys.executable, "-c", "raise SystemExit(3)"]}, runs=1)


# --- the routing suite: selection at every size -------------------------------------------------


@pytest.fixture(scope="module", params=routing_figures.SIZES, ids=lambda size: f"n{size}")
def queue(request: pytest.FixtureRequest) -> routing_figures.Queue:
    size: int = request.param
    return routing_figures.build_queue(size)


def test_the_queue_is_loaded_like_a_real_one(queue: routing_figures.Queue) -> None:
    assert sum(queue.loads.values()) == queue.size
    assert all(n > 0 for n in queue.loads.values())
    assert queue.loads["partial"] > queue.size / 2  # most members partly loaded
    router = queue.router
    members = router.queue(routing_figures.QUEUE).members
    assert len(members) == queue.size
    full = sum(1 for m in members if router.load(m) == router.participant(m).capacity)
    assert full >= queue.loads["full"]


def test_selection_goes_where_explain_says_without_scanning(queue: routing_figures.Queue) -> None:
    offered, chosen, visited = routing_figures.probe(queue)
    assert offered == chosen != "nobody"
    assert 0 < visited < 40  # a few dozen index nodes at most, even among 100,000 members
    assert routing_figures.check(queue) == visited


def test_a_selection_batch_leaves_the_queue_as_it_found_it(queue: routing_figures.Queue) -> None:
    router = queue.router
    members = router.queue(routing_figures.QUEUE).members
    loads = [router.load(m) for m in members]
    batch = routing_figures.selection_batch(queue, 25)
    state = batch.prepare()
    batch.run(state)
    offered = [router.offer_of(f"waiting-{n:06d}") for n in range(25)]
    assert all(offered) and len(set(offered)) > 1  # later ones see the load earlier ones took
    batch.cleanup(state)
    assert [router.load(m) for m in members] == loads
    assert router.line(routing_figures.QUEUE) == ()
    if queue.size <= 10_000:  # the audit reads everything: seconds at 100,000
        assert routing_inspect.audit(router) == []


def test_the_routing_check_refuses_a_selection_explain_disagrees_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = routing_figures.build_queue(100)
    routing_figures.check(queue)
    explain = Router.explain

    def wrong(router: Router, conversation: str) -> Explanation:
        return attrs.evolve(explain(router, conversation), chosen="agent-999999")

    monkeypatch.setattr(Router, "explain", wrong)
    with pytest.raises(AssertionError, match="explain chose agent-999999"):
        routing_figures.check(queue)


def test_performance_doc_shows_the_recorded_last_run() -> None:
    """docs/performance.md's last-run section is exactly what benchmarks/results/latest.json
    renders: no number in it is typed by hand, and it cannot drift from the record."""
    import json

    from benchmarks import doc_tables

    record = json.loads(
        (doc_tables.DOC.parent.parent / "benchmarks/results/latest.json").read_text()
    )
    rendered = doc_tables.render(record)
    assert doc_tables.section_of(doc_tables.DOC.read_text(encoding="utf-8")) == rendered
    assert list(record["suites"]) == [suite.key for suite in SUITES]  # one run, every suite
    assert not record["settings"]["quick"]
    for suite in record["suites"].values():
        assert f"**{suite['title']}**" in rendered
        for target in suite["targets"]:
            assert f"| {target['description']} |" in rendered


def test_the_doc_tables_flag_a_ratio_under_one_and_show_excess_targets() -> None:
    from benchmarks import doc_tables

    figure = Figure(
        key="routing.select",
        title="select",
        unit="us",
        description="",
        baseline="n100",
        results={"n100": Result(10.0, q1=9.0, q3=11.0), "n1000": Result(9.0, q1=8.0, q3=10.0)},
    )
    suite = SuiteResult(
        key="routing",
        title="Routing",
        contenders={"n100": "100 members", "n1000": "1,000 members"},
        figures=[figure],
        targets=[
            Target(
                description="within 100 ms",
                figure="routing.select",
                contender="n1000",
                limit=100.0,
                kind="excess",
                unit="ms",
            )
        ],
    )
    rendered = doc_tables.render(report_json([suite], QUICK, 1.0))
    assert f"| 1,000 members | 9.00 | 8.00 to 10.0 | 0.90{BELOW_ONE} |" in rendered
    assert "**FLAG**: routing.select: n1000 measured below the baseline (n100)" in rendered
    assert "| within 100 ms | -1.00 ms over | 100 ms over | PASS |" in rendered
