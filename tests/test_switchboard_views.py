"""The read API for embedders: conversation, queue and participant views, and what is next due."""

from __future__ import annotations

import attrs
import pytest

from handoff_fsm.config import Config, ParticipantSpec, QueueSpec
from handoff_fsm.events import Accept, Escalate, Start
from handoff_fsm.switchboard import ConversationView, ParticipantView, QueueView, Switchboard
from handoff_fsm.vocabulary import Kind, PresenceStatus, State


def board() -> Switchboard:
    return Switchboard(
        Config.build(
            [
                ParticipantSpec(id="bot-a", kind=Kind.BOT, capacity=10),
                ParticipantSpec(id="rep-1", kind=Kind.HUMAN, capacity=1),
            ],
            [QueueSpec(name="support", members=("bot-a", "rep-1"), offer_timeout=30)],
        )
    )


def test_a_conversation_view_says_where_it_is() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support", variables={"Name": "Ana"}), now=0)
    view = sb.conversation("c1")
    assert view is not None
    assert (view.state, view.holder, view.queue, view.position, view.monitors) == (
        State.BOT_ACTIVE,
        "bot-a",
        None,
        None,
        (),
    )
    assert dict(view.context.variables) == {"Name": "Ana"}
    assert sb.conversation("nope") is None


def test_a_waiting_conversation_shows_its_queue_and_place() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    sb.step(Escalate(conversation="c1", participant="bot-a"), now=1)  # offer to rep-1
    sb.step(Start(conversation="c2", queue="support"), now=2)
    sb.step(Escalate(conversation="c2", participant="bot-a"), now=3)  # rep-1 is full
    view = sb.conversation("c2")
    assert view is not None
    assert (view.state, view.holder, view.queue, view.position) == (
        State.WAITING,
        None,
        "support",
        2,
    )


def test_queue_views_give_line_length_and_oldest_wait_start() -> None:
    sb = board()
    assert sb.queue_views() == (QueueView(name="support", waiting=0, oldest_wait_start=None),)
    sb.step(Start(conversation="c1", queue="support"), now=0)
    sb.step(Escalate(conversation="c1", participant="bot-a"), now=5)
    sb.step(Start(conversation="c2", queue="support"), now=6)
    sb.step(Escalate(conversation="c2", participant="bot-a"), now=9)
    assert sb.queue_views() == (QueueView(name="support", waiting=2, oldest_wait_start=5),)
    sb.step(Accept(conversation="c1", participant="rep-1"), now=10)
    assert sb.queue_views() == (QueueView(name="support", waiting=1, oldest_wait_start=9),)


def test_participant_views_give_presence_load_capacity_and_holds() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    sb.step(Escalate(conversation="c1", participant="bot-a"), now=1)
    bot, rep = sb.participant_views()
    assert bot == ParticipantView(
        id="bot-a",
        kind=Kind.BOT,
        presence=PresenceStatus.AVAILABLE,
        load=0,
        capacity=10,
        holds=(),
        offers=(),
    )
    assert (rep.load, rep.holds, rep.offers) == (1, (), ("c1",))
    assert sb.next_deadline() == 31  # the offer times out


def test_views_are_frozen_copies() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support", variables={"Tags": ["a"]}), now=0)
    view = sb.conversation("c1")
    assert isinstance(view, ConversationView)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        view.state = State.ENDED  # type: ignore[misc]
    tags = view.context.variables["Tags"]
    assert isinstance(tags, list)
    tags.append("b")
    again = sb.conversation("c1")
    assert again is not None and again.context.variables["Tags"] == ["a"]


def test_explain_says_who_was_considered() -> None:
    sb = board()
    sb.step(Start(conversation="c1", queue="support"), now=0)
    sb.step(Escalate(conversation="c1", participant="bot-a"), now=1)
    explanation = sb.explain("c1")
    assert explanation.chosen == "rep-1" and explanation.offered
    assert "bot-a" in explanation.render()
