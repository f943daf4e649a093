"""The PostgreSQL suite: acknowledged steps a second with one, two and three `serve` processes.

Theory of operation: with `HANDOFF_BENCH_POSTGRES` set to a server's `postgresql://` URL (a role
that may create databases), `run` creates a fresh database, starts `count` real
`handoff-fsm serve --store ...` processes on 127.0.0.1 and drives them with closed-loop clients
(`benchmarks.service_figures.Connection`: each client sends its next step when the last is
acknowledged), every step with an `id`. Figures, per process count (contenders p1, p2, p3):

- `postgres.sticky`: acknowledged steps/s over 100 centers, each center served by one process
  (center k by process k mod n), as a load balancer with center affinity would route;
- `postgres.round_robin`: the same, every step to the next process: every step may change hands,
  so each pays a catch-up (the worst case the design allows);
- `postgres.one_center`: the per-center ceiling, 32 clients on one center, round-robin.

And, in-process (two `PgCenters` on one database), the cost of a catch-up after a process
changes hands: the time for process B's first step after process A logged k steps, k = 1, 100,
1000, and for a process that never served the center (cold, replaying all of them).

Without `HANDOFF_BENCH_POSTGRES` the suite skips itself with a note. Every loop is bounded in
steps and time; the database is dropped at the end. The server, the processes and the load
generator share this machine's cores: the figures are a floor for one database, not its limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.harness import Settings
from benchmarks.report import Figure, Result, SuiteResult
from benchmarks.service_figures import ROOT, Connection, _free_port, _healthy
from benchmarks.suites import Log

ENV = "HANDOFF_BENCH_POSTGRES"
CENTERS = 100
CONFIG: dict[str, Any] = {
    "participants": {"bot-a": {"kind": "bot", "capacity": 1_000_000}},
    "queues": {"support": {"participants": ["bot-a"]}},
}
TIME_LIMIT = 120.0
CONTENDERS = {"p1": "1 process", "p2": "2 processes", "p3": "3 processes"}


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    import psycopg

    name = f"handoff_bench_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlsplit(url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def processes(store: str, count: int) -> Iterator[list[int]]:
    """`count` `serve --store` processes on free ports (their ports); killed on exit."""
    started: list[subprocess.Popen[bytes]] = []
    ports = [_free_port() for _ in range(count)]
    try:
        with tempfile.TemporaryDirectory() as data:
            for port in ports:
                command = [sys.executable, "-m", "handoff_fsm.adapters.cli", "serve", "--port"]
                command += [str(port), "--data", data, "--store", store]
                errors = Path(data) / f"serve-{port}.err"
                with errors.open("wb") as sink:
                    started.append(subprocess.Popen(command, cwd=ROOT, stderr=sink))
            for port, process in zip(ports, started, strict=True):
                deadline = time.monotonic() + 30
                while not _up(port):
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("serve --store did not start")
                    time.sleep(0.05)
            try:
                yield ports
            except Exception:
                for errors in sorted(Path(data).glob("serve-*.err")):
                    sys.stderr.write(errors.read_text(errors="replace")[-3000:])
                raise
    finally:
        for process in started:
            process.kill()
            process.wait()


def _up(port: int) -> bool:
    with contextlib.suppress(OSError):
        return asyncio.run(_healthy(port))
    return False


def _step(conversation: str, index: int) -> dict[str, Any]:
    step_id = f"{conversation}-{index}"
    if index % 3 == 0:
        return {"start": {"conversation": f"{conversation}.{index}", "queue": "support"},
                "id": step_id}  # fmt: skip
    text = {"customer": {"conversation": f"{conversation}.{index - index % 3}", "text": "hello"}}
    return {**text, "id": step_id}


async def _drive(
    ports: list[int], *, centers: int, clients: int, steps: int, sticky: bool, tag: str
) -> float:
    """Acknowledged steps per second: `clients` closed loops of `steps` steps each."""

    async def one(client: int) -> None:
        center = f"c{client % centers}"
        connections = [await Connection.open(port) for port in ports]
        try:
            for index in range(steps):
                target = client % centers if sticky else client + index
                which = target % len(connections)
                step = _step(f"{tag}{client}", index)
                path = f"/centers/{center}/steps"
                try:
                    status, body = await connections[which].request("POST", path, step)
                except (OSError, IndexError, asyncio.IncompleteReadError):
                    # uvicorn closed a keep-alive connection left idle: again, same id
                    connections[which].close()
                    connections[which] = await Connection.open(ports[which])
                    status, body = await connections[which].request("POST", path, step)
                if status != 200:
                    raise RuntimeError(f"step not acknowledged: {status} {body}")
        finally:
            for connection in connections:
                connection.close()

    began = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(c) for c in range(clients))), TIME_LIMIT)
    return clients * steps / (time.perf_counter() - began)


async def _create(port: int, centers: int) -> None:
    connection = await Connection.open(port)
    try:
        for n in range(centers):
            status, body = await connection.request("PUT", f"/centers/c{n}", CONFIG)
            if status not in (200, 201):
                raise RuntimeError(f"center not created: {status} {body}")
    finally:
        connection.close()


def throughput(url: str, count: int, *, steps: int, log: Log) -> dict[str, float]:
    """The three HTTP figures for `count` processes, each on its own fresh database."""
    figures: dict[str, float] = {}
    with fresh_database(url) as store, processes(store, count) as ports:
        asyncio.run(_create(ports[0], CENTERS))
        for key, centers, clients, sticky in (
            ("sticky", CENTERS, 200, True),
            ("round_robin", CENTERS, 200, False),
            ("one_center", 1, 32, False),
        ):
            figures[key] = asyncio.run(
                _drive(ports, centers=centers, clients=clients, steps=steps, sticky=sticky, tag=key)
            )
            log(f"postgres: {count} process(es), {key}: {figures[key]:,.0f} steps/s")
    return figures


def catch_up(url: str, sizes: tuple[int, ...]) -> dict[str, float]:
    """Milliseconds for process B's first step after process A logged k steps (and cold)."""
    from handoff_fsm.adapters.scenario import parse_scenario
    from handoff_fsm.service.pg_center import PgCenter, PgCenters

    config = parse_scenario({**CONFIG, "steps": []}, "").config

    def event(conversation: str, index: int) -> Any:
        return parse_scenario({"steps": [_step(conversation, index)]}, "").steps[0].event

    async def main(store: str) -> dict[str, float]:
        a, b = PgCenters(store), PgCenters(store)
        await a.open_all()
        await b.open_all()
        try:
            await a.put("c", config)
            on_a, on_b = a.get("c"), b.get("c")
            assert on_a is not None and on_b is not None
            await on_b.submit(event("warm", 0), at=None, step_id=None)
            out: dict[str, float] = {}
            for k in sizes:
                for index in range(k):
                    await on_a.submit(event(f"a{k}", index), at=None, step_id=None)
                began = time.perf_counter()
                await on_b.submit(event(f"b{k}", 0), at=None, step_id=None)
                out[f"k{k}"] = (time.perf_counter() - began) * 1000
            began = time.perf_counter()
            await on_b.submit(event("b", 1000), at=None, step_id=None)
            out["warm"] = (time.perf_counter() - began) * 1000
        finally:
            await a.close_all()
            await b.close_all()
        cold = PgCenters(store)
        await cold.open_all()
        try:
            on_cold = cold.get("c")
            assert on_cold is not None
            began = time.perf_counter()
            await on_cold.submit(event("cold", 0), at=None, step_id=None)
            out["cold"] = (time.perf_counter() - began) * 1000
            assert isinstance(on_cold, PgCenter)
            out["cold_steps"] = float(on_cold.catch_ups)
        finally:
            await cold.close_all()
        return out

    with fresh_database(url) as store:
        return asyncio.run(asyncio.wait_for(main(store), TIME_LIMIT))


