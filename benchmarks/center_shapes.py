"""The sizes of synthetic contact center the benchmarks build, and the configuration of one.

Theory of operation: a `Shape` says how many bots, humans, queues and live conversations, how
long to warm up and how many steps to record; `make_config` turns it into a switchboard
`Config`, deterministically from a seeded `random.Random` (see `benchmarks.contact_center` for
the crowd that then plays on it). `FULL_SHAPE` is the balanced center of `make bench`,
`FULL_BACKLOG_SHAPE` the one that cannot keep up (long lines in every queue); the `QUICK_`
shapes are a tenth the size, for `--quick` and the tests.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from handoff_fsm.config import (
    Config,
    Kind,
    Overflow,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    ParticipantSpec,
    QueueSpec,
    Settings,
    Strategy,
)


@dataclass(frozen=True, kw_only=True)
class Shape:
    """How big a contact center to make, and how long to run it."""

    bots: int
    humans: int
    queues: int
    live: int  # conversations kept live (not ended)
    warmup_steps: int  # steps after the live count is first reached, before the stream
    stream_steps: int
    window: int  # consecutive steps one timed batch replays (see benchmarks.switchboard_figures)
    mean_gap: float = 0.005  # simulated seconds between two steps, on average
    seed: int = 20241121
    #: Every queue's wait timeout, when set (a backlog needs waits that outlive the run).
    wait_timeout: float | None = None
    #: Changes to the crowd's `WEIGHTS`, as (kind, weight) pairs.
    weights: tuple[tuple[str, float], ...] = ()

    @property
    def backlog(self) -> bool:
        return self.wait_timeout is not None


FULL_SHAPE = Shape(
    bots=300,
    humans=700,
    queues=10,
    live=10_000,
    warmup_steps=80_000,
    stream_steps=16_384,
    window=128,
)
QUICK_SHAPE = dataclasses.replace(
    FULL_SHAPE,
    bots=30,
    humans=70,
    live=1_000,
    warmup_steps=8_000,
    stream_steps=512,
    window=16,
    mean_gap=0.05,
)
#: A center that cannot keep up: fewer humans, three times the escalations, and waits that
#: never run out inside the run, so every queue builds a long line (hundreds to a thousand
#: waiting each) and every step routes against it.
BACKLOG_WAIT = 3600.0
BACKLOG_WEIGHTS = (("escalate", 15.0),)
FULL_BACKLOG_SHAPE = dataclasses.replace(
    FULL_SHAPE,
    humans=100,
    warmup_steps=80_000,
    wait_timeout=BACKLOG_WAIT,
    weights=BACKLOG_WEIGHTS,
)
QUICK_BACKLOG_SHAPE = dataclasses.replace(
    QUICK_SHAPE, humans=10, wait_timeout=BACKLOG_WAIT, weights=BACKLOG_WEIGHTS
)


def make_config(shape: Shape, rng: random.Random) -> Config:
    bots = [
        ParticipantSpec(id=f"bot-{n:03d}", kind=Kind.BOT, capacity=100) for n in range(shape.bots)
    ]
    humans = [
        ParticipantSpec(id=f"agent-{n:03d}", kind=Kind.HUMAN, capacity=rng.randint(3, 8))
        for n in range(shape.humans)
    ]
    members: list[list[str]] = [[] for _ in range(shape.queues)]
    for n, bot in enumerate(bots):
        home = n % shape.queues
        members[home].append(bot.id)
        members[(home + 1) % shape.queues].append(bot.id)
    for n, human in enumerate(humans):
        home = n % shape.queues
        members[home].append(human.id)
        if rng.random() < 0.3:
            other = (home + rng.randint(1, shape.queues - 1)) % shape.queues
            members[other].append(human.id)
    strategies = list(Strategy)
    queues = []
    for n in range(shape.queues):
        rng.shuffle(members[n])
        overflow: Overflow = (
            OverflowEnd(),
            OverflowReturnToBot(),
            OverflowTransfer(queue=f"queue-{(n + 1) % shape.queues}"),
        )[n % 3]
        wait_timeout = float(rng.choice((120, 180, 300)))
        queues.append(
            QueueSpec(
                name=f"queue-{n}",
                members=tuple(members[n]),
                strategy=strategies[n % len(strategies)],
                units=2 if n == shape.queues - 1 else 1,
                offer_timeout=float(rng.choice((20, 30, 45))),
                wait_timeout=wait_timeout if shape.wait_timeout is None else shape.wait_timeout,
                overflow=overflow,
            )
        )
    return Config.build(bots + humans, queues, Settings(survey_timeout=120.0))
