"""Routing: who gets a waiting conversation, and the books of who holds or is offered what.

Theory of operation: the package splits the router into its parts, each readable on its own:

- `waits`: the wait model (`models/routing.yaml`) and the decisions routing hands out;
- `records`: the live records and the one capacity rule;
- `segment_tree`: the index selection picks from in O(log n);
- `selection`: eligibility (`verdict`) and the strategy's pick;
- `lines`: the books (lines, tickets, holds) and the queries about them;
- `offers`: giving a picked participant its conversation, and the life of an offer;
- `world`: the live changes of participants and queues (add, remove, capacity, membership);
- `router`: `Router`, the deciding calls (enqueue, serve, release, presence...);
- `explain`: why each member was or was not chosen;
- `inspect`: dump, audit and counters, for the testing kit and benchmarks only.

`from handoff_fsm.routing import Router, ...` is the public way in.
"""

from handoff_fsm.errors import RoutingConfigError
from handoff_fsm.routing.explain import Consideration, Explanation, PastDecision
from handoff_fsm.routing.router import Router
from handoff_fsm.routing.selection import Verdict
from handoff_fsm.routing.waits import (
    MODEL,
    WAIT_START,
    WAIT_TABLE,
    Assigned,
    Decision,
    Offered,
    PresenceChange,
    WaitStatus,
    WaitTrigger,
    Withdrawn,
    compile_wait_table,
)

__all__ = [
    "MODEL",
    "WAIT_START",
    "WAIT_TABLE",
    "Assigned",
    "Consideration",
    "Decision",
    "Explanation",
    "Offered",
    "PastDecision",
    "PresenceChange",
    "Router",
    "RoutingConfigError",
    "Verdict",
    "WaitStatus",
    "WaitTrigger",
    "Withdrawn",
    "compile_wait_table",
]
