"""The router's auditor bites: for every structure the router keeps, a test corrupts exactly that
structure of a healthy router and expects `audit`'s exact message.

Theory of operation: `healthy()` builds a router with one of everything (a bot holding c1, two
offers out, c2 to h2 and c3 to h1, and c4 waiting ready in the human sub-line, naming h1); it
audits clean. Each `CORRUPTIONS` entry breaks one structure in place (participant loads, holds,
offers and presence; a conversation's hold, offer, deadline, status, ticket and name, and the
queue of a hold or an offer; the lines and the ready sub-lines, out of order or with a ticket
twice; the ticket index, the named index, the next ticket, the segment trees' leaves and nodes)
and lists the messages `audit` must give, no more and no fewer. The records are reached through
the router's private fields on purpose: this is the one place that reaches in.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from handoff_fsm.config import Kind, ParticipantSpec, QueueSpec, Requirement
from handoff_fsm.events import PresenceStatus, Wanted
from handoff_fsm.routing import Router
from handoff_fsm.routing import inspect as routing_inspect
from handoff_fsm.routing.waits import WaitStatus


def healthy() -> Router:
    people = [
        ParticipantSpec(id="b1", kind=Kind.BOT, capacity=2),
        ParticipantSpec(id="h1", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="h2", kind=Kind.HUMAN, capacity=2),
    ]
    r = Router(people, [QueueSpec(name="q", members=("b1", "h1", "h2"), offer_timeout=30)])
    r.enqueue("c1", "q", 0, wanted=Wanted.BOT)  # held by b1, ticket 1
    r.serve(0)
    r.enqueue("c2", "q", 1, wanted=Wanted.HUMAN)  # offered to h2, ticket 2
    r.serve(1)
    r.enqueue("c3", "q", 2, wanted=Wanted.HUMAN)  # offered to h1, ticket 3
    r.serve(2)
    r.enqueue("c4", "q", 3, wanted=Wanted.HUMAN, named="h1")  # ready, ticket 4
    r.serve(3)
    return r


def test_a_healthy_router_audits_clean() -> None:
    r = healthy()
    assert routing_inspect.audit(r) == []
    assert r.holder("c1") == "b1" and (r.offer_of("c2"), r.offer_of("c3")) == ("h2", "h1")
    assert r.line("q") == ("c2", "c3", "c4") and r.offer_of("c4") is None


def load(r: Router) -> None:
    r._agents["h2"].load = 2


def load_over_capacity(r: Router) -> None:
    r._agents["h1"].load = 2
    r._agents["h1"].offers.add("c4")
    r._conversations["c4"].offer = "h1"


def holds(r: Router) -> None:
    r._agents["h2"].holds.add("c1")


def offers(r: Router) -> None:
    r._agents["b1"].offers.add("c2")


def presence_with_offers(r: Router) -> None:
    r._agents["h2"].presence = PresenceStatus.AWAY


def presence_offline_holding(r: Router) -> None:
    r._agents["b1"].presence = PresenceStatus.OFFLINE


def presence_offline_holding_two(r: Router) -> None:
    r.enqueue("c5", "q", 4, wanted=Wanted.BOT)
    r.serve(4)
    r._agents["b1"].presence = PresenceStatus.OFFLINE


def held_in_lost(r: Router) -> None:
    r._conversations["c1"].held_in = None


def offer_queue_lost(r: Router) -> None:
    r._conversations["c2"].queue = None


def held_and_waiting(r: Router) -> None:
    r._conversations["c1"].offer = "h1"


def holder_unaware(r: Router) -> None:
    r._agents["b1"].holds.clear()


def offer_unaware(r: Router) -> None:
    r._agents["h2"].offers.clear()


def offer_deadline(r: Router) -> None:
    r._conversations["c4"].offer_expires = 40


def in_no_line(r: Router) -> None:
    r._conversations["c1"].status = WaitStatus.QUEUED


def status(r: Router) -> None:
    r._conversations["c4"].status = WaitStatus.OFFERED


def ticket(r: Router) -> None:
    r._by_ticket[4] = "c3"


def ready(r: Router) -> None:
    r._queues["q"].ready[3].clear()


def named(r: Router) -> None:
    r._named_waits.clear()


def named_index_stale(r: Router) -> None:
    r._named_waits["h2"] = {"c3"}


def line_order(r: Router) -> None:
    r._queues["q"].line.reverse()


def line_stranger(r: Router) -> None:
    r._queues["q"].line.append(5)


def line_duplicate(r: Router) -> None:
    r._queues["q"].line.insert(1, 2)


def ready_duplicate(r: Router) -> None:
    r._queues["q"].ready[3].append(4)


def ticket_of_a_stranger(r: Router) -> None:
    r._by_ticket[4] = "c9"


def ready_sub_lines(r: Router) -> None:
    r._queues["q"].ready[0].append(2)


def ticket_index(r: Router) -> None:
    r._by_ticket[1] = "c1"


def next_ticket(r: Router) -> None:
    r._next_ticket = 4


def tree_leaf(r: Router) -> None:
    tree = r._queues["q"].trees[Kind.HUMAN]
    tree.nodes[tree.width + tree.leaf_of["h2"]] = None


def tree_node(r: Router) -> None:
    r._queues["q"].trees[Kind.HUMAN].nodes[1] = None


CORRUPTIONS: dict[Callable[[Router], None], list[str]] = {
    load: ["h2: load 2 but holds, offers and wrap-ups use 1", "q/human: h2 indexed stale"],
    load_over_capacity: ["h1: load 2 outside 0..1", "c4: status queued, expected offered",
                         "c4: ready is True with offer h1",
                         "q: ready sub-lines do not match the line"],
    holds: ["h2: load 1 but holds, offers and wrap-ups use 2",
            "h2 holds c1 but it is not its holder"],
    offers: ["b1: load 1 but holds, offers and wrap-ups use 2",
             "b1 has an offer of c2 it does not have"],
    presence_with_offers: ["h2: away with offers out", "q/human: h2 indexed stale"],
    presence_offline_holding: ["b1: offline but holds c1", "q/bot: b1 indexed stale"],
    presence_offline_holding_two: ["b1: offline but holds c1, c5"],
    held_in_lost: ["b1: load 1 but holds, offers and wrap-ups use 0",
                   "c1: holder b1 does not know it holds it"],
    offer_queue_lost: ["h2: load 1 but holds, offers and wrap-ups use 0",
                       "c2: offered with an offer or status but in no line",
                       "q: ticket 2 does not belong here"],
    held_and_waiting: ["c1: held by b1 and waiting or offered too",
                       "c1: offered to h1, who does not know",
                       "c1: assigned with an offer or status but in no line"],
    holder_unaware: ["b1: load 1 but holds, offers and wrap-ups use 0",
                     "c1: holder b1 does not know it holds it"],
    offer_unaware: ["h2: load 1 but holds, offers and wrap-ups use 0",
                    "c2: offered to h2, who does not know"],
    offer_deadline: ["c4: an offer deadline 40 but no offer"],
    in_no_line: ["c1: queued with an offer or status but in no line"],
    status: ["c4: status offered, expected queued"],
    ticket: ["c4: ticket 4 not in the line of q", "q: ticket 4 does not belong here",
             "q: ready sub-lines do not match the line"],
    ready: ["c4: ready is False with offer None", "q: ready sub-lines do not match the line"],
    named: ["c4: names h1 but is not indexed"],
    named_index_stale: ["named index: h2 -> c3 is stale"],
    line_order: ["c2: ticket 2 not in the line of q", "c3: ticket 3 not in the line of q",
                 "c4: ticket 4 not in the line of q", "q: a line is not sorted by ticket"],
    line_stranger: ["q: ticket 5 does not belong here", "q: ready sub-lines do not match the line",
                    "ticket index does not match the lines"],
    line_duplicate: ["q: a line is not sorted by ticket",
                     "q: ready sub-lines do not match the line",
                     "ticket index does not match the lines"],
    ready_duplicate: ["q: a line is not sorted by ticket",
                      "q: ready sub-lines do not match the line"],
    ticket_of_a_stranger: ["c4: ticket 4 not in the line of q", "q: ticket 4 does not belong here"],
    ready_sub_lines: ["q: ready sub-lines do not match the line"],
    ticket_index: ["ticket index does not match the lines"],
    next_ticket: ["ticket index: a ticket not below the next one, 4"],
    tree_leaf: ["q/human: h2 indexed stale", "q/human: index node 1 is stale"],
    tree_node: ["q/human: index node 1 is stale"],
}  # fmt: skip


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=[f.__name__ for f in CORRUPTIONS])
def test_audit_names_each_corrupted_structure(corrupt: Callable[[Router], None]) -> None:
    r = healthy()
    corrupt(r)
    assert routing_inspect.audit(r) == CORRUPTIONS[corrupt]


def parked_router() -> Router:
    """h1 let offers of c1 and c2 time out; h2 is away: both waits are parked."""
    people = [
        ParticipantSpec(id="h1", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="h2", kind=Kind.HUMAN, capacity=1),
    ]
    r = Router(people, [QueueSpec(name="q", members=("h1", "h2"), offer_timeout=30)])
    r.set_presence("h2", PresenceStatus.AWAY, 0)
    r.enqueue("c1", "q", 0)
    r.enqueue("c2", "q", 0)
    r.serve(0)
    r.expire_offer("c1", "h1", 30)
    r.serve(30)
    r.expire_offer("c2", "h1", 60)
    r.serve(60)
    assert r._queues["q"].parked[2] == [1, 2] and routing_inspect.audit(r) == []
    return r


def test_audit_names_a_stale_index_of_parked_waits() -> None:
    r = parked_router()
    r._queues["q"].excluding[("h1", 2)].pop()
    assert routing_inspect.audit(r) == ["q: the index of parked waits by who they exclude is stale"]


def test_audit_names_a_parked_wait_someone_could_take() -> None:
    r = parked_router()
    r._agents["h2"].presence = PresenceStatus.AVAILABLE
    tree = r._queues["q"].trees[Kind.HUMAN]
    tree.put(
        tree.leaf_of["h2"], (-1, 1)
    )  # h2 indexed as free, as `_refresh` would, unparking nothing
    assert routing_inspect.audit(r) == [
        "c1: parked, but h2 could take it",
        "c2: parked, but h2 could take it",
    ]


def test_dump_shows_every_field_of_a_participant_and_a_wait() -> None:
    """h1 missed an offer (of c1) and wraps c0 up; c2 waits with a requirement, a priority, an
    earlier clock and bots first: `dump` shows each under its name."""
    people = [ParticipantSpec(id="h1", kind=Kind.HUMAN, capacity=2, skills={"sales": 2})]
    r = Router(people, [QueueSpec(name="q", members=("h1",), offer_timeout=30)])
    r.enqueue("c0", "q", 0)
    r.serve(0)
    r.accept("c0", "h1", 1)
    r.release("c0", 5, wrap_until=50)
    r.enqueue("c1", "q", 6)
    r.serve(6)
    r.expire_offer("c1", "h1", 36)
    sales = Requirement(skill="sales", level=3, for_=60)
    r.enqueue("c2", "q", 40, wanted=Wanted.HUMAN, requires=(sales,), priority=5, since=20,
              bots_first=True)  # fmt: skip
    r.serve(40)
    dumped = routing_inspect.dump(r)
    assert dumped["participants"] == {
        "h1": {"presence": "available", "load": 1, "idle_since": 6, "holds": [], "offers": [],
               "missed": 1, "wrapping": {"c0": [1, 50]}},
    }  # fmt: skip
    conversations = dumped["conversations"]
    assert isinstance(conversations, dict)
    assert conversations["c2"] == {
        "status": "queued", "ticket": r._conversations["c2"].ticket, "wanted": "human",
        "named": None, "queue": "q", "offer": None, "offer_expires": None, "declined": [],
        "holder": None, "held_in": None, "held_before": [],
        "requires": [{"skill": "sales", "level": 3, "for": 60}], "since": 20, "priority": 5,
        "bots_first": True,
    }  # fmt: skip
    assert conversations["c0"]["held_before"] == ["h1"] and routing_inspect.audit(r) == []


def test_audit_names_a_parked_line_with_a_ticket_twice() -> None:
    r = parked_router()
    r._queues["q"].parked[2].append(2)
    assert routing_inspect.audit(r) == [
        "q: ready sub-lines do not match the line",
        "q: a parked line is not sorted by ticket",
    ]


def test_audit_names_a_wait_both_ready_and_parked() -> None:
    r = parked_router()
    r._queues["q"].ready[2].append(1)
    assert "c1: both ready and parked" in routing_inspect.audit(r)
