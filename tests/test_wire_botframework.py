"""The Bot Framework translator and hub on the real payloads, and every payload file of
`../shared/payloads/` claimed by exactly one translator (the Twilio TaskRouter files aside)."""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Callable

import pytest
from wire_payloads import (
    BOT,
    OUT_OF_SCOPE,
    OUTBOUND_REFERENCES,
    claimants,
    documents_of,
    effect_lines,
    load,
    payload_dir,
    payload_files,
    read_step,
    translate_any,
)

from handoff_fsm.config import Config, Kind, ParticipantSpec, QueueSpec
from handoff_fsm.errors import HandoffError, StepRefused
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.wire import Ignored, Translated, WireError
from handoff_fsm.wire.botframework import (
    BotActivity,
    BotFrameworkHub,
    HandoffState,
    first_queue_of,
    handoff_status,
    translate_activity,
)

PVA = "pva_ConnectToEngagementHub_activities.json"
OMNICHANNEL = "DERIVED_omnichannel_escalate_message.json"
LAYOUT = "DERIVED_botframework_handoff_status_eventfactory_layout.json"
CONVERSATION = "91hcXEd0ZYCBPoRwBDPHZ6-o"


def initiate() -> dict[str, object]:
    activities = load(PVA)["activities"]
    assert isinstance(activities, list)
    activity = activities[0]
    assert isinstance(activity, dict)
    return activity


def test_the_shared_payloads_are_there() -> None:
    assert any(payload_dir().glob("*.json"))


@pytest.mark.parametrize("name", payload_files())
def test_every_payload_file_is_translated_or_set_aside_with_a_reason(name: str) -> None:
    if name.startswith(OUT_OF_SCOPE):
        assert claimants(load(name)) == [], f"{name} is TaskRouter, out of the wire formats"
        return
    if name in OUTBOUND_REFERENCES:
        return  # compared field by field with what the hub produces, below
    documents = documents_of(name)
    assert documents, f"no translator claims {name}"
    for document in documents:
        assert len(claimants(document)) == 1, f"{name}: claimed by {claimants(document)}"
        translations = translate_any(document)
        assert translations and all(isinstance(t, Translated | Ignored) for t in translations)


# -- inbound --------------------------------------------------------------------------------------


def test_handoff_initiate_of_a_held_conversation_is_one_escalation_with_its_variables() -> None:
    translated = translate_activity(initiate(), participant=BOT, known=True)
    assert translated == Translated(
        step={
            "escalate": {
                "conversation": CONVERSATION,
                "participant": BOT,
                "reason": "handoff.initiate",
                "variables": {
                    "va_Scope": "bot",
                    "va_LastTopic": "Lesson 1 - A simple topic",
                    "va_LastPhrase": "store hours",
                    "va_ConversationId": CONVERSATION,
                    "va_AgentMessage": "Transferred",
                    "va_BotId": "<REDACTED>",
                    "va_BotName": "Test501",
                    "va_Language": "En-US",
                },
            },
            "id": f"botframework:{BOT}:{CONVERSATION}|0000005",
        }
    )
    assert read_step(translated).event.STEP == "escalate"


def test_handoff_initiate_of_an_unknown_conversation_starts_it_with_its_transcript() -> None:
    translated = translate_activity(initiate(), participant=BOT, known=False, queue="support")
    assert isinstance(translated, Translated) and translated.kind == "start"
    assert translated.body["queue"] == "support" and translated.body["kind"] == "human"
    assert translated.body["transcript"] == [
        {"from": "customer", "text": "store hours"},
        {"from": BOT, "text": "I'm happy to help with store hours."},
    ]
    variables = translated.body["variables"]
    assert isinstance(variables, dict) and variables["va_LastPhrase"] == "store hours"
    assert read_step(translated).event.STEP == "start"


def test_an_unknown_conversation_without_a_queue_is_the_callers_mistake() -> None:
    with pytest.raises(ValueError, match="give the queue"):
        translate_activity(initiate(), participant=BOT, known=False)


