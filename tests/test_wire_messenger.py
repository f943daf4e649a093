"""The Messenger handover protocol: thread ownership events to steps, holders to handover calls."""

from __future__ import annotations

import copy

import pytest
from wire_payloads import (
    AGENTS,
    APPS,
    BOT,
    BOT_APP,
    QUEUE,
    apply,
    effect_lines,
    load,
    read_step,
)

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.events import JsonValue
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.wire import Ignored, Translated, Translation, WireError
from handoff_fsm.wire.messenger import (
    HandoverCall,
    MessengerBridge,
    claims,
    translate_event,
    translate_webhook,
)

PSID = "<PSID>"
AGENTS_APP = "123456789"
NOTE = "Additional content that the caller wants to set"


def event(kind: str) -> dict[str, object]:
    return copy.deepcopy(load(f"messenger_{kind}_tock.json"))


def translate(payload: object, holders: dict[str, str | None]) -> Translation:
    return translate_event(payload, apps=APPS, primary=BOT_APP, holders=holders, queue=QUEUE)


def transfer(holder: str, to: str, kind: str) -> Translated:
    return Translated(
        step={
            "transfer": {
                "conversation": PSID, "participant": holder, "queue": QUEUE, "to": to,
                "reason": NOTE,
            },
            "id": f"messenger:{PSID}:1458692752478:{kind}",
        }
    )  # fmt: skip


def test_pass_thread_control_hands_the_thread_to_the_new_owner() -> None:
    translated = translate(event("pass_thread_control"), {PSID: BOT})
    assert translated == transfer(BOT, AGENTS, "pass_thread_control")
    assert read_step(translated).event.STEP == "transfer"


def test_pass_thread_control_of_an_unknown_thread_starts_it_for_the_new_owner() -> None:
    translated = translate(event("pass_thread_control"), {})
    assert isinstance(translated, Translated) and translated.kind == "start"
    assert translated.body == {"conversation": PSID, "queue": QUEUE, "to": AGENTS}


def test_take_thread_control_gives_it_back_to_the_primary_receiver() -> None:
    translated = translate(event("take_thread_control"), {PSID: AGENTS})
    assert translated == transfer(AGENTS, BOT, "take_thread_control")


def test_request_thread_control_is_granted_from_the_holder() -> None:
    translated = translate(event("request_thread_control"), {PSID: BOT})
    assert translated == transfer(BOT, AGENTS, "request_thread_control")
    assert isinstance(translate(event("request_thread_control"), {PSID: AGENTS}), Ignored)


def test_without_metadata_the_reason_is_the_events_name() -> None:
    payload = event("pass_thread_control")
    handover = payload["pass_thread_control"]
    assert isinstance(handover, dict)
    del handover["metadata"]
    translated = translate(payload, {PSID: BOT})
    assert isinstance(translated, Translated)
    assert translated.body["reason"] == "pass_thread_control"


def test_standby_and_app_roles_are_ignored() -> None:
    translations = translate_webhook(
        event("standby_postback"), apps=APPS, primary=BOT_APP, holders={}, queue=QUEUE
    )
    assert len(translations) == 1 and isinstance(translations[0], Ignored)
    assert "standby" in translations[0].reason
    assert isinstance(translate(event("app_roles"), {}), Ignored)


def test_a_customers_text_message_in_a_webhook_is_a_customer_step() -> None:
    message = {"sender": {"id": PSID}, "recipient": {"id": "PAGE"}, "timestamp": 1,
               "message": {"mid": "m.1", "text": "hello"}}  # fmt: skip
    echo = {**message, "message": {"mid": "m.2", "text": "hi", "is_echo": True}}
    body = {"object": "page", "entry": [{"id": "PAGE", "time": 1, "messaging": [message, echo]}]}
    customer, ignored = translate_webhook(body, apps=APPS, primary=BOT_APP, holders={}, queue=QUEUE)
    assert customer == Translated(
        step={"customer": {"conversation": PSID, "text": "hello"}, "id": "messenger:m.1"}
    )
    assert read_step(customer).event.STEP == "customer"
    assert isinstance(ignored, Ignored)


def test_an_app_no_participant_stands_for_is_refused_with_the_place() -> None:
    payload = event("pass_thread_control")
    handover = payload["pass_thread_control"]
    assert isinstance(handover, dict)
    handover["new_owner_app_id"] = "999"
    with pytest.raises(WireError, match=r"^pass_thread_control\.new_owner_app_id: names app '999'"):
        translate(payload, {PSID: BOT})


def test_an_event_without_a_sender_is_malformed() -> None:
    payload = event("take_thread_control")
    del payload["sender"]
    with pytest.raises(WireError, match=r"^sender: is missing") as raised:
        translate(payload, {})
    assert raised.value.code == "invalid_activity"


def test_claims_messenger_payloads_only() -> None:
    assert all(claims(event(k)) for k in ("pass_thread_control", "standby_postback", "app_roles"))
    assert not claims({"events": [], "webhook": {}}) and not claims("page")


# -- outbound -------------------------------------------------------------------------------------


def test_the_bridge_keeps_the_threads_owner_equal_to_the_holder() -> None:
    config = Config.build(
        participants=[
            ParticipantSpec(id=BOT, kind=Kind.BOT, capacity=5),
            ParticipantSpec(id=AGENTS, kind=Kind.HUMAN, capacity=5),
        ],
        queues=[QueueSpec(name=QUEUE, members=(BOT, AGENTS))],
    )
    board, bridge, seq = Switchboard(config), MessengerBridge(APPS, BOT_APP), 0
    calls: list[HandoverCall] = []
    steps: list[dict[str, JsonValue]] = [
        {"start": {"conversation": PSID, "queue": QUEUE}},
        {"escalate": {"conversation": PSID, "participant": BOT}},
        {"accept": {"conversation": PSID, "participant": AGENTS}},
        {"end": {"conversation": PSID, "participant": AGENTS}},
    ]
    owners = []
    for now, step in enumerate(steps):
        effects = apply(board, step, now)
        for line in effect_lines(effects, seq):
            calls += bridge.feed(line)
        seq += len(effects)
        owners.append(bridge.owner(PSID))
    assert owners == [BOT_APP, BOT_APP, AGENTS_APP, BOT_APP]
    assert calls == [
        HandoverCall(app=BOT_APP, api="pass_thread_control",
                     body={"recipient": {"id": PSID}, "target_app_id": AGENTS_APP}),
        HandoverCall(app=AGENTS_APP, api="pass_thread_control",
                     body={"recipient": {"id": PSID}, "target_app_id": BOT_APP}),
    ]  # fmt: skip


def test_the_bridge_needs_one_app_per_participant_and_a_known_primary() -> None:
    with pytest.raises(ValueError, match="two app ids"):
        MessengerBridge({"1": BOT, "2": BOT}, "1")
    with pytest.raises(ValueError, match="primary"):
        MessengerBridge(APPS, "404")
