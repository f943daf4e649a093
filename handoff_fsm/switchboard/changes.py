"""The handlers of the live changes (SPEC §5, contract v2): the world changes while it runs.

Theory of operation: participants and queues are added, removed and changed by steps, logged like
any other step, so a store's world is its first config plus its logged changes. Each handler lets
the router check and refuse first (`routing.world`: unknown names, what exists already, a queue in
use), then reports what the change withdrew and serves the lines at once, so a waiting
conversation the change makes servable is offered in the same step.

Rules:
- `remove_participant` is "as if it went offline first" (the `presence` handler runs, with all
  its effects: holds back to their lines, offers withdrawn, monitors removed), then it leaves
  every queue and is forgotten; a wait that would have gone back to it as its bot cannot.
- `update_queue` applies to what comes after: offers and deadlines already out are kept.
- The switchboard's first `config` never changes; `world` is the config as it is now.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from handoff_fsm.config import ParticipantSpec, QueueSpec
from handoff_fsm.effects import CUSTOMER
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import (
    UNCHANGED,
    AddParticipant,
    AddQueue,
    Event,
    JoinQueue,
    LeaveQueue,
    Presence,
    RemoveParticipant,
    RemoveQueue,
    SetCapacity,
    SetSkills,
    UpdateQueue,
)
from handoff_fsm.routing import Withdrawn
from handoff_fsm.switchboard.handlers import Handlers
from handoff_fsm.vocabulary import PresenceStatus


class WorldChanges(Handlers):
    """The conversation steps' handlers, plus one per live change."""

    _DISPATCH: ClassVar[dict[type[Event], str]] = {
        **Handlers._DISPATCH,
        AddParticipant: "_add_participant",
        RemoveParticipant: "_remove_participant",
        SetCapacity: "_set_capacity",
        SetSkills: "_set_skills",
        JoinQueue: "_join_queue",
        LeaveQueue: "_leave_queue",
        AddQueue: "_add_queue",
        UpdateQueue: "_update_queue",
        RemoveQueue: "_remove_queue",
    }

    def _add_participant(self, event: AddParticipant) -> None:
        if event.participant == CUSTOMER:
            raise StepRefused(
                ErrorCode.INVALID_STEP,
                f"{CUSTOMER!r} is reserved: effects to the customer use it as `to`",
            )
        spec = ParticipantSpec(
            id=event.participant,
            kind=event.kind,
            capacity=event.capacity,
            presence=event.presence,
            skills=event.skills,
        )
        self._router.add_participant(spec, event.queues)
        self._serve()

    def _remove_participant(self, event: RemoveParticipant) -> None:
        self._router.participant(event.participant)  # refuses an unknown participant
        self._presence(Presence(participant=event.participant, status=PresenceStatus.OFFLINE))
        self._router.remove_participant(event.participant)
        self._serve()  # a wait that named it asks the whole queue now

    def _set_capacity(self, event: SetCapacity) -> None:
        self._withdrawn_all(self._router.set_capacity(event.participant, event.capacity))
        self._serve()

    def _set_skills(self, event: SetSkills) -> None:
        self._router.set_skills(event.participant, event.skills)
        self._serve()

    def _join_queue(self, event: JoinQueue) -> None:
        self._router.join_queue(event.participant, event.queue)
        self._serve()

    def _leave_queue(self, event: LeaveQueue) -> None:
        self._withdrawn_all(self._router.leave_queue(event.participant, event.queue))
        self._serve()

    def _add_queue(self, event: AddQueue) -> None:
        spec = QueueSpec(
            name=event.queue,
            members=event.participants,
            strategy=event.strategy,
            units=event.units,
            offer_timeout=event.offer_timeout,
            wait_timeout=event.wait_timeout,
            overflow=event.overflow,
        )
        self._router.add_queue(spec)
        self._serve()

    def _update_queue(self, event: UpdateQueue) -> None:
        changes = {
            field.name: getattr(event, field.name)
            for field in attrs.fields(UpdateQueue)
            if field.name != "queue" and getattr(event, field.name) is not UNCHANGED
        }
        spec = attrs.evolve(self._router.queue(event.queue), **changes)
        self._router.update_queue(spec)
        self._serve()

    def _remove_queue(self, event: RemoveQueue) -> None:
        self._router.remove_queue(event.queue)

    def _withdrawn_all(self, withdrawn: tuple[Withdrawn, ...]) -> None:
        for one in withdrawn:
            self._withdrawn(one)


__all__ = ["WorldChanges"]
