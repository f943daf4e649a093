"""`serve --store postgresql://...`: two and three processes on one database, under faults.

Every process runs on 127.0.0.1 in a subprocess, on a fresh database (`pg_kit`), and is killed at
teardown. Load clients send steps round-robin across the processes, each step with an id; when a
process is gone a client retries the same id on the next process, as a real client would. Every
loop is bounded in count and time. What is checked is SPEC §8: every acknowledged step is in the
log once with the answer it got, one order per center (seqs contiguous, chain valid, each
conversation's messages in the order sent), timers firing through the survivors, a restarted
process catching up.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_kit import fresh_database
from service_server import CONFIG, Server, need_service

CENTERS = ("north", "south", "west")


@pytest.fixture
def database() -> Iterator[str]:
    need_service()
    yield from fresh_database()


class Cluster:
    """`count` serve processes on one database; all killed by `close`."""

    def __init__(self, data: Path, store: str, count: int) -> None:
        self.store = store
        self.servers = [Server(data / f"p{n}", store) for n in range(count)]
        for server in self.servers:
            server.start()

    def alive(self) -> list[Server]:
        return [s for s in self.servers if s.process is not None]

    def close(self) -> None:
        for server in self.servers:
            server.kill()


@pytest.fixture
def cluster(tmp_path: Path, database: str, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    group = Cluster(tmp_path, database, getattr(request, "param", 2))
    try:
        yield group
    finally:
        group.close()


def _step(conversation: str, index: int) -> dict[str, Any]:
    step_id = f"{conversation}-{index}"
    if index == 0:
        return {"start": {"conversation": conversation, "queue": "support"}, "id": step_id}
    return {"customer": {"conversation": conversation, "text": f"m{index}"}, "id": step_id}


class RoundRobin:
    """`clients` threads, each on its own conversation of one center (`CENTERS`, in turn),
    sending `steps` steps; step i goes to process i mod n, and to the next one while that one
    does not answer (the same id: a retry). `answers[(center, step id)]` is the first answer."""

    def __init__(self, cluster: Cluster, *, clients: int, steps: int) -> None:
        self.cluster, self.steps = cluster, steps
        self.answers: dict[tuple[str, str], tuple[int, Any]] = {}
        self.sent: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(clients)]
        for thread in self._threads:
            thread.start()

    def _run(self, number: int) -> None:
        import httpx

        center, conversation = CENTERS[number % len(CENTERS)], f"k{number}"
        servers = self.cluster.servers
        with httpx.Client(timeout=10.0) as client:
            for index in range(self.steps):
                if self._stop.is_set():
                    return
                step = _step(conversation, index)
                for attempt in range(len(servers) * 20):  # bounded retries, same id
                    server = servers[(index + attempt) % len(servers)]
                    try:
                        response = client.post(f"{server.url}/centers/{center}/steps", json=step)
                    except httpx.TransportError:
                        time.sleep(0.02)
                        continue
                    if response.status_code == 503:
                        time.sleep(0.02)
                        continue
                    with self._lock:
                        self.answers[(center, step["id"])] = (response.status_code, response.json())
                        self.sent.setdefault(f"{center}/{conversation}", []).append(step["id"])
                    break
                else:
                    return

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answers) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def join(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self.join()


def _create_centers(cluster: Cluster) -> None:
    import httpx

    first, *others = cluster.servers
    for center in CENTERS:
        assert httpx.put(f"{first.url}/centers/{center}", json=CONFIG).status_code == 201
        for other in others:  # the same config, through another process: already there
            assert httpx.put(f"{other.url}/centers/{center}", json=CONFIG).status_code == 200


def _log(store: str) -> dict[str, list[tuple[int, str | None]]]:
    """Every center's log (seq, step id), after checking its chain and head (`verify_center`)."""
    import psycopg

    from handoff_fsm.adapters.pgstore import verify_center

    async def read() -> dict[str, list[tuple[int, str | None]]]:
        async with await psycopg.AsyncConnection.connect(store, autocommit=True) as conn:
            logs = {}
            for center in CENTERS:
                head = await verify_center(conn, center)
                cursor = await conn.execute(
                    "SELECT seq, step_id FROM handoff_steps WHERE center = %s ORDER BY seq",
                    (center,),
                )
                logs[center] = [(int(s), i) for s, i in await cursor.fetchall()]
                assert [s for s, _ in logs[center]] == list(range(1, head + 1))
            return logs

    return asyncio.run(asyncio.wait_for(read(), timeout=30))


