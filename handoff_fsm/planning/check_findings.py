"""The findings of `handoff-fsm check`: each rule, its stable code, its level, its sentence.

Theory of operation: a `Finding` says what is wrong (`code`, one of `CODES`), where
(`place`, a dotted path into the scenario file: `queues.sales`, `participants.bot-b`,
`settings.cancel_phrases[1]`), in one sentence, and, for an error, shows it: the `witness` is the
shortest list of scenario steps (SPEC §5) that leads from an empty, all-available deployment to
the problem, which `handoff-fsm run` replays. Structural rules (a queue without members,
overlapping phrases, a ring of overflows) are read off the configuration; behavioural ones come
from the exploration (`check_explore.Exploration`), whose paths are the witnesses.

Rules: an error always has a witness (it is a fact the real switchboard shows); what the
exploration only failed to see within its bounds (a participant never reached) is a warning.
Each code has one level, listed in `CODES` and docs/check.md.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator

import attrs

from handoff_fsm.config import Config, Kind, OverflowTransfer
from handoff_fsm.events import CustomerMessage, JsonValue, Start, Tick
from handoff_fsm.lifecycle import State
from handoff_fsm.planning.check_explore import Bounds, Exploration, Move, Path, replay
from handoff_fsm.planning.check_world import participant_classes


class Level(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


CODES: dict[str, tuple[Level, str]] = {
    "queue-no-members": (
        Level.ERROR,
        "a queue lists no participant: whatever waits there waits unserved",
    ),
    "escalation-unserved": (
        Level.ERROR,
        "a queue has humans, but an escalation from it is never offered to one",
    ),
    "bot-order": (
        Level.ERROR,
        "a bot listed after another bot of its queue meets new customers first",
    ),
    "transfer-to-bot-unserved": (
        Level.ERROR,
        "a transfer asking a queue for a bot is never taken by one",
    ),
    "return-unserved": (
        Level.ERROR,
        "a queue's overflow returns to a bot, but its waits run out with no bot to return to",
    ),
    "overflow-cycle": (
        Level.ERROR,
        "overflow moves a waiting conversation round a ring of queues for ever",
    ),
    "wait-forever": (
        Level.ERROR,
        "a wait with no timeout that no member could ever take",
    ),
    "phrase-overlap": (
        Level.ERROR,
        "a cancel phrase contains an escalation phrase: cancelling escalates",
    ),
    "escalation-no-human": (
        Level.WARNING,
        "a queue has bots and no human: an escalation from it can never reach a human",
    ),
    "wait-stuck": (
        Level.WARNING,
        "a wait with no timeout can last for ever once its members declined or held it",
    ),
    "overflow-ring": (
        Level.WARNING,
        "queues overflow into each other in a ring (no conversation was seen going round)",
    ),
    "participant-unreached": (
        Level.WARNING,
        "a participant that never gets a conversation within the bounds",
    ),
    "phrase-contains-cancel": (
        Level.WARNING,
        "an escalation phrase contains a cancel phrase",
    ),
    "participant-no-queue": (
        Level.INFO,
        "a human in no queue: it can only monitor and take over",
    ),
    "explored": (
        Level.INFO,
        "what the exploration covered",
    ),
}
"""Every code, its level and what it means (docs/check.md explains each)."""

Step = dict[str, JsonValue]


@attrs.frozen(kw_only=True)
class Finding:
    code: str
    place: str
    message: str
    witness: tuple[Step, ...] = ()

    @property
    def level(self) -> Level:
        return CODES[self.code][0]

    def line(self) -> str:
        return f"{self.level} {self.code} {self.place}: {self.message}"

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "level": self.level.value,
            "code": self.code,
            "place": self.place,
            "message": self.message,
            "witness": list(self.witness),
        }


def step_of(move: Move) -> Step:
    """A move as a scenario step: only the fields that differ from the step's defaults."""
    event = move.event
    body: dict[str, JsonValue] = {}
    for field in attrs.fields(type(event)):
        value = getattr(event, field.name)
        if field.default is not attrs.NOTHING:
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            if value == default:
                continue
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        body[field.name] = value
    return {event.STEP: body}


def witness(path: Iterable[Move]) -> tuple[Step, ...]:
    return tuple(step_of(move) for move in path)


def until_settled(config: Config, path: Path, cid: str, ticks: int) -> Path:
    """`path`, then ticks to each next deadline while `cid` still waits (at most `ticks`), so
    that the witness shows where the wait goes: nowhere, or to its end."""
    board = replay(config, path)
    extra: list[Move] = []
    for _ in range(ticks):
        deadline = board.next_deadline()
        if deadline is None or board.state_of(cid) is not State.WAITING:
            break
        move = Move(event=Tick(now=deadline), now=deadline)
        board.handle(move.event, now=move.now)
        extra.append(move)
    return (*path, *extra)


# -- the structural rules -----------------------------------------------------------------------


