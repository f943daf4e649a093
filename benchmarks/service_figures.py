"""Service figures: acknowledged steps per second and latency of `handoff-fsm serve` under load.

Theory of operation: `service_figures()` starts a real `handoff-fsm serve` (uvicorn, the durable
SQLite default, `synchronous=FULL`) in a subprocess on 127.0.0.1, creates a center, and runs 32
and then 128 concurrent clients against it, each on its own keep-alive connection, each sending
its next step as soon as the last one is acknowledged (a closed loop). A step is counted when its
200 answer arrived: the answer is the acknowledgement, so the figure is durable steps per second.
Latency is per request, from send to the last byte of the answer. Beside it, the same steps run
in-process (the service's backend, durable, without HTTP; and the bare `Switchboard`), so the
cost of HTTP and of durability can be told apart.

- The workload is conversations of six steps (start, customer, bot, customer, bot, end by the
  bot), each step with an `id` (so the retry table is written, as a real client would make it).
- The clients speak HTTP/1.1 with the standard library (`asyncio` streams), not httpx: on a
  2-core machine the load generator shares the cores with the server, and httpx's client costs
  several times the server's CPU per request, so it would measure itself. `httpx_figure` gives
  the httpx figure too, for reference.
- Self-contained: `service_figures()` returns plain dicts; `python -m benchmarks.service_figures`
  prints them; the harness can wire it in as a suite. Load goes only to 127.0.0.1, bounded in
  steps and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import Settings
from benchmarks.report import Figure, Result, SuiteResult, Target

ROOT = Path(__file__).resolve().parent.parent
CENTER = "bench"
CONFIG: dict[str, Any] = {
    "participants": {"bot-a": {"kind": "bot", "capacity": 1_000_000}},
    "queues": {"support": {"participants": ["bot-a"]}},
}
TARGET_STEPS_PER_S = 2000.0
TARGET_P99_MS = 100.0
TIME_LIMIT = 120.0


def conversation_steps(client: int, count: int) -> list[dict[str, Any]]:
    """`count` steps of one client: six-step conversations, one after the other."""
    steps: list[dict[str, Any]] = []
    number = 0
    while len(steps) < count:
        c = f"k{client}-{number}"
        steps += [
            {"start": {"conversation": c, "queue": "support"}},
            {"customer": {"conversation": c, "text": "my card was declined"}},
            {"bot": {"conversation": c, "participant": "bot-a", "text": "let me check"}},
            {"customer": {"conversation": c, "text": "thanks"}},
            {"bot": {"conversation": c, "participant": "bot-a", "text": "done"}},
            {"end": {"conversation": c, "participant": "bot-a"}},
        ]
        number += 1
    return [{**step, "id": f"{client}-{i}"} for i, step in enumerate(steps[:count])]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running_service(data: Path) -> Iterator[tuple[int, int]]:
    """A `handoff-fsm serve` subprocess on a free port, as (port, pid); killed on exit whatever
    happened."""
    port = _free_port()
    command = [sys.executable, "-m", "handoff_fsm.adapters.cli", "serve"]
    process = subprocess.Popen(
        [*command, "--data", str(data), "--port", str(port)], cwd=ROOT, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}")
            with contextlib.suppress(OSError):
                if asyncio.run(_healthy(port)):
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError("serve did not start")
        yield port, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1 (JSON in, status and JSON out)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length)
        return status, json.loads(data) if data else None

    def close(self) -> None:
        self.writer.close()


async def _healthy(port: int) -> bool:
    connection = await Connection.open(port)
    try:
        status, _ = await connection.request("GET", "/healthz")
        return status == 200
    finally:
        connection.close()


def _summary(latencies: list[float], seconds: float, clients: int) -> dict[str, Any]:
    latencies.sort()
    return {
        "clients": clients,
        "steps": len(latencies),
        "seconds": round(seconds, 3),
        "steps_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
    }


async def _load(port: int, clients: int, steps: int, offset: int) -> dict[str, Any]:
    latencies: list[float] = []

    async def one(client: int) -> None:
        connection = await Connection.open(port)
        try:
            for step in conversation_steps(offset + client, steps):
                began = time.perf_counter()
                status, body = await connection.request("POST", f"/centers/{CENTER}/steps", step)
                if status != 200:
                    raise RuntimeError(f"step refused under load: {status} {body}")
                latencies.append(time.perf_counter() - began)
        finally:
            connection.close()

    began = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(c) for c in range(clients))), TIME_LIMIT)
    return _summary(latencies, time.perf_counter() - began, clients)


def _measured(port: int, pid: int, clients: int, steps: int) -> dict[str, Any]:
    """`_load`, with the CPU the server and the load generator spent per acknowledged step (the
    figure that does not move with what else the machine runs)."""
    server_before, client_before = cpu_seconds(pid), time.process_time()
    figure = asyncio.run(_load(port, clients, steps, offset=1000 * clients))
    server_after, client_after = cpu_seconds(pid), time.process_time()
    if server_before is not None and server_after is not None:
        figure["server_cpu_ms_per_step"] = round(
            (server_after - server_before) * 1000 / figure["steps"], 3
        )
    figure["client_cpu_ms_per_step"] = round(
        (client_after - client_before) * 1000 / figure["steps"], 3
    )
    return figure


def httpx_figure(port: int, clients: int, steps: int, offset: int) -> dict[str, Any]:
    """The same closed loop with one `httpx.AsyncClient` per client (for reference)."""
    import httpx

    async def everyone() -> dict[str, Any]:
        latencies: list[float] = []

        async def one(client: int) -> None:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                for step in conversation_steps(offset + client, steps):
                    began = time.perf_counter()
                    response = await http.post(f"/centers/{CENTER}/steps", json=step)
                    if response.status_code != 200:
                        raise RuntimeError(f"step refused under load: {response.text}")
                    latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(c) for c in range(clients))), TIME_LIMIT)
        return _summary(latencies, time.perf_counter() - began, clients)

    return asyncio.run(everyone())


def in_process_figures(data: Path, clients: int, steps: int) -> dict[str, Any]:
    """The same steps without HTTP: the service's durable backend, and the bare switchboard."""
    from handoff_fsm.adapters.scenario import parse_scenario
    from handoff_fsm.service.store_center import StoreCenter
    from handoff_fsm.switchboard import Switchboard

    streams = [
        [parse_scenario({"steps": [step]}, "b").steps[0] for step in conversation_steps(c, steps)]
        for c in range(clients)
    ]
    config = parse_scenario({**CONFIG, "steps": []}, "b").config

    async def durable() -> dict[str, Any]:
        center = await StoreCenter.open("b", data / "in-process.sqlite", config)
        latencies: list[float] = []

        async def one(stream: list[Any]) -> None:
            for step in stream:
                began = time.perf_counter()
                reply = await center.submit(step.event, at=step.at, step_id=step.id)
                if reply.status != 200:
                    raise RuntimeError(f"step refused: {reply.body}")
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(one(stream) for stream in streams))
        figure = _summary(latencies, time.perf_counter() - began, clients)
        await center.close()
        return figure

    board = Switchboard(config)
    flat = [step for group in zip(*streams, strict=True) for step in group]
    began = time.perf_counter()
    for number, step in enumerate(flat):
        board.handle(step.event, now=float(number), step_id=step.id)
    bare = len(flat) / (time.perf_counter() - began)
    return {"durable_backend": asyncio.run(durable()), "switchboard_steps_per_s": round(bare, 1)}