def _check_once_in_order(load: RoundRobin, store: str, server: Server) -> None:
    """Every acknowledged step is in its center's log once, at the seq it was answered with;
    each conversation's messages are in the order they were sent; a retry gets the answer."""
    import httpx

    logs = _log(store)
    for (center, step_id), (status, body) in load.answers.items():
        assert status == 200, body
        places = [seq for seq, logged in logs[center] if logged == step_id]
        assert places == [body["seq"]], (center, step_id)
    for key, ids in load.sent.items():
        center, conversation = key.split("/")
        seqs = [load.answers[(center, i)][1]["seq"] for i in ids]
        assert seqs == sorted(seqs)
        view = httpx.get(f"{server.url}/centers/{center}/conversations/{conversation}").json()
        texts = [line["text"] for line in view["context"]["transcript"]]
        assert texts == [f"m{int(i.rsplit('-', 1)[1])}" for i in ids[1:]]
    with httpx.Client(timeout=10.0) as client:  # a retry, on any process, gets the first answer
        for (center, step_id), answer in list(load.answers.items())[::25]:
            conversation, index = step_id.rsplit("-", 1)
            again = client.post(
                f"{server.url}/centers/{center}/steps", json=_step(conversation, int(index))
            )
            assert (again.status_code, again.json()) == answer


@pytest.mark.parametrize("cluster", [2, 3], indirect=True)
def test_round_robin_steps_are_applied_once_in_one_order(cluster: Cluster) -> None:
    _create_centers(cluster)
    load = RoundRobin(cluster, clients=6, steps=40)
    load.join()
    assert len(load.answers) == 6 * 40
    _check_once_in_order(load, cluster.store, cluster.servers[-1])


@pytest.mark.parametrize("cluster", [2, 3], indirect=True)
def test_sigkill_of_one_process_mid_load_loses_no_acknowledged_step(cluster: Cluster) -> None:
    _create_centers(cluster)
    load = RoundRobin(cluster, clients=6, steps=60)
    load.wait_for(120)
    cluster.servers[0].kill()  # in the middle of the load: its batches are in flight
    load.join()
    assert len(load.answers) == 6 * 60  # every client went on through the survivors
    _check_once_in_order(load, cluster.store, cluster.alive()[0])


def test_timers_fire_through_the_survivors(cluster: Cluster) -> None:
    import httpx

    _create_centers(cluster)
    first, second = cluster.servers
    start = {"start": {"conversation": "t", "queue": "humans"}}  # a 1 s offer timeout
    offer = httpx.post(f"{first.url}/centers/north/steps", json=start).json()["effects"]
    assert [e["kind"] for e in offer] == ["offer"]
    first.kill()  # the process that served the step is gone before the deadline
    feed = httpx.get(
        f"{second.url}/centers/north/effects",
        params={"after": offer[0]["seq"], "wait": 15},
        timeout=20.0,
    ).json()["effects"]
    assert [(e["kind"], e["reason"]) for e in feed] == [("offer_withdrawn", "timeout")]


def test_a_restarted_process_catches_up_with_steps_served_elsewhere(cluster: Cluster) -> None:
    import httpx

    _create_centers(cluster)
    first, second = cluster.servers
    for index in range(3):
        assert httpx.post(f"{first.url}/centers/north/steps", json=_step("r", index)).is_success
    first.kill()
    for index in range(3, 8):
        assert httpx.post(f"{second.url}/centers/north/steps", json=_step("r", index)).is_success
    first.start()
    seen = httpx.get(f"{second.url}/centers/north/conversations/r").json()
    assert httpx.get(f"{first.url}/centers/north/conversations/r").json() == seen
    step = httpx.post(f"{first.url}/centers/north/steps", json=_step("r", 8)).json()
    assert step["seq"] == 9
    assert len(seen["context"]["transcript"]) == 7


def test_a_long_poll_on_one_process_wakes_for_a_step_on_another(cluster: Cluster) -> None:
    import httpx

    _create_centers(cluster)
    first, second = cluster.servers
    answers: list[Any] = []

    def poll() -> None:
        params = {"after": 0, "wait": 15}
        answers.append(httpx.get(f"{second.url}/centers/north/effects", params=params, timeout=20))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    started = time.monotonic()
    httpx.post(f"{first.url}/centers/north/steps", json=_step("w", 0))
    poller.join(timeout=20)
    assert answers and answers[0].json()["effects"][0]["kind"] == "participant_added"
    assert time.monotonic() - started < 5  # woken by the commit, not by the 15 s timeout


@pytest.mark.parametrize(
    ("store", "said"),
    [
        ("mysql://127.0.0.1/x", "--store takes a postgresql:// URL"),
        ("postgresql://nobody:secret@127.0.0.1:1/x", "postgresql://127.0.0.1:1/x: cannot use"),
    ],
)
def test_a_store_that_cannot_be_used_is_one_line_before_anything_starts(
    store: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pg_kit import need_psycopg

    from handoff_fsm.adapters import cli

    need_service()
    need_psycopg()
    status = cli.main(["serve", "--store", store, "--data", str(tmp_path), "--port", "0"])
    err = capsys.readouterr().err
    assert status == 2
    assert said in err and len(err.strip().splitlines()) == 1
    assert "secret" not in err  # the password is not printed
