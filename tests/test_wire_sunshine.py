"""Sunshine Conversations switchboard events to steps, and effect lines to switchboard actions."""

from __future__ import annotations

import copy

import pytest
from wire_payloads import (
    AGENTS,
    BOT,
    INTEGRATIONS,
    KINDS,
    QUEUE,
    apply,
    effect_lines,
    load,
    read_step,
)

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.events import JsonValue
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.wire import Ignored, MetadataTooLarge, Translated, Translation, WireError
from handoff_fsm.wire.sunshine import (
    METADATA_LIMIT,
    SunshineBridge,
    SwitchboardAction,
    claims,
    translate_webhook,
)

CONVERSATION = "f52b01137aa6c250bc7251fa"
EVENT_ID = "sunshine:5f74a0d52b5315fc007e798a"


def webhook(kind: str) -> dict[str, object]:
    return copy.deepcopy(load(f"sunshine_switchboard{kind}Event.json"))


def event_of(body: dict[str, object]) -> dict[str, object]:
    events = body["events"]
    assert isinstance(events, list) and isinstance(events[0], dict)
    return events[0]


def payload_of(body: dict[str, object]) -> dict[str, object]:
    payload = event_of(body)["payload"]
    assert isinstance(payload, dict)
    return payload


def conversation_of(body: dict[str, object]) -> dict[str, object]:
    conversation = payload_of(body)["conversation"]
    assert isinstance(conversation, dict)
    return conversation


def translate(body: object, holders: dict[str, str | None]) -> Translation:
    (translation,) = translate_webhook(
        body, integrations=INTEGRATIONS, kinds=KINDS, holders=holders, queue=QUEUE
    )
    return translation


def test_offer_control_is_a_hand_over_that_makes_an_offer_to_the_pending_integration() -> None:
    translated = translate(webhook("OfferControl"), {CONVERSATION: BOT})
    assert translated == Translated(
        step={
            "transfer": {
                "conversation": CONVERSATION, "participant": BOT, "queue": QUEUE, "to": AGENTS,
                "reason": "offerControl",
            },
            "id": EVENT_ID,
        }
    )  # fmt: skip
    assert read_step(translated).event.STEP == "transfer"


def test_accept_control_by_the_human_integration_is_its_accept() -> None:
    body = webhook("AcceptControl")
    active = conversation_of(body)["activeSwitchboardIntegration"]
    assert isinstance(active, dict)
    active["name"] = "human"
    translated = translate(body, {CONVERSATION: None})
    assert translated == Translated(
        step={"accept": {"conversation": CONVERSATION, "participant": AGENTS}, "id": EVENT_ID}
    )
    assert read_step(translated).event.STEP == "accept"


def test_accept_control_by_a_bot_is_ignored_a_bot_took_it_at_once() -> None:
    assert isinstance(translate(webhook("AcceptControl"), {CONVERSATION: None}), Ignored)


def test_pass_control_hands_over_from_the_holder_or_starts_an_unknown_conversation() -> None:
    body = webhook("PassControl")
    assert translate(body, {CONVERSATION: AGENTS}) == Translated(
        step={
            "transfer": {
                "conversation": CONVERSATION, "participant": AGENTS, "queue": QUEUE, "to": BOT,
                "reason": "passControl",
            },
            "id": EVENT_ID,
        }
    )  # fmt: skip
    assert translate(body, {}) == Translated(
        step={"start": {"conversation": CONVERSATION, "queue": QUEUE, "to": BOT}, "id": EVENT_ID}
    )
    assert isinstance(translate(body, {CONVERSATION: BOT}), Ignored)  # holds it already


def test_release_control_is_the_holders_end() -> None:
    translated = translate(webhook("ReleaseControl"), {CONVERSATION: AGENTS})
    assert translated == Translated(
        step={"end": {"conversation": CONVERSATION, "participant": AGENTS}, "id": EVENT_ID}
    )
    assert read_step(translated).event.STEP == "end"
    assert isinstance(translate(webhook("ReleaseControl"), {CONVERSATION: None}), Ignored)


@pytest.mark.parametrize("kind", ["PassControl", "OfferControl", "AcceptControl"])
def test_failure_events_are_ignored_with_sunshines_error_in_the_reason(kind: str) -> None:
    body = webhook(f"{kind}Failure")
    error = payload_of(body)["error"]
    assert isinstance(error, dict)
    translation = translate(body, {CONVERSATION: BOT})
    assert isinstance(translation, Ignored)
    assert str(error["code"]) in translation.reason and str(error["message"]) in translation.reason


def test_metadata_is_carried_as_the_hand_overs_variables() -> None:
    body = webhook("OfferControl")
    payload_of(body)["metadata"] = {"topic": "billing", "vip": True, "tries": 2}
    translated = translate(body, {CONVERSATION: BOT})
    assert isinstance(translated, Translated)
    assert translated.body["variables"] == {"topic": "billing", "vip": True, "tries": 2}


