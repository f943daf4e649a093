"""Explanations: who was considered for a waiting conversation, and why each was passed over.

Theory of operation: `explain_wait` reads the eligibility rule (`selection.verdict`) plainly, for
every member of the queue in the queue's order, and ranks the eligible ones by `selection.rank`:
the answer to "why not me?" (SPEC §3), and the linear reference the tests hold the index
(`selection.pick`) to. It is linear on purpose; it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import attrs

from handoff_fsm.config import Requirement
from handoff_fsm.routing.records import AgentRecord, QueueRecord, WaitRecord
from handoff_fsm.routing.selection import Verdict, rank, verdict
from handoff_fsm.vocabulary import Strategy, Wanted

_VERDICT_TEXT = {
    Verdict.CHOSEN: "chosen",
    Verdict.NOT_MEMBER: "not a member of the queue",
    Verdict.AWAY: "away",
    Verdict.OFFLINE: "offline",
    Verdict.FULL: "not enough capacity left",
    Verdict.WRONG_KIND: "not of the wanted kind",
    Verdict.HELD_BEFORE: "held this conversation before",
    Verdict.DECLINED_BEFORE: "declined or let time out an offer of it in this wait",
    Verdict.NOT_NAMED: "not the named participant",
    Verdict.RANKED_LOWER: "eligible, ranked lower by the strategy",
    Verdict.UNMET_REQUIREMENT: "lacks a required skill",
}


@attrs.frozen(kw_only=True, weakref_slot=False)
class Consideration:
    participant: str
    verdict: Verdict
    remaining: int


@attrs.frozen(kw_only=True)
class Explanation:
    """Why a waiting conversation goes (or would go) to whom. `offered` is True when `chosen`
    already has the offer out."""

    conversation: str
    queue: str
    strategy: Strategy
    wanted: Wanted
    named: str | None
    considered: tuple[Consideration, ...]
    chosen: str | None
    offered: bool = False
    requires: tuple[Requirement, ...] = ()

    def render(self) -> str:
        asked = "a bot or a human" if self.wanted is Wanted.ANY else f"a {self.wanted}"
        if self.named is not None:
            asked = f"{self.named} by name"
        lines = [
            f"conversation {self.conversation} waits in queue {self.queue} "
            f"(strategy {self.strategy}), asking for {asked}:"
        ]
        width = max((len(c.participant) for c in self.considered), default=0)
        for c in self.considered:
            why = _VERDICT_TEXT[c.verdict]
            if c.verdict is Verdict.WRONG_KIND:
                why = f"not a {self.wanted}"
            elif c.verdict is Verdict.NOT_NAMED:
                why = f"not {self.named}, asked for by name"
            elif c.verdict is Verdict.UNMET_REQUIREMENT:
                why = "lacks " + ", ".join(f"{r.skill} >= {r.level}" for r in self.requires)
            elif c.verdict is Verdict.CHOSEN and self.offered:
                why = "chosen, offer out"
            lines.append(f"  {c.participant:<{width}}  {why} (capacity left {c.remaining})")
        if self.chosen is None:
            lines.append("nobody can take it now")
        elif self.offered:
            lines.append(f"offer out to {self.chosen}")
        else:
            lines.append(f"best candidate now: {self.chosen}")
        return "\n".join(lines)


@attrs.frozen(kw_only=True, weakref_slot=False)
class PastDecision:
    """One routing decision of a conversation, kept with it: when, in which queue, who was
    chosen, and (in a queue of at most `EXPLAINED_MEMBERS` members) every member's verdict."""

    at: float
    queue: str
    chosen: str
    considered: tuple[Consideration, ...]


#: Decisions kept per conversation (the oldest go first), and the largest queue whose every
#: member's verdict is kept (a larger one keeps who was chosen only: selection stays sublinear).
KEPT_DECISIONS = 20
EXPLAINED_MEMBERS = 64

