"""The checkpoint codec: a switchboard's whole state as plain JSON rows, and back.

Theory of operation: this is the ONE module of the store that reads and writes the engine's
internals (`Switchboard` and its router); everything else goes through `Switchboard.handle` and
public queries. The state is cut into rows so that a checkpoint can be kept up to date at the
cost of what changed rather than of everything:

- one row per conversation: the switchboard's record (lifecycle state, context, monitors,
  counters, tokens, pending approvals, its live timers) and routing's record of it;
- one row per participant: presence, load, idle time, holds, offers, the conversations it
  monitors (in the order it joined them);
- one `globals` row: time, the timer and ticket counters, each queue's round-robin mark.

Queue lines, ready lists, ticket indexes and selection trees are derived from those rows on
load, by the router's own `_refresh`, so they cannot disagree with them. Ids of steps seen are not
in a checkpoint: they are the log's `step_id` column (and the `seen_ids` table after compaction).

Rules:
- Decoding is explicit code over JSON values (str, int, float, bool, None, lists, dicts); a
  value of the wrong shape is a `StoreError` naming the row, never a code path chosen by bytes.
- `check_shape` compares the engine's attribute names with the ones this codec knows and refuses
  a checkpoint (loudly) when the engine gained state the codec would silently drop; the
  round-trip tests compare whole object graphs at every cut of the seed scenarios.
- Which rows a step can change (`touched`) is derived from its event and effects, plus what an
  event may change silently (a presence change widens waits that named the participant).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from handoff_fsm import lifecycle
from handoff_fsm.config import Config
from handoff_fsm.effects import Effect, Entry
from handoff_fsm.errors import StoreError
from handoff_fsm.events import Event, JsonValue, Presence, PresenceStatus, Wanted
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.routing import Router, WaitStatus
from handoff_fsm.switchboard import Switchboard

CODEC_VERSION = 1
"""Bumped whenever a row's shape changes; a checkpoint of another version is not loaded."""

Row = dict[str, JsonValue]

_SWITCHBOARD_ATTRIBUTES = frozenset({
    "config", "settings", "router", "now", "_traces", "_conversations", "_timers", "_new_waits",
    "_monitoring", "_timer_seq", "_seen_ids", "_out", "_escalation_phrases", "_cancel_phrases",
})  # fmt: skip
_CONVERSATION_SLOTS = frozenset({
    "fallbacks", "id", "monitors", "offer_token", "proposals", "return_bot", "snapshot",
    "survey_answers", "transcript", "variables", "wait_token",
})  # fmt: skip
_ROUTER_SLOTS = frozenset({
    "_agents", "_by_ticket", "_conversations", "_dirty", "_named_checks", "_named_waits",
    "_next_ticket", "_queue_list", "_queues",
})  # fmt: skip
_ROUTED_FIELDS = frozenset({
    "id", "status", "ticket", "wanted", "named", "queue", "offer", "offer_expires", "declined",
    "holder", "held_in", "held_before",
})  # fmt: skip
_AGENT_FIELDS = frozenset(
    {"spec", "memberships", "presence", "load", "idle_since", "holds", "offers"}
)
_QUEUE_FIELDS = frozenset({"spec", "order", "trees", "line", "ready", "last_picked"})


def router_of(board: Switchboard) -> Router:
    """The board's router, whether the engine names it `router` or `_router`."""
    router = getattr(board, "router", None)
    if router is None:
        router = getattr(board, "_router")  # noqa: B009 - the engine may make it private
    return cast(Router, router)


def check_shape(board: Switchboard) -> None:
    """Refuse to checkpoint an engine whose state this codec does not fully know."""
    router = router_of(board)
    problems: list[str] = []
    names = set(vars(board)) - {"router", "_router"} | {"router"}
    if names != _SWITCHBOARD_ATTRIBUTES:
        problems.append(f"switchboard {sorted(names ^ _SWITCHBOARD_ATTRIBUTES)}")
    if set(type(router).__slots__) != _ROUTER_SLOTS:
        problems.append(f"router {sorted(set(type(router).__slots__) ^ _ROUTER_SLOTS)}")
    for what, record_type, known in _record_types(board, router):
        found = _field_names(record_type)
        if found != known:
            problems.append(f"{what} {sorted(found ^ known)}")
    if board._traces is not None:
        problems.append("a switchboard built with trace=True (traces are not checkpointed)")
    if problems:
        raise StoreError(
            "the checkpoint codec does not know this engine's state ("
            + "; ".join(problems)
            + "); checkpoints are refused rather than incomplete"
        )


