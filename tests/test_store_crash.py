"""Kill a group-committing writer at random moments: what was acknowledged survives, nothing is
half-applied, and the store still opens.

A child process opens a `DurableCenter` on a store (on the real disk, as in production) and
starts four producer threads, each handing in an endless, deterministic stream of its own steps
(conversations that start, escalate, are accepted or not, talk and end; some refused), printing
`thread n` once `handle` returned, that is, once the batch holding the step is on disk. The
parent SIGKILLs it at random points (inside a batch, a checkpoint, start-up) and starts it again
on the same store, a few times. After each kill the store must open and hold every acknowledged
step exactly once, each thread's steps in the order it handed them in (a prefix of its stream:
a batch committed but not yet acknowledged may be there too, a half batch never), and restore to
the state of a fresh switchboard fed its log, with a replay that prints that fresh run's lines.
Then the same with the WAL file removed: a warning, not silence, when steps went with it.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

from store_kit import board_state

from handoff_fsm.adapters.replay import replay
from handoff_fsm.adapters.run import step_lines
from handoff_fsm.adapters.scenario import ScenarioStep, load_scenario
from handoff_fsm.adapters.store import Store, StoreWarning
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import Accept, AgentMessage, CustomerMessage, End, Event, Start
from handoff_fsm.switchboard import Switchboard

SCENARIO = Path(__file__).resolve().parent / "data" / "spec_example.yaml"
CONFIG = load_scenario(SCENARIO).config
THREADS = 4
BUDGET = 12.0  # seconds of killing; the test stops starting writers after this
KILLS = (4, 14)  # at least, at most


def call(thread: int, n: int) -> tuple[Event, str]:
    """Thread `thread`'s `n`-th step (from 0) and its delivery id, the same in child and parent."""
    cycle, k = divmod(n, 5)
    c = f"t{thread}-c{cycle}"
    steps: list[Event] = [
        Start(conversation=c, queue="support", variables={"n": cycle}),
        CustomerMessage(conversation=c, text="talk to agent"),  # escalates: an offer
        Accept(conversation=c, participant="rep-1"),  # refused if the offer went elsewhere
        AgentMessage(conversation=c, participant="rep-1", text=f"hello {cycle}"),
        End(conversation=c, participant="rep-1"),
    ]
    return steps[k], f"{thread}:{n}"


CHILD = textwrap.dedent(
    """
    import sys, threading
    from handoff_fsm.adapters.scenario import load_scenario
    from handoff_fsm.adapters.store import DurableCenter
    from handoff_fsm.errors import StepRefused
    from test_store_crash import THREADS, call

    center = DurableCenter.open(
        sys.argv[1], load_scenario(__import__("pathlib").Path(sys.argv[2])).config,
        checkpoint_every=7, batch_size=16,
    )
    done = [0] * THREADS
    for step in center.store.steps():
        thread, _ = step.step_id.split(":")
        done[int(thread)] += 1
    lock = threading.Lock()

    def produce(thread):
        n = done[thread]
        while True:
            event, step_id = call(thread, n)
            try:
                center.handle(event, step_id=step_id)
            except StepRefused:
                pass
            with lock:
                print(thread, n, flush=True)
            n += 1

    for thread in range(THREADS):
        threading.Thread(target=produce, args=(thread,), daemon=True).start()
    threading.Event().wait()
    """
)