#: The decisions a conversation keeps (`WaitRecord.past`): each one's four fields in a row, in one
#: flat tuple, oldest first; no object per decision for memory or the garbage collector.
Kept = tuple[float | str | tuple[Consideration, ...], ...]
_FIELDS = 4


def keep(past: Kept, decision: PastDecision) -> Kept:
    """`past` with `decision` after it, the oldest dropped beyond `KEPT_DECISIONS`."""
    row = (decision.at, decision.queue, decision.chosen, decision.considered)
    return (*past, *row)[-_FIELDS * KEPT_DECISIONS :]


def kept_decisions(past: Kept) -> tuple[PastDecision, ...]:
    """The decisions `keep` kept, oldest first."""
    return tuple(
        PastDecision(
            at=cast(float, past[i]),
            queue=cast(str, past[i + 1]),
            chosen=cast(str, past[i + 2]),
            considered=cast(tuple[Consideration, ...], past[i + 3]),
        )
        for i in range(0, len(past), _FIELDS)
    )


def past_decision(
    rec: WaitRecord, q: QueueRecord, agents: dict[str, AgentRecord], chosen: str, now: float
) -> PastDecision:
    considered: tuple[Consideration, ...] = ()
    if len(q.spec.members) <= EXPLAINED_MEMBERS:
        considered = tuple(
            Consideration(
                participant=pid,
                verdict=Verdict.CHOSEN if pid == chosen else found or Verdict.RANKED_LOWER,
                remaining=agents[pid].remaining,
            )
            for pid in q.spec.members
            for found in (verdict(rec, q, agents[pid]),)
        )
    return PastDecision(at=now, queue=q.spec.name, chosen=chosen, considered=considered)


def explain_wait(rec: WaitRecord, q: QueueRecord, agents: dict[str, AgentRecord]) -> Explanation:
    """Every member's verdict for the waiting `rec`, and who is chosen (or has the offer)."""
    verdicts: list[tuple[str, Verdict | None, int]] = []
    best: tuple[tuple[float, ...], str] | None = None
    for position, pid in enumerate(q.spec.members):
        agent = agents[pid]
        found = Verdict.CHOSEN if pid == rec.offer else verdict(rec, q, agent)
        verdicts.append((pid, found, agent.remaining))
        if found is None and rec.offer is None:
            ranked = rank(q, agent, position, rec.bots_first and rec.wanted is Wanted.ANY)
            if best is None or ranked < best[0]:
                best = (ranked, pid)
    chosen = rec.offer if rec.offer is not None else (None if best is None else best[1])
    considered = tuple(
        Consideration(
            participant=pid,
            verdict=found
            if found is not None
            else (Verdict.CHOSEN if pid == chosen else Verdict.RANKED_LOWER),
            remaining=remaining,
        )
        for pid, found, remaining in verdicts
    )
    return Explanation(
        conversation=rec.id,
        queue=q.spec.name,
        strategy=q.spec.strategy,
        wanted=rec.wanted,
        named=rec.named,
        considered=considered,
        chosen=chosen,
        offered=rec.offer is not None,
        requires=rec.requires,
    )


def consider_one(
    rec: WaitRecord, q: QueueRecord, agent: AgentRecord, pick_now: Callable[[], str | None]
) -> Consideration:
    """One participant's verdict for the waiting `rec`; `pick_now` asks selection who it picks
    (only asked when the participant is eligible)."""
    pid = agent.spec.id
    if pid == rec.offer:
        return Consideration(participant=pid, verdict=Verdict.CHOSEN, remaining=agent.remaining)
    found = verdict(rec, q, agent)
    if found is None:
        chosen = rec.offer is None and pick_now() == pid
        found = Verdict.CHOSEN if chosen else Verdict.RANKED_LOWER
    return Consideration(participant=pid, verdict=found, remaining=agent.remaining)


__all__ = [
    "EXPLAINED_MEMBERS",
    "KEPT_DECISIONS",
    "Consideration",
    "Explanation",
    "Kept",
    "PastDecision",
    "consider_one",
    "explain_wait",
    "keep",
    "kept_decisions",
    "past_decision",
]
