"""A backlog that one human lets time out: the switchboards, the timed ticks and the figure of
the routing rules suite (`benchmarks.routing_rules_figures`).

Theory of operation:

- The figure (`routing_rules.backlog`): a real `Switchboard` whose one queue has `backlog`
  conversations waiting for a human (`BACKLOG` for `make bench`), one human H available with
  capacity 1 who lets every offer time out (`offer_timeout`; the wait timeout is far away), one
  human busy and three away. Each `Tick` to the next offer deadline fires one timeout: H is
  excluded from that wait (declined) and the next wait is offered to H. The figure is the cost
  of such a tick, measured on two switchboards side by side, interleaved: `start`, where nothing
  has excluded H yet, and `end`, where all but `MEASURED` of the waits have. Target: end within
  2x of start.
- The end state is built through steps only (starts, ticks, one presence), but in an order
  that is cheap whatever the router does: waits arrive in blocks of rising priority
  (`PRIORITIES`), each block just before the last wait of the one below times out, so the wait
  H is offered next is always ahead of those H declined. The measured waits have the lowest
  priority: every declined wait is ahead of them in line, as in a plain first-come backlog at
  its end. The start switchboard gets the same starts, with H away until all have arrived, so
  the two lines differ only in what H has declined. A tick's effects must be exactly one
  `offer_withdrawn` (timeout) and one `offer`, both to H, and each side's line must be what it
  claims before timing (`check_backlog`), or the figure is refused.
- Both sides consume their backlog as batches run, so the batch scale is capped (`MAX_TICKS`)
  and the measured waits outnumber what one pass of the harness can take (`ticks_needed`).
  The switchboards are built before timing and frozen out of the collector's sight
  (`gc.freeze`), as in the routing suite.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.harness import Batch, Settings, measure_all
from benchmarks.internals import router_of
from benchmarks.report import Figure, Result
from benchmarks.routing_figures import QUEUE
from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.effects import Effect, Offer, OfferWithdrawn
from handoff_fsm.events import Accept, Presence, PresenceStatus, Start, Tick, Wanted
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.vocabulary import WithdrawReason

Log = Callable[[str], None]

BACKLOG = 20_000
QUICK_BACKLOG = 2_000
#: Waits left that H has not excluded yet, on the end side: what the timed ticks consume.
MEASURED = 2_000
QUICK_MEASURED = 200
MAX_TICKS = 16  # timeouts per timed batch at most (the harness's calibration doubles up to it)
OFFER_TIMEOUT = 30.0
WAIT_TIMEOUT = 1e9
HUMAN = "H"
BUSY = "B"
AWAY = ("A1", "A2", "A3")
LOWEST = -1000  # the contract's priorities: -1000 to 1000
PRIORITIES = 2000  # -999 .. 1000: the levels the declined waits are spread over


def ticks_needed(settings: Settings) -> int:
    """Timeouts one `measure_all` pass can take from a side, at most."""
    cap = min(settings.max_scale, MAX_TICKS)
    calibration = sum(1 << n for n in range(cap.bit_length()))
    return calibration + (settings.warmup + settings.repetitions) * cap


def backlog_config() -> Config:
    people = [
        ParticipantSpec(id=HUMAN, kind=Kind.HUMAN, capacity=1, presence=PresenceStatus.AWAY),
        ParticipantSpec(id=BUSY, kind=Kind.HUMAN, capacity=1),
        *(
            ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=2, presence=PresenceStatus.AWAY)
            for pid in AWAY
        ),
    ]
    queue = QueueSpec(
        name=QUEUE,
        members=tuple(p.id for p in people),
        offer_timeout=OFFER_TIMEOUT,
        wait_timeout=WAIT_TIMEOUT,
    )
    return Config.build(people, [queue])


@dataclass
class Backlog:
    """One side of the backlog figure: a switchboard where H holds an offer, and the waits."""

    key: str  # "start" or "end"
    board: Switchboard
    declined: int  # waits H has excluded before timing
    offerable: int  # waits H has not excluded: how many timeouts this side can still fire
    ticks: int = 0  # timeouts fired since it was built


def _start(board: Switchboard, cid: str, priority: int) -> None:
    board.handle(
        Start(conversation=cid, queue=QUEUE, kind=Wanted.HUMAN, priority=priority), now=board.now
    )


def tick(board: Switchboard) -> list[Effect]:
    """Time moves to the deadline of the offer out: it fires, and the next wait is offered."""
    return board.handle(Tick(now=board.now + OFFER_TIMEOUT))


def _blocks(declined: int) -> list[list[str]]:
    """The waits H is to decline, in blocks of one priority each (`PRIORITIES` at most)."""
    size = max(1, math.ceil(declined / PRIORITIES))
    ids = [f"declined-{n:06d}" for n in range(declined)]
    return [ids[n : n + size] for n in range(0, declined, size)]


def build_backlog(key: str, backlog: int, measured: int, *, excluded: bool) -> Backlog:
    """`backlog` waits: `measured` at the lowest priority, the rest in blocks of rising
    priority ahead of them; with `excluded`, H has let every wait of the blocks time out."""
    board = Switchboard(backlog_config())
    _start(board, "busy", 0)
    board.handle(Accept(conversation="busy", participant=BUSY), now=board.now)
    for n in range(measured):
        _start(board, f"measured-{n:06d}", LOWEST)
    blocks = _blocks(backlog - measured)
    available = Presence(participant=HUMAN, status=PresenceStatus.AVAILABLE)
    if not excluded:
        for level, block in enumerate(blocks):
            for cid in block:
                _start(board, cid, LOWEST + 1 + level)
        board.handle(available, now=board.now)
        return Backlog(key, board, declined=0, offerable=backlog)
    for level, block in enumerate(blocks):
        for cid in block:
            _start(board, cid, LOWEST + 1 + level)
        if level == 0:
            board.handle(available, now=board.now)
        else:  # the last wait of the block below times out: H gets this block's first
            tick(board)
        for _ in block[1:]:
            tick(board)
    # H now holds the offer of the last declined wait: the first timed tick declines it.
    return Backlog(key, board, declined=backlog - measured - 1, offerable=measured + 1)


def check_backlog(side: Backlog, backlog: int) -> None:
    """The side is what it claims, or the figure is refused: every wait still in line, H
    excluded from `declined` of them, all ahead of the measured ones (only the wait on offer to
    H is among them)."""
    router = router_of(side.board)
    excluded = [HUMAN in router.declined(cid) for cid in router.line(QUEUE)]
    ahead = side.declined + 1
    if len(excluded) != backlog or sum(excluded[:ahead]) != side.declined or any(excluded[ahead:]):
        raise AssertionError(
            f"{side.key}: {len(excluded):,} waits in line, H excluded from {sum(excluded):,};"
            f" expected {backlog:,}, and H excluded from {side.declined:,} at their head"
        )


def check_tick(effects: list[Effect]) -> None:
    """A tick fires one timeout: H's offer withdrawn, the next wait offered to H."""
    kinds = [(type(e).__name__, getattr(e, "to", None)) for e in effects]
    timed_out = [e for e in effects if isinstance(e, OfferWithdrawn)]
    offered = [e for e in effects if isinstance(e, Offer)]
    if (
        len(effects) != 2
        or len(timed_out) != 1
        or len(offered) != 1
        or timed_out[0].reason is not WithdrawReason.TIMEOUT
        or {timed_out[0].to, offered[0].to} != {HUMAN}
    ):
        raise AssertionError(f"a tick should fire one offer timeout and one offer to H: {kinds}")


