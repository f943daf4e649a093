"""The PostgreSQL bench suite: it skips itself without a server; with one, it measures catch-ups."""

from __future__ import annotations

import pytest
from pg_kit import need_psycopg, server_url

from benchmarks import postgres_figures
from benchmarks.harness import QUICK


def test_without_a_server_the_suite_skips_itself_with_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(postgres_figures.ENV, raising=False)
    result = postgres_figures.run(QUICK, lambda line: None)
    assert result.figures == [] and result.targets == []
    assert result.notes[0].startswith("skipped: no PostgreSQL server")


def test_the_catch_up_figure_times_each_hand_over_and_a_cold_start() -> None:
    need_psycopg()
    cost = postgres_figures.catch_up(server_url(), (1, 20))
    assert set(cost) == {"k1", "k20", "warm", "cold", "cold_steps"}
    # the cold process replayed every step logged: B warm 1, A 1 + 20, B 1 after each, B 1 more
    assert cost["cold_steps"] == 1 + (1 + 1) + (20 + 1) + 1
    assert all(cost[key] > 0 for key in ("k1", "k20", "warm", "cold"))
