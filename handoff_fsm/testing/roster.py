"""The roster: who is in each conversation, and which offer is out, from the effect stream alone.

Theory of operation: the reference model most checks keep next to the switchboard: it applies
`participant_added`, `participant_removed`, `offer`, `offer_withdrawn`, `survey` and `ended` as
they come, and never asks the engine. Permissive on purpose (a check decides what is wrong), so
an embedder can also keep one next to its own store.
"""

from __future__ import annotations

from collections.abc import Mapping

from handoff_fsm.effects import (
    Effect,
    Ended,
    Offer,
    OfferWithdrawn,
    ParticipantAdded,
    ParticipantRemoved,
    Role,
    Survey,
)
from handoff_fsm.lifecycle import State
from handoff_fsm.testing.fingerprint import Fingerprint


class Roster:
    """Who is in each conversation, and which offer is out, rebuilt from the effect stream alone.

    Permissive on purpose: it applies whatever it is given (a check decides what is wrong), so it
    is also the reference model an embedder can keep next to its own store.
    """

    def __init__(self) -> None:
        self.members: dict[str, dict[str, Role]] = {}
        self.left: dict[str, set[str]] = {}
        self.offers: dict[str, Offer] = {}
        self.closed: dict[str, str] = {}

    @classmethod
    def of(cls, start: Fingerprint) -> Roster:
        """The roster of a switchboard that already has conversations."""
        roster = cls()
        for cid, conv in start.conversations.items():
            members = roster.members.setdefault(cid, {})
            for monitor in conv.monitors:
                members[monitor] = Role.MONITOR
            if conv.holder is not None:
                members[conv.holder] = Role.HOLDER
            if conv.offer is not None and conv.queue is not None:
                roster.offers[cid] = Offer(conversation=cid, to=conv.offer, queue=conv.queue)
            if conv.state in (State.SURVEY, State.ENDED):
                roster.closed[cid] = str(conv.state)
        return roster

    def role(self, conversation: str, participant: str) -> Role | None:
        return self.members.get(conversation, {}).get(participant)

    def holders(self, conversation: str) -> list[str]:
        members = self.members.get(conversation, {})
        return [pid for pid, role in members.items() if role is Role.HOLDER]

    def holder(self, conversation: str) -> str | None:
        holders = self.holders(conversation)
        return holders[0] if holders else None

    def monitors(self, conversation: str) -> tuple[str, ...]:
        members = self.members.get(conversation, {})
        return tuple(pid for pid, role in members.items() if role is Role.MONITOR)

    def offer(self, conversation: str) -> Offer | None:
        return self.offers.get(conversation)

    def has_left(self, conversation: str, participant: str) -> bool:
        return participant in self.left.get(conversation, set())

    def apply(self, effect: Effect) -> None:
        cid = effect.conversation
        if cid is None:  # about a participant alone (`presence`): no membership changes
            return
        if isinstance(effect, ParticipantAdded):
            self.members.setdefault(cid, {})[effect.to] = effect.role
            self.left.get(cid, set()).discard(effect.to)
            offer = self.offers.get(cid)
            if effect.role is Role.HOLDER and offer is not None and offer.to == effect.to:
                del self.offers[cid]  # the offer was accepted
        elif isinstance(effect, ParticipantRemoved):
            self.members.get(cid, {}).pop(effect.to, None)
            self.left.setdefault(cid, set()).add(effect.to)
        elif isinstance(effect, Offer):
            self.offers[cid] = effect
        elif isinstance(effect, OfferWithdrawn):
            offer = self.offers.get(cid)
            if offer is not None and offer.to == effect.to:
                del self.offers[cid]
        elif isinstance(effect, Survey):
            self.closed[cid] = str(State.SURVEY)
        elif isinstance(effect, Ended):
            self.closed[cid] = str(State.ENDED)

    def loads(self, units_of_hold: Mapping[str, int], units: Mapping[str, int]) -> dict[str, int]:
        """Units in use per participant: holds (by `units_of_hold[conversation]`, 1 if unknown)
        and offers out (by their queue's units)."""
        used: dict[str, int] = {}
        for cid, members in self.members.items():
            for pid, role in members.items():
                if role is Role.HOLDER:
                    used[pid] = used.get(pid, 0) + units_of_hold.get(cid, 1)
        for offer in self.offers.values():
            used[offer.to] = used.get(offer.to, 0) + units.get(offer.queue, 1)
        return used


__all__ = [
    "Roster",
]
