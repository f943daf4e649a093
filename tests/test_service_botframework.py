"""SPEC §7 against a real `handoff-fsm serve` on 127.0.0.1: the Bot Framework hub endpoints.

One server for the module (each test its own center), plus servers of their own for a restart;
a bot server on 127.0.0.1 in a thread for push. Flows whose translation carries contract v2 fields
(`start` with `kind`/`transcript`, `escalate` with `variables`) skip, through the wire tests'
`read_step`, while the core's reader refuses them. Every loop is bounded in count and time.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_server import BotServer
from service_server import CONFIG, Server, need_service, running
from wire_payloads import CORE_SPEAKS_V2, load, read_step

need_service()

import httpx  # noqa: E402

from handoff_fsm.wire.botframework import translate_activity  # noqa: E402
from handoff_fsm.wire.common import Translated  # noqa: E402

BOT = "bot-a"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from running(tmp_path_factory.mktemp("botframework") / "data")


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        yield client


_names = iter(range(10_000))


@pytest.fixture
def center(client: httpx.Client) -> str:
    name = f"b{next(_names)}"
    assert client.put(f"/centers/{name}", json=CONFIG).status_code == 201
    return name


def post(client: httpx.Client, center: str, activity: object, **params: str) -> httpx.Response:
    return client.post(f"/centers/{center}/botframework/{BOT}", json=activity, params=params)


def told(client: httpx.Client, center: str, after: int = 0, **params: Any) -> list[Any]:
    response = client.get(
        f"/centers/{center}/botframework/{BOT}/activities", params={"after": after, **params}
    )
    assert response.status_code == 200, response.text
    activities: list[Any] = response.json()["activities"]
    return activities


def step(client: httpx.Client, center: str, body: dict[str, Any]) -> httpx.Response:
    response = client.post(f"/centers/{center}/steps", json=body)
    assert response.status_code == 200, response.text
    return response


def effects(client: httpx.Client, center: str) -> list[Any]:
    found: list[Any] = client.get(f"/centers/{center}/effects").json()["effects"]
    return found


def initiate(conversation: str, activity_id: str = "a1", **value: Any) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "type": "event",
        "name": "handoff.initiate",
        "id": activity_id,
        "conversation": {"id": conversation},
    }
    if value:
        activity["value"] = value
    return activity


def message(conversation: str, text: str, activity_id: str) -> dict[str, Any]:
    return {"type": "message", "id": activity_id, "conversation": {"id": conversation},
            "text": text}  # fmt: skip


def states(activities: list[Any]) -> list[Any]:
    return [a["value"] for a in activities if a.get("name") == "handoff.status"]


def held_by_bot(client: httpx.Client, center: str, conversation: str = "c1") -> None:
    step(client, center, {"start": {"conversation": conversation, "queue": "support"}})


def captured_initiate() -> dict[str, Any]:
    """The `handoff.initiate` of the captured Copilot Studio conversation."""
    activities: list[dict[str, Any]] = load("pva_ConnectToEngagementHub_activities.json")[
        "activities"
    ]  # type: ignore[assignment]
    (activity,) = [a for a in activities if a.get("name") == "handoff.initiate"]
    return activity


def skip_until_the_core_reads(activity: dict[str, Any], *, known: bool) -> None:
    """Skip while the core's reader refuses the contract v2 fields this activity's step uses."""
    translated = translate_activity(activity, participant=BOT, known=known, queue="support")
    assert isinstance(translated, Translated)
    read_step(translated)


def wait_for(client: httpx.Client, center: str, count: int) -> list[Any]:
    """The bot's activities once there are `count` of them (bounded: the follower is async)."""
    found: list[Any] = []
    for _ in range(40):
        found = told(client, center, wait=0.5)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return found


# -- inbound ----------------------------------------------------------------------------------


