"""The Bot Framework handoff protocol (Copilot Studio, Power Virtual Agents, Omnichannel).

Theory of operation: the center plays the agent hub of SPEC §7. Inbound, `translate_activity`
turns one Activity from a bot into at most one step: a `message` is the bot's message to the
customer (`bot`); a `handoff.initiate` event (or Omnichannel's escalation message, a `message`
whose `channelData.tags` is `{"type": "Escalate", ...}`) is ONE step asking for a human: an
`escalate` of a conversation the center holds, or a `start` in the caller's queue, `kind: human`,
with the `Transcript` attachment's messages as its transcript, for one it does not know. Every
scalar field of `value` (Omnichannel: of the tags' `context`) becomes a variable under its own
name, spelled as it came (`va_LastPhrase` and `va_LastPhrases` both pass). Other activity types,
and events with other names, are `Ignored`, as the protocol asks of receivers.

Outbound, `BotFrameworkHub` remembers which bot sent the `handoff.initiate` of each conversation
and, fed the center's effect lines in order, yields what each bot must be told, numbered per bot
from 1: customer messages as `message` activities, and `handoff.status` events in the layout of
botbuilder's `EventFactory.createHandoffStatus` (plus `relatesTo`, the initiation's
ConversationReference): `accepted` when a human becomes holder, `failed` with a message when the
escalation was refused or the wait ended without a human (a bot holding it again included), and
`completed` when the conversation ends after a human held it.

Rules: pure. An activity's `id` and `timestamp` come from the bot's numbering and the caller's
`now`; the same feed gives the same activities. The hub records an initiation only once the
activity was read whole, so a malformed one (WireError) leaves it unchanged.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping

import attrs

from handoff_fsm.config import Config, Kind
from handoff_fsm.effects import CUSTOMER, Role
from handoff_fsm.events import JsonValue
from handoff_fsm.wire.common import (
    Ignored,
    Payload,
    Translated,
    Translation,
    describe,
    fail,
    field,
    iso_timestamp,
    items,
    join,
    line_head,
    line_text,
    name,
    obj,
    plain,
    scalar_variables,
    step,
    text,
)

HANDOFF_INITIATE = "handoff.initiate"
HANDOFF_STATUS = "handoff.status"
TRANSCRIPT_ATTACHMENT = "Transcript"
ACTIVITY_TYPES = frozenset(
    {
        "message", "contactRelationUpdate", "conversationUpdate", "typing", "endOfConversation",
        "event", "invoke", "invokeResponse", "deleteUserData", "messageUpdate", "messageDelete",
        "installationUpdate", "messageReaction", "suggestion", "trace", "handoff", "command",
        "commandResult",
    }
)  # fmt: skip
"""The activity types of the Bot Framework Activity schema."""
ESCALATE_REASON = HANDOFF_INITIATE
"""The `reason` of an escalation asked with `handoff.initiate` (it reaches the next holder)."""


class HandoffState(enum.StrEnum):
    """`value.state` of a `handoff.status` event (botbuilder's `HandoffStates` that a hub sends)."""

    ACCEPTED = "accepted"
    FAILED = "failed"
    COMPLETED = "completed"


# -- inbound --------------------------------------------------------------------------------------


def claims(payload: object) -> bool:
    """Whether `payload` looks like Bot Framework: an Activity (its `type` is an activity type of
    the Bot Framework schema), or a Direct Line page of them (`{"activities": [...]}`)."""
    if not isinstance(payload, dict):
        return False
    return isinstance(payload.get("activities"), list) or payload.get("type") in ACTIVITY_TYPES


def translate_activity(
    activity: object, *, participant: str, known: bool, queue: str | None = None
) -> Translation:
    """One step for one Activity that bot `participant` sent.

    `known`: whether the center holds the activity's conversation (a `handoff.initiate` then
    escalates it; else it starts it in `queue`, which the caller must then give: SPEC §7 says the
    `queue` query parameter, else the first queue the bot is a member of, see `first_queue_of`).
    """
    act = obj(activity, "")
    kind = text(field(act, "type", ""), "type")
    account = obj(field(act, "conversation", ""), "conversation")
    conversation = name(field(account, "id", "conversation"), "conversation.id")
    step_id = _step_id(act, participant)
    transcript: list[JsonValue] = []
    if kind == "event" and act.get("name") == HANDOFF_INITIATE:
        value = act.get("value")
        variables = {} if value is None else scalar_variables(obj(value, "value"))
        transcript = transcript_of(act, participant)
        reason = ESCALATE_REASON
    elif kind != "message":
        what = f"event {act.get('name')!r}" if kind == "event" else f"activity type {kind!r}"
        return Ignored(reason=f"{what} is not handled by the hub")
    else:
        said = act.get("text")
        said = None if said in (None, "") else text(said, "text")
        tags = _omnichannel_tags(act)
        tag = None if tags is None else tags.get("type")
        if tags is None and said is None:
            return Ignored(reason="a message without text (attachments are not relayed)")
        if tags is None:
            body = {"conversation": conversation, "participant": participant, "text": said}
            return step("bot", body, step_id)
        if tag == "EndConversation":
            return step("end", {"conversation": conversation, "participant": participant}, step_id)
        if tag != "Escalate":
            return Ignored(reason=f"Omnichannel tag type {describe(tag)} is not handled by the hub")
        context = tags.get("context")
        variables = (
            {} if context is None else scalar_variables(obj(context, "channelData.tags.context"))
        )
        reason = said or "Escalate"  # Omnichannel's message to the agent
    return escalation_step(
        conversation=conversation,
        participant=participant,
        known=known,
        queue=queue,
        variables=variables,
        transcript=transcript,
        reason=reason,
        step_id=step_id,
    )


def escalation_step(
    *,
    conversation: str,
    participant: str,
    known: bool,
    queue: str | None,
    variables: Mapping[str, JsonValue],
    transcript: list[JsonValue],
    reason: str,
    step_id: str | None,
) -> Translated:
    """A request for a human as one step: `escalate` of a held conversation (its transcript is
    already in the center), else `start` in `queue` asking for a human."""
    if known:
        body: dict[str, JsonValue] = {
            "conversation": conversation,
            "participant": participant,
            "reason": reason,
            "variables": dict(variables),
        }
        return step("escalate", body, step_id)
    if queue is None:
        raise ValueError(
            f"conversation {conversation!r} is new to the center: give the queue to start it in"
        )
    body = {
        "conversation": conversation,
        "queue": queue,
        "kind": Kind.HUMAN.value,
        "variables": dict(variables),
        "transcript": transcript,
    }
    return step("start", body, step_id)


def transcript_of(activity: Payload, bot: str) -> list[JsonValue]:
    """The message activities of the attachment named `Transcript` (`content.activities`), as
    transcript entries: `from` is `customer` for role `user`, else the bot."""
    found = activity.get("attachments")
    if found is None:
        return []
    entries: list[JsonValue] = []
    for index, item in enumerate(items(found, "attachments")):
        place = join("attachments", index)
        attachment = obj(item, place)
        if attachment.get("name") != TRANSCRIPT_ATTACHMENT:
            continue
        content_place = join(place, "content")
        content = obj(field(attachment, "content", place), content_place)
        place = join(content_place, "activities")
        for number, line in enumerate(items(field(content, "activities", content_place), place)):
            entry = _transcript_entry(obj(line, join(place, number)), join(place, number), bot)
            if entry is not None:
                entries.append(entry)
    return entries


def _transcript_entry(line: Payload, place: str, bot: str) -> JsonValue:
    if line.get("type") != "message" or line.get("text") in (None, ""):
        return None
    said = text(line["text"], join(place, "text"))
    sender = line.get("from")
    role = obj(sender, join(place, "from")).get("role") if sender is not None else None
    return {"from": CUSTOMER if role == "user" else bot, "text": said}


def _step_id(activity: Payload, participant: str) -> str | None:
    """A retried delivery of one activity is one step: its id is the activity's own."""
    activity_id = activity.get("id")
    if activity_id is None:
        return None
    return f"botframework:{participant}:{text(activity_id, 'id')}"


def _omnichannel_tags(activity: Payload) -> Payload | None:
    """Omnichannel's `channelData.tags`: a JSON object given as text; None when absent."""
    channel = activity.get("channelData")
    if not isinstance(channel, dict) or channel.get("tags") is None:
        return None
    place = "channelData.tags"
    raw = text(channel["tags"], place)
    try:
        tags = json.loads(raw)
    except json.JSONDecodeError as exc:
        fail(place, f"is not JSON ({exc.msg} at offset {exc.pos}); Omnichannel sends an object")
    return obj(tags, place)


def first_queue_of(config: Config, participant: str) -> str | None:
    """The first queue (in the config's order) that `participant` is a member of (SPEC §7's
    default for a `handoff.initiate` of a conversation the center does not know)."""
    return next((queue.name for queue in config.queues if participant in queue.members), None)


# -- outbound -------------------------------------------------------------------------------------


def handoff_status(
    *,
    conversation: Mapping[str, JsonValue],
    state: HandoffState,
    activity_id: str,
    now: float,
    message: str = "",
    relates_to: Mapping[str, JsonValue] | None = None,
) -> dict[str, JsonValue]:
    """A `handoff.status` event as botbuilder's `EventFactory.createHandoffStatus` lays it out;
    `value.message` only when not empty (botbuilder-dotnet omits it), `relatesTo` when known."""
    value: dict[str, JsonValue] = {"state": state.value}
    if message:
        value["message"] = message
    activity: dict[str, JsonValue] = {
        "type": "event",
        "name": HANDOFF_STATUS,
        "id": activity_id,
        "timestamp": iso_timestamp(now),
        "conversation": dict(conversation),
    }
    if relates_to is not None:
        activity["relatesTo"] = dict(relates_to)
    activity.update({"value": value, "attachments": [], "entities": []})
    return activity


def message_activity(
    *,
    conversation: Mapping[str, JsonValue],
    sender: Mapping[str, JsonValue],
    recipient: Mapping[str, JsonValue],
    text: str,
    activity_id: str,
    now: float,
) -> dict[str, JsonValue]:
    """A customer's message as a `message` Activity to a bot."""
    return {
        "type": "message",
        "id": activity_id,
        "timestamp": iso_timestamp(now),
        "conversation": dict(conversation),
        "from": dict(sender),
        "recipient": dict(recipient),
        "text": text,
    }


@attrs.frozen(kw_only=True)
class BotActivity:
    """One activity for bot `bot`, `number` in its feed (from 1; `after` counts these)."""

    bot: str
    number: int
    activity: Mapping[str, JsonValue]


@attrs.define(kw_only=True)
class _Initiation:
    bot: str
    human_held: bool = False
    confirmed: bool = False
    """Whether an effect of the initiating step was seen (an `error` line after it is then not
    the refusal of that step)."""


@attrs.frozen(kw_only=True)
class _Reference:
    conversation: Mapping[str, JsonValue]
    relates_to: Mapping[str, JsonValue]
    user: Mapping[str, JsonValue] | None


class BotFrameworkHub:
    """What each bot must be told, from the activities it sent and the center's effect lines.

    Feed it, in the center's order: `receive` for each Activity (before its step is applied),
    `refused` when that step was refused, `feed` for each effect line. Participant kinds decide
    who is a human (`accepted`) and who a bot (its feed); give them at construction
    (`for_config`) and with `set_kind` when the world changes.
    """

    def __init__(self, kinds: Mapping[str, Kind]) -> None:
        self._kinds: dict[str, Kind] = dict(kinds)
        self._initiations: dict[str, _Initiation] = {}
        self._references: dict[str, _Reference] = {}
        self._numbers: dict[str, int] = {}

    @classmethod
    def for_config(cls, config: Config) -> BotFrameworkHub:
        return cls({spec.id: spec.kind for spec in config.participants})

    def set_kind(self, participant: str, kind: Kind) -> None:
        self._kinds[participant] = kind

    def initiator(self, conversation: str) -> str | None:
        """The bot whose `handoff.initiate` is being served for `conversation`, if any."""
        found = self._initiations.get(conversation)
        return None if found is None else found.bot

    def receive(
        self, activity: object, *, participant: str, known: bool, queue: str | None = None
    ) -> Translation:
        """`translate_activity`, remembering the conversation's reference and, for a request
        for a human, that `participant` is to be told how it goes."""
        translation = translate_activity(
            activity, participant=participant, known=known, queue=queue
        )
        act = obj(activity, "")
        conversation = obj(act["conversation"], "conversation")
        conversation_id = str(conversation["id"])
        self._references[conversation_id] = _reference_of(act, conversation)
        if isinstance(translation, Translated) and translation.kind in ("escalate", "start"):
            self._initiations[conversation_id] = _Initiation(bot=participant)
        return translation

    def refused(self, conversation: str, message: str, now: float) -> list[BotActivity]:
        """The request for a human of `conversation` was refused: `failed`, with the refusal."""
        initiation = self._initiations.pop(conversation, None)
        if initiation is None:
            return []
        return [self._status(initiation.bot, conversation, HandoffState.FAILED, now, message)]

    def feed(self, line: Payload, now: float) -> list[BotActivity]:
        """The activities one effect line (a JSON line of the runner, or an effect of the
        service's feed) gives the bots; `error` lines refuse a request not yet confirmed."""
        head = line_head(line)
        if head is None:
            return []
        kind, conversation, to = head.kind, head.conversation, head.to
        initiation = self._initiations.get(conversation)
        if kind == "error":
            if initiation is None or initiation.confirmed:
                return []
            return self.refused(conversation, line_text(line, "error") or "refused", now)
        if initiation is not None:
            initiation.confirmed = True
        if kind == "message" and to is not None and self._kinds.get(to) is Kind.BOT:
            return [self._message(to, conversation, line, now)]
        if kind == "participant_added" and line.get("role") == Role.HOLDER.value and to:
            return self._holder(conversation, to, now)
        if kind == "ended":
            return self._ended(conversation, line_text(line, "outcome") or "ended", now)
        return []

    def _holder(self, conversation: str, holder: str, now: float) -> list[BotActivity]:
        initiation = self._initiations.get(conversation)
        if initiation is None or initiation.human_held:
            return []
        if self._kinds.get(holder) is Kind.HUMAN:
            initiation.human_held = True
            return [self._status(initiation.bot, conversation, HandoffState.ACCEPTED, now)]
        del self._initiations[conversation]
        message = f"no human took the conversation: {holder} holds it again"
        return [self._status(initiation.bot, conversation, HandoffState.FAILED, now, message)]

    def _ended(self, conversation: str, outcome: str, now: float) -> list[BotActivity]:
        initiation = self._initiations.pop(conversation, None)
        told: list[BotActivity] = []
        if initiation is not None and initiation.human_held:
            told.append(self._status(initiation.bot, conversation, HandoffState.COMPLETED, now))
        elif initiation is not None:
            message = f"no human took the conversation: it ended ({outcome})"
            told.append(
                self._status(initiation.bot, conversation, HandoffState.FAILED, now, message)
            )
        self._references.pop(conversation, None)  # an ended conversation is forgotten
        return told

    def _next(self, bot: str) -> tuple[int, str]:
        number = self._numbers.get(bot, 0) + 1
        self._numbers[bot] = number
        return number, f"{bot}:{number}"

    def _reference(self, conversation: str) -> _Reference:
        known = self._references.get(conversation)
        if known is not None:
            return known
        account: dict[str, JsonValue] = {"id": conversation}
        return _Reference(conversation=account, relates_to={"conversation": account}, user=None)

    def _status(
        self, bot: str, conversation: str, state: HandoffState, now: float, message: str = ""
    ) -> BotActivity:
        number, activity_id = self._next(bot)
        reference = self._reference(conversation)
        activity = handoff_status(
            conversation=reference.conversation,
            state=state,
            activity_id=activity_id,
            now=now,
            message=message,
            relates_to=reference.relates_to,
        )
        return BotActivity(bot=bot, number=number, activity=activity)

    def _message(self, bot: str, conversation: str, line: Payload, now: float) -> BotActivity:
        number, activity_id = self._next(bot)
        reference = self._reference(conversation)
        sender = line_text(line, "from") or CUSTOMER
        account: Mapping[str, JsonValue] = {"id": sender, "role": "user"}
        if sender == CUSTOMER and reference.user is not None:
            account = reference.user
        activity = message_activity(
            conversation=reference.conversation,
            sender=account,
            recipient={"id": bot, "role": "bot"},
            text=line_text(line, "text") or "",
            activity_id=activity_id,
            now=now,
        )
        return BotActivity(bot=bot, number=number, activity=activity)


def feed_all(hub: BotFrameworkHub, lines: Iterable[Payload], now: float) -> list[BotActivity]:
    """`hub.feed` for each line of one step, in order."""
    return [activity for line in lines for activity in hub.feed(line, now)]


_REFERENCE_FIELDS = (("bot", "from"), ("channelId", "channelId"), ("serviceUrl", "serviceUrl"))
"""ConversationReference fields and the activity fields they are taken from."""


def _reference_of(activity: Payload, conversation: Payload) -> _Reference:
    """The ConversationReference to answer with: the activity's `relatesTo` (the user's
    conversation, as `EventFactory.createHandoffInitiation` sets it), else one built from the
    activity itself."""
    account = {str(key): plain(value) for key, value in conversation.items()}
    relates = activity.get("relatesTo")
    reference: dict[str, JsonValue]
    if isinstance(relates, dict):
        reference = {str(key): plain(value) for key, value in relates.items()}
    else:
        reference = {"conversation": account}
        for key, wire in _REFERENCE_FIELDS:
            if activity.get(wire) is not None:
                reference[key] = plain(activity[wire])
    user = reference.get("user")
    return _Reference(
        conversation=account,
        relates_to=reference,
        user=user if isinstance(user, dict) else None,
    )
