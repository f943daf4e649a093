"""Parts of a deployment that the check explores apart: joined by members and overflows."""

from __future__ import annotations

from test_check_explore import PAIR, bot, person

from handoff_fsm.config import Config, QueueSpec
from handoff_fsm.planning.check_parts import bots_only, components, takes_back


def test_parts_are_queues_joined_by_members_or_overflows() -> None:
    parts = [sorted(q.name for q in part.queues) for part in components(PAIR)]
    assert sorted(parts) == [["alone"], ["back", "front"]]
    alone = next(p for p in components(PAIR) if len(p.queues) == 1)
    assert [p.id for p in alone.participants] == ["cy"]


def test_bot_only_queues_join_every_part_with_humans() -> None:
    config = Config.build(
        [bot("survey"), person("ann"), person("bob")],
        [QueueSpec(name="a", members=("ann",)), QueueSpec(name="b", members=("bob",)),
         QueueSpec(name="surveys", members=("survey",))],
    )  # fmt: skip
    parts = sorted(sorted(q.name for q in part.queues) for part in components(config))
    assert parts == [["a", "surveys"], ["b", "surveys"], ["surveys"]]  # it may be an entry too


def test_the_seeds_take_back_queues() -> None:
    kinds = {"a": bot("a").kind, "r": person("r").kind, "b": bot("b").kind}
    one_queue = QueueSpec(name="support", members=("a", "r", "b"))
    assert takes_back(one_queue, kinds) and not bots_only(one_queue, kinds)
    assert bots_only(QueueSpec(name="q2", members=("b",)), kinds)
    assert not takes_back(QueueSpec(name="q1", members=("a", "r")), kinds)