def structural(config: Config, found: Exploration) -> Iterator[Finding]:
    kinds = {p.id: p.kind for p in config.participants}
    for queue in config.queues:
        if not queue.members:
            # No witness: the core refuses every start or transfer to it (`cannot_serve`).
            yield Finding(
                code="queue-no-members",
                place=f"queues.{queue.name}",
                message=f"queue {queue.name!r} lists no participant: a conversation started in "
                "it, or sent to it, is refused (cannot_serve)",
            )
        bots = [m for m in queue.members if kinds[m] is Kind.BOT]
        if bots and len(bots) == len(queue.members):
            start = Move(event=Start(conversation="c1", queue=queue.name))
            yield Finding(
                code="escalation-no-human",
                place=f"queues.{queue.name}",
                message=f"queue {queue.name!r} has no human: an escalation from it is refused "
                "(cannot_serve) and the bot keeps the conversation",
                witness=witness([start]),
            )
    yield from _phrases(config, found)
    yield from _rings(config, found)
    in_a_queue = {m for q in config.queues for m in q.members}
    for participant in config.participants:
        if participant.id not in in_a_queue and kinds[participant.id] is Kind.HUMAN:
            yield Finding(
                code="participant-no-queue",
                place=f"participants.{participant.id}",
                message=f"{participant.id!r} is in no queue: it is never offered a conversation, "
                "it can only monitor one and take it over",
            )


def _phrases(config: Config, found: Exploration) -> Iterator[Finding]:
    settings = config.settings
    bot_start = next(
        (path for taker, path in found.first_takers.values() if _is_bot(config, taker)), None
    )
    for i, cancel in enumerate(settings.cancel_phrases):
        for escalation in settings.escalation_phrases:
            folded_cancel, folded_escalation = cancel.casefold().strip(), escalation.casefold()
            if folded_escalation in folded_cancel:
                shown: tuple[Step, ...] = ()
                if bot_start is not None:
                    start = bot_start[0].event
                    assert isinstance(start, Start)
                    said = Move(event=CustomerMessage(conversation=start.conversation, text=cancel))
                    shown = witness([*bot_start, said])
                yield Finding(
                    code="phrase-overlap",
                    place=f"settings.cancel_phrases[{i}]",
                    message=f"cancel phrase {cancel!r} contains escalation phrase {escalation!r}: "
                    "a customer who says it to a bot is escalated, not left with the bot",
                    witness=shown,
                )
            elif folded_cancel in folded_escalation:
                yield Finding(
                    code="phrase-contains-cancel",
                    place=f"settings.cancel_phrases[{i}]",
                    message=f"escalation phrase {escalation!r} contains cancel phrase {cancel!r}: "
                    "customers will not tell them apart (a cancel phrase must be the whole "
                    "message, so the core does)",
                )


def _rings(config: Config, found: Exploration) -> Iterator[Finding]:
    """Overflow transfers that come back to a queue: with the exploration's witness when a
    conversation was seen going round, else only the ring."""
    step = {
        q.name: q.overflow.queue
        for q in config.queues
        if isinstance(q.overflow, OverflowTransfer) and q.wait_timeout is not None
    }
    rings: set[tuple[str, ...]] = set()
    for first in step:
        seen = [first]
        while seen[-1] in step and step[seen[-1]] not in seen:
            seen.append(step[seen[-1]])
        if seen[-1] in step and step[seen[-1]] in seen:
            body = seen[seen.index(step[seen[-1]]) :]
            start = body.index(min(body))
            turned = body[start:] + body[:start]
            rings.add((*turned, turned[0]))
    for ring in sorted(rings | set(found.cycles)):
        place = f"queues.{ring[0]}.overflow"
        route = " -> ".join(ring)
        if ring in found.cycles:
            cid, path = found.cycles[ring]
            yield Finding(
                code="overflow-cycle",
                place=place,
                message=f"a waiting conversation goes {route} by overflow and round again for "
                f"ever while nobody takes it (seen with {cid})",
                witness=witness(path),
            )
        else:
            yield Finding(
                code="overflow-ring",
                place=place,
                message=f"the queues overflow {route}: a conversation nobody takes would go round "
                "for ever (within the bounds, members always took it first)",
            )


def _is_bot(config: Config, pid: str) -> bool:
    return any(p.id == pid and p.kind is Kind.BOT for p in config.participants)


# -- the behavioural rules ----------------------------------------------------------------------