def _record_types(board: Switchboard, router: Router) -> list[tuple[str, type, frozenset[str]]]:
    from handoff_fsm import routing, switchboard

    del board, router
    return [
        ("conversation record", switchboard._Conversation, _CONVERSATION_SLOTS),
        ("routing record", routing._Conversation, _ROUTED_FIELDS),
        ("participant record", routing._Agent, _AGENT_FIELDS),
        ("queue record", routing._Queue, _QUEUE_FIELDS),
    ]


def _field_names(record_type: type) -> frozenset[str]:
    names: set[str] = set()
    for cls in record_type.__mro__:
        slots = getattr(cls, "__slots__", ())
        names.update((slots,) if isinstance(slots, str) else slots)
    names.discard("__weakref__")
    return frozenset(names)


# -- encoding ----------------------------------------------------------------------------------


def _number(value: float) -> JsonValue:
    """JSON has no infinities; an idle time of -inf (never busy) is written as a string."""
    return "-inf" if value == -math.inf else float(value)


def live_timers(
    board: Switchboard, conversations: Iterable[str] | None = None
) -> dict[str, list[Any]]:
    """The live timers of `conversations` (all when None), by conversation, in heap order."""
    wanted = None if conversations is None else set(conversations)
    found: dict[str, list[Any]] = {}
    for timer in board._timers:
        cid = timer[3]
        if (wanted is None or cid in wanted) and board._timer_is_live(timer):
            found.setdefault(cid, []).append(timer)
    return found


def encode_conversation(board: Switchboard, cid: str, timers: Sequence[Any]) -> Row | None:
    """The row of one conversation, or None if the board no longer has it (forgotten)."""
    record = board._conversations.get(cid)
    if record is None:
        return None
    snapshot = record.snapshot
    row: Row = {
        "state": snapshot.state.value,
        "outcome": None if snapshot.outcome is None else snapshot.outcome.value,
        "human_held": snapshot.human_held,
        "variables": dict(record.variables),
        "transcript": [[e.sender, e.text] for e in record.transcript],
        "monitors": list(record.monitors),
        "fallbacks": record.fallbacks,
        "return_bot": record.return_bot,
        "proposals": [[p.bot, p.supervisor, p.action] for p in record.proposals],
        "wait_token": record.wait_token,
        "offer_token": record.offer_token,
        "survey_answers": dict(record.survey_answers),
        "timers": [[float(t[0]), t[1], t[2], t[4], t[5]] for t in sorted(timers)],
        "routing": _encode_routed(router_of(board), cid),
    }
    return row


def _encode_routed(router: Router, cid: str) -> JsonValue:
    rec = router._conversations.get(cid)
    if rec is None:
        return None
    return {
        "status": rec.status.value,
        "ticket": rec.ticket,
        "wanted": rec.wanted.value,
        "named": rec.named,
        "queue": rec.queue,
        "offer": rec.offer,
        "offer_expires": None if rec.offer_expires is None else float(rec.offer_expires),
        "declined": None if rec.declined is None else _texts(rec.declined),
        "holder": rec.holder,
        "held_in": rec.held_in,
        "held_before": _texts(rec.held_before),
    }


def _texts(values: Iterable[str]) -> list[JsonValue]:
    return list(sorted(values))


def encode_participant(board: Switchboard, pid: str) -> Row:
    agent = router_of(board)._agents[pid]
    return {
        "presence": agent.presence.value,
        "load": agent.load,
        "idle_since": _number(agent.idle_since),
        "holds": _texts(agent.holds),
        "offers": _texts(agent.offers),
        "monitoring": list(board._monitoring.get(pid, ())),
    }


def encode_globals(board: Switchboard) -> Row:
    router = router_of(board)
    return {
        "codec": CODEC_VERSION,
        "now": float(board.now),
        "timer_seq": board._timer_seq,
        "next_ticket": router._next_ticket,
        "named_checks": router._named_checks,
        "dirty": _texts(router._dirty),
        "queues": {
            q.spec.name: {
                "last_picked": q.last_picked,
                "visits": {kind.value: tree.visits for kind, tree in q.trees.items()},
            }
            for q in router._queue_list
        },
    }


def encode_all(board: Switchboard) -> tuple[Row, dict[str, Row], dict[str, Row]]:
    """Every row of `board`: globals, participants, conversations (in the board's order)."""
    check_shape(board)
    timers = live_timers(board)
    conversations: dict[str, Row] = {}
    for cid in board._conversations:
        row = encode_conversation(board, cid, timers.get(cid, ()))
        assert row is not None
        conversations[cid] = row
    participants = {pid: encode_participant(board, pid) for pid in router_of(board)._agents}
    return encode_globals(board), participants, conversations


