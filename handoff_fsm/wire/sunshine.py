"""Sunshine Conversations switchboard events, to and from the center's hand-overs.

Theory of operation: in Sunshine Conversations a conversation is controlled by one switchboard
integration at a time (`activeSwitchboardIntegration`), and may be offered to another
(`pendingSwitchboardIntegration`). Each integration the center deals with is one participant
(`integrations` maps the integration's `name` to the participant id): a bot integration is a bot,
the agent workspace integration one human participant (Sunshine knows integrations, not agents).

Inbound, `translate_webhook` gives one translation per event of a webhook (`events[]`):
`switchboard:offerControl` is a hand-over that makes an offer (`transfer` from the active
integration naming the pending one), `switchboard:acceptControl` the human's `accept`,
`switchboard:passControl` a hand-over to the new active integration (`transfer` from the holder,
or `start` of a conversation the center does not know), `switchboard:releaseControl` an `end` by
the holder. Failure events (`...:failure`) report that Sunshine refused an action: they are
`Ignored`, with the error in the reason, as are events of other types. `payload.metadata` (a flat
object of text, numbers and booleans, at most 4 KB) is carried as the hand-over's variables.

Outbound, `SunshineBridge`, fed the center's effect lines in order, says which switchboard
actions to call: `offerControl` for an offer, `acceptControl` when the offered participant joins,
`passControl` when another joins as holder (with the context's scalar variables as `metadata`,
refused beyond 4 KB), `releaseControl` when the conversation ends.

Rules: pure; a step's `id` is `sunshine:` and the event's id, so a redelivered webhook is one step.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from handoff_fsm.config import Kind
from handoff_fsm.events import JsonValue
from handoff_fsm.wire.common import (
    Ignored,
    MetadataTooLarge,
    Payload,
    Translation,
    WireError,
    describe,
    fail,
    field,
    hand_over,
    items,
    join,
    json_size,
    line_head,
    name,
    obj,
    participant_for,
    step,
    transfer,
)

METADATA_LIMIT = 4096
"""Bytes of JSON Sunshine accepts in a switchboard action's `metadata`."""
SWITCHBOARD = "switchboard:"
FAILURE = ":failure"
ACTIONS = ("passControl", "offerControl", "acceptControl", "releaseControl")


def claims(payload: object) -> bool:
    """Whether `payload` is a Sunshine Conversations webhook (`app`, `webhook`, `events`)."""
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("events"), list)
        and isinstance(payload.get("webhook"), dict)
    )


def translate_webhook(
    body: object,
    *,
    integrations: Mapping[str, str],
    kinds: Mapping[str, Kind],
    holders: Mapping[str, str | None],
    queue: str,
) -> list[Translation]:
    """One translation per event of a webhook body, in order (read whole before any is given).

    `integrations`: integration name -> participant; `kinds`: participant -> kind; `holders`:
    each conversation the center knows -> its holder (None while nobody holds it); `queue`: the
    queue hand-overs go through (the holder's queue, or the one to start a new conversation in).
    """
    events = items(field(obj(body, ""), "events", ""), "events")
    return [
        translate_event(
            obj(event, join("events", index)),
            join("events", index),
            integrations=integrations,
            kinds=kinds,
            holders=holders,
            queue=queue,
        )
        for index, event in enumerate(events)
    ]


def translate_event(
    event: Payload,
    place: str,
    *,
    integrations: Mapping[str, str],
    kinds: Mapping[str, Kind],
    holders: Mapping[str, str | None],
    queue: str,
) -> Translation:
    kind = name(field(event, "type", place), join(place, "type"))
    if not kind.startswith(SWITCHBOARD):
        return Ignored(reason=f"event type {kind!r} is not a switchboard event")
    action = kind.removeprefix(SWITCHBOARD)
    payload_place = join(place, "payload")
    payload = obj(field(event, "payload", place), payload_place)
    if action.endswith(FAILURE):
        error = payload.get("error")
        said = ""
        if isinstance(error, dict):
            said = f" ({error.get('code')}: {error.get('message')})"
        return Ignored(reason=f"Sunshine refused {action.removesuffix(FAILURE)}{said}")
    if action not in ACTIONS:
        return Ignored(reason=f"switchboard event {action!r} is not handled")
    conversation_place = join(payload_place, "conversation")
    conversation_body = obj(field(payload, "conversation", payload_place), conversation_place)
    conversation = name(
        field(conversation_body, "id", conversation_place), join(conversation_place, "id")
    )
    variables = metadata_variables(payload.get("metadata"), join(payload_place, "metadata"))
    event_id = event.get("id")
    step_id = None if event_id is None else f"sunshine:{name(event_id, join(place, 'id'))}"

    def integration(key: str) -> str:
        where = join(conversation_place, key)
        body = obj(field(conversation_body, key, conversation_place), where)
        return participant_for(
            integrations, field(body, "name", where), join(where, "name"), "integration"
        )

    if action == "releaseControl":
        holder = holders.get(conversation)
        if holder is None:
            return Ignored(reason=f"nobody holds {conversation!r}: there is nothing to release")
        return step("end", {"conversation": conversation, "participant": holder}, step_id)
    active = integration("activeSwitchboardIntegration")
    if action == "acceptControl":
        if kinds.get(active) is not Kind.HUMAN:
            return Ignored(reason=f"{active!r} is a bot: it took the conversation at once")
        return step("accept", {"conversation": conversation, "participant": active}, step_id)
    if action == "offerControl":
        pending = integration("pendingSwitchboardIntegration")
        return transfer(conversation, active, pending, queue, action, variables, step_id)
    return hand_over(
        conversation=conversation,
        holders=holders,
        to=active,
        queue=queue,
        reason=action,
        variables=variables,
        step_id=step_id,
    )


