"""The router: who gets a waiting conversation, and every change to who holds or is offered what.

Theory of operation: a `Router` keeps the live side of routing for one contact center: each
participant's presence and load, each queue's line, and for each conversation its current wait
(or the hold that wait produced). It is pure: calls go in, decisions come out; time arrives as a
float `now`, and nothing is random, so the same calls always give the same decisions.

A conversation joins a queue's line with `enqueue` (a request: the kind it wants, maybe a named
participant). `serve` walks the lines that may have changed, oldest ticket first, and gives each
waiting conversation the best eligible participant by its queue's strategy (`selection`): a bot
holds it at once (`Assigned`), a human gets an offer (`Offered`, see `offers`).

Rules:
- Load counts holds and offers out, in the queue's `units`, and never exceeds capacity.
- FIFO within a queue without head-of-line blocking: an earlier ticket always picks first, and a
  conversation nobody can take now does not stop later ones.
- Every mutation checks everything before changing anything: a refused call (`StepRefused`)
  leaves the router exactly as it was.
- `explain` is linear on purpose (`explain`); `serve` never scans a queue.
"""

from __future__ import annotations

import bisect
import heapq

from handoff_fsm.config import Requirement
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.routing.explain import (
    Consideration,
    Explanation,
    consider_one,
    explain_wait,
)
from handoff_fsm.routing.records import (
    KINDS_OF_WANTED,
    SUB_NAMED,
    AgentRecord,
    QueueRecord,
    WaitRecord,
    has_room,
    kind_fits,
    meets,
)
from handoff_fsm.routing.selection import pick, sub_line_servable
from handoff_fsm.routing.waits import (
    WAIT_START,
    Decision,
    PresenceChange,
    WaitStatus,
    WaitTrigger,
    Withdrawn,
)
from handoff_fsm.routing.world import WorldBooks
from handoff_fsm.vocabulary import PresenceStatus, Wanted, WithdrawReason