def kill_at_random(path: Path, rng: random.Random) -> set[tuple[int, int]]:
    """Start a writer, let it acknowledge a random number of steps (0: kill it while it starts),
    wait a random few milliseconds more, SIGKILL it; return every step it acknowledged."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(SCENARIO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent,
    )
    assert child.stdout is not None and child.stderr is not None
    acknowledged: set[tuple[int, int]] = set()
    try:
        wanted = rng.choice([0, 1, 5, 20, 60, 150])
        if wanted == 0:
            time.sleep(rng.uniform(0.0, 0.4))  # somewhere in start-up, maybe creating the store
        while len(acknowledged) < wanted:
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"the writer died on its own: {child.stderr.read()}")
            thread, n = line.split()
            acknowledged.add((int(thread), int(n)))
        time.sleep(rng.uniform(0.0, 0.006))
    finally:
        child.kill()  # SIGKILL: no clean-up, no close, no checkpoint
        rest, _ = child.communicate(timeout=30)
    for line in rest.splitlines(keepends=True):
        if line.endswith("\n"):  # a line the kill cut short says nothing
            thread, n = line.split()
            acknowledged.add((int(thread), int(n)))
    return acknowledged


def check_store(path: Path, acknowledged: set[tuple[int, int]]) -> int:
    """Open the store as a fresh process would; check it; return its head."""
    with Store.open(path) as store:  # opens: the dead writer's lock is gone with it
        steps = list(store.steps())
        assert [s.seq for s in steps] == list(range(1, store.head + 1))
        logged = []
        for step in steps:
            assert step.step_id is not None
            thread, n = (int(part) for part in step.step_id.split(":"))
            assert (step.event, step.step_id) == call(thread, n)
            logged.append((thread, n))
        assert len(set(logged)) == len(logged)  # every step once
        for thread in range(THREADS):
            mine = [n for t, n in logged if t == thread]
            assert mine == list(range(len(mine)))  # in the order handed in, no hole
        assert acknowledged <= set(logged)

        fresh = Switchboard(CONFIG)
        lines: list[str] = []
        for step in steps:
            refused: StepRefused | None = None
            try:
                effects = fresh.handle(step.event, now=step.now, step_id=step.step_id)
            except StepRefused as exc:
                refused, effects = exc, list(exc.effects)
            assert (refused is not None, len(effects)) == (step.refused, step.effects)
            at = ScenarioStep(index=step.index, event=step.event, at=step.now, id=step.step_id)
            lines += step_lines(fresh, len(lines), at, effects, refused)

        restored = store.restore()
        assert restored.seq == store.head
        assert board_state(restored.switchboard) == board_state(fresh)
        out = io.StringIO()
        replay(store, out)
        assert out.getvalue() == "".join(line + "\n" for line in lines)
        return store.head


def test_killed_group_committing_writers_lose_no_acknowledged_step(tmp_path: Path) -> None:
    rng = random.Random(20261130)
    path = tmp_path / "s.db"
    acknowledged: set[tuple[int, int]] = set()
    head = 0
    started = time.monotonic()
    kills = 0
    while kills < KILLS[1] and (kills < KILLS[0] or time.monotonic() - started < BUDGET):
        acknowledged |= kill_at_random(path, rng)
        kills += 1
        if not path.exists():
            assert not acknowledged  # killed before the store was made: not half there either
            continue
        head = check_store(path, acknowledged)
    assert head > 100, "the writers were killed too early to test anything"
    leftovers = {p.name for p in tmp_path.iterdir()} - {"s.db", "s.db-lock", "s.db-wal", "s.db-shm"}
    assert all(name.startswith(".s.db.creating-") for name in leftovers), leftovers


def test_a_killed_writer_whose_wal_is_removed_gives_a_warning_not_silence(tmp_path: Path) -> None:
    rng = random.Random(7)
    warned = 0
    for trial in range(4):
        path = tmp_path / f"{trial}.db"
        acknowledged: set[tuple[int, int]] = set()
        while len(acknowledged) < 20:
            acknowledged |= kill_at_random(path, rng)
        copy = tmp_path / f"copy-{trial}.db"
        shutil.copyfile(path, copy)  # the main file and the lock's hint; the WAL left behind
        shutil.copyfile(path.with_name(path.name + "-lock"), copy.with_name(copy.name + "-lock"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Store.open(copy, readonly=True) as store:
                kept = {
                    (int(t), int(n))
                    for t, n in (s.step_id.split(":") for s in store.steps() if s.step_id)
                }
                lost = acknowledged - kept
        said = [w for w in caught if issubclass(w.category, StoreWarning)]
        if lost:
            assert said and "may be missing" in str(said[0].message), trial
            warned += 1
    assert warned > 0, "no trial lost steps with its WAL: the warning was never exercised"