def test_a_message_activity_is_the_bots_message_to_the_customer(
    client: httpx.Client, center: str
) -> None:
    held_by_bot(client, center)
    response = post(client, center, message("c1", "We open at 9.", "m1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["step"] == {
        "bot": {"conversation": "c1", "participant": BOT, "text": "We open at 9."},
        "id": f"botframework:{BOT}:m1",
    }
    assert [e["kind"] for e in body["effects"]] == ["message"]
    assert body["effects"][0]["to"] == "customer"


def test_a_retried_activity_id_is_one_step_with_the_same_answer(
    client: httpx.Client, center: str
) -> None:
    held_by_bot(client, center)
    first = post(client, center, message("c1", "hello", "m1"))
    before = effects(client, center)
    again = post(client, center, message("c1", "hello", "m1"))
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert effects(client, center) == before


def test_a_malformed_activity_is_422_with_the_place_and_changes_nothing(
    client: httpx.Client, center: str
) -> None:
    held_by_bot(client, center)
    before = effects(client, center)
    bad = {**initiate("c1"), "value": "not an object"}
    response = post(client, center, bad)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["place"]) == ("invalid_activity", "value")
    assert "must be a JSON object" in error["problem"]
    response = post(client, center, {"type": "message", "text": "hi"})
    assert (response.status_code, response.json()["error"]["place"]) == (422, "conversation")
    assert effects(client, center) == before
    assert told(client, center) == []


def test_unknown_activity_types_are_acknowledged_and_ignored(
    client: httpx.Client, center: str
) -> None:
    held_by_bot(client, center)
    before = effects(client, center)
    for activity in (
        {"type": "typing", "conversation": {"id": "c1"}},
        {"type": "somethingNew", "conversation": {"id": "c1"}},
        {"type": "event", "name": "handoff.status", "conversation": {"id": "c1"}},
    ):
        response = post(client, center, activity)
        assert response.status_code == 200
        assert "ignored" in response.json()
    assert effects(client, center) == before


def test_unknown_center_and_participant_are_404(client: httpx.Client, center: str) -> None:
    response = client.post("/centers/nowhere/botframework/bot-a", json=message("c", "x", "1"))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_center")
    response = client.get("/centers/nowhere/botframework/bot-a/activities")
    assert response.status_code == 404
    response = client.post(f"/centers/{center}/botframework/ghost", json=message("c", "x", "1"))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_participant")


def test_a_bad_after_is_422(client: httpx.Client, center: str) -> None:
    response = client.get(f"/centers/{center}/botframework/{BOT}/activities?after=-1")
    assert (response.status_code, response.json()["error"]["place"]) == (422, "after")


# -- the hand-over and what the bot is told ----------------------------------------------------


def test_initiate_accepted_transferred_back_and_ended_tells_accepted_then_completed(
    client: httpx.Client, center: str
) -> None:
    held_by_bot(client, center)
    response = post(client, center, initiate("c1"))
    assert response.status_code == 200, response.text
    assert response.json()["step"]["escalate"]["reason"] == "handoff.initiate"
    assert [e["kind"] for e in response.json()["effects"]] == ["participant_removed", "offer"]
    step(client, center, {"accept": {"conversation": "c1", "participant": "rep-1"}})
    assert states(wait_for(client, center, 1)) == [{"state": "accepted"}]
    transfer = {"conversation": "c1", "participant": "rep-1", "queue": "support", "to": BOT}
    step(client, center, {"transfer": transfer})
    step(client, center, {"end": {"conversation": "c1", "participant": BOT}})
    activities = wait_for(client, center, 2)
    assert states(activities) == [{"state": "accepted"}, {"state": "completed"}]
    assert [a["id"] for a in activities] == [f"{BOT}:1", f"{BOT}:2"]
    assert told(client, center, after=1) == activities[1:]


def test_a_refused_initiate_is_acknowledged_and_answered_failed(
    client: httpx.Client, center: str
) -> None:
    held_by_bot(client, center)
    post(client, center, initiate("c1", "a1"))
    step(client, center, {"accept": {"conversation": "c1", "participant": "rep-1"}})
    response = post(client, center, initiate("c1", "a2"))  # rep-1 holds it: bot-a cannot escalate
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["error"]["code"] == "wrong_state"
    (failed,) = body["activities"]
    assert failed["value"]["state"] == "failed"
    assert failed["value"]["message"] == body["error"]["message"]
    assert wait_for(client, center, 2)[-1] == failed
    again = post(client, center, initiate("c1", "a2"))
    assert (again.status_code, again.json()) == (200, body)
    assert len(told(client, center)) == 2


def test_customer_messages_reach_the_bot_that_holds_the_conversation(
    client: httpx.Client, center: str
) -> None:
    held_by_bot(client, center)
    step(client, center, {"customer": {"conversation": "c1", "text": "store hours?"}})
    (activity,) = wait_for(client, center, 1)
    assert activity["type"] == "message" and activity["text"] == "store hours?"
    assert activity["recipient"] == {"id": BOT, "role": "bot"}


