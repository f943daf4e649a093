"""The service's clock never goes backwards: not when the wall clock is set back, not across a
restart (its floor is the time the center's log last reached)."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette", reason="the service extra is not installed")

from handoff_fsm.service.clock import ServiceClock


class Wall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_it_follows_the_wall_clock_forwards() -> None:
    wall = Wall(100.0)
    clock = ServiceClock(wall=wall)
    assert clock.now() == 100.0
    wall.now = 130.5
    assert clock.now() == 130.5


def test_a_wall_clock_set_back_does_not_move_it_back() -> None:
    wall = Wall(100.0)
    clock = ServiceClock(wall=wall)
    clock.now()
    wall.now = 40.0
    assert clock.now() == 100.0
    wall.now = 101.0
    assert clock.now() == 101.0


def test_it_starts_from_the_floor_a_restart_restores() -> None:
    clock = ServiceClock(floor=500.0, wall=Wall(100.0))
    assert clock.now() == 500.0 and clock.last == 500.0


def test_a_step_time_ahead_of_the_wall_moves_it() -> None:
    clock = ServiceClock(wall=Wall(100.0))
    clock.observe(250.0)
    assert clock.now() == 250.0
    clock.observe(120.0)
    assert clock.now() == 250.0
