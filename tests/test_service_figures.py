"""The service benchmark's workload is valid (no step refused) and its table renders; the
figures themselves are measured by `python -m benchmarks.service_figures`, never in a test."""

from __future__ import annotations

from benchmarks.service_figures import CONFIG, conversation_steps, render
from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.switchboard import Switchboard


def test_every_step_of_the_workload_is_applied() -> None:
    scenario = parse_scenario(
        {**CONFIG, "steps": conversation_steps(0, 20) + conversation_steps(1, 20)}, "bench"
    )
    board = Switchboard(scenario.config)
    effects = [board.handle(s.event, now=float(s.index), step_id=s.id) for s in scenario.steps]
    assert all(effects)  # every step did something: none was a duplicate or a no-op
    assert len({s.id for s in scenario.steps}) == 40


def test_the_table_names_every_figure_and_the_verdict() -> None:
    row = {"clients": 32, "steps": 10, "seconds": 1.0, "steps_per_s": 10.0, "p50_ms": 1.0}
    row.update(p99_ms=2.0, server_cpu_ms_per_step=0.5, client_cpu_ms_per_step=0.2)
    figures = {
        "http": [row, {**row, "clients": 128}],
        "http_httpx_clients": row,
        "in_process": {"durable_backend": row, "switchboard_steps_per_s": 99.0},
        "met": False,
        "cpus": 2,
        "load_average": 1.0,
    }
    table = render(figures)
    assert "HTTP, 128 clients" in table and "in-process switchboard" in table
    assert "32 clients: server 0.5 ms, load generator 0.2 ms" in table
    assert table.splitlines()[-1].split(": ")[-1].startswith("MISS")