def test_both_spellings_of_a_variable_pass_and_only_scalars_become_variables() -> None:
    activity = initiate()
    activity["value"] = {
        "va_LastPhrase": "store hours",
        "va_LastPhrases": "store hours; opening times",
        "va_Count": 2,
        "va_Ratio": 0.5,
        "va_Vip": False,
        "va_Topics": ["a"],
        "va_Nested": {"x": 1},
        "va_Nothing": None,
    }
    translated = translate_activity(activity, participant=BOT, known=True)
    assert isinstance(translated, Translated)
    assert translated.body["variables"] == {
        "va_LastPhrase": "store hours",
        "va_LastPhrases": "store hours; opening times",
        "va_Count": 2,
        "va_Ratio": 0.5,
        "va_Vip": False,
    }


def test_a_message_activity_is_the_bots_message_to_the_customer() -> None:
    activity = {"type": "message", "id": "m1", "conversation": {"id": "c1"}, "text": "Hello"}
    translated = translate_activity(activity, participant=BOT, known=True)
    assert translated == Translated(
        step={
            "bot": {"conversation": "c1", "participant": BOT, "text": "Hello"},
            "id": f"botframework:{BOT}:m1",
        }
    )
    assert read_step(translated).event.STEP == "bot"


@pytest.mark.parametrize(
    "activity",
    [
        {"type": "typing", "conversation": {"id": "c1"}},
        {"type": "conversationUpdate", "conversation": {"id": "c1"}, "membersAdded": []},
        {"type": "event", "name": "handoff.status", "conversation": {"id": "c1"}, "value": {}},
        {"type": "message", "conversation": {"id": "c1"}, "attachments": [{"contentType": "x"}]},
        {"type": "somethingNew", "conversation": {"id": "c1"}},
    ],
    ids=["typing", "conversationUpdate", "other-event", "no-text", "unknown-type"],
)
def test_what_the_hub_does_not_handle_is_acknowledged_and_ignored(
    activity: dict[str, object],
) -> None:
    assert isinstance(translate_activity(activity, participant=BOT, known=True), Ignored)


def omnichannel(part: str) -> dict[str, object]:
    """A part of the derived Omnichannel file, in conversation c1 (the derived activities show
    only the fields the middleware sets)."""
    found = load(OMNICHANNEL)[part]
    assert isinstance(found, dict)
    return {"conversation": {"id": "c1"}, **found}


def test_omnichannels_escalation_message_is_one_escalation_with_its_context() -> None:
    activity = omnichannel("after_middleware_activity")
    translated = translate_activity(activity, participant=BOT, known=True)
    assert translated == Translated(
        step={
            "escalate": {
                "conversation": "c1",
                "participant": BOT,
                "reason": "Issue Summary: billing question",
                "variables": {"BotHandoffContext": "Specialist request", "skill": "service"},
            }
        }
    )


def test_omnichannels_end_conversation_message_ends_it_and_bridged_messages_are_messages() -> None:
    end = omnichannel("end_conversation_activity")
    assert translate_activity(end, participant=BOT, known=True) == Translated(
        step={"end": {"conversation": "c1", "participant": BOT}}
    )
    bridged = {
        "type": "message",
        "conversation": {"id": "c1"},
        "text": "One moment",
        "channelData": load(OMNICHANNEL)["every_bot_message_channelData"],
    }
    translated = translate_activity(bridged, participant=BOT, known=True)
    assert isinstance(translated, Translated) and translated.kind == "bot"


def test_the_value_before_omnichannels_middleware_keeps_its_scalars_only() -> None:
    activity = initiate()
    activity["value"] = load(OMNICHANNEL)["before_middleware_handoff_initiate_value"]
    translated = translate_activity(activity, participant=BOT, known=True)
    assert isinstance(translated, Translated)
    assert translated.body["variables"] == {"MessageToAgent": "Issue Summary: billing question"}