def test_the_activities_long_poll_returns_when_the_bot_is_told(
    client: httpx.Client, center: str
) -> None:
    held_by_bot(client, center)
    timer = threading.Timer(
        0.3, lambda: step(client, center, {"customer": {"conversation": "c1", "text": "hi"}})
    )
    timer.start()
    try:
        started = time.monotonic()
        found = told(client, center, wait=5)
        assert len(found) == 1 and time.monotonic() - started < 4.5
    finally:
        timer.join()


def test_an_initiate_for_an_unknown_conversation_starts_it_for_a_human(
    client: httpx.Client, center: str
) -> None:
    activity = initiate("c9", va_LastPhrase="store hours")
    skip_until_the_core_reads(activity, known=False)
    response = post(client, center, activity, queue="humans")
    assert response.status_code == 200, response.text
    assert response.json()["step"]["start"]["kind"] == "human"
    state = client.get(f"/centers/{center}/conversations/c9").json()
    assert state["context"]["variables"] == {"va_LastPhrase": "store hours"}


def test_the_captured_copilot_studio_initiate_escalates_with_its_variables(
    client: httpx.Client, center: str
) -> None:
    activity = captured_initiate()
    conversation = activity["conversation"]["id"]
    skip_until_the_core_reads(activity, known=True)
    held_by_bot(client, center, conversation)
    response = post(client, center, activity)
    assert response.status_code == 200, response.text
    variables = client.get(f"/centers/{center}/conversations/{conversation}").json()["context"]
    assert variables["variables"]["va_LastPhrase"] == "store hours"


# -- restart ---------------------------------------------------------------------------------


def test_a_restart_gives_the_same_activities(tmp_path: Path) -> None:
    need_service()
    server = Server(tmp_path / "data")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            client.put("/centers/r", json=CONFIG)
            held_by_bot(client, "r")
            post(client, "r", initiate("c1", "a1"))
            step(client, "r", {"accept": {"conversation": "c1", "participant": "rep-1"}})
            held_by_bot(client, "r", "c2")
            step(client, "r", {"customer": {"conversation": "c2", "text": "hi"}})
            post(client, "r", initiate("c2", "a2"))
            post(client, "r", initiate("c2", "a3"))  # refused (c2 waits for rep-1): failed
            before = wait_for(client, "r", 3)
            assert [a.get("value", a.get("text")) for a in before] == [
                {"state": "accepted"},
                "hi",
                before[2]["value"],
            ]
            assert before[2]["value"]["state"] == "failed"
        server.kill()  # kill -9
        server.start()
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            assert told(client, "r") == before
            refused = post(client, "r", initiate("c2", "a3"))  # a retry after the restart
            assert refused.json()["activities"] == [before[2]]
            step(client, "r", {"end": {"conversation": "c1", "participant": "rep-1"}})
            after = wait_for(client, "r", 4)
            assert after[:3] == before and after[3]["value"] == {"state": "completed"}
            assert after[3]["id"] == f"{BOT}:4"
    finally:
        server.kill()


# -- push ------------------------------------------------------------------------------------


