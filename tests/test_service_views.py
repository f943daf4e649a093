"""The read-only views the service answers, on a plain switchboard."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette", reason="the service extra is not installed")

from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.events import CustomerMessage, Escalate, Start
from handoff_fsm.service.views import conversation_view, participant_views, queue_views
from handoff_fsm.switchboard import Switchboard

CONFIG = {
    "participants": {"bot-a": {"kind": "bot", "capacity": 5}, "rep-1": {"kind": "human"}},
    "queues": {"support": {"participants": ["bot-a", "rep-1"]}, "empty": {"participants": []}},
    "steps": [],
}


def board_with_a_wait() -> Switchboard:
    board = Switchboard(parse_scenario(CONFIG, "config").config)
    board.handle(Start(conversation="a", queue="support", variables={"n": 1}), now=10)
    board.handle(CustomerMessage(conversation="a", text="hi"), now=11)
    board.handle(Escalate(conversation="a", participant="bot-a"), now=12)
    board.handle(Start(conversation="b", queue="support"), now=13)
    return board


def test_the_conversation_view() -> None:
    board = board_with_a_wait()
    view = conversation_view(board, "a")
    assert view == {
        "conversation": "a",
        "state": "waiting",
        "outcome": None,
        "holder": None,
        "monitors": [],
        "queue": "support",
        "position": 1,
        "context": {"variables": {"n": 1}, "transcript": [{"from": "customer", "text": "hi"}]},
    }
    held = conversation_view(board, "b")
    assert held is not None and (held["holder"], held["queue"]) == ("bot-a", None)
    assert conversation_view(board, "zz") is None


def test_the_queue_views_count_the_line_and_the_oldest_wait() -> None:
    board = board_with_a_wait()
    views = {v["queue"]: v for v in queue_views(board, now=20)}
    assert (views["support"]["length"], views["support"]["oldest_wait"]) == (1, 8)
    assert (views["empty"]["length"], views["empty"]["oldest_wait"]) == (0, None)


def test_a_wait_that_ends_leaves_the_oldest_wait() -> None:
    board = board_with_a_wait()
    board.handle(Escalate(conversation="b", participant="bot-a"), now=14)
    views = {v["queue"]: v for v in queue_views(board, now=20)}
    assert (views["support"]["length"], views["support"]["oldest_wait"]) == (2, 8)
    board.handle(CustomerMessage(conversation="a", text="never mind"), now=15)
    views = {v["queue"]: v for v in queue_views(board, now=20)}
    assert (views["support"]["length"], views["support"]["oldest_wait"]) == (1, 6)


def test_the_participant_views() -> None:
    board = board_with_a_wait()
    views = {v["participant"]: v for v in participant_views(board)}
    assert views["bot-a"] == {
        "participant": "bot-a",
        "kind": "bot",
        "presence": "available",
        "load": 1,
        "capacity": 5,
        "holds": ["b"],
        "offers": [],
    }
    assert (views["rep-1"]["load"], views["rep-1"]["offers"]) == (1, ["a"])
