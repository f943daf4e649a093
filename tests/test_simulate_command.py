"""`handoff-fsm simulate`: the table, the JSON, the plot, and one clear line for every bad file.

The runs are short (a few hours of a small center); what the figures mean is tested in
tests/test_simulate.py. Here: the command prints what the run measured, the same bytes every
time, ignores a scenario's steps, and refuses a bad `simulation` key (or a missing plotting
extra, or an unwritable plot) with exit status 2 and one line on standard error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from handoff_fsm.adapters.cli import main
from handoff_fsm.adapters.simulate import load_simulation
from handoff_fsm.planning.simulate import simulate

DAY = Path(__file__).resolve().parent.parent / "docs" / "simulate" / "day.yaml"


def center(**simulation: object) -> dict[str, Any]:
    return {
        "simulation": {
            "duration": 7200,
            "seed": 5,
            "arrivals": {"support": 60, "sales": 20},
            "handle_time": 240,
            "patience": 180,
            "answer_within": 30,
            "accept_delay": 3,
        }
        | simulation,
        "participants": {
            "ann": {"kind": "human", "capacity": 2},
            "bob": {"kind": "human"},
            "cat": {"kind": "human"},
            "bot": {"kind": "bot", "capacity": 100},
        },
        "queues": {
            "support": {"participants": ["ann", "bob"]},
            "sales": {"participants": ["cat"]},
            "bots": {"participants": ["bot"]},
        },
    }


def write(tmp_path: Path, data: object, name: str = "center.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def simulate_cli(
    capsys: pytest.CaptureFixture[str], *args: str | Path
) -> tuple[int, str, list[str]]:
    status = main(["simulate", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


def test_json_gives_every_figure_per_queue_and_in_total(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = simulate_cli(capsys, write(tmp_path, center()), "--json")
    assert (status, err) == (0, [])
    report = json.loads(out)
    assert list(report) == ["queues", "total"] and list(report["queues"]) == ["support", "sales"]
    keys = ["offered", "answered", "abandoned", "unserved", "service_level", "asa", "p_wait"]
    assert list(report["total"]) == [*keys, "occupancy", "estimate_error"]
    support, sales, total = report["queues"]["support"], report["queues"]["sales"], report["total"]
    assert total["offered"] == support["offered"] + sales["offered"] > 100
    assert total["abandoned"] == support["abandoned"] + sales["abandoned"]
    assert 0 < sales["occupancy"] <= 1 and 0 < total["service_level"] < 1
    assert total["estimate_error"] > 0  # queued effects carry estimated_wait (docs/routing.md)


def test_the_json_is_the_run_the_planning_package_makes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, center())
    _, out, _ = simulate_cli(capsys, path, "--json")
    run = simulate(*load_simulation(path))
    assert json.loads(out)["queues"]["sales"] == run.figures("sales").as_json()


def test_the_same_file_prints_the_same_bytes_and_another_seed_other_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, center())
    first = simulate_cli(capsys, path)
    assert first == simulate_cli(capsys, path)
    assert first[1] != simulate_cli(capsys, write(tmp_path, center(seed=6), "other.yaml"))[1]


def test_the_table_has_a_row_per_queue_and_the_total(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = simulate_cli(capsys, write(tmp_path, center()))
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == [
        "queue", "offered", "answered", "abandoned", "service_level", "asa", "p_wait",
        "occupancy", "estimate_error",
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[1:4]] == ["support", "sales", "total"]
    assert lines[3].endswith(" s") and "%" in lines[3]
    assert lines[4].endswith("service level = answered within 30 s / offered")


def test_steps_are_ignored_and_json_files_are_read_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = simulate_cli(capsys, write(tmp_path, center()), "--json")
    with_steps = center() | {"steps": [{"start": {"conversation": "x", "queue": "support"}}]}
    path = tmp_path / "center.json"
    path.write_text(json.dumps(with_steps), encoding="utf-8")
    assert simulate_cli(capsys, path, "--json") == plain


BAD = [
    ({"simulation": None}, "simulation: must be a mapping, got null"),
    ({"simulation": {"arrivals": {"support": 1}, "handle_time": 1}}, "simulation.duration: is"),
    ({"simulation": {"colour": "red"}}, "simulation.colour: unknown key"),
    ({"duration": -5}, "simulation.duration: must be a number of seconds > 0, got -5"),
    ({"duration": None}, "simulation.duration: must be a number of seconds > 0, got null"),
    ({"handle_time": "long"}, "simulation.handle_time: must be a number, got text"),
    ({"seed": 1.5}, "simulation.seed: must be a whole number >= 0"),
    ({"patience": 0}, "simulation.patience: must be a number of seconds > 0, got 0"),
    ({"accept_delay": -1}, "simulation.accept_delay: must be a number >= 0"),
    ({"arrivals": {}}, "simulation.arrivals: is empty"),
    ({"arrivals": {"nowhere": 5}}, "simulation.arrivals.nowhere: names undefined queue"),
    ({"arrivals": {"bots": 5}}, "simulation.arrivals.bots: queue 'bots' has no human member"),
    ({"arrivals": {"support": -1}}, "simulation.arrivals.support: must be a number >= 0"),
    ({"arrivals": {"support": True}}, "simulation.arrivals.support: must be a number, got a"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_simulation_key_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], message: str
) -> None:
    data = center() | change if "simulation" in change else center(**change)
    status, out, err = simulate_cli(capsys, write(tmp_path, data))
    assert (status, out, len(err)) == (2, "", 1)
    assert message in err[0] and err[0].startswith("handoff-fsm simulate: ")


def test_a_queue_with_a_bot_is_refused_because_arrivals_ask_for_humans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = center(arrivals={"support": 5})
    data["queues"]["support"]["participants"].append("bot")
    status, _, err = simulate_cli(capsys, write(tmp_path, data))
    assert status == 2 and "queue 'support' has bot members" in err[0]


def test_a_missing_simulation_key_and_a_bad_deployment_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = center()
    del data["simulation"]
    assert simulate_cli(capsys, write(tmp_path, data))[2][0].endswith(
        "simulation: is missing (duration, arrivals, handle_time, ...; SPEC §9)"
    )
    data = center()
    data["queues"]["sales"]["participants"] = ["zed"]
    status, _, err = simulate_cli(capsys, write(tmp_path, data))
    assert status == 2 and "queues.sales.participants[0]: names undefined participant" in err[0]
    status, _, err = simulate_cli(capsys, tmp_path / "absent.yaml")
    assert status == 2 and len(err) == 1 and "cannot be read" in err[0]


def test_plot_draws_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (handoff-fsm[plot]) is not installed")
    out = tmp_path / "day.png"
    status, table, _ = simulate_cli(capsys, write(tmp_path, center()), "--plot", out)
    assert status == 0 and table.startswith("queue")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_plot_into_a_missing_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (handoff-fsm[plot]) is not installed")
    out = tmp_path / "no" / "such" / "day.png"
    status, _, err = simulate_cli(capsys, write(tmp_path, center()), "--plot", out)
    assert status == 2 and len(err) == 1 and f"cannot write {out}" in err[0]


def test_plot_without_matplotlib_names_the_extra_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "day.png"
    status, table, err = simulate_cli(capsys, write(tmp_path, center()), "--plot", out)
    assert (status, table) == (2, "")
    assert err == ["handoff-fsm simulate: --plot needs matplotlib: install handoff-fsm[plot]"]
    assert not out.exists()


def test_the_documented_day_is_about_twenty_thousand_conversations_of_fifty_agents() -> None:
    config, spec = load_simulation(DAY)
    humans = [p for p in config.participants if p.kind == "human"]
    assert len(humans) == 50 and spec.duration == 86_400
    expected = sum(spec.arrivals.values()) * spec.duration / 3600
    assert 19_000 < expected < 21_000
