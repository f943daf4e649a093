"""The service's clock: Unix time in seconds that never goes backwards.

Theory of operation: a center's time is the largest time its switchboard was ever given, and the
switchboard's log keeps it (a restored switchboard's `now` is that time). So the clock of a center
starts from that floor when the center is opened, and answers `max(wall clock, last answer)`: a
wall clock set back (NTP, a restored VM, a restart on another machine) never makes a step go back
in time, and a step that carried its own `at` in the future moves the floor with it.

Rules: one clock per center, shared by the event loop (timers) and the center's writer thread,
hence the lock. The wall clock is injected so that tests can set it back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ServiceClock:
    def __init__(self, *, floor: float = 0.0, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._last = floor
        self._lock = threading.Lock()

    def now(self) -> float:
        """The time for the next step: never below any earlier answer or observed time."""
        with self._lock:
            self._last = max(self._wall(), self._last)
            return self._last

    def observe(self, moment: float) -> None:
        """A step was given `moment` (its own `at`): later answers are at least that."""
        with self._lock:
            self._last = max(self._last, moment)

    @property
    def last(self) -> float:
        with self._lock:
            return self._last


__all__ = ["ServiceClock"]
