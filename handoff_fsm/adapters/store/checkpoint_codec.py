"""The checkpoint codec: a switchboard's whole state as plain JSON rows, and back.

Theory of operation: this is the ONE module of the store that reads and writes the engine's
internals (`Switchboard` and its router); everything else goes through `Switchboard.handle` and
public queries. The state is cut into rows so that a checkpoint can be kept up to date at the
cost of what changed rather than of everything:

- one row per conversation: the switchboard's record (lifecycle state, context, monitors,
  counters, tokens, pending approvals, its live timers) and routing's record of it;
- one row per participant: presence, load, idle time, holds, offers, the conversations it
  monitors (in the order it joined them);
- one `globals` row: time, the timer, token and ticket counters, each queue's round-robin
  mark; the world when live changes made it differ from the first config (`config_to_json` of
  `Switchboard.world`); the ended conversations retention will forget, and the step ids a dedup
  window will forget, each with its time, in the order they leave memory.

Queue lines, ready lists, ticket indexes and selection trees are derived from those rows on
load, by the router's own `_refresh`, so they cannot disagree with them. Ids of steps seen without
a dedup window are not in a checkpoint: they are the log's `step_id` column (and the `seen_ids`
table after compaction); with a window, the ids still remembered are in the globals row.

Rules:
- Decoding is explicit code over JSON values (str, int, float, bool, None, lists, dicts); a
  value of the wrong shape is a `StoreError` naming the row, never a code path chosen by bytes.
- `check_shape` compares the engine's attribute names with the ones this codec knows and refuses
  a checkpoint (loudly) when the engine gained state the codec would silently drop; the
  round-trip tests compare whole object graphs at every cut of the seed scenarios.
- Which rows a step can change (`touched`) is derived from its event and effects, plus what an
  event may change silently (a presence change widens waits that named the participant; a live
  change of the world may reorder the memberships of every member of a queue: `changes_world`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from handoff_fsm.adapters.store.encoding import config_to_json
from handoff_fsm.effects import Effect
from handoff_fsm.errors import StoreError
from handoff_fsm.events import (
    AddParticipant,
    AddQueue,
    Event,
    JoinQueue,
    JsonValue,
    LeaveQueue,
    Presence,
    RemoveParticipant,
    RemoveQueue,
    SetCapacity,
    SetSkills,
    Tick,
    UpdateQueue,
    WrapUpDone,
)
from handoff_fsm.routing import PastDecision, Router
from handoff_fsm.routing.explain import kept_decisions
from handoff_fsm.routing.records import AgentRecord, QueueRecord, WaitRecord
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard import inspect as switchboard_inspect
from handoff_fsm.switchboard.record import ConversationRecord, Proposal
from handoff_fsm.switchboard.timers import RELAX, WRAP_UP, Timer, TimerHeap

CODEC_VERSION = 2
"""Bumped whenever a row's shape changes; a checkpoint of another version is not loaded."""

Row = dict[str, JsonValue]

_SWITCHBOARD_ATTRIBUTES = frozenset({
    "config", "settings", "_router", "now", "_traces", "_conversations", "_timers", "_new_waits",
    "_monitoring", "_seen_ids", "_out", "_escalation_phrases", "_cancel_phrases", "_id_expiry",
    "_ended", "_tokens", "_served",
})  # fmt: skip
_CONVERSATION_SLOTS = frozenset({
    "fallbacks", "id", "monitors", "offer_token", "proposals", "return_bot", "snapshot",
    "survey_answers", "transcript", "variables", "wait_since", "wait_token", "handover",
    "request_token",
})  # fmt: skip
_PROPOSAL_FIELDS = frozenset({"bot", "supervisor", "action"})
_TIMER_HEAP_SLOTS = frozenset({"_heap", "_seq"})
_TIMER_FIELDS = ("deadline", "seq", "kind", "conversation", "participant", "token")
_ROUTER_SLOTS = frozenset({
    "_agents", "_by_ticket", "_conversations", "_dirty", "_named_checks", "_named_waits",
    "_next_ticket", "_queue_list", "_queues",
})  # fmt: skip
_ROUTED_FIELDS = frozenset({
    "id", "status", "ticket", "wanted", "named", "queue", "offer", "offer_expires", "declined",
    "holder", "held_in", "held_before", "requires", "since", "priority", "bots_first", "past",
})  # fmt: skip
_AGENT_FIELDS = frozenset(
    {"spec", "memberships", "presence", "load", "idle_since", "holds", "offers", "missed",
     "wrapping"}
)  # fmt: skip
# `parked` and `excluding` are a cache of "nobody available can take it" (`routing.lines`):
# not encoded; a restored queue starts with every ready wait in its sub-line.
_QUEUE_FIELDS = frozenset(
    {"spec", "order", "trees", "line", "ready", "last_picked", "parked", "excluding"}
)


