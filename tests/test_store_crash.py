"""Kill the writer at random moments: what was acknowledged survives, and the store still opens.

A child process opens a durable switchboard on a store (on the real disk, as in production) and
hands it an endless, deterministic stream of steps (conversations that escalate, are accepted,
refused steps, retried ids, surveys that time out), printing each step's `seq` once `handle` has
returned, that is, once the step is acknowledged. The parent SIGKILLs it at random points (while
it writes a step, a snapshot, a checkpoint, or before the store even exists) and starts it again
on the same store, a few times. After each kill the store must open, hold every acknowledged
step (and at most the one that was committed but not yet printed), hold exactly the steps the
child handed in, in order, and restore to the state of a fresh switchboard fed its log, with a
replay that prints that fresh run's lines.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from state_dump import plain

from handoff_fsm.adapters.replay import replay
from handoff_fsm.adapters.run import step_lines
from handoff_fsm.adapters.scenario import ScenarioStep, load_scenario
from handoff_fsm.adapters.store import Store
from handoff_fsm.errors import StepRefused
from handoff_fsm.events import (
    Accept,
    AgentMessage,
    CustomerMessage,
    End,
    Event,
    Start,
    Tick,
)
from handoff_fsm.switchboard import Switchboard

SCENARIO = Path(__file__).resolve().parent / "data" / "spec_example.yaml"
CONFIG = load_scenario(SCENARIO).config
BUDGET = 12.0  # seconds of killing; the test stops starting writers after this
KILLS = (3, 12)  # at least, at most


def call(n: int) -> tuple[Event, float | None, str | None]:
    """The child's `n`-th call (from 0): the same in child and parent, so the parent can check
    the log holds exactly what was handed in."""
    cycle, k = divmod(n, 8)
    c, base = f"c{cycle}", 400.0 * cycle
    steps: list[tuple[Event, str | None]] = [
        (Start(conversation=c, queue="support", variables={"n": cycle}), f"start-{cycle}"),
        (CustomerMessage(conversation=c, text="talk to agent"), None),  # escalates: offer
        (Accept(conversation=c, participant="rep-1"), None),
        (AgentMessage(conversation=c, participant="rep-1", text=f"hello {cycle}"), None),
        (Accept(conversation=c, participant="rep-1"), None),  # refused: no offer now
        (Start(conversation=c, queue="support"), f"start-{cycle}"),  # a retried delivery
        (End(conversation=c, participant="rep-1", survey=True), None),
        (Tick(now=base + 350), None),  # the survey times out
    ]
    event, step_id = steps[k]
    return event, None if isinstance(event, Tick) else base + k, step_id


CHILD = textwrap.dedent(
    """
    import sys
    from handoff_fsm.adapters.scenario import load_scenario
    from handoff_fsm.adapters.store import DurableSwitchboard
    from handoff_fsm.errors import StepRefused
    from test_store_crash import call

    board = DurableSwitchboard.open(
        sys.argv[1], load_scenario(__import__("pathlib").Path(sys.argv[2])).config,
        checkpoint_every=5,
    )
    while True:
        event, now, step_id = call(board.seq)
        try:
            board.handle(event, now=now, step_id=step_id)
        except StepRefused:
            pass
        print(board.seq, flush=True)
    """
)


def kill_at_random(path: Path, rng: random.Random) -> list[int]:
    """Start a writer, let it acknowledge a random number of steps (0: kill it while it starts),
    wait a random few milliseconds more, SIGKILL it; return every seq it acknowledged."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(SCENARIO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent,
    )
    assert child.stdout is not None and child.stderr is not None
    acknowledged: list[int] = []
    try:
        wanted = rng.choice([0, 1, 3, 8, 20, 45])
        if wanted == 0:
            time.sleep(rng.uniform(0.0, 0.4))  # somewhere in start-up, maybe creating the store
        while len(acknowledged) < wanted:
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"the writer died on its own: {child.stderr.read()}")
            acknowledged.append(int(line))
        time.sleep(rng.uniform(0.0, 0.006))
    finally:
        child.kill()  # SIGKILL: no clean-up, no close, no snapshot
        rest, _ = child.communicate(timeout=30)
    return acknowledged + [int(line) for line in rest.split()]


def check_store(path: Path, acknowledged: int) -> int:
    """Open the store as a fresh process would; check it; return its head."""
    with Store.open(path) as store:  # opens: the dead writer's lock is gone with it
        steps = list(store.steps())
        head = store.head
        assert acknowledged <= head <= acknowledged + 1, (acknowledged, head)
        assert [s.seq for s in steps] == list(range(1, head + 1))
        assert [s.call for s in steps] == [call(n) for n in range(head)]

        fresh = Switchboard(CONFIG)
        lines: list[str] = []
        for logged in steps:
            refused: StepRefused | None = None
            try:
                effects = fresh.handle(logged.event, now=logged.now, step_id=logged.step_id)
            except StepRefused as exc:
                refused, effects = exc, list(exc.effects)
            assert (refused is not None, len(effects)) == (logged.refused, logged.effects)
            step = ScenarioStep(index=logged.index, event=logged.event, at=logged.now)
            lines += step_lines(fresh, len(lines), step, effects, refused)

        restored = store.restore()
        assert restored.seq == head
        assert plain(restored.switchboard) == plain(fresh)
        out = io.StringIO()
        replay(store, out)
        assert out.getvalue() == "".join(line + "\n" for line in lines)
    return head


def test_killed_writers_lose_no_acknowledged_step_and_leave_a_store_that_opens(
    tmp_path: Path,
) -> None:
    rng = random.Random(20240517)
    path = tmp_path / "s.db"
    head = 0  # the log's last seq, as the last check found it
    started = time.monotonic()
    kills = 0
    while kills < KILLS[1] and (kills < KILLS[0] or time.monotonic() - started < BUDGET):
        seqs = kill_at_random(path, rng)
        kills += 1
        assert seqs == list(range(head + 1, head + 1 + len(seqs)))  # went on from the log's end
        if not path.exists():
            assert not seqs  # killed before the store was made: it is not half there either
            continue
        head = check_store(path, max(seqs, default=head))
    assert head > 20, "the writers were killed too early to test anything"
    leftovers = {p.name for p in tmp_path.iterdir()} - {"s.db", "s.db-lock", "s.db-wal", "s.db-shm"}
    assert all(name.startswith(".s.db.creating-") for name in leftovers), leftovers
