"""The HTTP contract of SPEC §6, against a real `handoff-fsm serve` on 127.0.0.1 (httpx).

One server for the module; each test uses its own center, so tests do not see each other's steps.
Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_server import CONFIG, Server, center_config, need_service, running

need_service()

import httpx  # noqa: E402

from handoff_fsm.service.app import MAX_BODY, Service  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from running(tmp_path_factory.mktemp("service") / "data")


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        yield client


_names = iter(range(10_000))


@pytest.fixture
def center(client: httpx.Client) -> str:
    name = f"c{next(_names)}"
    assert client.put(f"/centers/{name}", json=CONFIG).status_code == 201
    return name


def step(client: httpx.Client, center: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"/centers/{center}/steps", json=body)


def feed(client: httpx.Client, center: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/centers/{center}/effects", params=params)
    assert response.status_code == 200
    effects: list[dict[str, Any]] = response.json()["effects"]
    return effects


def start(conversation: str, queue: str = "support", **meta: Any) -> dict[str, Any]:
    return {"start": {"conversation": conversation, "queue": queue}, **meta}


def test_start_up_freezes_what_it_restored(tmp_path: Path) -> None:
    async def started() -> int:
        service = Service(tmp_path)
        await service.put("c", center_config())
        await service.stop()
        gc.unfreeze()
        again = Service(tmp_path)
        await again.start()
        frozen = gc.get_freeze_count()
        await again.stop()
        return frozen

    assert asyncio.run(started()) > 0
    gc.unfreeze()


# -- centers


def test_put_creates_then_accepts_the_same_config_and_refuses_another(client: httpx.Client) -> None:
    assert client.put("/centers/put-1", json=CONFIG).status_code == 201
    assert client.put("/centers/put-1", json=CONFIG).status_code == 200
    other = {**CONFIG, "settings": {"fallback_limit": 5}}
    conflict = client.put("/centers/put-1", json=other)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "center_exists"


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ({"participants": {"rep-1": {"kind": "robot"}}}, "participants.rep-1.kind"),
        ({"queues": {"q": {"participants": ["nobody"]}}}, "queues.q.participants[0]"),
        ({"steps": []}, "steps"),
        ([1, 2], ""),
    ],
)
def test_a_bad_config_is_422_with_the_place_and_creates_nothing(
    client: httpx.Client, body: object, place: str
) -> None:
    response = client.put("/centers/bad-config", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["place"]) == ("invalid_config", place)
    assert error["problem"]
    assert step(client, "bad-config", start("x")).status_code == 404


def test_a_bad_center_name_is_422(client: httpx.Client) -> None:
    assert client.put("/centers/-bad", json=CONFIG).status_code == 422


# -- steps


def test_an_applied_step_answers_its_seq_and_its_effects_as_feed_lines(
    client: httpx.Client, center: str
) -> None:
    response = step(client, center, start("a"))
    assert response.status_code == 200
    body = response.json()
    assert body["seq"] == 1
    kinds = [(e["kind"], e["to"], e["state"]) for e in body["effects"]]
    assert kinds == [
        ("participant_added", "bot-a", "bot_active"),
        ("context_set", "bot-a", "bot_active"),
        ("greeting", "bot-a", "bot_active"),
    ]
    assert [e["seq"] for e in body["effects"]] == [1, 2, 3]
    assert "step" not in body["effects"][0]
    assert feed(client, center) == body["effects"]


def test_a_refused_step_is_409_with_its_code_and_changes_nothing(
    client: httpx.Client, center: str
) -> None:
    step(client, center, start("a"))
    before = (client.get(f"/centers/{center}/conversations/a").json(), feed(client, center))
    response = step(client, center, {"accept": {"conversation": "a", "participant": "rep-1"}})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "wrong_state"
    assert "accept" in response.json()["error"]["message"]
    after = (client.get(f"/centers/{center}/conversations/a").json(), feed(client, center))
    assert after == before
    unknown = step(client, center, {"customer": {"conversation": "zz", "text": "hi"}})
    assert unknown.json()["error"]["code"] == "unknown_conversation"


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ({"customer": {"conversation": "a"}}, "customer.text"),
        ({"hug": {"conversation": "a"}}, ""),
        ({"customer": {"conversation": "a", "text": 3}}, "customer.text"),
        ({"customer": {"conversation": "a", "text": "x"}, "at": -1}, "at"),
    ],
)
def test_a_malformed_step_is_422_with_the_place_and_changes_nothing(
    client: httpx.Client, center: str, body: dict[str, Any], place: str
) -> None:
    step(client, center, start("a"))
    before = feed(client, center)
    response = step(client, center, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["place"]) == ("invalid_step", place)
    assert feed(client, center) == before
    assert step(client, center, {"tick": {"now": 0}}).status_code == 409  # seq moved by 1 only


def test_invalid_json_is_422(client: httpx.Client, center: str) -> None:
    response = client.post(f"/centers/{center}/steps", content=b"{nope")
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_json")


def test_an_unknown_center_is_404_before_the_step_is_read(client: httpx.Client) -> None:
    response = client.post("/centers/nowhere/steps", content=b"not even json")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_center")


def test_a_body_over_the_limit_is_413_and_changes_nothing(
    client: httpx.Client, center: str
) -> None:
    text = "x" * (MAX_BODY + 10)
    response = step(client, center, {"customer": {"conversation": "a", "text": text}})
    assert (response.status_code, response.json()["error"]["code"]) == (413, "too_large")
    assert feed(client, center) == []


def test_a_retried_id_gets_the_first_answer_and_applies_nothing(
    client: httpx.Client, center: str
) -> None:
    first = step(client, center, start("a", id="s-1"))
    again = step(client, center, start("a", id="s-1"))
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    refused = step(client, center, start("zz", queue="nowhere", id="s-2"))
    assert refused.status_code == 409
    retried = step(client, center, start("zz", queue="nowhere", id="s-2"))
    assert (retried.status_code, retried.json()) == (409, refused.json())
    assert len(feed(client, center)) == 3


# -- views


def test_the_conversation_view(client: httpx.Client, center: str) -> None:
    body = {"start": {"conversation": "a", "queue": "support", "variables": {"FirstName": "Ana"}}}
    step(client, center, body)
    step(client, center, {"customer": {"conversation": "a", "text": "hello"}})
    step(client, center, {"escalate": {"conversation": "a", "participant": "bot-a"}})
    view = client.get(f"/centers/{center}/conversations/a").json()
    assert view["state"] == "waiting"
    assert (view["holder"], view["queue"], view["position"]) == (None, "support", 1)
    assert view["outcome"] is None and view["monitors"] == []
    assert view["context"] == {
        "variables": {"FirstName": "Ana"},
        "transcript": [{"from": "customer", "text": "hello"}],
    }
    missing = client.get(f"/centers/{center}/conversations/zz")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "unknown_conversation")


def test_the_queue_and_participant_views(client: httpx.Client, center: str) -> None:
    step(client, center, start("a"))
    step(client, center, {"escalate": {"conversation": "a", "participant": "bot-a"}})
    step(client, center, start("b", queue="humans"))
    queues = {q["queue"]: q for q in client.get(f"/centers/{center}/queues").json()["queues"]}
    assert queues["support"]["length"] == 1 and queues["humans"]["length"] == 1
    assert queues["support"]["oldest_wait"] >= 0
    assert "estimated_wait" in queues["support"]
    people = client.get(f"/centers/{center}/participants").json()["participants"]
    rep = next(p for p in people if p["participant"] == "rep-1")
    assert (rep["presence"], rep["capacity"], rep["load"]) == ("available", 2, 2)
    assert rep["holds"] == [] and sorted(rep["offers"]) == ["a", "b"]


# -- the feed


def test_the_feed_counts_after_and_filters_by_recipient(client: httpx.Client, center: str) -> None:
    step(client, center, start("a"))
    step(client, center, {"bot": {"conversation": "a", "participant": "bot-a", "text": "hi"}})
    everything = feed(client, center)
    assert [e["seq"] for e in everything] == [1, 2, 3, 4]
    assert feed(client, center, after=2) == everything[2:]
    assert [e["kind"] for e in feed(client, center, to="customer")] == ["message"]
    assert feed(client, center, after=4) == []
    bad = client.get(f"/centers/{center}/effects", params={"after": "x"})
    assert bad.status_code == 422


def test_a_long_poll_returns_as_soon_as_an_effect_lands(server: Server, center: str) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], float]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
            began = time.monotonic()
            poll = asyncio.create_task(
                client.get(f"/centers/{center}/effects", params={"to": "customer", "wait": 8})
            )
            await asyncio.sleep(0.3)
            await client.post(f"/centers/{center}/steps", json=start("a"))
            await asyncio.sleep(0.2)
            body = {"bot": {"conversation": "a", "participant": "bot-a", "text": "hi"}}
            await client.post(f"/centers/{center}/steps", json=body)
            response = await poll
            return response.json()["effects"], time.monotonic() - began

    effects, took = asyncio.run(scenario())
    assert [e["kind"] for e in effects] == ["message"]
    assert took < 5


def test_a_long_poll_with_nothing_new_answers_empty_after_its_wait(
    client: httpx.Client, center: str
) -> None:
    began = time.monotonic()
    assert feed(client, center, wait=0.5) == []
    assert 0.4 <= time.monotonic() - began < 5


def test_timers_fire_with_no_request(client: httpx.Client, center: str) -> None:
    step(client, center, start("a", queue="humans"))
    effects = feed(client, center, after=1, wait=8)
    assert [(e["kind"], e.get("reason")) for e in effects] == [("offer_withdrawn", "timeout")]


# -- health and metrics


def test_healthz_and_metrics(client: httpx.Client, center: str) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    step(client, center, start("a"))
    step(client, center, {"escalate": {"conversation": "a", "participant": "bot-a"}})
    step(client, center, {"accept": {"conversation": "a", "participant": "bot-a"}})
    text = client.get("/metrics").text
    assert f'handoff_steps_total{{center="{center}",status="applied"}} 2.0' in text
    assert f'handoff_refusals_total{{center="{center}",code="no_offer"}} 1.0' in text
    assert f'handoff_queue_length{{center="{center}",queue="support"}} 1.0' in text
    assert f'handoff_oldest_wait_seconds{{center="{center}",queue="support"}}' in text
    assert f'handoff_ack_seconds_count{{center="{center}"}} 3.0' in text
    step(client, center, {"accept": {"conversation": "a"}})
    text = client.get("/metrics").text
    assert 'handoff_bad_requests_total{code="invalid_step"}' in text


# -- concurrency


def test_concurrent_clients_get_one_order_and_every_effect_once(
    server: Server, center: str
) -> None:
    clients, steps_each = 16, 50

    async def one_client(number: int, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        answers = []
        conversation = f"k{number}"
        for index in range(steps_each):
            body = (
                start(conversation)
                if index == 0
                else {"customer": {"conversation": conversation, "text": f"m{index}"}}
            )
            response = await client.post(f"/centers/{center}/steps", json=body)
            assert response.status_code == 200, response.text
            answers.append(response.json())
        return answers

    async def everyone() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=server.url, timeout=30.0, limits=limits) as client:
            groups = await asyncio.gather(*(one_client(n, client) for n in range(clients)))
        return [answer for group in groups for answer in group]

    answers = asyncio.run(everyone())
    assert sorted(a["seq"] for a in answers) == list(range(1, clients * steps_each + 1))
    acknowledged = {e["seq"]: e for a in answers for e in a["effects"]}
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        lines: list[dict[str, Any]] = []
        while len(lines) < len(acknowledged) + 1:  # bounded: each read moves on or stops
            more = feed(client, center, after=lines[-1]["seq"] if lines else 0, limit=1000)
            if not more:
                break
            lines += more
    assert [e["seq"] for e in lines] == sorted(acknowledged)
    assert {e["seq"]: e for e in lines} == acknowledged
    for answer in answers:  # each step's effects are contiguous in the one order
        seqs = [e["seq"] for e in answer["effects"]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_the_responses_are_json(client: httpx.Client, center: str) -> None:
    response = step(client, center, start("a"))
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(response.content) == response.json()


def test_the_data_directory_holds_one_file_per_center(server: Server, center: str) -> None:
    assert (Path(server.data) / f"{center}.sqlite").is_file()