def test_activities_are_pushed_in_order_through_failures(client: httpx.Client, center: str) -> None:
    with BotServer(failures=3) as bot:
        response = client.put(
            f"/centers/{center}/botframework/{BOT}/endpoint", json={"url": bot.url}
        )
        assert response.json() == {"participant": BOT, "url": bot.url, "pushed": 0}
        held_by_bot(client, center)
        for number in range(3):
            step(client, center, {"customer": {"conversation": "c1", "text": f"m{number}"}})
        deadline = time.monotonic() + 15
        while len(bot.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [a["text"] for a in bot.received] == ["m0", "m1", "m2"]
        assert bot.attempts == 6
        assert bot.received == told(client, center)


def test_a_bad_endpoint_is_422(client: httpx.Client, center: str) -> None:
    url = f"/centers/{center}/botframework/{BOT}/endpoint"
    response = client.put(url, json={"url": "ftp://example"})
    assert (response.status_code, response.json()["error"]["place"]) == (422, "url")
    response = client.put(url, json={"address": "http://127.0.0.1:1"})
    assert response.status_code == 422


# -- the walkthrough of docs/wire-formats.md ---------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "wire-formats.md"
WALKTHROUGH = "### Walkthrough"
FENCE = re.compile(r"^```(http|json)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def walkthrough() -> list[tuple[str, str, object, object]]:
    """(method, path, request body, expected answer) for each `http` block of the walkthrough
    and the `json` block after it; a body `@FILE NAME` is the activity named NAME of a payload."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(WALKTHROUGH) :]
    section = section[: section.index("\n#", 1)]
    blocks = FENCE.findall(section)
    exchanges = []
    for (language, request), (answer_language, answer) in itertools.pairwise(blocks):
        if language != "http":
            continue
        assert answer_language == "json", f"an http block without its answer: {request}"
        head, _, body = request.partition("\n\n")
        method, path = head.split()
        payload: object = None
        if body.startswith("@"):
            file, name = body[1:].split()
            payload = next(a for a in load(file)["activities"] if a.get("name") == name)  # type: ignore[attr-defined]
        elif body.strip():
            payload = json.loads(body)
        exchanges.append((method, path, payload, json.loads(answer)))
    return exchanges


def matches(shown: object, answer: object) -> bool:
    """Whether the doc's `shown` JSON is part of `answer`: `"..."` is anything, an object's keys
    are a subset, a list's items come in order among the answer's."""
    if shown == "...":
        return True
    if isinstance(shown, dict):
        return isinstance(answer, dict) and all(
            key in answer and matches(value, answer[key]) for key, value in shown.items()
        )
    if isinstance(shown, list):
        if not isinstance(answer, list):
            return False
        rest = iter(answer)
        return all(any(matches(item, candidate) for candidate in rest) for item in shown)
    return shown == answer


def test_the_walkthrough_has_every_exchange_of_the_hand_over() -> None:
    paths = [path for _, path, _, _ in walkthrough()]
    assert len(paths) == 7 and paths[1].endswith("/botframework/copilot")


def test_matches_sees_a_difference() -> None:
    assert matches({"a": [1, 3], "b": "..."}, {"a": [1, 2, 3], "b": 5, "c": 0})
    assert not matches({"a": [3, 1]}, {"a": [1, 2, 3]})
    assert not matches({"value": {"state": "accepted"}}, {"value": {"state": "failed"}})


def test_the_walkthrough_of_the_docs_runs_as_shown(tmp_path: Path) -> None:
    skip_until_the_core_reads(captured_initiate(), known=False)
    server = Server(tmp_path / "data")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            for method, path, body, shown in walkthrough():
                response = client.request(method, path, json=body)
                assert response.status_code in (200, 201), (path, response.text)
                assert matches(shown, response.json()), (path, response.json())
    finally:
        server.kill()


def test_a_step_the_core_does_not_read_yet_is_422_and_changes_nothing(
    client: httpx.Client, center: str
) -> None:
    if CORE_SPEAKS_V2:
        pytest.skip("the core reads the contract v2 fields: the start is applied")
    response = post(client, center, initiate("c9", va_LastPhrase="store hours"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["place"]) == ("invalid_step", "start.kind")
    assert effects(client, center) == []
    assert client.get(f"/centers/{center}/conversations/c9").status_code == 404


def test_omnichannels_end_conversation_message_ends_it(client: httpx.Client, center: str) -> None:
    held_by_bot(client, center)
    tags = json.dumps({"type": "EndConversation"})
    activity = {**message("c1", "bye", "e1"), "channelData": {"tags": tags}}
    response = post(client, center, activity)
    assert response.status_code == 200, response.text
    assert response.json()["step"]["end"] == {"conversation": "c1", "participant": BOT}
    assert client.get(f"/centers/{center}/conversations/c1").json()["state"] == "ended"


def test_sigterm_stops_the_service_while_a_push_retries_and_a_bot_long_polls(
    tmp_path: Path,
) -> None:
    need_service()
    server = Server(tmp_path / "data")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            client.put("/centers/s", json=CONFIG)
            dead = "http://127.0.0.1:9/api/messages"  # discard port: nothing listens
            client.put(f"/centers/s/botframework/{BOT}/endpoint", json={"url": dead})
            held_by_bot(client, "s")
            step(client, "s", {"customer": {"conversation": "c1", "text": "hi"}})
            poll = threading.Thread(
                target=lambda: httpx.get(
                    f"{server.url}/centers/s/botframework/{BOT}/activities",
                    params={"after": 1, "wait": 30},
                    timeout=40,
                )
            )
            poll.start()
            time.sleep(0.3)
            started = time.monotonic()
            assert server.terminate(timeout=15) == 0
            assert time.monotonic() - started < 5  # the poll notices the stop within a second
            poll.join(timeout=15)
    finally:
        server.kill()
