"""The real payloads of `../shared/payloads/` for the wire translators' tests, and the strict
reader every translated step must pass.

The payloads live beside the repository (`Path(__file__).parents[2] / "shared" / "payloads"`);
where that directory is absent the tests that need it skip with the reason, unless the CI
environment variable is set, where it is required.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import pytest

from handoff_fsm import events
from handoff_fsm.adapters.scenario import ScenarioStep, parse_scenario
from handoff_fsm.config import Kind
from handoff_fsm.effects import Effect
from handoff_fsm.errors import ScenarioError
from handoff_fsm.events import JsonValue
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.wire import botframework, messenger, sunshine
from handoff_fsm.wire.common import Translated, Translation

PAYLOADS = Path(__file__).resolve().parents[2] / "shared" / "payloads"
OUT_OF_SCOPE = "twilio_"
"""Twilio TaskRouter worker events: not a bot handoff wire format (docs/wire-formats.md)."""
OUTBOUND_REFERENCES = frozenset(
    {
        "DERIVED_botframework_handoff_status_eventfactory_layout.json",
        "botframework_handoff_status_value_completed_botdocs.json",
        "botframework_handoff_status_value_failed_botdocs.json",
    }
)
"""Layouts the hub produces (compared field by field), not payloads it receives."""
V2_FIELDS = {
    "start": frozenset({"kind", "to", "requires", "priority", "transcript"}),
    "escalate": frozenset({"requires", "priority", "reason", "variables"}),
    "transfer": frozenset({"requires", "priority", "reason", "variables"}),
}
"""The fields contract v2 adds to the steps (SPEC §5)."""
CORE_SPEAKS_V2 = "transcript" in attrs.fields_dict(events.Start) and "variables" in (
    attrs.fields_dict(events.Escalate)
)


def payload_dir() -> Path:
    if not PAYLOADS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{PAYLOADS} is missing (required when CI is set)")
        pytest.skip(f"{PAYLOADS} is absent: the shared payloads sit beside the repository")
    return PAYLOADS


def payload_files() -> list[str]:
    """File names for parametrizing (empty when the directory is absent: the test that iterates
    it then skips through `payload_dir`)."""
    if not PAYLOADS.is_dir():
        return []
    return sorted(p.name for p in PAYLOADS.glob("*.json"))


def load(name: str) -> dict[str, object]:
    data = json.loads((payload_dir() / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def read_step(translated: Translated) -> ScenarioStep:
    """The step through the scenario format's strict reader, as the service will feed it. A step
    with contract v2 fields skips while the core does not read them yet."""
    try:
        return parse_scenario({"steps": [dict(translated.step)]}, "<wire>").steps[0]
    except ScenarioError as error:
        key = error.place.rsplit(".", 1)[-1]
        if not CORE_SPEAKS_V2 and key in V2_FIELDS.get(translated.kind, ()):
            pytest.skip(f"the core does not read the contract v2 field {translated.kind}.{key} yet")
        raise


# -- one context for every payload file -----------------------------------------------------------

BOT = "bot-a"
AGENTS = "agents"
"""The human participant behind a platform's agent side (Sunshine's `human` integration, the
Messenger app 123456789 of the captured payloads)."""
KINDS = {BOT: Kind.BOT, AGENTS: Kind.HUMAN}
INTEGRATIONS = {"bot": BOT, "human": AGENTS}
BOT_APP = "111111111"
APPS = {BOT_APP: BOT, "123456789": AGENTS}
SUNSHINE_HOLDERS: dict[str, str | None] = {"f52b01137aa6c250bc7251fa": BOT}
MESSENGER_HOLDERS: dict[str, str | None] = {"<PSID>": BOT}
QUEUE = "support"


def claimants(document: object) -> list[str]:
    return [
        module.__name__.rsplit(".", 1)[-1]
        for module in (botframework, sunshine, messenger)
        if module.claims(document)
    ]


def documents_of(name: str) -> list[object]:
    """The inbound documents of a payload file: the file itself, or, for a DERIVED_ file that
    gathers several (`_derived_from`), each part some translator claims."""
    data = load(name)
    if "_derived_from" not in data:
        return [data]
    return [part for part in data.values() if claimants(part)]


def translate_any(document: object) -> list[Translation]:
    """Translate a document with the module that claims it, in the context above."""
    (module,) = claimants(document)
    if module == "sunshine":
        return sunshine.translate_webhook(
            document, integrations=INTEGRATIONS, kinds=KINDS, holders=SUNSHINE_HOLDERS, queue=QUEUE
        )
    if module == "messenger":
        if isinstance(document, dict) and document.get("object") == "page":
            return messenger.translate_webhook(
                document, apps=APPS, primary=BOT_APP, holders=MESSENGER_HOLDERS, queue=QUEUE
            )
        return [
            messenger.translate_event(
                document, apps=APPS, primary=BOT_APP, holders=MESSENGER_HOLDERS, queue=QUEUE
            )
        ]
    assert isinstance(document, dict)
    activities = document.get("activities", [document])
    assert isinstance(activities, list)
    return [
        botframework.translate_activity(
            {"conversation": {"id": "c1"}, **activity}, participant=BOT, known=True
        )
        for activity in activities
    ]


def effect_lines(effects: Sequence[Effect], after: int) -> list[dict[str, JsonValue]]:
    """Effects as the runner's lines (without `step` and `state`, which the translators do not
    read), numbered from `after + 1`."""
    lines = []
    for seq, effect in enumerate(effects, start=after + 1):
        line: dict[str, JsonValue] = {
            "seq": seq, "kind": effect.KIND, "conversation": effect.conversation, "to": effect.to,
        }  # fmt: skip
        line.update(effect.fields())
        lines.append(line)
    return lines


def apply(board: Switchboard, step: Mapping[str, JsonValue], now: float) -> list[Effect]:
    """A step mapping through the strict reader, handled by `board`."""
    return board.handle(read_step(Translated(step=step)).event, now=now)
