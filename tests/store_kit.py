"""What the store's tests share: a small contact center, calls, drawn runs, and a state dump
that compares two switchboards by everything they hold (the store tests' notion of "the same").

The dump (`board_state`) is `state_dump.plain` of the whole switchboard with two things that no
decision depends on left out: timers that can no longer fire (a restored switchboard does not
carry them) and the insertion order of internal indexes (dicts compare as sorted); the order of
conversations, which `conversations()` shows, is compared on its own.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
from hypothesis import strategies as st
from live_changes import CHANGE_KINDS, draw_change
from state_dump import plain

from handoff_fsm.adapters.replay import replay
from handoff_fsm.adapters.run import SwitchboardLike, step_lines
from handoff_fsm.adapters.scenario import ScenarioStep, load_scenario, parse_scenario
from handoff_fsm.adapters.store import Store
from handoff_fsm.events import (
    Accept,
    AgentMessage,
    Approve,
    BotMessage,
    Cancel,
    CustomerLeft,
    CustomerMessage,
    Decline,
    End,
    Escalate,
    Event,
    Fallback,
    Monitor,
    Presence,
    PresenceStatus,
    Propose,
    Reject,
    SetVariable,
    Start,
    SurveyResponse,
    TakeOver,
    Tick,
    Transfer,
    Wanted,
    WrapUpDone,
)
from handoff_fsm.lifecycle import State
from handoff_fsm.switchboard import Switchboard
from handoff_fsm.switchboard.inspect import router_of
from handoff_fsm.testing import fingerprint

ROOT = Path(__file__).resolve().parent.parent
SPEC_EXAMPLE = ROOT / "tests" / "data" / "spec_example.yaml"
SCENARIO_FILES = [*sorted((ROOT / "docs" / "scenarios").glob("*.yaml")), SPEC_EXAMPLE]

CONFIG = parse_scenario(
    {
        "settings": {"fallback_limit": 2, "survey_timeout": 15},
        "participants": {
            "bot-a": {"kind": "bot", "capacity": 2},
            "bot-b": {"kind": "bot", "capacity": 1},
            "rep-1": {"kind": "human", "capacity": 1},
            "rep-2": {"kind": "human", "capacity": 2},
        },
        "queues": {
            "q1": {
                "participants": ["bot-a", "rep-1", "rep-2"],
                "offer_timeout": 10,
                "wait_timeout": 30,
                "overflow": "return_to_bot",
            },
            "q2": {
                "participants": ["rep-2", "rep-1", "bot-b"],
                "strategy": "round_robin",
                "wait_timeout": 20,
                "overflow": {"transfer": "q1"},
            },
        },
        "steps": [],
    },
    "hypothesis",
).config


# -- helpers ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Call:
    """One `handle` call: what a service (or a scenario step) hands in."""

    event: Event
    now: float | None = None
    step_id: str | None = None


def drive(
    board: SwitchboardLike, calls: Sequence[Call], *, seq: int = 0, index: int = 0
) -> list[str]:
    """Hand `calls` to `board` and return the runner's lines for them."""
    lines: list[str] = []
    for number, call in enumerate(calls, start=index):
        result = board.step(call.event, now=call.now, step_id=call.step_id)
        refused, effects = result.error, result.effects
        step = ScenarioStep(index=number, event=call.event, at=call.now, id=call.step_id)
        lines += step_lines(board, seq + len(lines), step, effects, refused)
    return lines


def scratch() -> tempfile.TemporaryDirectory[str]:
    """A directory for the many-store tests: in memory where the OS offers it (/dev/shm), so that
    `synchronous=FULL` costs nothing there; the code path is the same as on disk. The kill test
    (test_store_crash.py) uses a real disk."""
    shm = Path("/dev/shm")
    memory = shm.is_dir() and os.access(shm, os.W_OK)
    return tempfile.TemporaryDirectory(prefix="handoff-fsm-", dir=shm if memory else None)


def calls_of(path: Path) -> list[Call]:
    return [Call(event=s.event, now=s.now, step_id=s.id) for s in load_scenario(path).steps]


def replayed(path: Path) -> str:
    out = io.StringIO()
    with Store.open(path, readonly=True) as store:
        replay(store, out)
    return out.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def board_state(board: Switchboard) -> object:
    """Everything `board` holds that a decision or a query can depend on (see the module doc):
    the testing kit's `fingerprint` (every observable) and the whole object graph."""
    heap = board._timers
    kept = heap._heap
    heap._heap = sorted(t for t in kept if board._timer_is_live(t))
    try:
        forgets = (
            [(until, record.id) for until, record in board._ended
             if board._conversations.get(record.id) is record],
            list(board._id_expiry),
        )  # fmt: skip
        return (fingerprint(board), board.conversations(), _sorted_dicts(plain(board)), forgets)
    finally:
        heap._heap = kept


