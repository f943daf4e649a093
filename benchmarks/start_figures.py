"""A conversation as handoff-fsm really makes and keeps it: a `Start` in a full switchboard.

Theory of operation: the lifecycle alone costs nothing to create (a new conversation's lifecycle
is the shared `lifecycle.NEW`), but no embedder creates a lifecycle: it sends `Start` to a
switchboard, which picks a bot, sets up the context, remembers the step id and answers with
effects. So the lifecycle suite's handoff-fsm row for "create" and "idle memory" comes from here:

- `Starts`: a switchboard restored from the warm contact center (`benchmarks.contact_center`,
  10,000 live conversations for `make bench`), and a batch that sends it `scale` new `Start`s
  (fresh ids and step ids, the crowd's queues and variables, all at the time the warm state
  ends) through `Switchboard.handle`. Batches run on the same switchboard one after another, so
  it grows by a few thousand conversations over the run (the bots have room for 30,000); a
  start costs the same at 10,000 live as at 11,000. `check` then requires every start to have
  made a live conversation, or the figure is refused.
- `memory_per_conversation`: bytes the whole warm switchboard holds (`tracemalloc`, restored
  from its pickle, after a full collection) minus those of an empty switchboard of the same
  configuration, divided by the live conversations: everything the conversations cost, the
  mix of the contact center (bot held, human held, offered, in survey), their records,
  contexts, transcripts, routing tickets and timers. Step ids remembered are not in it: the
  warm-up sends none (they grow with steps, not conversations).
"""

from __future__ import annotations

import gc
import pickle
import random

from benchmarks.contact_center import ContactCenter
from benchmarks.harness import Batch, retained_bytes
from benchmarks.internals import conversations, state_of
from benchmarks.report import Result
from handoff_fsm.events import Start
from handoff_fsm.switchboard import Switchboard

SEED = 20241130


class Starts:
    """New conversations on one warm switchboard, as many as the batches ask for."""

    def __init__(self, center: ContactCenter) -> None:
        gc.collect()
        self.board = center.restore()
        gc.collect()
        gc.freeze()
        self.live_before = len(conversations(self.board))
        self.now = center.steps[0][1] if center.steps else 0.0
        self.queues = [q.name for q in center.config.queues]
        self.rng = random.Random(SEED)
        self.made = 0

    def _events(self, count: int) -> list[tuple[Start, str]]:
        rng, events = self.rng, []
        for _ in range(count):
            self.made += 1
            variables = {"channel": rng.choice(("web", "app", "whatsapp")), "lang": "en"}
            start = Start(
                conversation=f"new-{self.made:07d}",
                queue=rng.choice(self.queues),
                variables=variables,
            )
            events.append((start, f"start-{self.made:07d}"))
        return events

    def batch(self, scale: int) -> Batch[list[tuple[Start, str]]]:
        board, now = self.board, self.now

        def run(events: list[tuple[Start, str]]) -> None:
            handle = board.handle
            for event, step_id in events:
                handle(event, now=now, step_id=step_id)

        return Batch(ops=scale, run=run, prepare=lambda: self._events(scale))

    def check(self) -> None:
        """Every start made one more conversation, live in the switchboard."""
        live = len(conversations(self.board))
        if live != self.live_before + self.made:
            raise AssertionError(
                f"{self.made} starts on {self.live_before:,} conversations left {live:,}"
            )
        last = f"new-{self.made:07d}"
        if self.made and state_of(self.board, last) is None:
            raise AssertionError(f"{last} was started but the switchboard does not know it")


def memory_per_conversation(center: ContactCenter) -> Result:
    empty = pickle.dumps(Switchboard(center.config), protocol=pickle.HIGHEST_PROTOCOL)
    live = sum(center.warm_classes.values())
    whole = retained_bytes(center.restore)
    base = retained_bytes(lambda: pickle.loads(empty))
    return Result(
        value=(whole - base) / live,
        detail={
            "conversations": live,
            "total_bytes": whole - base,
            "switchboard_bytes": whole,
            "empty_switchboard_bytes": base,
        },
    )