def touched_before(board: Switchboard, event: Event) -> set[str]:
    """Conversations a step may change without naming them in its effects, read before it runs:
    a presence change widens the waits that named the participant, silently."""
    if isinstance(event, Presence):
        return set(router_of(board)._named_waits.get(event.participant, ()))
    return set()


#: The effects that change their addressee's own state (load, holds, offers, idle time, the
#: conversations it monitors); a message, a greeting or a context does not.
_CHANGES_ADDRESSEE = frozenset(
    {"participant_added", "participant_removed", "offer", "offer_withdrawn"}
)


def touched(
    event: Event, effects: Sequence[Effect], conversations: set[str], participants: set[str]
) -> None:
    """Add the conversations and participants a step's event and effects may have changed."""
    conversation = getattr(event, "conversation", None)
    if isinstance(conversation, str):
        conversations.add(conversation)
    if isinstance(event, Presence):
        participants.add(event.participant)
    for effect in effects:
        conversations.add(effect.conversation)
        if effect.KIND in _CHANGES_ADDRESSEE and effect.to is not None:
            participants.add(effect.to)


# -- decoding ----------------------------------------------------------------------------------


class _Reader:
    """Typed access to one decoded row; any surprise is a `StoreError` naming the row."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise StoreError(f"{where}: is not a JSON object")
        self.data: dict[str, object] = data
        self.where = where

    def _get(self, key: str) -> object:
        if key not in self.data:
            raise StoreError(f"{self.where}: has no {key!r}")
        return self.data[key]

    def fail(self, key: str, wanted: str) -> StoreError:
        return StoreError(f"{self.where}: {key!r} is not {wanted}")

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self.fail(key, "text")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self._get(key)
        return None if value is None else self.text(key)

    def integer(self, key: str) -> int:
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, "an integer")
        return value

    def number(self, key: str) -> float:
        value = self._get(key)
        if value == "-inf":
            return -math.inf
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(key, "a number")
        return float(value)

    def opt_number(self, key: str) -> float | None:
        return None if self._get(key) is None else self.number(key)

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def texts(self, key: str) -> list[str]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "a list of texts")
        return list(value)

    def rows(self, key: str, width: int) -> list[list[Any]]:
        value = self._get(key)
        if not isinstance(value, list) or not all(
            isinstance(v, list) and len(v) == width for v in value
        ):
            raise self.fail(key, f"a list of {width}-item lists")
        return [list(v) for v in value]

    def mapping(self, key: str) -> dict[str, JsonValue]:
        value = self._get(key)
        if not isinstance(value, dict):
            raise self.fail(key, "an object")
        return cast(dict[str, JsonValue], value)

    def enum(self, key: str, kind: type[Any]) -> Any:
        try:
            return kind(self.text(key))
        except ValueError:
            raise self.fail(key, f"a {kind.__name__}") from None

    def inner(self, key: str) -> _Reader | None:
        value = self._get(key)
        return None if value is None else _Reader(value, f"{self.where}.{key}")


def load(
    config: Config,
    globals_row: object,
    participants: Mapping[str, object],
    conversations: Iterable[tuple[str, object]],
    where: str,
) -> Switchboard:
    """A switchboard in the state the rows describe (conversations in the given order)."""
    from handoff_fsm import routing, switchboard

    board = Switchboard(config)
    router = router_of(board)
    g = _Reader(globals_row, f"{where}: globals")
    if g.integer("codec") != CODEC_VERSION:
        raise StoreError(
            f"{where}: checkpoint codec version {g.data['codec']} is not {CODEC_VERSION}"
        )
    board.now = g.number("now")
    board._timer_seq = g.integer("timer_seq")
    router._next_ticket = g.integer("next_ticket")
    router._named_checks = g.integer("named_checks")
    timers: list[Any] = []
    for cid, data in conversations:
        c = _Reader(data, f"{where}: conversation {cid!r}")
        record = switchboard._Conversation(cid, dict(c.mapping("variables")))
        outcome = c.data.get("outcome")
        record.snapshot = lifecycle._interned(
            c.enum("state", State),
            None if outcome is None else c.enum("outcome", Outcome),
            c.flag("human_held"),
        )
        record.transcript = [
            Entry(sender=_text(s, c), text=_text(t, c)) for s, t in c.rows("transcript", 2)
        ]
        record.monitors = c.texts("monitors")
        record.fallbacks = c.integer("fallbacks")
        record.return_bot = c.opt_text("return_bot")
        record.proposals = [
            switchboard._Proposal(bot=_text(b, c), supervisor=_text(s, c), action=_text(a, c))
            for b, s, a in c.rows("proposals", 3)
        ]
        record.wait_token = c.integer("wait_token")
        record.offer_token = c.integer("offer_token")
        record.survey_answers = dict(c.mapping("survey_answers"))
        for deadline, seq, kind, participant, token in c.rows("timers", 5):
            timers.append(
                switchboard._Timer(_num(deadline, c), _int(seq, c), _text(kind, c), cid,
                                   _text(participant, c), _int(token, c))
            )  # fmt: skip
        board._conversations[cid] = record
        r = c.inner("routing")
        if r is not None:
            declined = r.data.get("declined")
            router._conversations[cid] = routing._Conversation(
                id=cid,
                status=r.enum("status", WaitStatus),
                ticket=r.integer("ticket"),
                wanted=r.enum("wanted", Wanted),
                named=r.opt_text("named"),
                queue=r.opt_text("queue"),
                offer=r.opt_text("offer"),
                offer_expires=r.opt_number("offer_expires"),
                declined=None if declined is None else set(r.texts("declined")),
                holder=r.opt_text("holder"),
                held_in=r.opt_text("held_in"),
                held_before=set(r.texts("held_before")),
            )
    heapq.heapify(timers)
    board._timers = timers
    for pid, agent in router._agents.items():
        if pid not in participants:
            raise StoreError(f"{where}: no row for participant {pid!r}")
        p = _Reader(participants[pid], f"{where}: participant {pid!r}")
        agent.presence = p.enum("presence", PresenceStatus)
        agent.load = p.integer("load")
        agent.idle_since = p.number("idle_since")
        agent.holds = set(p.texts("holds"))
        agent.offers = set(p.texts("offers"))
        monitoring = p.texts("monitoring")
        if monitoring:
            board._monitoring[pid] = monitoring
    _rebuild_routing(router, g, where)
    return board


def _rebuild_routing(router: Router, g: _Reader, where: str) -> None:
    """Lines, ready lists, ticket and name indexes and selection trees, from the records."""
    from handoff_fsm import routing

    for rec in sorted(router._conversations.values(), key=lambda r: r.ticket):
        if rec.queue is None:
            continue
        q = router._queues.get(rec.queue)
        if q is None:
            raise StoreError(
                f"{where}: conversation {rec.id!r} waits in unknown queue {rec.queue!r}"
            )
        q.line.append(rec.ticket)
        router._by_ticket[rec.ticket] = rec.id
        if rec.named is not None:
            router._named_waits.setdefault(rec.named, set()).add(rec.id)
        if rec.offer is None:
            q.ready[router._sub_line(rec)].append(rec.ticket)
    del routing
    for agent in router._agents.values():
        router._refresh(agent)
    queues = g.mapping("queues")
    for q in router._queue_list:
        entry = _Reader(queues.get(q.spec.name), f"{where}: globals.queues.{q.spec.name}")
        q.last_picked = entry.integer("last_picked")
        visits = entry.mapping("visits")
        for kind, tree in q.trees.items():
            tree.visits = _int(visits.get(kind.value, 0), entry)
    router._dirty = set(g.texts("dirty"))


def _text(value: object, reader: _Reader) -> str:
    if not isinstance(value, str):
        raise StoreError(f"{reader.where}: holds {value!r} where a text belongs")
    return value


def _int(value: object, reader: _Reader) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise StoreError(f"{reader.where}: holds {value!r} where an integer belongs")
    return value


def _num(value: object, reader: _Reader) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise StoreError(f"{reader.where}: holds {value!r} where a number belongs")
    return float(value)


__all__ = [
    "CODEC_VERSION",
    "check_shape",
    "encode_all",
    "encode_conversation",
    "encode_globals",
    "encode_participant",
    "live_timers",
    "load",
    "remember_seen",
    "router_of",
    "seen_ids",
    "touched",
    "touched_before",
]


def seen_ids(board: Switchboard) -> list[str]:
    return sorted(board._seen_ids)


def remember_seen(board: Switchboard, step_ids: Iterable[str]) -> None:
    """Step ids the board has seen before its checkpoint (they live in the log, not in it)."""
    board._seen_ids.update(step_ids)