def _set(path: str, value: object) -> Callable[[dict[str, object]], None]:
    def change(activity: dict[str, object]) -> None:
        *parents, last = path.split("/")
        target: object = activity
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]  # type: ignore[index]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            assert isinstance(target, dict)
            target[last] = value

    return change


def _drop_conversation_id(activity: dict[str, object]) -> None:
    activity["conversation"] = {}


@pytest.mark.parametrize(
    ("change", "place", "problem"),
    [
        (_set("value", ["va_Scope"]), "value", "must be a JSON object, got a list"),
        (_drop_conversation_id, "conversation.id", "is missing"),
        (_set("conversation", "c1"), "conversation", "must be a JSON object"),
        (_set("conversation/id", 7), "conversation.id", "must be text, got the number 7"),
        (_set("type", None), "type", "must be text, got null"),
        (_set("attachments", {}), "attachments", "must be a list"),
        (
            _set("attachments/0/content/activities", "x"),
            "attachments[0].content.activities",
            "must be a list",
        ),
        (
            _set("attachments/0/content/activities/0/text", 3),
            "attachments[0].content.activities[0].text",
            "must be text",
        ),
        (_set("id", 5), "id", "must be text"),
        (
            _set("attachments/0/content", {"Activities": []}),
            "attachments[0].content.activities",
            "is missing",
        ),
    ],
    ids=["value", "no-id", "conversation", "id-type", "type", "attachments", "activities", "text",
         "activity-id", "no-activities"],
)  # fmt: skip
def test_a_malformed_activity_names_the_place_and_the_problem_on_one_line(
    change: Callable[[dict[str, object]], None], place: str, problem: str
) -> None:
    activity = copy.deepcopy(initiate())
    change(activity)
    with pytest.raises(WireError) as raised:
        translate_activity(activity, participant=BOT, known=False, queue="support")
    error = raised.value
    assert isinstance(error, HandoffError) and error.code == "invalid_activity"
    assert error.place == place and problem in error.problem
    assert str(error).startswith(f"{place}: ") and "\n" not in str(error)


def test_omnichannel_tags_that_are_not_json_are_malformed() -> None:
    activity = {"type": "message", "conversation": {"id": "c1"}, "text": "hi"}
    activity["channelData"] = {"tags": "{type: Escalate"}
    with pytest.raises(WireError, match=r"^channelData\.tags: is not JSON"):
        translate_activity(activity, participant=BOT, known=True)
    activity["channelData"] = {"tags": '{"type": "Escalate", "context": "billing"}'}
    with pytest.raises(WireError, match=r"^channelData\.tags\.context: must be a JSON object"):
        translate_activity(activity, participant=BOT, known=True)


def test_first_queue_of_follows_the_configs_order() -> None:
    config = _config()
    assert first_queue_of(config, BOT) == "support"
    assert first_queue_of(config, "rep-1") == "support"
    assert first_queue_of(config, "nobody") is None


# -- outbound -------------------------------------------------------------------------------------


def _iso(text: object) -> datetime.datetime:
    assert isinstance(text, str) and text.endswith("Z")
    return datetime.datetime.fromisoformat(text)


@pytest.mark.parametrize("state", list(HandoffState))
def test_handoff_status_has_eventfactorys_layout_field_by_field(state: HandoffState) -> None:
    layout = load(LAYOUT)
    message = "no agent" if state is HandoffState.FAILED else ""
    activity = handoff_status(
        conversation={"id": "c1"}, state=state, activity_id="bot-a:1", now=1581371497.5,
        message=message, relates_to={"conversation": {"id": "c1"}},
    )  # fmt: skip
    expected_keys = [key for key in layout if not key.startswith("_")]
    assert [key for key in activity if key != "relatesTo"] == expected_keys
    assert activity["type"] == layout["type"] and activity["name"] == layout["name"]
    assert isinstance(activity["id"], str) and activity["id"]
    assert _iso(activity["timestamp"]) == datetime.datetime(
        2020, 2, 10, 21, 51, 37, 500000, tzinfo=datetime.UTC
    )
    assert activity["conversation"] == {"id": "c1"}
    assert activity["relatesTo"] == {"conversation": {"id": "c1"}}
    assert activity["attachments"] == layout["attachments"] == []
    assert activity["entities"] == layout["entities"] == []
    reference_value = layout["value"]
    assert isinstance(reference_value, dict)
    value = activity["value"]
    assert isinstance(value, dict)
    assert list(value) == (["state", "message"] if message else ["state"])
    assert value["state"] in str(reference_value["state"]).split("|")