def run(settings: Settings, log: Log) -> SuiteResult:
    url = os.environ.get(ENV)
    title = "PostgreSQL: steps/s with 1, 2 and 3 serve processes on one database"
    if not url:
        note = (
            f"skipped: no PostgreSQL server (set {ENV}=postgresql://...; .ci/postgres starts one)"
        )
        return SuiteResult(key="postgres", title=title, contenders=CONTENDERS, figures=[],
                           targets=[], notes=[note])  # fmt: skip
    steps = 10 if settings.quick else 30
    counts = [int(n) for n in os.environ.get("HANDOFF_BENCH_PROCESSES", "1,2,3").split(",")]
    measured = {f"p{n}": throughput(url, n, steps=steps, log=log) for n in counts}
    sizes = (1, 100) if settings.quick else (1, 100, 1000)
    cost = catch_up(url, sizes)
    log(f"postgres: catch-up {cost}")
    described = {
        "sticky": f"{CENTERS} centers, 200 clients, each center served by one process",
        "round_robin": f"{CENTERS} centers, 200 clients, every step to the next process",
        "one_center": "one center, 32 clients, every step to the next process",
    }
    figures = [
        Figure(
            key=f"postgres.{key}",
            title=key.replace("_", " "),
            unit="steps/s",
            description=description,
            baseline=None,
            results={
                p: Result(value=m[key], detail={"steps_per_client": steps})
                for p, m in measured.items()
            },
        )
        for key, description in described.items()
    ]
    per_step = [
        (cost[f"k{k}"] - cost["warm"]) * 1000 / k for k in sizes if k >= 100 and f"k{k}" in cost
    ]
    notes = [
        "catch-up after a process changes hands (B's first step after A logged k steps, ms): "
        + ", ".join(f"k={k}: {cost[f'k{k}']:.2f}" for k in sizes)
        + f"; a step with nothing to catch up: {cost['warm']:.2f}; a cold process replaying"
        f" {cost['cold_steps']:.0f} steps: {cost['cold']:.1f}"
        + (f"; about {statistics.median(per_step):.0f} us a step replayed" if per_step else ""),
        f"cpus {os.cpu_count()}: the server, every process and the load generator share them",
    ]
    return SuiteResult(key="postgres", title=title, contenders=CONTENDERS, figures=figures,
                       targets=[], notes=notes)  # fmt: skip


if __name__ == "__main__":
    from benchmarks.harness import FULL, QUICK
    from benchmarks.report import render_suite

    chosen = QUICK if "--quick" in sys.argv else FULL
    print(render_suite(run(chosen, lambda line: print(line, file=sys.stderr))))
