"""The checkpoint codec's reading side: JSON rows back into a switchboard.

Theory of operation: `load` builds a fresh `Switchboard` for the config and fills its records
from the rows that `checkpoint_codec` wrote (see there for the row shapes); the derived parts of
routing (lines, ready sub-lines, ticket and name indexes, selection trees) are rebuilt from the
records by the router's own helpers, so they cannot disagree with them.

Rules: decoding is explicit code over JSON values; a value of the wrong shape is a `StoreError`
naming the row, never a code path chosen by bytes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from typing import Any, cast

from handoff_fsm import lifecycle
from handoff_fsm.adapters.store.checkpoint_codec import CODEC_VERSION, router_of
from handoff_fsm.adapters.store.encoding import config_from_json
from handoff_fsm.config import Config, Requirement
from handoff_fsm.effects import Handover
from handoff_fsm.errors import StoreError
from handoff_fsm.events import JsonValue, PresenceStatus, Wanted
from handoff_fsm.lifecycle import Outcome, State
from handoff_fsm.routing import Consideration, PastDecision, Router, Verdict, WaitStatus
from handoff_fsm.routing.explain import Kept, keep
from handoff_fsm.routing.records import WaitRecord, with_id
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard.record import ConversationRecord, Proposal
from handoff_fsm.switchboard.timers import Timer


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
    """A switchboard in the state the rows describe (conversations in the given order);
    `config` is the store's first one, the world as live changes left it is in the rows."""
    board = Switchboard(config)
    g = _Reader(globals_row, f"{where}: globals")
    if g.integer("codec") != CODEC_VERSION:
        raise StoreError(
            f"{where}: checkpoint codec version {g.data['codec']} is not {CODEC_VERSION}"
        )
    world = g.data.get("world")
    if world is not None:
        changed = config_from_json(world, f"{where}: globals.world")
        if changed.settings != config.settings:
            raise StoreError(f"{where}: globals.world has other settings than the store")
        board._router = Router(changed.participants, changed.queues)
    router = router_of(board)
    board.now = g.number("now")
    board._timers._seq = g.integer("timer_seq")
    board._tokens = g.integer("tokens")
    for until, step_id in g.rows("id_expiry", 2):
        board._seen_ids[_text(step_id, g)] = _num(until, g)
        board._id_expiry.append((_num(until, g), _text(step_id, g)))
    router._next_ticket = g.integer("next_ticket")
    router._named_checks = g.integer("named_checks")
    timers: list[Timer] = []
    for cid, data in conversations:
        c = _Reader(data, f"{where}: conversation {cid!r}")
        record = ConversationRecord(cid, dict(c.mapping("variables")))
        outcome = c.data.get("outcome")
        record.snapshot = lifecycle._interned(
            c.enum("state", State),
            None if outcome is None else c.enum("outcome", Outcome),
            c.flag("human_held"),
        )
        record.say_all((_text(s, c), _text(t, c)) for s, t in c.rows("transcript", 2))
        record.monitors = tuple(c.texts("monitors"))
        record.fallbacks = c.integer("fallbacks")
        record.return_bot = c.opt_text("return_bot")
        record.proposals = tuple(
            Proposal(bot=_text(b, c), supervisor=_text(s, c), action=_text(a, c))
            for b, s, a in c.rows("proposals", 3)
        )
        record.wait_token = c.integer("wait_token")
        record.request_token = c.integer("request_token")
        handover = c.data.get("handover")
        if handover is not None:
            sender, reason = _pair(handover, c)
            record.handover = Handover(sender=sender, reason=reason)
        past: Kept = ()
        for row in c.rows("past", 4):
            past = keep(past, _past_decision(row, c))
        record.offer_token = c.integer("offer_token")
        record.wait_since = c.number("wait_since")
        record.survey_answers = dict(c.mapping("survey_answers")) or None
        for deadline, seq, kind, participant, token in c.rows("timers", 5):
            timers.append(
                Timer(_num(deadline, c), _int(seq, c), _text(kind, c), cid,
                                   _text(participant, c), _int(token, c))
            )  # fmt: skip
        board._conversations[cid] = record
        r = c.inner("routing")
        if r is not None:
            declined = r.data.get("declined")
            router._conversations[cid] = WaitRecord(
                id=cid,
                status=r.enum("status", WaitStatus),
                ticket=r.integer("ticket"),
                wanted=r.enum("wanted", Wanted),
                named=r.opt_text("named"),
                queue=r.opt_text("queue"),
                offer=r.opt_text("offer"),
                offer_expires=r.opt_number("offer_expires"),
                declined=None if declined is None else _ids(r.texts("declined")),
                holder=r.opt_text("holder"),
                held_in=r.opt_text("held_in"),
                held_before=_ids(r.texts("held_before")),
                requires=tuple(
                    Requirement(
                        skill=_text(skill, r),
                        level=_int(level, r),
                        for_=None if for_ is None else _num(for_, r),
                    )
                    for skill, level, for_ in r.rows("requires", 3)
                ),
                since=r.number("since"),
                priority=None if r.data.get("priority") is None else r.integer("priority"),
                bots_first=r.flag("bots_first"),
                past=past,
            )
        elif past:
            raise StoreError(f"{c.where}: routing decisions of a conversation unknown to routing")
    heapq.heapify(timers)
    board._timers._heap = timers
    for until, cid in g.rows("ended", 2):
        ended = board._conversations.get(_text(cid, g))
        if ended is None or ended.state is not State.ENDED:
            raise StoreError(f"{where}: globals.ended names {cid!r}, not an ended conversation")
        board._ended.append((_num(until, g), ended))
    for pid, agent in router._agents.items():
        if pid not in participants:
            raise StoreError(f"{where}: no row for participant {pid!r}")
        p = _Reader(participants[pid], f"{where}: participant {pid!r}")
        agent.presence = p.enum("presence", PresenceStatus)
        order = {name: n for n, name in enumerate(p.texts("memberships"))}
        if set(order) != {name for name, _ in agent.memberships}:
            raise StoreError(f"{p.where}: its memberships are not its queues in the world")
        agent.memberships.sort(key=lambda m: order[m[0]])
        agent.load = p.integer("load")
        agent.idle_since = p.number("idle_since")
        agent.holds = set(p.texts("holds"))
        agent.offers = set(p.texts("offers"))
        agent.missed = p.integer("missed")
        agent.wrapping = {
            _text(wrapped, p): (_int(units, p), _num(until, p))
            for wrapped, units, until in p.rows("wrapping", 3)
        }
        monitoring = p.texts("monitoring")
        if monitoring:
            board._monitoring[pid] = monitoring
    _rebuild_routing(router, g, where)
    served = g.mapping("served")
    for queue, times in served.items():
        if not isinstance(times, list):
            raise g.fail("served", "an object of lists of times")
        board._served[queue] = [_num(t, g) for t in times]
    return board


