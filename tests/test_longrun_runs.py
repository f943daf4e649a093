"""The long-run suite's runs (`benchmarks/longrun_runs.py`) at a small size: the crowd's every step
is accepted, retention keeps what the switchboard holds bounded (and without it the same run is
seen to grow), a refused step fails the run, and the heap of the pause figure is a contact
center's mix. How fast anything is stays `make bench`'s business."""

from __future__ import annotations

import attrs
import pytest

from benchmarks import longrun_runs
from benchmarks.longrun_runs import Crowd, Window, contact_center_heap, steady
from handoff_fsm.config import Config
from handoff_fsm.events import BotMessage, Event

CONVERSATIONS, LIVE = 5_000, 50  # a window is ten times the live, as in the suite


@pytest.fixture(scope="module")
def windows() -> list[Window]:
    return steady(CONVERSATIONS, LIVE)


def test_the_steady_state_passes_every_conversation_and_stays_flat(windows: list[Window]) -> None:
    assert len(windows) == longrun_runs.WINDOWS
    assert all(w.steps > 4 * CONVERSATIONS / longrun_runs.WINDOWS for w in windows)
    first, last = windows[0], windows[-1]
    assert LIVE < first.held < 10 * LIVE  # the live ones, and the ended ones retention keeps
    assert last.held < 1.2 * first.held and last.ids < 1.2 * first.ids
    assert 0 < last.traced < 1.1 * first.traced
    assert all(w.chunks and len(w.cpu_share) == len(w.chunks) for w in windows)
    assert set(first.as_json()) >= {"traced", "resident", "step_us", "cpu_us", "held", "ids"}


def test_without_retention_the_same_run_is_seen_to_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    keeping = longrun_runs.steady_config

    def kept_for_ever(live: int) -> Config:
        config = keeping(live)
        settings = attrs.evolve(config.settings, retention=None, dedup_window=None)
        return attrs.evolve(config, settings=settings)

    monkeypatch.setattr(longrun_runs, "steady_config", kept_for_ever)
    grown = steady(CONVERSATIONS, LIVE)
    assert grown[-1].held > 5 * grown[0].held
    assert grown[-1].traced > 3 * grown[0].traced


def test_a_refused_step_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    event_of = Crowd._event

    def wrong_bot(self: Crowd, conversation: longrun_runs.Conversation, kind: str) -> Event:
        if kind == "bot":
            return BotMessage(conversation=conversation.id, participant="nobody", text="hi")
        return event_of(self, conversation, kind)

    monkeypatch.setattr(Crowd, "_event", wrong_bot)
    with pytest.raises(AssertionError, match="steps of the steady state were refused"):
        steady(100, 10)


def test_the_pause_heap_is_a_contact_centers_mix() -> None:
    board, mix = contact_center_heap(4_000)
    assert sum(mix.values()) == len(board.conversations()) == 4_000
    assert mix["bot_active"] > 0.8 * 4_000
    assert min(mix["agent_engaged"], mix["offered"], mix["waiting"]) > 0
    assert mix["agent_engaged"] > mix["offered"]