class Router(WorldBooks):
    """The live routing state of one contact center. Not thread-safe; one owner at a time."""

    __slots__ = ()

    def check_request(
        self,
        queue: str,
        *,
        wanted: Wanted = Wanted.ANY,
        named: str | None = None,
        requires: tuple[Requirement, ...] = (),
        conversation: str | None = None,
    ) -> None:
        """Refuse a request `enqueue` would refuse for what it asks (not for the conversation's
        own state), so a caller can check before letting the current holder go."""
        self._check_request(self._queue(queue), wanted, named, requires, conversation)

    def best_candidate(self, conversation: str) -> str | None:
        """Who `serve` would give this waiting conversation to now, if it were first in line
        (None with an offer out). Uses the index, changes nothing."""
        rec, q = self._waiting(conversation)
        return None if rec.offer is not None else self._pick(rec, q)

    def explain(self, conversation: str) -> Explanation:
        """Every member's verdict, by a plain linear reading of the rules: the answer to "why
        not me?", and the reference the tests hold the index (`best_candidate`) to."""
        rec, q = self._waiting(conversation)
        return explain_wait(rec, q, self._agents)

    def consider(self, conversation: str, participant: str) -> Consideration:
        """One participant's verdict for a waiting conversation, member of its queue or not."""
        rec, q = self._waiting(conversation)
        return consider_one(rec, q, self._agent(participant), lambda: self._pick(rec, q))

    # ------------------------------------------------------------------------- mutations

    def enqueue(
        self,
        conversation: str,
        queue: str,
        now: float,
        *,
        wanted: Wanted = Wanted.ANY,
        named: str | None = None,
        requires: tuple[Requirement, ...] = (),
        priority: int | None = None,
        since: float | None = None,
        check: bool = True,
        bots_first: bool = False,
    ) -> None:
        """Join `queue`'s line. `since` keeps an earlier request's clock (an overflow transfer),
        so that its requirements relax when they would have. An overflow is not a request of
        anyone's and cannot be refused: it passes `check=False`."""
        q = self._queue(queue)
        rec = self._conversations.get(conversation)
        if rec is not None:
            self._not_waiting_or_held(rec)
        if check:
            self._check_request(q, wanted, named, requires, conversation)
        ticket = self._take_ticket(q.spec.priority if priority is None else priority)
        if rec is None:
            rec = self._conversations[conversation] = WaitRecord(
                id=conversation, status=WAIT_START, ticket=ticket
            )
        rec.status = WAIT_START
        rec.wanted = Wanted(wanted)
        rec.named = named
        rec.declined = None
        rec.since = now if since is None else since
        rec.priority = priority
        rec.bots_first = bots_first
        rec.requires = tuple(r for r in requires if r.for_ is None or now - rec.since < r.for_)
        self._join_line(rec, q, ticket)

    def relax(self, conversation: str, now: float) -> bool:
        """Drop the requirements whose `for` has run out; True if one dropped. A waiting
        conversation is then tried again by the next `serve`."""
        rec = self._known(conversation)
        kept = tuple(r for r in rec.requires if r.for_ is None or now - rec.since < r.for_)
        if kept == rec.requires:
            return False
        if rec.queue is not None and rec.offer is None:
            q = self._queues[rec.queue]
            self._unready(rec, q)
            rec.requires = kept
            self._make_ready(rec, q)
        else:
            rec.requires = kept
        return True

    def bots_first(self, conversation: str) -> bool:
        """Whether its request asks for anyone, bots before humans (a start without a kind)."""
        rec = self._conversations.get(conversation)
        return rec is not None and rec.bots_first

    def relax_deadlines(self, conversation: str) -> tuple[float, ...]:
        """When the current requirements with `for` drop, in order."""
        rec = self._known(conversation)
        return tuple(sorted({rec.since + r.for_ for r in rec.requires if r.for_ is not None}))

    def serve(self, now: float) -> list[Decision]:
        """Serve every queue that may have changed, oldest ticket first across them."""
        if not self._dirty:
            return []
        heads: list[tuple[int, int, int]] = []  # (ticket, queue order, sub-line)
        for name in self._dirty:
            q = self._queues[name]
            for sub, tickets in enumerate(q.ready):
                if tickets:
                    heads.append((tickets[0], q.order, sub))
        heapq.heapify(heads)
        decisions: list[Decision] = []
        while heads:
            ticket, order, sub = heapq.heappop(heads)
            q = self._queue_list[order]
            # Serving only takes capacity away, so a sub-line nobody can serve stays so.
            if not sub_line_servable(q, sub):
                continue
            rec = self._conversations[self._by_ticket[ticket]]
            pid = self._pick(rec, q)
            if pid is not None:
                self._record_decision(rec, q, pid, now)
                decisions.append(self._give(rec, q, self._agents[pid], now))
            elif sub != SUB_NAMED:
                self._park(rec, q)
            tickets = q.ready[sub]
            after = bisect.bisect_right(tickets, ticket)
            if after < len(tickets):
                heapq.heappush(heads, (tickets[after], order, sub))
        self._dirty.clear()
        return decisions

    def release(self, conversation: str, now: float, *, wrap_until: float | None = None) -> str:
        """The holder lets go. With `wrap_until`, its units stay in use (a wrap-up) until
        then, or until `end_wrap_up`."""
        rec = self._known(conversation)
        if rec.holder is None:
            raise StepRefused(
                ErrorCode.NOT_HOLDER, f"conversation {conversation!r} is not held by anyone"
            )
        agent = self._agents[rec.holder]
        units = self._queues[rec.held_in or ""].spec.units
        agent.holds.remove(rec.id)
        if wrap_until is None:
            agent.load -= units
        else:
            held = agent.wrapping.get(rec.id, (0, 0.0))[0]
            agent.wrapping[rec.id] = (held + units, wrap_until)
        agent.idle_since = now
        rec.holder = None
        rec.held_in = None
        self._refresh(agent)
        return agent.spec.id

    def leave(self, conversation: str, now: float) -> Withdrawn | None:
        del now
        rec, q = self._waiting(conversation)
        self._check_move(rec, WaitTrigger.LEAVE)
        withdrawn = None
        if rec.offer is not None:
            agent = self._agents[rec.offer]
            withdrawn = self._drop_offer(rec, q, agent, WithdrawReason.CANCELLED)
            self._refresh(agent)
        else:
            self._unready(rec, q)
        self._move(rec, WaitTrigger.LEAVE)
        self._leave_line(rec, q)
        return withdrawn

    def assign(self, conversation: str, participant: str, queue: str, now: float) -> None:
        """Give a conversation that is neither waiting nor held straight to a participant, as a
        hold from `queue` (a cancelled wait going back to the bot that handed it over). Not a
        routing decision: membership and `away` do not matter, `offline` and capacity do."""
        q = self._queue(queue)
        agent = self._agent(participant)
        rec = self._conversations.get(conversation)
        if rec is not None:
            self._not_waiting_or_held(rec)
        self._check_can_hold(agent, q, conversation, allow_away=True)
        if rec is None:
            rec = self._conversations[conversation] = WaitRecord(
                id=conversation, status=WaitStatus.LEFT, ticket=self._take_ticket()
            )
        agent.load += q.spec.units
        self._hold(rec, agent, q.spec.name, now)

    def reassign(self, conversation: str, participant: str, now: float) -> str:
        rec = self._known(conversation)
        if rec.holder is None:
            raise StepRefused(
                ErrorCode.NOT_HOLDER, f"conversation {conversation!r} is not held by anyone"
            )
        new = self._agent(participant)
        if rec.holder == participant:
            raise StepRefused(
                ErrorCode.WRONG_STATE,
                f"{participant!r} already holds conversation {conversation!r}",
            )
        q = self._queues[rec.held_in or ""]
        self._check_can_hold(new, q, conversation, allow_away=False)
        old = self._agents[rec.holder]
        old.holds.remove(rec.id)
        old.load -= q.spec.units
        old.idle_since = now
        rec.holder = None
        self._refresh(old)
        new.load += q.spec.units
        self._hold(rec, new, q.spec.name, now)
        return old.spec.id

    def set_presence(self, pid: str, status: PresenceStatus, now: float) -> PresenceChange:
        agent = self._agent(pid)
        status = PresenceStatus(status)
        if status is PresenceStatus.AVAILABLE:
            agent.missed = 0  # set available: its missed offers count from zero again
        if agent.presence is status:
            return PresenceChange(withdrawn=(), dropped=())
        agent.presence = status
        withdrawn: list[Withdrawn] = []
        dropped: list[str] = []
        if status is not PresenceStatus.AVAILABLE:
            for cid in self._by_ticket_order(agent.offers):
                rec = self._conversations[cid]
                q = self._queues[rec.queue or ""]
                self._move(rec, WaitTrigger.WITHDRAW)
                withdrawn.append(self._drop_offer(rec, q, agent, WithdrawReason.CANCELLED))
                if status is PresenceStatus.OFFLINE and rec.named == pid:
                    self._unname(rec)
                self._make_ready(rec, q)
        if status is PresenceStatus.OFFLINE:
            for cid in self._by_ticket_order(agent.holds):
                self._drop_hold(self._conversations[cid], agent)
                dropped.append(cid)
            if dropped:
                agent.idle_since = now
            for _, (units, _) in agent.wrapping.items():  # going offline skips wrap-up
                agent.load -= units
            agent.wrapping.clear()
            for cid in self._by_ticket_order(self._named_waits.get(pid, ())):
                self._widen(self._conversations[cid])
        self._refresh(agent)
        return PresenceChange(withdrawn=tuple(withdrawn), dropped=tuple(dropped))

    def end_wrap_up(
        self, pid: str, conversation: str | None = None, until: float | None = None
    ) -> tuple[str, ...]:
        """End `pid`'s wrap-ups (of one conversation, when its deadline is `until`; else all):
        their units are free again. The conversations whose wrap-up ended, sorted."""
        agent = self._agent(pid)
        ended = sorted(
            cid
            for cid, (_, deadline) in agent.wrapping.items()
            if conversation is None or (cid == conversation and deadline == until)
        )
        for cid in ended:
            agent.load -= agent.wrapping.pop(cid)[0]
        if ended:
            self._refresh(agent)
        return tuple(ended)

    def forget(self, conversation: str) -> None:
        rec = self._conversations.get(conversation)
        if rec is None:
            return
        self._not_waiting_or_held(rec)
        del self._conversations[conversation]

    # ------------------------------------------------------------------------- checks

    def _check_request(
        self,
        q: QueueRecord,
        wanted: Wanted,
        named: str | None,
        requires: tuple[Requirement, ...] = (),
        conversation: str | None = None,
    ) -> None:
        """Refuse a request no member could ever serve (SPEC §3): presence, load, capacity and
        declines aside, as they change; skills only through requirements that never relax."""
        if wanted not in KINDS_OF_WANTED:
            raise StepRefused(
                ErrorCode.INVALID_STEP, f"unknown kind {wanted!r} (bot, human or any)"
            )
        lasting = tuple(r for r in requires if r.for_ is None)
        if named is not None:
            agent = self._agent(named)
            kind = agent.spec.kind
            if named not in q.trees[kind].leaf_of:
                raise StepRefused(
                    ErrorCode.NOT_MEMBER, f"{named!r} is not a member of queue {q.spec.name!r}"
                )
            if not kind_fits(wanted, kind):
                raise StepRefused(
                    ErrorCode.CANNOT_SERVE, f"{named!r} is a {kind}, but a {wanted} is asked for"
                )
            if not meets(agent, lasting):
                raise StepRefused(
                    ErrorCode.CANNOT_SERVE, f"{named!r} lacks {_skills_text(lasting)}"
                )
            return
        rec = None if conversation is None else self._conversations.get(conversation)
        held = rec.held_before if rec is not None else ()
        # The members of the kinds asked, by the selection trees' own indexes: counting them and
        # the few that held the conversation before costs O(held), not O(members).
        members = [q.trees[kind].leaf_of for kind in KINDS_OF_WANTED[wanted] if kind in q.trees]
        total = sum(len(of_kind) for of_kind in members)
        if not total:
            raise StepRefused(
                ErrorCode.CANNOT_SERVE, f"queue {q.spec.name!r} has no {_wanted_text(wanted)}"
            )
        if sum(1 for pid in held if any(pid in of_kind for of_kind in members)) >= total:
            of_kind = [
                pid for pid in q.spec.members if kind_fits(wanted, self._agents[pid].spec.kind)
            ]
            raise StepRefused(
                ErrorCode.CANNOT_SERVE,
                f"{', '.join(of_kind)} held {conversation} before; name it with `to`",
            )
        fresh = (pid for of_kind in members for pid in of_kind if pid not in held)
        if lasting and not any(meets(self._agents[pid], lasting) for pid in fresh):
            raise StepRefused(
                ErrorCode.CANNOT_SERVE,
                f"no {_wanted_text(wanted)} of queue {q.spec.name!r} that could take it has "
                f"{_skills_text(lasting)}",
            )

    def _check_can_hold(
        self, agent: AgentRecord, q: QueueRecord, conversation: str, *, allow_away: bool
    ) -> None:
        pid = agent.spec.id
        if agent.presence is PresenceStatus.OFFLINE or (
            agent.presence is PresenceStatus.AWAY and not allow_away
        ):
            raise StepRefused(ErrorCode.UNAVAILABLE, f"{pid!r} is {agent.presence}")
        if not has_room(agent, q):
            raise StepRefused(
                ErrorCode.NO_CAPACITY,
                f"{pid!r} has no capacity left for conversation {conversation!r}",
            )

    # ------------------------------------------------------------------------- changes

    def _drop_hold(self, rec: WaitRecord, agent: AgentRecord) -> None:
        """The holder went offline: the conversation goes back to its original place in the line
        its hold came from, asking for what it asked then (but no one by name)."""
        q = self._queues[rec.held_in or ""]
        agent.holds.remove(rec.id)
        agent.load -= q.spec.units
        rec.holder = None
        rec.held_in = None
        rec.status = WAIT_START
        rec.named = None
        rec.declined = None
        self._join_line(rec, q, rec.ticket)

    def _pick(self, rec: WaitRecord, q: QueueRecord) -> str | None:
        if rec.named is not None:
            self._named_checks += 1
        return pick(rec, q, self._agents)


def _wanted_text(wanted: Wanted) -> str:
    return "bot or human" if wanted is Wanted.ANY else wanted.value


def _skills_text(requires: tuple[Requirement, ...]) -> str:
    return ", ".join(f"{r.skill} at level {r.level}" for r in requires)


__all__ = ["Router"]