def _rebuild_routing(router: Router, g: _Reader, where: str) -> None:
    """Lines, ready lists, ticket and name indexes and selection trees, from the records."""
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
            q.ready[rec.sub_line].append(rec.ticket)
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


def _pair(value: object, reader: _Reader) -> tuple[str, str]:
    if not isinstance(value, list) or len(value) != 2:
        raise StoreError(f"{reader.where}: holds {value!r} where [from, reason] belongs")
    return _text(value[0], reader), _text(value[1], reader)


def _past_decision(row: list[Any], reader: _Reader) -> PastDecision:
    at, queue, chosen, considered = row
    if not isinstance(considered, list) or not all(
        isinstance(c, list) and len(c) == 3 for c in considered
    ):
        raise StoreError(f"{reader.where}: holds {considered!r} where verdicts belong")
    try:
        verdicts = tuple(
            Consideration(participant=_text(pid, reader), verdict=Verdict(_text(v, reader)),
                          remaining=_int(remaining, reader))
            for pid, v, remaining in considered
        )  # fmt: skip
    except ValueError:
        raise StoreError(f"{reader.where}: holds an unknown verdict in {considered!r}") from None
    return PastDecision(
        at=_num(at, reader), queue=_text(queue, reader), chosen=_text(chosen, reader),
        considered=verdicts,
    )  # fmt: skip


def _ids(texts: list[str]) -> tuple[str, ...]:
    """Sorted, a lone id shared as the engine shares it (`records.with_id`)."""
    ids: tuple[str, ...] = ()
    for pid in texts:
        ids = with_id(ids, pid)
    return ids


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


__all__ = ["load"]
