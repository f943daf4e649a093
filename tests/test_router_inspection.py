"""What the router tells about itself: `consider` names the participant `serve` would pick as
chosen, and `dump` shows every piece of its state under its documented name. Through the public
`Router` API only (the switchboard's tests see routing through effects)."""

from __future__ import annotations

from handoff_fsm.config import Kind, ParticipantSpec, QueueSpec
from handoff_fsm.events import Wanted
from handoff_fsm.model import load_bundled
from handoff_fsm.routing import WAIT_TABLE, Assigned, Offered, Router, Verdict, compile_wait_table
from handoff_fsm.routing import inspect as routing_inspect


def router() -> Router:
    people = [
        ParticipantSpec(id="b1", kind=Kind.BOT, capacity=2),
        ParticipantSpec(id="h1", kind=Kind.HUMAN, capacity=1),
        ParticipantSpec(id="h2", kind=Kind.HUMAN, capacity=3),
    ]
    return Router(people, [QueueSpec(name="q", members=("b1", "h1", "h2"), offer_timeout=30)])


def test_consider_calls_the_participant_serve_would_pick_chosen() -> None:
    r = router()
    r.enqueue("c1", "q", 0, wanted=Wanted.HUMAN)
    picked = r.best_candidate("c1")
    assert picked == "h2"  # highest capacity left among the humans
    assert r.consider("c1", "h2").verdict is Verdict.CHOSEN
    assert r.consider("c1", "h1").verdict is Verdict.RANKED_LOWER
    assert r.consider("c1", "b1").verdict is Verdict.WRONG_KIND
    assert r.serve(0) == [Offered(conversation="c1", participant="h2", queue="q", expires_at=30)]
    assert r.consider("c1", "h2").verdict is Verdict.CHOSEN  # with the offer out
    assert [r.consider("c1", p).remaining for p in ("b1", "h1", "h2")] == [2, 1, 2]


def test_consider_agrees_with_serve_for_every_member() -> None:
    r = router()
    r.enqueue("c1", "q", 0)
    chosen = [p for p in ("b1", "h1", "h2") if r.consider("c1", p).verdict is Verdict.CHOSEN]
    assert chosen == [r.best_candidate("c1")] == ["h2"]


def test_the_bundled_routing_model_compiles_to_the_table_the_router_runs_on() -> None:
    assert compile_wait_table(load_bundled("routing")) == WAIT_TABLE
    assert len(WAIT_TABLE) >= 7  # one row per trigger at least


def test_dump_shows_holds_offers_lines_and_each_wait() -> None:
    r = router()
    r.enqueue("c1", "q", 0, wanted=Wanted.BOT)
    assert r.serve(0) == [Assigned(conversation="c1", participant="b1", queue="q")]
    r.enqueue("c2", "q", 5, wanted=Wanted.HUMAN)
    r.serve(5)  # offered to h2
    r.decline("c2", "h2", 6)
    r.serve(6)  # offered to h1, h2 declined it in this wait
    r.enqueue("c3", "q", 7, wanted=Wanted.HUMAN, named="h2")
    dump = routing_inspect.dump(r)
    assert (dump["next_ticket"], dump["dirty"]) == (4, ["q"])  # c3 arrived, not served yet
    assert dump["queues"] == {"q": {"line": ("c2", "c3"), "last_picked": "h1"}}
    expected: dict[str, dict[str, dict[str, object]]] = {
        "participants": {
            "b1": {"presence": "available", "load": 1, "idle_since": 0, "holds": ["c1"],
                   "offers": []},
            "h1": {"presence": "available", "load": 1, "idle_since": 6, "holds": [],
                   "offers": ["c2"]},
            "h2": {"presence": "available", "load": 0, "idle_since": 5, "holds": [],
                   "offers": []},
        },
        "conversations": {
            "c1": {"status": "assigned", "ticket": 1, "wanted": "bot", "named": None,
                   "queue": None, "offer": None, "offer_expires": None, "declined": [],
                   "holder": "b1", "held_in": "q", "held_before": ["b1"]},
            "c2": {"status": "offered", "ticket": 2, "wanted": "human", "named": None,
                   "queue": "q", "offer": "h1", "offer_expires": 36, "declined": ["h2"],
                   "holder": None, "held_in": None, "held_before": []},
            "c3": {"status": "queued", "ticket": 3, "wanted": "human", "named": "h2",
                   "queue": "q", "offer": None, "offer_expires": None, "declined": [],
                   "holder": None, "held_in": None, "held_before": []},
        },
    }  # fmt: skip
    # Field by field, so that a field added later does not break this test.
    for section, records in expected.items():
        shown = dump[section]
        assert isinstance(shown, dict) and sorted(shown) == sorted(records), section
        for name, fields in records.items():
            assert {k: shown[name].get(k, "missing") for k in fields} == fields, name