def behavioural(config: Config, found: Exploration, bounds: Bounds) -> Iterator[Finding]:
    kinds = {p.id: p.kind for p in config.participants}
    queues = {q.name: q for q in config.queues}
    yield from _bot_order(config, found)
    for name, (cid, path) in sorted(found.escalations.items()):
        if name in found.escalations_served:
            continue
        humans = [m for m in queues[name].members if kinds[m] is Kind.HUMAN]
        shown = witness(until_settled(config, path, cid, bounds.ticks))
        if humans:
            yield Finding(
                code="escalation-unserved",
                place=f"queues.{name}",
                message=f"an escalation from queue {name!r} is never offered to a human: none of "
                f"{', '.join(humans)} can take one of its conversations (capacity below the "
                f"queue's {queues[name].units} unit(s) per conversation)",
                witness=shown,
            )
        # A queue without humans: the core refuses the escalation (structural says it).
    for name, (cid, path) in sorted(found.transfers.items()):
        if name not in found.transfers_served:
            bots = [m for m in queues[name].members if kinds[m] is Kind.BOT]
            yield Finding(
                code="transfer-to-bot-unserved",
                place=f"queues.{name}",
                message=f"a human's transfer to queue {name!r} asking for a bot is never taken: "
                f"{', '.join(bots)} cannot take it (held it before, or capacity below the "
                f"queue's units)",
                witness=witness(until_settled(config, path, cid, bounds.ticks)),
            )
    for name, (cid, path) in sorted(found.return_failed.items()):
        if name not in found.returned:
            yield Finding(
                code="return-unserved",
                place=f"queues.{name}.overflow",
                message=f"queue {name!r} overflows with return_to_bot, but no wait there that "
                f"ran out ever had a bot to return to: {cid} ended unserved",
                witness=witness(path),
            )
    yield from _stuck(config, found)
    yield from _unreached(config, found)


def _bot_order(config: Config, found: Exploration) -> Iterator[Finding]:
    kinds = {p.id: p.kind for p in config.participants}
    capacity = {p.id: p.capacity for p in config.participants}
    for queue in config.queues:
        bots = [m for m in queue.members if kinds[m] is Kind.BOT]
        taken = found.first_takers.get(queue.name)
        if len(bots) < 2 or taken is None or taken[0] == bots[0] or taken[0] not in bots:
            continue
        taker, path = taken
        yield Finding(
            code="bot-order",
            place=f"queues.{queue.name}.participants",
            message=f"{taker!r} is listed after {bots[0]!r} but meets new customers first "
            f"(capacity {capacity[taker]} against {capacity[bots[0]]}, strategy "
            f"{queue.strategy}); give the first bot the highest capacity, the humans the next, "
            "the bot that takes conversations back the lowest",
            witness=witness(path),
        )


def _stuck(config: Config, found: Exploration) -> Iterator[Finding]:
    """One finding per queue and origin: the shortest stuck wait's witness."""
    shown: set[tuple[str, str]] = set()
    empty = {q.name for q in config.queues if not q.members}
    for record, path in sorted(found.stuck.values(), key=lambda item: len(item[1])):
        origin = record.origin or "wait"
        key = (record.queue, origin)
        if key in shown or record.queue in empty:
            continue
        if origin == "escalation" and record.origin_queue not in found.escalations_served:
            continue  # escalation-unserved or escalation-no-human says it
        if origin == "transfer_bot" and record.origin_queue not in found.transfers_served:
            continue  # transfer-to-bot-unserved says it
        shown.add(key)
        kinds = {p.id: p.kind for p in config.participants}
        held = {p for p in record.held if record.wanted.value in ("any", kinds[p].value)}
        why = _why_stuck(frozenset(held), record.passed)
        fresh = not record.held and not record.passed
        yield Finding(
            code="wait-forever" if fresh else "wait-stuck",
            place=f"queues.{record.queue}",
            message=f"queue {record.queue!r} has no wait_timeout, and a conversation that waits "
            f"there after {_ORIGINS.get(origin, origin)} can wait for ever: {why}; give the "
            "queue a wait_timeout and an overflow",
            witness=witness(path),
        )


_ORIGINS = {
    "start": "its start",
    "escalation": "an escalation",
    "transfer_bot": "a transfer to a bot",
    "drop": "its holder went offline",
}


def _why_stuck(held: frozenset[str], passed: frozenset[str]) -> str:
    if not held and not passed:
        return "no member could ever take it, even with every human available and free"
    parts = []
    if held:
        parts.append(f"{_some(held)} held it before")
    if passed:
        parts.append(f"{_some(passed)} declined or let the offer time out")
    return " and ".join(parts) + ", and no other member can take it"


def _some(names: Iterable[str], shown: int = 4) -> str:
    """A list of names, cut after a few: a queue of thirty is not read name by name."""
    listed = sorted(names)
    if len(listed) <= shown:
        return ", ".join(listed)
    return f"{', '.join(listed[:shown])} and {len(listed) - shown} more"


def _unreached(config: Config, found: Exploration) -> Iterator[Finding]:
    in_a_queue = {m for q in config.queues for m in q.members}
    classes = participant_classes(config)
    reached = {classes[pid] for pid in found.reached}  # the others of a class: same, renamed
    for participant in config.participants:
        pid = participant.id
        if classes[pid] in reached or (pid not in in_a_queue and participant.kind is Kind.HUMAN):
            continue
        units = [q.units for q in config.queues if pid in q.members]
        if not units:
            why = "it is in no queue"
        elif participant.capacity < min(units):
            why = f"its capacity {participant.capacity} is below the units of every queue it is in"
        else:
            why = "no explored path offers it one: others ahead of it always take them first"
        yield Finding(
            code="participant-unreached",
            place=f"participants.{pid}",
            message=f"{pid!r} never gets a conversation: {why}",
        )


__all__ = [
    "CODES", "Finding", "Level", "behavioural", "step_of", "structural", "until_settled",
    "witness",
]  # fmt: skip
