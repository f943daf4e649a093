"""What every wire translator shares: the results, the error, and the shape readers.

Theory of operation: a translator reads one payload of a platform (a Bot Framework activity, a
Sunshine Conversations webhook, a Messenger webhook) and answers with `Translated` (one step in
the scenario format of SPEC §5, a plain mapping the service feeds through the same strict reader
as a scenario file) or `Ignored` (acknowledge, apply nothing, with the reason). A payload it
cannot read raises `WireError` (code `invalid_activity`) whose message names the place in the
payload (`value.va_Topic`, `events[0].payload.conversation.id`) and the problem, on one line.

Rules: pure and deterministic. Ids and timestamps come from the inputs (an effect's `seq`, a
`now` in Unix seconds), never from a clock or a random source; the same inputs give the same
output, byte for byte, so a service can replay its log and rebuild the same activities.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from typing import NoReturn, TypeAlias

import attrs

from handoff_fsm.errors import ErrorCode, HandoffError
from handoff_fsm.events import JsonValue

INVALID_ACTIVITY = ErrorCode.INVALID_ACTIVITY
"""The code of a payload that cannot be read (a service answers it with 422)."""

Payload: TypeAlias = Mapping[str, object]
"""A parsed JSON object as it came off the wire (nothing about it is trusted)."""


class WireError(HandoffError):
    """A payload that cannot be translated (a service answers it with 422).

    `place` is a dotted path into the payload (empty for the payload as a whole) and `problem`
    one line; `code` is a stable word. Raising it changes nothing: translators hold no state,
    and the hubs record only after a payload has been read whole.
    """

    code = INVALID_ACTIVITY

    def __init__(self, place: str, problem: str) -> None:
        self.place = place
        self.problem = " ".join(problem.split())
        super().__init__(f"{place}: {self.problem}" if place else self.problem)


class MetadataTooLarge(WireError):
    """Outbound metadata beyond what the platform accepts (Sunshine: 4 KB): the bridge refuses
    to build the call rather than have the platform refuse it."""

    code = ErrorCode.METADATA_TOO_LARGE


@attrs.frozen(kw_only=True)
class Translated:
    """One step in the scenario format: `{"escalate": {...}}`, with an optional `id` beside it."""

    step: Mapping[str, JsonValue]

    @property
    def kind(self) -> str:
        return next(key for key in self.step if key not in ("id", "at"))

    @property
    def body(self) -> Mapping[str, JsonValue]:
        body = self.step[self.kind]
        assert isinstance(body, Mapping)
        return body


@attrs.frozen(kw_only=True)
class Ignored:
    """A payload that is acknowledged and changes nothing (the protocols ask receivers to ignore
    what they do not handle); `reason` says why, for logs."""

    reason: str


Translation: TypeAlias = Translated | Ignored


def step(kind: str, body: Mapping[str, JsonValue], step_id: str | None = None) -> Translated:
    """A `Translated` whose empty optional fields (`variables`, `transcript`) are left out, so a
    step carries only what the payload said."""
    kept: dict[str, JsonValue] = {
        key: value for key, value in body.items() if value not in ({}, [], None)
    }
    mapping: dict[str, JsonValue] = {kind: kept}
    if step_id is not None:
        mapping["id"] = step_id
    return Translated(step=mapping)


def iso_timestamp(now: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds (`2020-02-10T21:51:37.499Z`), the form the
    Bot Framework and Sunshine Conversations write."""
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise ValueError(f"now must be a finite number of Unix seconds, got {now!r}")
    moment = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_size(value: JsonValue) -> int:
    """Bytes of the compact UTF-8 JSON text of `value` (how platforms measure their limits)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def scalar_variables(value: Payload) -> dict[str, JsonValue]:
    """The scalar fields (text, number, boolean) of an object, under their own names, in order;
    lists, objects and null are left out (a context variable is one value)."""
    return {
        key: item
        for key, item in value.items()
        if isinstance(item, str | bool | int) or (isinstance(item, float) and math.isfinite(item))
    }


def join(place: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{place}[{key}]"
    return f"{place}.{key}" if place else key


def describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def fail(place: str, problem: str) -> NoReturn:
    raise WireError(place, problem)


def obj(value: object, place: str) -> Payload:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        fail(place or "payload", f"must be a JSON object, got {describe(value)}")
    return value


def field(payload: Payload, key: str, place: str) -> object:
    if key not in payload:
        fail(join(place, key), "is missing")
    return payload[key]


def text(value: object, place: str) -> str:
    if not isinstance(value, str):
        fail(place, f"must be text, got {describe(value)}")
    return value


def name(value: object, place: str) -> str:
    """Text that names something (an id): not blank."""
    if not text(value, place).strip():
        fail(place, "must not be blank")
    assert isinstance(value, str)
    return value


def items(value: object, place: str) -> list[object]:
    if not isinstance(value, list):
        fail(place, f"must be a list, got {describe(value)}")
    return value


def plain(value: object) -> JsonValue:
    """A deep copy of a parsed JSON value, typed as one (what is echoed back to a platform must not
    share lists or objects with the payload it came from)."""
    copied: JsonValue = json.loads(json.dumps(value))
    return copied


@attrs.frozen(kw_only=True)
class LineHead:
    """What every outbound hub reads first in an effect line."""

    kind: str | None
    conversation: str
    to: str | None


def line_head(line: Payload) -> LineHead | None:
    """The head of an effect line, or None for a line about no conversation (`presence`)."""
    conversation = line_text(line, "conversation")
    if conversation is None:
        return None
    return LineHead(
        kind=line_text(line, "kind"), conversation=conversation, to=line_text(line, "to")
    )


def line_text(line: Payload, key: str) -> str | None:
    """A text field of an effect line (the runner's or the service's JSON line), or None."""
    value = line.get(key)
    return value if isinstance(value, str) else None


def hand_over(
    *,
    conversation: str,
    holders: Mapping[str, str | None],
    to: str,
    queue: str,
    reason: str,
    variables: Mapping[str, JsonValue],
    step_id: str | None,
) -> Translation:
    """The platform says `to` now has (or should have) the conversation: the step that makes the
    center agree. `holders` maps each conversation the center knows to its holder (None while
    nobody holds it); a conversation it does not know starts in `queue` for `to`."""
    if conversation not in holders:
        body: dict[str, JsonValue] = {
            "conversation": conversation,
            "queue": queue,
            "to": to,
            "variables": dict(variables),
        }
        return step("start", body, step_id)
    holder = holders[conversation]
    if holder is None:
        return Ignored(reason=f"nobody holds {conversation!r}: there is nothing to hand over")
    if holder == to:
        return Ignored(reason=f"{to!r} holds {conversation!r} already")
    return transfer(conversation, holder, to, queue, reason, variables, step_id)


def transfer(
    conversation: str,
    holder: str,
    to: str,
    queue: str,
    reason: str,
    variables: Mapping[str, JsonValue],
    step_id: str | None,
) -> Translated:
    """`holder` hands the conversation to `to` through `queue` (a human gets an offer first)."""
    body: dict[str, JsonValue] = {
        "conversation": conversation,
        "participant": holder,
        "queue": queue,
        "to": to,
        "reason": reason,
        "variables": dict(variables),
    }
    return step("transfer", body, step_id)


def participant_for(names: Mapping[str, str], value: object, place: str, what: str) -> str:
    """The participant that stands for a platform's `what` (an integration, an app) named
    `value`; a name no participant stands for is refused with the known ones."""
    key = name(value, place)
    if key not in names:
        known = ", ".join(sorted(names)) or "none"
        fail(place, f"names {what} {key!r} that no participant stands for (known: {known})")
    return names[key]
