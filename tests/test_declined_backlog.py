"""The backlog figure measures what it says: the end side really has the one human excluded
from every wait ahead of the measured ones, the start side has the same line with nothing
declined, each timed tick fires exactly one offer timeout and one offer, a side never runs past
its backlog, and a side whose line is not what it claims is refused. Nothing here asserts how
fast anything is."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks import declined_backlog as backlog
from benchmarks import routing_figures
from benchmarks.harness import FULL, QUICK
from benchmarks.internals import router_of
from handoff_fsm.effects import Offer, OfferWithdrawn
from handoff_fsm.vocabulary import WithdrawReason

BACKLOG, MEASURED = 300, 40  # small sides: building them takes milliseconds


def test_the_end_side_has_the_human_excluded_from_every_wait_ahead_of_the_measured() -> None:
    end = backlog.build_backlog("end", BACKLOG, MEASURED, excluded=True)
    assert (end.declined, end.offerable) == (BACKLOG - MEASURED - 1, MEASURED + 1)
    backlog.check_backlog(end, BACKLOG)
    router = router_of(end.board)
    line = router.line(routing_figures.QUEUE)
    ahead = line[: end.declined + 1]
    assert [cid for cid in ahead if router.offer_of(cid) == backlog.HUMAN] == [
        cid for cid in ahead if backlog.HUMAN not in router.declined(cid)
    ]
    assert all(cid.startswith("measured-") for cid in line[end.declined + 1 :])


def test_blocks_of_several_waits_per_priority_build_the_same_kind_of_end() -> None:
    waits = backlog.PRIORITIES * 3 + MEASURED  # three waits at each priority
    end = backlog.build_backlog("end", waits, MEASURED, excluded=True)
    backlog.check_backlog(end, waits)
    assert end.declined == waits - MEASURED - 1


def test_the_start_side_has_the_same_line_and_nothing_declined() -> None:
    start = backlog.build_backlog("start", BACKLOG, MEASURED, excluded=False)
    end = backlog.build_backlog("end", BACKLOG, MEASURED, excluded=True)
    backlog.check_backlog(start, BACKLOG)
    start_line = router_of(start.board).line(routing_figures.QUEUE)
    assert start_line == router_of(end.board).line(routing_figures.QUEUE)
    assert start.declined == 0
    with pytest.raises(AssertionError, match="H excluded from 0"):
        backlog.check_backlog(dataclasses.replace(start, declined=5), BACKLOG)


@pytest.mark.parametrize("excluded", [False, True], ids=["start", "end"])
def test_each_timed_tick_fires_one_offer_timeout_and_one_offer(excluded: bool) -> None:
    side = backlog.build_backlog("side", BACKLOG, MEASURED, excluded=excluded)
    batch = backlog.tick_batch(side, 8)
    out = batch.prepare()
    batch.run(out)
    batch.cleanup(out)  # check_tick on every tick's effects
    assert len(out) == 8 and side.ticks == 8
    for effects in out:
        withdrawn, offer = effects
        assert isinstance(withdrawn, OfferWithdrawn) and isinstance(offer, Offer)
        assert withdrawn.reason is WithdrawReason.TIMEOUT
        assert withdrawn.conversation != offer.conversation
    declined = sum(
        backlog.HUMAN in router_of(side.board).declined(cid)
        for cid in router_of(side.board).line(routing_figures.QUEUE)
    )
    assert declined == side.declined + 8


def test_a_tick_that_fires_no_timeout_is_refused() -> None:
    side = backlog.build_backlog("end", BACKLOG, MEASURED, excluded=True)
    with pytest.raises(AssertionError, match="one offer timeout"):
        backlog.check_tick([])
    with pytest.raises(AssertionError, match="one offer timeout"):
        backlog.check_tick(backlog.tick(side.board) * 2)


def test_a_side_never_runs_past_its_backlog() -> None:
    side = backlog.build_backlog("end", BACKLOG, MEASURED, excluded=True)
    with pytest.raises(AssertionError, match="ran out of waits"):
        backlog.tick_batch(side, MEASURED + 2).prepare()
    assert backlog.ticks_needed(FULL) <= backlog.MEASURED
    assert backlog.ticks_needed(QUICK) <= backlog.QUICK_MEASURED
