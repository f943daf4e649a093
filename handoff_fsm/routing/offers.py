"""Offers: a human is offered a waiting conversation, and accepts it, declines it, or lets it
time out.

Theory of operation: `OfferBooks` adds to the books what `serve` does once it has picked someone
(`_give`: a bot holds the conversation at once, a human gets an offer whose units its load counts
already) and how an offer ends: accepted (the wait becomes a hold), declined or timed out (the
human is never asked again during this wait, and the wait is ready again), or withdrawn.

Rules: "is the offer open" is asked in one place, `_open_offer`, which refuses with `no_offer`;
every change goes through the wait model's table (`waits.WAIT_TABLE`).
"""

from __future__ import annotations

from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.routing.lines import RoutingBooks
from handoff_fsm.routing.records import AgentRecord, QueueRecord, WaitRecord, with_id
from handoff_fsm.routing.waits import Assigned, Decision, Offered, WaitTrigger, Withdrawn
from handoff_fsm.vocabulary import Kind, WithdrawReason


class OfferBooks(RoutingBooks):
    """Giving a picked participant its conversation, and the life of an offer."""

    __slots__ = ()

    def accept(self, conversation: str, participant: str, now: float) -> None:
        rec, agent = self._open_offer(conversation, participant, WaitTrigger.ACCEPT)
        q = self._queues[rec.queue or ""]
        self._move(rec, WaitTrigger.ACCEPT)
        agent.offers.remove(rec.id)
        agent.missed = 0
        rec.offer = None
        rec.offer_expires = None
        self._leave_line(rec, q)
        self._hold(rec, agent, q.spec.name, now)

    def decline(self, conversation: str, participant: str, now: float) -> Withdrawn:
        del now
        return self._end_offer(conversation, participant, WaitTrigger.DECLINE)

    def expire_offer(self, conversation: str, participant: str, now: float) -> Withdrawn:
        del now
        return self._end_offer(conversation, participant, WaitTrigger.OFFER_TIMEOUT)

    def check_offer(self, conversation: str, participant: str) -> None:
        """Refuse (`no_offer`) unless `participant` has the open offer of `conversation`."""
        self._open_offer(conversation, participant, WaitTrigger.ACCEPT)

    def _open_offer(
        self, conversation: str, participant: str, trigger: WaitTrigger
    ) -> tuple[WaitRecord, AgentRecord]:
        rec = self._known(conversation)
        agent = self._agent(participant)
        if rec.offer != participant:
            raise StepRefused(
                ErrorCode.NO_OFFER,
                f"{participant!r} has no open offer for conversation {conversation!r} "
                "(it may have timed out or been withdrawn)",
            )
        self._check_move(rec, trigger)
        return rec, agent

    def _give(self, rec: WaitRecord, q: QueueRecord, agent: AgentRecord, now: float) -> Decision:
        pid = agent.spec.id
        if rec.named is None:
            kind_tree = q.trees[agent.spec.kind]
            q.last_picked = kind_tree.positions[kind_tree.leaf_of[pid]]
        self._unready(rec, q)
        agent.load += q.spec.units
        if agent.spec.kind is Kind.BOT:
            self._move(rec, WaitTrigger.BOT_SELECTED)
            self._leave_line(rec, q)
            self._hold(rec, agent, q.spec.name, now)
            return Assigned(conversation=rec.id, participant=pid, queue=q.spec.name)
        self._move(rec, WaitTrigger.HUMAN_SELECTED)
        timeout = q.spec.offer_timeout
        rec.offer = pid
        rec.offer_expires = None if timeout is None else now + timeout
        agent.offers.add(rec.id)
        agent.idle_since = now
        self._refresh(agent)
        return Offered(
            conversation=rec.id, participant=pid, queue=q.spec.name, expires_at=rec.offer_expires
        )

    def _drop_offer(
        self, rec: WaitRecord, q: QueueRecord, agent: AgentRecord, reason: WithdrawReason
    ) -> Withdrawn:
        agent.offers.remove(rec.id)
        agent.load -= q.spec.units
        rec.offer = None
        rec.offer_expires = None
        return Withdrawn(
            conversation=rec.id, participant=agent.spec.id, queue=q.spec.name, reason=reason
        )

    def _end_offer(self, conversation: str, participant: str, trigger: WaitTrigger) -> Withdrawn:
        """The offered human said no (or said nothing in time): never ask it again this wait."""
        rec, agent = self._open_offer(conversation, participant, trigger)
        q = self._queues[rec.queue or ""]
        self._move(rec, trigger)
        reason = WithdrawReason.DECLINED
        if trigger is WaitTrigger.OFFER_TIMEOUT:
            reason = WithdrawReason.TIMEOUT
        withdrawn = self._drop_offer(rec, q, agent, reason)
        agent.missed = agent.missed + 1 if trigger is WaitTrigger.OFFER_TIMEOUT else 0
        rec.declined = with_id(rec.declined or (), participant)
        if rec.named == participant:
            self._unname(rec)
        self._make_ready(rec, q)
        self._refresh(agent)
        return withdrawn


__all__ = ["OfferBooks"]