def service_figures(*, steps_per_client: int = 300, quick: bool = False) -> dict[str, Any]:
    """Every figure of the service, as plain data (see the module docstring)."""
    steps = 30 if quick else steps_per_client
    data = Path(tempfile.mkdtemp(prefix="handoff-service-bench-"))
    try:
        with running_service(data / "served") as (port, pid):

            async def create() -> None:
                connection = await Connection.open(port)
                try:
                    status, body = await connection.request("PUT", f"/centers/{CENTER}", CONFIG)
                    if status != 201:
                        raise RuntimeError(f"cannot create the center: {status} {body}")
                finally:
                    connection.close()

            asyncio.run(create())
            asyncio.run(_load(port, 8, 12, offset=10_000))  # warm-up
            over_http = [_measured(port, pid, clients, steps) for clients in (32, 128)]
            with_httpx = httpx_figure(port, 32, max(10, steps // 5), offset=20_000)
        in_process = in_process_figures(data, 32, steps)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    first = over_http[0]
    return {
        "http": over_http,
        "http_httpx_clients": with_httpx,
        "in_process": in_process,
        "target": {"steps_per_s_32_clients": TARGET_STEPS_PER_S, "p99_ms": TARGET_P99_MS},
        "met": first["steps_per_s"] >= TARGET_STEPS_PER_S and first["p99_ms"] < TARGET_P99_MS,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def _row(name: str, figure: dict[str, Any]) -> str:
    return f"{name:<30}| {figure['steps_per_s']:>7} | {figure['p50_ms']:>6} | {figure['p99_ms']:>6}"


def render(figures: dict[str, Any]) -> str:
    rows = ["what                          | steps/s | p50 ms | p99 ms"]
    rows += [_row(f"HTTP, {f['clients']} clients", f) for f in figures["http"]]
    cpu = [
        f"{f['clients']} clients: server {f.get('server_cpu_ms_per_step')} ms, "
        f"load generator {f['client_cpu_ms_per_step']} ms"
        for f in figures["http"]
    ]
    httpx_row = figures["http_httpx_clients"]
    rows.append(_row(f"HTTP, {httpx_row['clients']} httpx clients", httpx_row))
    backend = figures["in_process"]["durable_backend"]
    rows.append(_row(f"in-process durable, {backend['clients']}", backend))
    bare = figures["in_process"]["switchboard_steps_per_s"]
    rows.append(f"{'in-process switchboard':<30}| {bare:>7} |        |")
    rows.append("CPU per acknowledged step: " + "; ".join(cpu))
    verdict = "PASS" if figures["met"] else "MISS"
    rows.append(
        f"target: >= {TARGET_STEPS_PER_S:g} steps/s with 32 clients, p99 < {TARGET_P99_MS:g} ms: "
        f"{verdict} (cpus {figures['cpus']}, load average {figures['load_average']})"
    )
    return "\n".join(rows)


def suite_result(figures: dict[str, Any]) -> SuiteResult:
    """The figures as the harness's suite: time per acknowledged step (the throughput target as
    an "at most" limit) and latencies, HTTP with 32 and 128 clients beside in-process."""
    http = {f"http_{f['clients']}": f for f in figures["http"]}
    backend = figures["in_process"]["durable_backend"]
    rows = {**http, "in_process": backend}

    def per_step(row: dict[str, Any]) -> Result:
        detail = {"steps_per_s": row["steps_per_s"], "clients": row["clients"]}
        return Result(value=1e6 / row["steps_per_s"], detail=detail)

    per = Figure(
        key="service.per_step",
        title="wall time per acknowledged step",
        unit="us",
        description=(
            "closed-loop clients on 127.0.0.1, durable default (synchronous=FULL), six-step "
            "conversations with ids: run time / steps acknowledged"
        ),
        baseline="in_process",
        results={key: per_step(row) for key, row in rows.items()},
    )
    latency = Figure(
        key="service.p99",
        title="p99 latency",
        unit="ms",
        description="per request, send to the last byte of the answer",
        baseline=None,
        results={
            key: Result(value=row["p99_ms"], detail={"p50_ms": row["p50_ms"]})
            for key, row in rows.items()
        },
    )
    return SuiteResult(
        key="service",
        title="handoff-fsm serve under load (HTTP on loopback) beside the in-process backend",
        contenders={
            **{key: f"HTTP, {row['clients']} clients" for key, row in http.items()},
            "in_process": f"in-process durable backend, {backend['clients']} concurrent",
        },
        figures=[per, latency],
        targets=(
            Target(
                description=f">= {TARGET_STEPS_PER_S:,.0f} acknowledged steps/s with 32 clients",
                figure=per.key,
                contender="http_32",
                limit=1e6 / TARGET_STEPS_PER_S,
                kind="value",
                unit="us",
            ),
            Target(
                description=f"p99 < {TARGET_P99_MS:g} ms with 32 clients",
                figure=latency.key,
                contender="http_32",
                limit=TARGET_P99_MS,
                kind="value",
                unit="ms",
            ),
        ),
        notes=[
            f"in-process switchboard, no durability: "
            f"{figures['in_process']['switchboard_steps_per_s']:,} steps/s; "
            f"cpus {figures['cpus']}, load average {figures['load_average']}",
            *(
                f"{row['clients']} clients: server {row.get('server_cpu_ms_per_step')} ms, load "
                f"generator {row['client_cpu_ms_per_step']} ms CPU per acknowledged step"
                for row in figures["http"]
            ),
        ],
    )


def run(settings: Settings, log: Callable[[str], None] = lambda _: None) -> SuiteResult:
    log("service: a real serve on 127.0.0.1, 32 then 128 clients")
    return suite_result(service_figures(quick=settings.quick))


if __name__ == "__main__":
    result = service_figures(quick="--quick" in sys.argv)
    print(render(result))
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