@pytest.mark.parametrize("state", ["completed", "failed"])
def test_handoff_status_value_is_what_the_bot_docs_show(state: str) -> None:
    documented = load(f"botframework_handoff_status_value_{state}_botdocs.json")
    message = documented.get("message", "")
    assert isinstance(message, str)
    activity = handoff_status(
        conversation={"id": "c1"}, state=HandoffState(state), activity_id="x", now=0,
        message=message,
    )  # fmt: skip
    assert activity["value"] == documented


# -- the hub, on a real switchboard ---------------------------------------------------------------


def _config() -> Config:
    return Config.build(
        participants=[
            ParticipantSpec(id=BOT, kind=Kind.BOT, capacity=10),
            ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=2),
        ],
        queues=[QueueSpec(name="support", members=(BOT, "rep-1"))],
    )


class Center:
    """A switchboard and a hub fed as the service will feed them: translated steps through the
    strict reader, every effect as the runner's line, in order."""

    def __init__(self) -> None:
        self.config = _config()
        self.board = Switchboard(self.config)
        self.hub = BotFrameworkHub.for_config(self.config)
        self.seq = 0
        self.told: list[BotActivity] = []

    def step(self, step: dict[str, object], now: float) -> None:
        event = read_step(Translated(step=step)).event  # type: ignore[arg-type]
        self.apply(event, now)

    def apply(self, event: object, now: float) -> None:
        try:
            effects = self.board.handle(event, now=now)  # type: ignore[arg-type]
        except StepRefused as refused:
            conversation = getattr(event, "conversation", None)
            assert isinstance(conversation, str)
            self.told += self.hub.refused(conversation, str(refused), now)
            return
        for line in effect_lines(effects, self.seq):
            self.told += self.hub.feed(line, now)
        self.seq += len(effects)

    def activity(self, activity: dict[str, object], now: float) -> None:
        translated = self.hub.receive(
            activity, participant=BOT, known=self.board.state_of("c1") is not None,
            queue="support",
        )  # fmt: skip
        assert isinstance(translated, Translated)
        self.apply(read_step(translated).event, now)

    def summary(self) -> list[tuple[str, int, str, object]]:
        out: list[tuple[str, int, str, object]] = []
        for told in self.told:
            value = told.activity.get("value")
            what = value.get("state") if isinstance(value, dict) else told.activity.get("text")
            out.append((told.bot, told.number, str(told.activity["type"]), what))
        return out


def _initiate_c1(value: dict[str, object] | None = None) -> dict[str, object]:
    activity: dict[str, object] = {
        "type": "event", "name": "handoff.initiate", "id": "c1|0000003",
        "conversation": {"id": "c1"},
        "relatesTo": {
            "user": {"id": "u-ana", "role": "user"}, "bot": {"id": "b", "role": "bot"},
            "conversation": {"id": "c1"}, "channelId": "directline",
        },
    }  # fmt: skip
    if value is not None:
        activity["value"] = value
    return activity


