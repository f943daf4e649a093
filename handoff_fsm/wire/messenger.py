"""The Messenger handover protocol: thread ownership mapped onto the center's holders.

Theory of operation: on a Facebook Page, one app owns a thread (a customer's conversation with
the Page) at a time; the Page's primary receiver (usually the bot) can take it back, others ask
for it. Each app the center deals with is one participant (`apps` maps the app id to the
participant id; the Page Inbox app 263902037430900 stands for one human participant), and the
thread is the conversation, named by the customer's page-scoped id (PSID, `sender.id` of the
events the customer's side sends). The owner of the thread is the holder of the conversation.

Inbound, `translate_webhook` gives one translation per event of a Page webhook (`entry[]`,
`messaging[]` and `standby[]`), and `translate_event` one for a single event:
`pass_thread_control` hands the conversation to the new owner (`transfer` naming it, or `start`
for a thread the center does not know), `take_thread_control` is a `transfer` from the previous
owner to the primary receiver, `request_thread_control` a `transfer` from the holder to the
requesting app (the center grants it, routing permitting), a customer's text `message` is a
`customer` step. The `metadata` text goes with the hand-over as its `reason`. Standby events
(copies for apps that do not own the thread), echoes, postbacks and `app_roles` are `Ignored`.

Outbound, `MessengerBridge`, fed the center's effect lines in order, gives the Graph API
handover calls that keep the thread's owner equal to the holder: `pass_thread_control` by the
current owner's app when another app's participant becomes holder, and back to the primary
receiver when the conversation ends.

Rules: pure; the step `id` is `messenger:`, the PSID and the event's `timestamp` with the kind.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from handoff_fsm.events import JsonValue
from handoff_fsm.wire.common import (
    Ignored,
    Payload,
    Translation,
    field,
    hand_over,
    items,
    join,
    line_head,
    name,
    obj,
    participant_for,
    step,
    text,
    transfer,
)

HANDOVERS = ("pass_thread_control", "take_thread_control", "request_thread_control")
_TARGET = {
    "pass_thread_control": "new_owner_app_id",
    "take_thread_control": "previous_owner_app_id",
    "request_thread_control": "requested_owner_app_id",
}
"""The app id field of each handover event."""


def claims(payload: object) -> bool:
    """Whether `payload` is a Messenger Page webhook or one of its events."""
    if not isinstance(payload, dict):
        return False
    if payload.get("object") == "page":
        return True
    return isinstance(payload.get("recipient"), dict) and (
        "app_roles" in payload or any(key in payload for key in HANDOVERS) or "sender" in payload
    )


def translate_webhook(
    body: object,
    *,
    apps: Mapping[str, str],
    primary: str,
    holders: Mapping[str, str | None],
    queue: str,
) -> list[Translation]:
    """One translation per event of a Page webhook (`{"object": "page", "entry": [...]}`), in
    order, `messaging` before `standby` within an entry. Arguments as for `translate_event`."""
    webhook = obj(body, "")
    translations: list[Translation] = []
    for index, entry_value in enumerate(items(field(webhook, "entry", ""), "entry")):
        place = join("entry", index)
        entry = obj(entry_value, place)
        for key in ("messaging", "standby"):
            for number, event in enumerate(items(entry.get(key, []), join(place, key))):
                where = join(join(place, key), number)
                if key == "standby":
                    obj(event, where)
                    translations.append(
                        Ignored(reason="standby: a copy for an app that does not own the thread")
                    )
                    continue
                translations.append(
                    translate_event(
                        event, apps=apps, primary=primary, holders=holders, queue=queue, place=where
                    )
                )
    return translations


def translate_event(
    event: object,
    *,
    apps: Mapping[str, str],
    primary: str,
    holders: Mapping[str, str | None],
    queue: str,
    place: str = "",
) -> Translation:
    """One messaging event. `apps`: app id -> participant; `primary`: the Page's primary
    receiver's app id; `holders`: each conversation (PSID) the center knows -> its holder (None
    while nobody holds it); `queue`: the queue hand-overs go through."""
    message = obj(event, place)
    if "app_roles" in message:
        obj(message["app_roles"], join(place, "app_roles"))
        return Ignored(reason="app_roles: the Page's app roles are configuration, not a step")
    sender_place = join(place, "sender")
    sender = obj(field(message, "sender", place), sender_place)
    conversation = name(field(sender, "id", sender_place), join(sender_place, "id"))
    timestamp = message.get("timestamp")
    for kind in HANDOVERS:
        if kind in message:
            where = join(place, kind)
            handover = obj(message[kind], where)
            step_id = None if timestamp is None else f"messenger:{conversation}:{timestamp}:{kind}"
            app = participant_for(
                apps, field(handover, _TARGET[kind], where), join(where, _TARGET[kind]), "app"
            )
            note = handover.get("metadata")
            reason = kind if note in (None, "") else text(note, join(where, "metadata"))
            if kind == "take_thread_control":
                owner = participant_for(apps, primary, "primary", "app")
                return transfer(conversation, app, owner, queue, reason, {}, step_id)
            return hand_over(
                conversation=conversation,
                holders=holders,
                to=app,
                queue=queue,
                reason=reason,
                variables={},
                step_id=step_id,
            )
    if "message" in message:
        where = join(place, "message")
        content = obj(message["message"], where)
        if content.get("is_echo") is True:
            return Ignored(reason="an echo of what the Page sent")
        if content.get("text") in (None, ""):
            return Ignored(reason="a message without text (attachments are not relayed)")
        step_id = None if content.get("mid") is None else f"messenger:{content['mid']}"
        body: dict[str, JsonValue] = {
            "conversation": conversation,
            "text": text(content["text"], join(where, "text")),
        }
        return step("customer", body, step_id)
    return Ignored(reason="a messaging event the center does not handle (postback, read, ...)")


# -- outbound -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class HandoverCall:
    """A Graph API handover call: `POST /me/{api}` with the access token of `app`, and `body`."""

    app: str
    api: str
    body: Mapping[str, JsonValue]


class MessengerBridge:
    """Keeps each thread's owner equal to the conversation's holder, from effect lines fed in
    order. Holders no app stands for (humans inside the center) leave the owner as it is."""

    def __init__(self, apps: Mapping[str, str], primary: str) -> None:
        self._apps = {participant: app for app, participant in apps.items()}
        if len(self._apps) != len(apps):
            raise ValueError("apps: two app ids stand for one participant")
        if primary not in apps:
            raise ValueError(f"primary: app {primary!r} is not one of the apps")
        self._primary = primary
        self._owners: dict[str, str] = {}

    def owner(self, conversation: str) -> str:
        """The app that owns the thread as the bridge knows it (the primary receiver at first)."""
        return self._owners.get(conversation, self._primary)

    def feed(self, line: Payload) -> list[HandoverCall]:
        head = line_head(line)
        if head is None:
            return []
        kind, conversation, to = head.kind, head.conversation, head.to
        if kind == "ended":
            owner = self._owners.pop(conversation, self._primary)
            back = self._pass(conversation, self._primary, owner)
            return [] if owner == self._primary else [back]
        if kind == "participant_added" and line.get("role") == "holder" and to in self._apps:
            target = self._apps[to]
            owner = self.owner(conversation)
            self._owners[conversation] = target
            return [] if target == owner else [self._pass(conversation, target, owner)]
        return []

    @staticmethod
    def _pass(conversation: str, target: str, owner: str) -> HandoverCall:
        body: dict[str, JsonValue] = {"recipient": {"id": conversation}, "target_app_id": target}
        return HandoverCall(app=owner, api="pass_thread_control", body=body)
