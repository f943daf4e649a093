"""`handoff-fsm serve`: the command, and the service under faults (kill -9, SIGTERM, restarts).

Each fault test runs its own server on 127.0.0.1 in a subprocess, on its own data directory;
every load loop is bounded in count and time, and the server is always killed at teardown.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_server import CONFIG, ROOT, Server, need_service, running

from handoff_fsm.adapters import cli


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    yield from running(tmp_path / "data")


def _client(server: Server) -> Any:
    import httpx

    return httpx.Client(base_url=server.url, timeout=10.0)


def _feed(server: Server, **params: Any) -> list[dict[str, Any]]:
    with _client(server) as client:
        effects: list[dict[str, Any]] = []
        for _ in range(1000):  # bounded: each read moves on or ends the loop
            after = effects[-1]["seq"] if effects else 0
            more = client.get("/centers/c/effects", params={**params, "after": after}).json()
            if not more["effects"]:
                return effects
            effects += more["effects"]
    raise AssertionError("the feed did not end")


class Load:
    """`clients` threads, each posting up to `steps` steps with ids to its own conversation;
    `acknowledged` holds every answered (id, (status, body)). A thread stops when told, at its
    last step, or at the first transport error (the server went away)."""

    def __init__(self, server: Server, *, clients: int, steps: int) -> None:
        self.server, self.steps = server, steps
        self.acknowledged: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(clients)]
        for thread in self._threads:
            thread.start()

    def _run(self, number: int) -> None:
        import httpx

        with _client(self.server) as client:
            for index in range(self.steps):
                if self._stop.is_set():
                    return
                step_id = f"k{number}-{index}"
                try:
                    response = client.post("/centers/c/steps", json=_step(step_id))
                except httpx.TransportError:
                    return
                with self._lock:
                    self.acknowledged.append((step_id, (response.status_code, response.json())))

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> list[tuple[str, Any]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
            assert not thread.is_alive()
        return list(self.acknowledged)


def _step(step_id: str) -> dict[str, Any]:
    """The step a load client sends under `step_id` (`kN-I`): a start, then messages."""
    conversation, index = step_id.rsplit("-", 1)
    if index == "0":
        return {"start": {"conversation": conversation, "queue": "support"}, "id": step_id}
    return {"customer": {"conversation": conversation, "text": f"m{index}"}, "id": step_id}


def _check_every_acknowledged_step(server: Server, acknowledged: list[tuple[str, Any]]) -> None:
    lines = {line["seq"]: line for line in _feed(server)}
    seqs = [body["seq"] for _, (status, body) in acknowledged if status == 200]
    assert len(seqs) == len(set(seqs))
    for _, (status, body) in acknowledged:
        assert status == 200, body
        for effect in body["effects"]:
            assert lines[effect["seq"]] == effect
    with _client(server) as client:  # a retry, after the restart, gets the first answer
        for step_id, (status, body) in acknowledged[:: max(1, len(acknowledged) // 50)]:
            again = client.post("/centers/c/steps", json=_step(step_id))
            assert (again.status_code, again.json()) == (status, body)


def test_kill_9_under_load_loses_no_acknowledged_step(server: Server) -> None:
    with _client(server) as client:
        assert client.put("/centers/c", json=CONFIG).status_code == 201
    load = Load(server, clients=8, steps=400)
    load.wait_for(300)
    server.kill()  # in the middle of the load: steps are in flight
    taken = load.stop()
    assert 300 <= len(taken) < 8 * 400
    server.start()
    _check_every_acknowledged_step(server, taken)


def test_sigterm_finishes_the_steps_in_flight_wakes_long_polls_and_checkpoints(
    server: Server,
) -> None:
    with _client(server) as client:
        assert client.put("/centers/c", json=CONFIG).status_code == 201
    poll: dict[str, Any] = {}

    def long_poll() -> None:
        began = time.monotonic()
        with _client(server) as client:
            try:
                client.get("/centers/c/effects", params={"after": 10**9, "wait": 30})
            except Exception as exc:  # the answer or a closed connection: both end the poll
                poll["error"] = exc
        poll["took"] = time.monotonic() - began

    poller = threading.Thread(target=long_poll)
    poller.start()
    load = Load(server, clients=4, steps=100)
    load.wait_for(40)
    assert server.terminate() == 0
    taken = load.stop()
    poller.join(timeout=30)
    assert poll["took"] < 15
    wal = server.data / "c.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    server.start()
    _check_every_acknowledged_step(server, taken)


def test_the_clock_never_goes_backwards_across_a_restart(server: Server) -> None:
    ahead = time.time() + 1000
    with _client(server) as client:
        assert client.put("/centers/c", json=CONFIG).status_code == 201
        start = {"start": {"conversation": "a", "queue": "support"}, "at": ahead}
        assert client.post("/centers/c/steps", json=start).status_code == 200
    server.kill()
    server.start()
    with _client(server) as client:
        text = {"customer": {"conversation": "a", "text": "hi"}}
        assert client.post("/centers/c/steps", json=text).status_code == 200
        back = client.post("/centers/c/steps", json={**text, "at": ahead - 500})
        assert (back.status_code, back.json()["error"]["code"]) == (409, "time_backwards")


def test_timers_fire_after_a_restart_with_no_request(server: Server) -> None:
    with _client(server) as client:
        assert client.put("/centers/c", json=CONFIG).status_code == 201
        start = {"start": {"conversation": "a", "queue": "humans"}}
        assert [
            e["kind"] for e in client.post("/centers/c/steps", json=start).json()["effects"]
        ] == ["offer"]
    server.kill()
    server.start()
    with _client(server) as client:
        effects = client.get("/centers/c/effects", params={"after": 1, "wait": 10}).json()
    assert [(e["kind"], e["reason"]) for e in effects["effects"]] == [
        ("offer_withdrawn", "timeout")
    ]


def test_serve_without_the_extra_says_which_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert cli.main(["serve", "--port", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("handoff-fsm serve: install handoff-fsm[service]")
    assert "\n" not in error


def test_the_command_line_loads_without_the_service() -> None:
    code = (
        "import sys, handoff_fsm.adapters.cli as c; c.build_parser([]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'prometheus_client') or m.startswith('handoff_fsm.service')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_serve_defaults() -> None:
    args = cli.build_parser(["serve"]).parse_args(["serve"])
    assert (str(args.data), args.host, args.port) == ("handoff-data", "127.0.0.1", 8080)


def test_a_damaged_center_file_is_one_line_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_service()
    (tmp_path / "x.sqlite").write_text("not a store")
    assert cli.main(["serve", "--data", str(tmp_path), "--port", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"handoff-fsm serve: {tmp_path / 'x.sqlite'}: is not a handoff-fsm store " + (
        "(not an SQLite database)"
    )


def test_a_port_in_use_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_service()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--data", str(tmp_path), "--port", str(port)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"handoff-fsm serve: cannot listen on 127.0.0.1:{port} (")


def test_two_services_never_share_a_data_directory(server: Server) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "handoff_fsm.adapters.cli", "serve", "--data", str(server.data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2
    assert second.stderr.strip().endswith("another handoff-fsm serve uses this directory")