def test_metadata_beyond_4_kb_or_not_flat_is_refused_with_the_place() -> None:
    body = webhook("OfferControl")
    payload_of(body)["metadata"] = {"note": "x" * METADATA_LIMIT}
    with pytest.raises(WireError, match=r"^events\[0\]\.payload\.metadata: is 4107 bytes") as big:
        translate(body, {CONVERSATION: BOT})
    assert big.value.code == "invalid_activity"
    payload_of(body)["metadata"] = {"note": {"nested": 1}}
    with pytest.raises(WireError, match=r"^events\[0\]\.payload\.metadata\.note: must be text"):
        translate(body, {CONVERSATION: BOT})


def test_an_integration_no_participant_stands_for_is_refused_naming_the_known_ones() -> None:
    body = webhook("OfferControl")
    pending = conversation_of(body)["pendingSwitchboardIntegration"]
    assert isinstance(pending, dict)
    pending["name"] = "zendesk"
    place = r"events\[0\]\.payload\.conversation\.pendingSwitchboardIntegration\.name"
    with pytest.raises(WireError, match=rf"^{place}: names integration 'zendesk' .*bot, human"):
        translate(body, {CONVERSATION: BOT})


def test_a_webhook_without_a_conversation_id_is_malformed() -> None:
    body = webhook("PassControl")
    del conversation_of(body)["id"]
    with pytest.raises(WireError, match=r"^events\[0\]\.payload\.conversation\.id: is missing"):
        translate(body, {})


def test_other_event_types_are_ignored_and_other_payloads_not_claimed() -> None:
    body = webhook("PassControl")
    event_of(body)["type"] = "conversation:message"
    assert isinstance(translate(body, {}), Ignored)
    assert claims(body) and not claims({"events": []}) and not claims([])


# -- outbound -------------------------------------------------------------------------------------


def test_the_bridge_says_which_switchboard_actions_follow_a_hand_over_to_a_human() -> None:
    config = Config.build(
        participants=[
            ParticipantSpec(id=BOT, kind=Kind.BOT, capacity=5),
            ParticipantSpec(id=AGENTS, kind=Kind.HUMAN, capacity=5),
        ],
        queues=[QueueSpec(name=QUEUE, members=(BOT, AGENTS))],
    )
    board, bridge, seq = Switchboard(config), SunshineBridge(INTEGRATIONS), 0
    actions: list[SwitchboardAction] = []
    steps: list[dict[str, JsonValue]] = [
        {"start": {"conversation": "c1", "queue": QUEUE, "variables": {"topic": "card"}}},
        {"escalate": {"conversation": "c1", "participant": BOT}},
        {"accept": {"conversation": "c1", "participant": AGENTS}},
        {"end": {"conversation": "c1", "participant": AGENTS}},
    ]
    for now, step in enumerate(steps):
        effects = apply(board, step, now)
        for line in effect_lines(effects, seq):
            actions += bridge.feed(line)
        seq += len(effects)
    assert [(a.action, dict(a.body)) for a in actions] == [
        ("passControl", {"switchboardIntegration": "bot", "metadata": {"topic": "card"}}),
        ("offerControl", {"switchboardIntegration": "human"}),
        ("acceptControl", {"metadata": {"topic": "card"}}),
        ("releaseControl", {}),
    ]
    assert {a.conversation for a in actions} == {"c1"}


def test_the_bridge_refuses_metadata_beyond_4_kb_and_changes_nothing() -> None:
    bridge = SunshineBridge(INTEGRATIONS)
    bridge.feed({"kind": "participant_added", "conversation": "c1", "to": BOT, "role": "holder"})
    big = {"kind": "context_set", "conversation": "c1", "to": BOT,
           "context": {"variables": {"note": "x" * METADATA_LIMIT}, "transcript": []}}  # fmt: skip
    with pytest.raises(WireError, match=r"^context\.variables: is 4107 bytes") as refused:
        bridge.feed(big)
    assert isinstance(refused.value, MetadataTooLarge)
    assert refused.value.code == "metadata_too_large"
    small = {**big, "context": {"variables": {"note": "x"}, "transcript": []}}
    assert [a.action for a in bridge.feed(small)] == ["passControl"]


def test_participants_no_integration_stands_for_get_no_action() -> None:
    bridge = SunshineBridge(INTEGRATIONS)
    line = {"kind": "offer", "conversation": "c1", "to": "rep-9", "queue": QUEUE}
    assert bridge.feed(line) == []
    with pytest.raises(ValueError, match="two integration names"):
        SunshineBridge({"a": BOT, "b": BOT})