def metadata_variables(value: object, place: str) -> dict[str, JsonValue]:
    """Sunshine's `metadata` as variables: a flat object of text, numbers and booleans, at most
    4 KB of JSON (Sunshine's own limits, so a payload beyond them is not Sunshine's)."""
    if value is None:
        return {}
    variables: dict[str, JsonValue] = {}
    for key, item in obj(value, place).items():
        if not isinstance(item, str | int | float):  # bool is an int
            fail(join(place, key), f"must be text, a number or a boolean, got {describe(item)}")
        variables[key] = item
    _check_size(variables, place, WireError)
    return variables


def _check_size(variables: dict[str, JsonValue], place: str, error: type[WireError]) -> None:
    size = json_size(variables)
    if size > METADATA_LIMIT:
        limit = f"above Sunshine's metadata limit of {METADATA_LIMIT} bytes"
        raise error(place, f"is {size} bytes of JSON, {limit}")


# -- outbound -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SwitchboardAction:
    """A Sunshine switchboard API call: `POST /v2/apps/{appId}/conversations/{conversation}/
    {action}` with `body`."""

    conversation: str
    action: str
    body: Mapping[str, JsonValue]


class SunshineBridge:
    """Which switchboard actions follow from the center's effect lines (fed in order).

    Participants no integration stands for are the center's own business: no action for them.
    """

    def __init__(self, integrations: Mapping[str, str]) -> None:
        self._names = {participant: name for name, participant in integrations.items()}
        if len(self._names) != len(integrations):
            raise ValueError("integrations: two integration names stand for one participant")
        self._offered: dict[str, str] = {}
        self._joining: dict[str, str] = {}

    def feed(self, line: Payload) -> list[SwitchboardAction]:
        head = line_head(line)
        if head is None:
            return []
        kind, conversation, to = head.kind, head.conversation, head.to
        if kind == "ended":
            self._offered.pop(conversation, None)
            self._joining.pop(conversation, None)
            return [SwitchboardAction(conversation=conversation, action="releaseControl", body={})]
        if to is None or to not in self._names:
            return []
        if kind == "offer":
            self._offered[conversation] = to
            body: dict[str, JsonValue] = {"switchboardIntegration": self._names[to]}
            return [SwitchboardAction(conversation=conversation, action="offerControl", body=body)]
        if kind == "offer_withdrawn" and self._offered.get(conversation) == to:
            del self._offered[conversation]
        if kind == "participant_added" and line.get("role") == "holder":
            self._joining[conversation] = to
        if kind == "context_set" and self._joining.get(conversation) == to:
            action = self._joined(conversation, to, line)  # may refuse: nothing changed yet
            del self._joining[conversation]
            return [action]
        return []

    def _joined(self, conversation: str, to: str, line: Payload) -> SwitchboardAction:
        context = line.get("context")
        found = context.get("variables") if isinstance(context, dict) else None
        metadata: dict[str, JsonValue] = {}
        if isinstance(found, dict):
            metadata = {
                key: value
                for key, value in found.items()
                if isinstance(value, str | int | float) and isinstance(key, str)
            }
        _check_size(metadata, "context.variables", MetadataTooLarge)
        body: dict[str, JsonValue] = {"metadata": metadata} if metadata else {}
        if self._offered.pop(conversation, None) == to:
            return SwitchboardAction(conversation=conversation, action="acceptControl", body=body)
        body = {"switchboardIntegration": self._names[to], **body}
        return SwitchboardAction(conversation=conversation, action="passControl", body=body)