def _sorted_dicts(value: object) -> object:
    if isinstance(value, list):
        if value and value[0] == "dict":
            return ["dict", *sorted((_sorted_dicts(item) for item in value[1:]), key=repr)]
        return [_sorted_dicts(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_sorted_dicts(item) for item in value)
    return value


CONVERSATIONS = ["c1", "c2", "c3"]
PEOPLE = ["bot-a", "bot-b", "rep-1", "rep-2", "ghost"]
HUMANS = ["rep-1", "rep-2"]
QUEUES = ["q1", "q1", "q2", "nowhere"]
TEXTS = ["hi", "Talk to agent please", "never mind", "olá"]
#: Step kinds, the common ones more often.
KINDS = [
    *["start", "customer", "accept", "tick"] * 3,
    *["bot", "agent", "escalate", "transfer", "end", "fallback"] * 2,
    *["set_variable", "decline", "cancel", "presence", "propose", "approve", "reject"],
    *["monitor", "take_over", "survey_response", "customer_left", "wrap_up_done"],
    *CHANGE_KINDS,
]


@st.composite
def runs(draw: st.DrawFn) -> list[Call]:
    """Valid and invalid steps, their actors drawn mostly from who can act now (a shadow
    switchboard runs along: holder, offered human, monitors); time moves by jumps that make
    timeouts fire, sometimes goes backwards (refused), sometimes is not given; ids repeat
    (retried deliveries)."""
    shadow = Switchboard(CONFIG)
    clock = 0.0
    calls = []
    for _ in range(draw(st.integers(0, 30))):
        live = [c for c in shadow.conversations() if shadow.state_of(c) is not State.ENDED]
        conversation = draw(st.sampled_from([*live * 3, *CONVERSATIONS]))
        router = router_of(shadow)
        likely = [router.holder(conversation), router.offer_of(conversation)]
        if conversation in shadow.conversations():
            likely += shadow.monitors_of(conversation)
        actors = [actor for actor in likely if actor is not None] * 4
        actor = draw(st.sampled_from([*actors, *PEOPLE]))
        human = draw(st.sampled_from([*[a for a in actors if a in HUMANS], *HUMANS]))
        kind = draw(st.sampled_from(KINDS if live else ["start"] * 20 + KINDS))
        event = _event(draw, kind, conversation, actor, human)
        move = draw(st.sampled_from([None, 0, 1, 3, 8, 12, 25, 40, -2]))
        now = None if move is None else max(clock + move, 0.0)
        if isinstance(event, Tick):
            event, now = Tick(now=clock if now is None else now), None
        call = Call(event=event, now=now, step_id=draw(st.none() | st.sampled_from("abcd")))
        calls.append(call)
        shadow.step(call.event, now=call.now, step_id=call.step_id)
        clock = shadow.now
    return calls


def _event(draw: st.DrawFn, kind: str, conversation: str, actor: str, human: str) -> Event:
    c = conversation
    text = draw(st.sampled_from(TEXTS))
    match kind:
        case "start":
            variables = draw(st.sampled_from([{}, {"FirstName": "Ana"}]))
            return Start(conversation=c, queue=draw(st.sampled_from(QUEUES)), variables=variables)
        case "customer":
            return CustomerMessage(conversation=c, text=text)
        case "bot":
            return BotMessage(conversation=c, participant=actor, text=text)
        case "agent":
            return AgentMessage(conversation=c, participant=actor, text=text)
        case "fallback":
            return Fallback(conversation=c, participant=actor)
        case "set_variable":
            value = draw(st.integers(0, 3))
            return SetVariable(conversation=c, participant=actor, name="k", value=value)
        case "escalate":
            return Escalate(conversation=c, participant=actor)
        case "accept":
            return Accept(conversation=c, participant=actor)
        case "decline":
            return Decline(conversation=c, participant=actor)
        case "transfer":
            to = draw(st.none() | st.sampled_from(PEOPLE))
            return Transfer(
                conversation=c,
                participant=actor,
                queue=draw(st.sampled_from(QUEUES)),
                kind=draw(st.sampled_from(Wanted)),
                to=to,
            )
        case "cancel":
            return Cancel(conversation=c)
        case "presence":
            status = draw(st.sampled_from(PresenceStatus))
            return Presence(participant=draw(st.sampled_from([actor, *PEOPLE])), status=status)
        case "propose":
            return Propose(conversation=c, participant=actor, supervisor=human, action="refund")
        case "approve":
            return Approve(conversation=c, participant=human)
        case "reject":
            return Reject(conversation=c, participant=human)
        case "monitor":
            return Monitor(conversation=c, participant=human)
        case "take_over":
            return TakeOver(conversation=c, participant=human)
        case "end":
            return End(conversation=c, participant=actor, survey=draw(st.booleans()))
        case "survey_response":
            return SurveyResponse(conversation=c, answers={"rating": 4})
        case "customer_left":
            return CustomerLeft(conversation=c)
        case "wrap_up_done":
            return WrapUpDone(participant=human)
        case change if change in CHANGE_KINDS:
            return draw_change(draw, change, PEOPLE[:4], ["q1", "q2"])
        case _:
            assert kind == "tick"
            return Tick(now=0)  # its time is drawn by the caller


def rechain(path: Path) -> None:
    """Recompute every row's chain hash after a test edited the log, as a store written by an
    engine with other decisions (or a careful forger) would have them: the checksums hold, so
    only re-running the steps can tell."""
    import sqlite3

    from handoff_fsm.adapters.store.log import chain_next, genesis

    db = sqlite3.connect(path)
    (config,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
    chain = genesis(config)
    rows = db.execute(
        "SELECT seq, step_index, event, now, step_id, refused, effects, delivered FROM steps "
        "ORDER BY seq"
    ).fetchall()
    for row in rows:
        chain = chain_next(chain, list(row))
        db.execute("UPDATE steps SET chain = ? WHERE seq = ?", (chain, row[0]))
    db.commit()
    db.close()
