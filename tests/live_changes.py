"""Drawing live changes (SPEC §5, contract v2) for the property tests that run whole switchboards.

Theory of operation: `draw_change` draws one of the nine live-change events over a small world
of names, some existing and some not (so many draws are refused, as they should be), with
values that make the change bite: capacities around the loads of the tests' configs, members
joining and leaving the queues that hold conversations, queues added with overflow to existing
ones. Shared by tests/test_store.py (restore equals the uninterrupted run) and
tests/test_switchboard_stateful.py (every runtime invariant after every step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

from handoff_fsm.config import (
    Overflow,
    OverflowEnd,
    OverflowReturnToBot,
    OverflowTransfer,
    Strategy,
)
from handoff_fsm.events import (
    AddParticipant,
    AddQueue,
    Event,
    JoinQueue,
    Kind,
    LeaveQueue,
    PresenceStatus,
    RemoveParticipant,
    RemoveQueue,
    SetCapacity,
    SetSkills,
    UpdateQueue,
)

#: The step kinds of the live changes.
CHANGE_KINDS = [
    "add_participant",
    "remove_participant",
    "set_capacity",
    "set_skills",
    "join_queue",
    "leave_queue",
    "add_queue",
    "update_queue",
    "remove_queue",
]
NEW_PEOPLE = ["new-bot", "new-rep"]
NEW_QUEUES = ["extra"]


Draw = Callable[[st.SearchStrategy[Any]], Any]


def draw_change(draw: Draw, kind: str, people: Sequence[str], queues: Sequence[str]) -> Event:
    """One live change of `kind`, naming people and queues of the run, new ones, or unknown."""
    pid = draw(st.sampled_from([*people, *NEW_PEOPLE]))
    queue = draw(st.sampled_from([*queues, *NEW_QUEUES]))
    match kind:
        case "add_participant":
            new = draw(st.sampled_from([*NEW_PEOPLE, *people[:1]]))
            return AddParticipant(
                participant=new,
                kind=Kind.BOT if "bot" in new else Kind.HUMAN,
                capacity=draw(st.integers(0, 3)),
                skills=draw(st.sampled_from([{}, {"billing": 5}])),
                presence=draw(st.sampled_from(PresenceStatus)),
                queues=tuple(draw(st.lists(st.sampled_from(queues), max_size=2, unique=True))),
            )
        case "remove_participant":
            return RemoveParticipant(participant=pid)
        case "set_capacity":
            return SetCapacity(participant=pid, capacity=draw(st.integers(0, 3)))
        case "set_skills":
            return SetSkills(participant=pid, skills=draw(st.sampled_from([{}, {"french": 2}])))
        case "join_queue":
            return JoinQueue(participant=pid, queue=queue)
        case "leave_queue":
            return LeaveQueue(participant=pid, queue=queue)
        case "add_queue":
            forms: list[Overflow] = [
                OverflowEnd(),
                OverflowReturnToBot(),
                OverflowTransfer(queue=queues[0]),
            ]
            overflow = draw(st.sampled_from(forms))
            members = draw(st.lists(st.sampled_from(people), max_size=3, unique=True))
            return AddQueue(
                queue=draw(st.sampled_from([*NEW_QUEUES, *queues[:1]])),
                participants=tuple(members),
                strategy=draw(st.sampled_from(Strategy)),
                units=draw(st.integers(1, 2)),
                offer_timeout=draw(st.sampled_from([None, 5.0])),
                wait_timeout=draw(st.sampled_from([None, 20.0])),
                overflow=overflow,
            )
        case "update_queue":
            return UpdateQueue(
                queue=queue,
                strategy=draw(st.sampled_from(Strategy)),
                offer_timeout=draw(st.sampled_from([None, 7.0])),
            )
        case _:
            assert kind == "remove_queue"
            return RemoveQueue(queue=queue)


__all__ = ["CHANGE_KINDS", "NEW_PEOPLE", "NEW_QUEUES", "draw_change"]
