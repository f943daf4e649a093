"""Selection: who may take a waiting conversation, and who is best by the queue's strategy.

Theory of operation: `verdict` is the eligibility rule (SPEC §3) read plainly, one participant at
a time: it returns the first rule the participant fails, or None when it is eligible. `pick` gets
the same answer without scanning: each (queue, kind) keeps a min segment tree of the members that
could take a conversation now (available, with room), keyed by the strategy's rank (`leaf_key`),
so a pick costs O(log n) per excluded participant (held before, declined) plus one. `rank` is the
same order for a linear reading (`explain`), which the tests hold `pick` to.

Rules: request rules come first in `verdict` (they hold whatever happens), live ones last; a
named request considers only the named participant.
"""

from __future__ import annotations

import bisect
import enum

from handoff_fsm.routing.records import (
    KINDS_OF_WANTED,
    SUB_BOT,
    SUB_HUMAN,
    AgentRecord,
    QueueRecord,
    WaitRecord,
    excluded,
    has_room,
    kind_fits,
    leaf_key,
    meets,
)
from handoff_fsm.routing.segment_tree import Key, MinSegmentTree, lesser
from handoff_fsm.vocabulary import Kind, PresenceStatus, Strategy, Wanted


class Verdict(enum.StrEnum):
    """Why a participant was or was not picked: the first rule it fails, in this order."""

    CHOSEN = "chosen"
    NOT_MEMBER = "not_member"
    AWAY = "away"
    OFFLINE = "offline"
    FULL = "full"
    WRONG_KIND = "wrong_kind"
    HELD_BEFORE = "held_before"
    DECLINED_BEFORE = "declined_before"
    NOT_NAMED = "not_named"
    RANKED_LOWER = "ranked_lower"
    UNMET_REQUIREMENT = "unmet_requirement"


def verdict(rec: WaitRecord, q: QueueRecord, agent: AgentRecord) -> Verdict | None:
    """The first eligibility rule `agent` fails for `rec`, or None if it is eligible."""
    pid = agent.spec.id
    if not q.is_member(agent):
        return Verdict.NOT_MEMBER
    if rec.named is not None and pid != rec.named:
        return Verdict.NOT_NAMED
    if not kind_fits(rec.wanted, agent.spec.kind):
        return Verdict.WRONG_KIND
    if pid in rec.held_before and pid != rec.named:
        return Verdict.HELD_BEFORE
    if rec.declined and pid in rec.declined:
        return Verdict.DECLINED_BEFORE
    if not meets(agent, rec.requires):
        return Verdict.UNMET_REQUIREMENT
    if agent.presence is PresenceStatus.OFFLINE:
        return Verdict.OFFLINE
    if agent.presence is PresenceStatus.AWAY:
        return Verdict.AWAY
    if not has_room(agent, q):
        return Verdict.FULL
    return None


def rank(q: QueueRecord, agent: AgentRecord, position: int, bots_first: bool) -> tuple[float, ...]:
    """The strategy's rank, for a linear look (`explain`); `pick` gets the same order (a bots
    first request ranks every bot before every human)."""
    if q.spec.strategy is Strategy.ROUND_ROBIN:
        key: Key = (1 if position <= q.last_picked else 0, position)
    else:
        found = leaf_key(q, agent, position)
        assert found is not None
        key = found
    if bots_first:  # every bot before every human: the kind leads, then the strategy's key
        return (float(agent.spec.kind is not Kind.BOT), *key)
    return key


def pick(rec: WaitRecord, q: QueueRecord, agents: dict[str, AgentRecord]) -> str | None:
    """The best eligible participant for `rec` now, or None."""
    if rec.named is not None:
        return rec.named if verdict(rec, q, agents[rec.named]) is None else None
    if rec.bots_first and rec.wanted is Wanted.ANY:
        return _pick_among(rec, q, agents, (Kind.BOT,)) or _pick_among(
            rec, q, agents, (Kind.HUMAN,)
        )
    return _pick_among(rec, q, agents, KINDS_OF_WANTED[rec.wanted])


def _pick_among(
    rec: WaitRecord, q: QueueRecord, agents: dict[str, AgentRecord], kinds: tuple[Kind, ...]
) -> str | None:
    skipped = excluded(rec)
    round_robin = q.spec.strategy is Strategy.ROUND_ROBIN
    best: Key | None = None
    wrapped: Key | None = None  # round robin: the best at or before the last pick
    for kind in kinds:
        tree = q.trees[kind]
        if tree.best is None:
            continue
        skip = sorted(tree.leaf_of[p] for p in skipped if p in tree.leaf_of)
        if round_robin:
            cut = bisect.bisect_right(tree.positions, q.last_picked)
            best = lesser(best, _best_meeting(rec, q, agents, tree, cut, tree.size, skip))
            wrapped = lesser(wrapped, _best_meeting(rec, q, agents, tree, 0, cut, skip))
        else:
            best = lesser(best, _best_meeting(rec, q, agents, tree, 0, tree.size, skip))
    if best is None:
        best = wrapped
    return None if best is None else q.spec.members[best[1]]


def _best_meeting(
    rec: WaitRecord,
    q: QueueRecord,
    agents: dict[str, AgentRecord],
    tree: MinSegmentTree,
    lo: int,
    hi: int,
    skip: list[int],
) -> Key | None:
    """The best key in [lo, hi) outside `skip` whose member meets the requirements. With
    requirements the tree is searched best first, refusing the members that lack a skill on the
    way, so the cost grows with the better-ranked members that lack one, not with the queue."""
    if not rec.requires:
        return tree.best_outside(lo, hi, skip)
    skipped, requires = set(skip), rec.requires
    members, positions = q.spec.members, tree.positions
    return tree.best_where(
        lo,
        hi,
        lambda leaf: leaf not in skipped and meets(agents[members[positions[leaf]]], requires),
    )


def sub_line_servable(q: QueueRecord, sub: int) -> bool:
    """Whether anyone in `q` could take a conversation of this sub-line now."""
    bots = q.trees[Kind.BOT].best is not None
    humans = q.trees[Kind.HUMAN].best is not None
    if sub == SUB_BOT:
        return bots
    if sub == SUB_HUMAN:
        return humans
    return bots or humans


__all__ = ["Verdict", "pick", "rank", "sub_line_servable", "verdict"]
