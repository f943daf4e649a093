"""Live changes of the router (routing/world.py): after any sequence of joins, leaves, capacity
and membership changes, the index (`best_candidate`) still picks what the plain linear reading of
the rules (`explain`) picks, and the books balance."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handoff_fsm.config import Kind, ParticipantSpec, QueueSpec, Strategy
from handoff_fsm.errors import StepRefused
from handoff_fsm.routing import Router
from handoff_fsm.routing import inspect as routing_inspect

PEOPLE = [f"h{i}" for i in range(6)]

changes = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "capacity", "add", "strategy"]),
        st.sampled_from(PEOPLE),
        st.integers(0, 3),
        st.sampled_from(Strategy),
    ),
    max_size=25,
)


@given(changes=changes)
def test_the_index_picks_what_explain_picks_after_any_changes(
    changes: list[tuple[str, str, int, Strategy]],
) -> None:
    people = [ParticipantSpec(id=p, kind=Kind.HUMAN, capacity=2) for p in PEOPLE[:3]]
    router = Router(people, [QueueSpec(name="q", members=("h0", "h1"))])
    for n in range(3):
        router.enqueue(f"c{n}", "q", 0.0)
    for what, pid, number, strategy in changes:
        try:
            if what == "join":
                router.join_queue(pid, "q")
            elif what == "leave":
                router.leave_queue(pid, "q")
            elif what == "capacity":
                router.set_capacity(pid, number)
            elif what == "add":
                router.add_participant(
                    ParticipantSpec(id=pid, kind=Kind.HUMAN, capacity=number), ("q",)
                )
            else:
                router.update_queue(
                    QueueSpec(name="q", members=router.queue("q").members, strategy=strategy)
                )
        except StepRefused:
            pass
        router.serve(0.0)
        assert routing_inspect.audit(router) == []
        for cid in router.line("q"):
            if router.offer_of(cid) is None:
                assert router.best_candidate(cid) == router.explain(cid).chosen


def test_round_robin_goes_on_after_the_member_before_a_leaver() -> None:
    people = [ParticipantSpec(id=p, kind=Kind.BOT, capacity=9) for p in ("a", "b", "c")]
    router = Router(
        people, [QueueSpec(name="q", members=("a", "b", "c"), strategy=Strategy.ROUND_ROBIN)]
    )
    router.enqueue("c1", "q", 0.0)
    router.serve(0.0)
    router.enqueue("c2", "q", 0.0)
    router.serve(0.0)
    assert router.last_picked("q") == "b"
    router.leave_queue("b", "q")
    assert router.last_picked("q") == "a"
    router.enqueue("c3", "q", 0.0)
    assert router.best_candidate("c3") == "c"