def router_of(board: Switchboard) -> Router:
    """The board's (private) router, through the engine's inspection module."""
    return switchboard_inspect.router_of(board)


def check_shape(board: Switchboard) -> None:
    """Refuse to checkpoint an engine whose state this codec does not fully know."""
    router = router_of(board)
    problems: list[str] = []
    names = set(vars(board))
    if names != _SWITCHBOARD_ATTRIBUTES:
        problems.append(f"switchboard {sorted(names ^ _SWITCHBOARD_ATTRIBUTES)}")
    for what, record_type, known in _RECORD_TYPES:
        found = _field_names(record_type)
        if found != known:
            problems.append(f"{what} {sorted(found ^ known)}")
    if type(router) is not Router or type(board._timers) is not TimerHeap:
        problems.append("a router or timer heap of another class")
    if Timer._fields != _TIMER_FIELDS:
        problems.append(f"timer {Timer._fields}")
    if board._traces is not None:
        problems.append("a switchboard built with trace=True (traces are not checkpointed)")
    if problems:
        raise StoreError(
            "the checkpoint codec does not know this engine's state ("
            + "; ".join(problems)
            + "); checkpoints are refused rather than incomplete"
        )


#: Every record class whose fields a checkpoint carries, with the fields this codec knows.
_RECORD_TYPES: list[tuple[str, type, frozenset[str]]] = [
    ("router", Router, _ROUTER_SLOTS),
    ("timer heap", TimerHeap, _TIMER_HEAP_SLOTS),
    ("conversation record", ConversationRecord, _CONVERSATION_SLOTS),
    ("proposal", Proposal, _PROPOSAL_FIELDS),
    ("routing record", WaitRecord, _ROUTED_FIELDS),
    ("participant record", AgentRecord, _AGENT_FIELDS),
    ("queue record", QueueRecord, _QUEUE_FIELDS),
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
    for timer in board._timers._heap:
        cid = timer.conversation
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
        "variables": record.variable_map(),
        "transcript": [[sender, text] for sender, text in record.lines()],
        "monitors": list(record.monitors),
        "fallbacks": record.fallbacks,
        "return_bot": record.return_bot,
        "proposals": [[p.bot, p.supervisor, p.action] for p in record.proposals],
        "wait_token": record.wait_token,
        "request_token": record.request_token,
        "handover": None
        if record.handover is None
        else [record.handover.sender, record.handover.reason],
        "past": [
            [
                float(d.at),
                d.queue,
                d.chosen,
                [[c.participant, c.verdict.value, c.remaining] for c in d.considered],
            ]
            for d in _past_of(router_of(board), cid)
        ],
        "offer_token": record.offer_token,
        "wait_since": _number(record.wait_since),
        "survey_answers": dict(record.survey_answers or {}),
        "timers": [[float(t[0]), t[1], t[2], t[4], t[5]] for t in sorted(timers)],
        "routing": _encode_routed(router_of(board), cid),
    }
    return row


def _past_of(router: Router, cid: str) -> tuple[PastDecision, ...]:
    """Its routing decisions: kept in the conversation's row (not in its routing part), as
    before they moved onto the routing record."""
    rec = router._conversations.get(cid)
    return () if rec is None else kept_decisions(rec.past)


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
        "requires": [[r.skill, r.level, r.for_] for r in rec.requires],
        "since": _number(rec.since),
        "priority": rec.priority,
        "bots_first": rec.bots_first,
    }


def _texts(values: Iterable[str]) -> list[JsonValue]:
    return list(sorted(values))


def encode_participant(board: Switchboard, pid: str) -> Row:
    agent = router_of(board)._agents[pid]
    return {
        "presence": agent.presence.value,
        "memberships": [name for name, _ in agent.memberships],
        "load": agent.load,
        "idle_since": _number(agent.idle_since),
        "holds": _texts(agent.holds),
        "offers": _texts(agent.offers),
        "missed": agent.missed,
        "wrapping": [[cid, units, float(until)] for cid, (units, until) in agent.wrapping.items()],
        "monitoring": list(board._monitoring.get(pid, ())),
    }


