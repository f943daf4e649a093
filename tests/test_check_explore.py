"""The exploration: breadth first (shortest witnesses), bounded, each part of a deployment alone,
and a copy of the switchboard per move that is the switchboard itself."""

from __future__ import annotations

from handoff_fsm.config import Config, Kind, OverflowTransfer, ParticipantSpec, QueueSpec
from handoff_fsm.events import Escalate, Start
from handoff_fsm.planning.check_explore import Bounds, Move, branch, explore, replay
from handoff_fsm.switchboard import Switchboard


def person(pid: str, capacity: int = 1) -> ParticipantSpec:
    return ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=capacity)


def bot(pid: str, capacity: int = 10) -> ParticipantSpec:
    return ParticipantSpec(id=pid, kind=Kind.BOT, capacity=capacity)


PAIR = Config.build(
    [bot("bot"), person("ann"), person("bob"), person("cy")],
    [
        QueueSpec(name="front", members=("bot", "ann"), wait_timeout=60,
                  overflow=OverflowTransfer(queue="back")),
        QueueSpec(name="back", members=("bob",)),
        QueueSpec(name="alone", members=("cy",)),
    ],
)  # fmt: skip


def test_witnesses_are_shortest_paths() -> None:
    found = explore(PAIR)
    _, path = found.escalations["front"]
    assert [type(m.event).__name__ for m in path] == ["Start", "Escalate"]
    assert found.reached == {"bot", "ann", "bob", "cy"}


def test_a_smaller_bound_explores_fewer_states_and_says_it_was_cut() -> None:
    full = explore(PAIR)
    small = explore(PAIR, Bounds(depth=2))
    assert full.complete and not small.complete and small.states < full.states


def test_a_branch_is_an_independent_copy() -> None:
    board = Switchboard(PAIR)
    board.handle(Start(conversation="c1", queue="front"))
    copy = branch(board)
    copy.handle(Escalate(conversation="c1", participant="bot"))
    assert str(board.state_of("c1")) == "bot_active"
    assert str(copy.state_of("c1")) == "waiting"


def test_replay_rebuilds_a_path_on_a_new_switchboard() -> None:
    path = (Move(event=Start(conversation="c1", queue="front")),
            Move(event=Escalate(conversation="c1", participant="bot")))  # fmt: skip
    assert str(replay(PAIR, path).state_of("c1")) == "waiting"