def test_the_bot_is_told_accepted_then_completed_and_gets_the_customers_messages() -> None:
    center = Center()
    center.step({"start": {"conversation": "c1", "queue": "support"}}, now=0)
    center.step({"customer": {"conversation": "c1", "text": "my card"}}, now=1)
    center.activity(_initiate_c1(), now=2)
    center.step({"accept": {"conversation": "c1", "participant": "rep-1"}}, now=3)
    center.step({"transfer": {"conversation": "c1", "participant": "rep-1", "queue": "support",
                              "to": BOT}}, now=4)  # fmt: skip
    center.step({"customer": {"conversation": "c1", "text": "thanks"}}, now=5)
    center.step({"end": {"conversation": "c1", "participant": BOT}}, now=6)
    assert center.summary() == [
        (BOT, 1, "message", "my card"),
        (BOT, 2, "event", "accepted"),
        (BOT, 3, "message", "thanks"),
        (BOT, 4, "event", "completed"),
    ]
    before, after = center.told[0].activity, center.told[2].activity
    assert before["from"] == {"id": "customer", "role": "user"}  # no reference known yet
    assert after["from"] == {"id": "u-ana", "role": "user"}  # the initiation's user
    assert after["recipient"] == {"id": BOT, "role": "bot"}
    accepted = center.told[1].activity
    assert accepted["id"] == f"{BOT}:2" and accepted["relatesTo"] == _initiate_c1()["relatesTo"]
    assert _iso(accepted["timestamp"]).timestamp() == 3


@pytest.mark.parametrize(
    ("ending", "message"),
    [
        ({"cancel": {"conversation": "c1"}}, f"{BOT} holds it again"),
        ({"customer_left": {"conversation": "c1"}}, "it ended (abandoned)"),
    ],
    ids=["cancel-back-to-the-bot", "customer-left"],
)  # fmt: skip
def test_a_wait_that_ends_without_a_human_is_failed_with_a_message(
    ending: dict[str, object], message: str
) -> None:
    center = Center()
    center.step({"start": {"conversation": "c1", "queue": "support"}}, now=0)
    center.activity(_initiate_c1(), now=1)
    center.step(ending, now=2)
    statuses = [t.activity["value"] for t in center.told if t.activity["type"] == "event"]
    assert statuses == [
        {"state": "failed", "message": f"no human took the conversation: {message}"}
    ]


def test_a_refused_initiation_is_failed_with_the_refusal_and_forgotten() -> None:
    center = Center()
    center.step({"start": {"conversation": "c1", "queue": "support"}}, now=0)
    center.activity(_initiate_c1(), now=1)
    center.step({"accept": {"conversation": "c1", "participant": "rep-1"}}, now=2)
    center.activity(_initiate_c1(), now=3)  # the bot no longer holds it: refused
    last = center.told[-1].activity
    value = last["value"]
    assert isinstance(value, dict) and value["state"] == "failed" and value["message"]
    assert center.hub.initiator("c1") is None


def test_an_error_line_right_after_the_initiation_refuses_it() -> None:
    hub = BotFrameworkHub({BOT: Kind.BOT})
    hub.receive(_initiate_c1(), participant=BOT, known=True)
    told = hub.feed({"kind": "error", "conversation": "c1", "to": None, "error": "no human"}, 9)
    assert [t.activity["value"] for t in told] == [{"state": "failed", "message": "no human"}]
    assert hub.feed({"kind": "error", "conversation": "c1", "error": "again"}, 9) == []


def test_a_malformed_activity_leaves_the_hub_as_it_was() -> None:
    hub = BotFrameworkHub({BOT: Kind.BOT})
    with pytest.raises(WireError):
        hub.receive(_initiate_c1({"x": 1}) | {"attachments": 3}, participant=BOT, known=True)
    assert hub.initiator("c1") is None


def test_the_same_feed_gives_the_same_activities_byte_for_byte() -> None:
    def run() -> str:
        center = Center()
        center.step({"start": {"conversation": "c1", "queue": "support"}}, now=0)
        center.activity(_initiate_c1({"va_Topic": "card"}), now=1)
        center.step({"accept": {"conversation": "c1", "participant": "rep-1"}}, now=2)
        return json.dumps([t.activity for t in center.told])

    assert run() == run()