def tick_batch(side: Backlog, scale: int) -> Batch[list[list[Effect]]]:
    board = side.board

    def prepare() -> list[list[Effect]]:
        if side.ticks + scale > side.offerable:
            raise AssertionError(f"{side.key}: the backlog ran out of waits to time out")
        side.ticks += scale
        return []

    def run(out: list[list[Effect]]) -> None:
        for _ in range(scale):
            out.append(tick(board))

    def cleanup(out: list[list[Effect]]) -> None:
        for effects in out:
            check_tick(effects)

    return Batch(ops=scale, run=run, prepare=prepare, cleanup=cleanup)


def measure(settings: Settings, log: Log) -> tuple[Figure, list[str]]:
    backlog = QUICK_BACKLOG if settings.quick else BACKLOG
    measured = QUICK_MEASURED if settings.quick else MEASURED
    needed = ticks_needed(settings)
    if needed > measured:
        raise AssertionError(f"{measured} measured waits, but a pass may time out {needed}")
    log(f"routing_rules: building two backlogs of {backlog:,} waits")
    sides = [
        build_backlog("start", backlog, measured, excluded=False),
        build_backlog("end", backlog, measured, excluded=True),
    ]
    for side in sides:
        check_backlog(side, backlog)
    gc.collect()
    gc.freeze()
    log("routing_rules: offer timeouts at the start and at the end of the backlog")
    capped = dataclasses.replace(settings, max_scale=min(settings.max_scale, MAX_TICKS))
    timings = measure_all({s.key: functools.partial(tick_batch, s) for s in sides}, capped)
    figure = Figure(
        key="routing_rules.backlog",
        title="offer timeout",
        unit="us",
        description=(
            f"a tick that fires one offer timeout in a switchboard where {backlog:,} waits"
            " queue for a human and the one available human lets every offer time out: at the"
            " start (nothing declined yet) and at the end (that human excluded from all but"
            f" {measured:,} of the waits)"
        ),
        baseline="start",
        results={
            s.key: Result.of_timing(timings[s.key]).with_detail(
                waits=backlog, declined_before=s.declined, timeouts_fired=s.ticks
            )
            for s in sides
        },
    )
    notes = [
        f"backlog: {backlog:,} waits; timeouts fired while timing: "
        + ", ".join(f"{s.key} {s.ticks:,} (after {s.declined:,} declined)" for s in sides)
    ]
    return figure, notes