def encode_globals(board: Switchboard) -> Row:
    router = router_of(board)
    world = board.world
    conversations = board._conversations
    return {
        "codec": CODEC_VERSION,
        "now": float(board.now),
        "timer_seq": board._timers._seq,
        "tokens": board._tokens,
        "world": None if world == board.config else config_to_json(world),
        "ended": [  # an entry for a conversation since forgotten is skipped at expiry: left out
            [float(until), record.id]
            for until, record in board._ended
            if conversations.get(record.id) is record
        ],
        "id_expiry": [[float(until), step_id] for until, step_id in board._id_expiry],
        "next_ticket": router._next_ticket,
        "named_checks": router._named_checks,
        "dirty": _texts(router._dirty),
        "served": {queue: [float(t) for t in times] for queue, times in board._served.items()},
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


def touched_before(board: Switchboard, event: Event, now: float | None = None) -> set[str]:
    """Conversations a step may change without naming them in its effects, read before it runs:
    a presence change widens the waits that named the participant, silently; so does leaving a
    queue, and being removed (which goes offline first); a requirement's `for` running out by
    the step's time relaxes its wait (and may offer nothing)."""
    found = {t.conversation for t in _due(board, event, now) if t.kind == RELAX}
    if isinstance(event, Presence | LeaveQueue | RemoveParticipant):
        found.update(router_of(board)._named_waits.get(event.participant, ()))
    return found


def participants_before(board: Switchboard, event: Event, now: float | None = None) -> set[str]:
    """Participants a step may change without an effect addressed to them: a wrap-up that ends
    by the step's time frees its units silently."""
    return {t.participant for t in _due(board, event, now) if t.kind == WRAP_UP}


def _due(board: Switchboard, event: Event, now: float | None) -> list[Timer]:
    """The live timers due by the step's time, reading only the heap's due part."""
    until = event.now if isinstance(event, Tick) else now
    heap = board._timers._heap
    if until is None:
        return []
    found: list[Timer] = []
    todo = [0] if heap else []
    while todo:
        i = todo.pop()
        if i >= len(heap) or heap[i].deadline > until:
            continue
        if heap[i].kind in (RELAX, WRAP_UP) and board._timer_is_live(heap[i]):
            found.append(heap[i])
        todo += (2 * i + 1, 2 * i + 2)
    return found


#: The effects that change their addressee's own state (load, holds, offers, idle time, the
#: conversations it monitors); a message, a greeting or a context does not.
_CHANGES_ADDRESSEE = frozenset(
    {"participant_added", "participant_removed", "offer", "offer_withdrawn", "wrap_up", "presence"}
)


def touched(
    event: Event, effects: Sequence[Effect], conversations: set[str], participants: set[str]
) -> None:
    """Add the conversations and participants a step's event and effects may have changed."""
    conversation = getattr(event, "conversation", None)
    if isinstance(conversation, str):
        conversations.add(conversation)
    if isinstance(event, Presence | WrapUpDone):
        participants.add(event.participant)
    for effect in effects:
        if effect.conversation is not None:  # a presence line names none
            conversations.add(effect.conversation)
        if effect.KIND in _CHANGES_ADDRESSEE and effect.to is not None:
            participants.add(effect.to)


_WORLD_CHANGES = (AddParticipant, RemoveParticipant, SetCapacity, SetSkills, JoinQueue,
                  LeaveQueue, AddQueue, UpdateQueue, RemoveQueue)  # fmt: skip


def changes_world(event: Event) -> bool:
    """Whether `event` is a live change: it may change (or remove) any participant's row."""
    return isinstance(event, _WORLD_CHANGES)


def seen_ids(board: Switchboard) -> list[str]:
    return sorted(board._seen_ids)


def remember_seen(board: Switchboard, step_ids: Iterable[str]) -> None:
    """Step ids the board has seen before its checkpoint (they live in the log, not in it).
    With a dedup window the checkpoint itself holds the ids still remembered, with their time:
    an older id in the log is past its window and is not a duplicate any more."""
    if board.settings.dedup_window is None:
        board._seen_ids.update(dict.fromkeys(step_ids, math.inf))


from handoff_fsm.adapters.store.checkpoint_decode import load  # noqa: E402 - re-exported

__all__ = [
    "CODEC_VERSION",
    "changes_world",
    "check_shape",
    "encode_all",
    "encode_conversation",
    "encode_globals",
    "encode_participant",
    "live_timers",
    "load",
    "participants_before",
    "remember_seen",
    "router_of",
    "seen_ids",
    "touched",
    "touched_before",
]
