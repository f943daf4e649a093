"""The lifecycle runtime against its model: totality, absorption, refusals, random walks."""

from __future__ import annotations

import functools
import itertools

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from handoff_fsm import lifecycle
from handoff_fsm.errors import ModelError, TriggerRefused
from handoff_fsm.lifecycle import Guard, Outcome, Snapshot, State, Trigger
from handoff_fsm.model import bundled_models_dir, load_bundled, parse_model

ALL_FACTS = [
    frozenset(combo)
    for n in range(len(Guard) + 1)
    for combo in itertools.combinations(sorted(Guard), n)
]
ALL_SNAPSHOTS = [
    Snapshot(state=s, outcome=None, human_held=h) for s in State for h in (False, True)
]


@functools.cache
def _independent_model() -> list[dict[str, object]]:
    """The model file read straight from YAML, without handoff_fsm.model."""
    raw = yaml.safe_load((bundled_models_dir() / "lifecycle.yaml").read_text())
    rows: list[dict[str, object]] = raw["transitions"]
    return rows


def _expected(state: str, trigger: str, facts: set[str]) -> tuple[str, str | None] | None:
    for row in _independent_model():
        guards = row.get("guards", [])
        unless = row.get("unless", [])
        assert isinstance(guards, list) and isinstance(unless, list)
        source = row["source"]
        assert isinstance(source, list)
        if (
            row["trigger"] == trigger
            and state in source
            and set(guards) <= facts
            and not (set(unless) & facts)
        ):
            outcome = row.get("outcome")
            return str(row["dest"]), None if outcome is None else str(outcome)
    return None


def test_state_names_are_exactly_the_contract() -> None:
    assert [s.value for s in State] == [
        "new",
        "bot_active",
        "waiting",
        "agent_engaged",
        "returned_to_bot",
        "survey",
        "ended",
    ]
    assert lifecycle.NEW.state is State.NEW


@pytest.mark.parametrize("snapshot", ALL_SNAPSHOTS, ids=lambda s: f"{s.state}-held{s.human_held}")
@pytest.mark.parametrize("trigger", list(Trigger), ids=str)
def test_every_state_trigger_pair_is_a_model_transition_or_refused(
    snapshot: Snapshot, trigger: Trigger
) -> None:
    """Totality: for every guard outcome, step agrees with the model file or refuses."""
    for facts in ALL_FACTS:
        free = facts - lifecycle.KEPT_GUARDS
        seen = set(free) | ({Guard.HUMAN_HELD_BEFORE} if snapshot.human_held else set())
        expected = _expected(snapshot.state, trigger, {str(g) for g in seen})
        if expected is None:
            with pytest.raises(TriggerRefused):
                lifecycle.step(snapshot, trigger, free)
            continue
        after, transition = lifecycle.step(snapshot, trigger, free)
        assert (str(after.state), after.outcome) == expected
        assert transition.source is snapshot.state and transition.dest is after.state


@pytest.mark.parametrize("trigger", list(Trigger), ids=str)
def test_ended_is_absorbing(trigger: Trigger) -> None:
    ended = Snapshot(state=State.ENDED, outcome=Outcome.RESOLVED)
    with pytest.raises(TriggerRefused) as caught:
        lifecycle.step(ended, trigger, frozenset(Guard))
    assert caught.value.allowed == ()
    assert "final state" in str(caught.value)


def test_refusal_names_state_trigger_and_what_was_allowed() -> None:
    waiting = lifecycle.step(lifecycle.NEW, Trigger.ENQUEUE)[0]
    with pytest.raises(TriggerRefused) as caught:
        lifecycle.step(waiting, Trigger.END)
    message = str(caught.value)
    assert "'end'" in message and "'waiting'" in message
    assert "agent_accepts, bot_takes, cancel, customer_left, wait_timeout" in message
    assert waiting.state is State.WAITING  # the caller's snapshot is untouched


def test_human_held_is_kept_by_the_lifecycle_and_decides_the_bot_state() -> None:
    snap = lifecycle.NEW
    for trigger in (Trigger.ENQUEUE, Trigger.AGENT_ACCEPTS, Trigger.TRANSFER):
        snap, _ = lifecycle.step(snap, trigger)
    assert snap.human_held
    snap, _ = lifecycle.step(snap, Trigger.BOT_TAKES)
    assert snap.state is State.RETURNED_TO_BOT


def test_caller_cannot_forge_the_kept_guard() -> None:
    waiting = lifecycle.step(lifecycle.NEW, Trigger.ENQUEUE)[0]
    after, _ = lifecycle.step(waiting, Trigger.BOT_TAKES, frozenset({Guard.HUMAN_HELD_BEFORE}))
    assert after.state is State.BOT_ACTIVE


def test_snapshots_are_interned() -> None:
    a = lifecycle.step(lifecycle.NEW, Trigger.BOT_TAKES)[0]
    b = lifecycle.step(lifecycle.NEW, Trigger.BOT_TAKES)[0]
    assert a is b


def test_a_model_that_differs_from_the_code_is_refused() -> None:
    model = load_bundled("lifecycle")
    raw = yaml.safe_load((bundled_models_dir() / "lifecycle.yaml").read_text())
    raw["transitions"].append({"trigger": "teleport", "source": ["new"], "dest": "ended"})
    edited = parse_model(raw, "edited.yaml")
    with pytest.raises(ModelError) as caught:
        lifecycle.compile_table(edited)
    assert str(caught.value) == (
        "edited.yaml: transitions: differs from handoff_fsm.lifecycle "
        "(missing: [], unknown: ['teleport'])"
    )
    assert lifecycle.compile_table(model)


@given(st.lists(st.tuples(st.sampled_from(list(Trigger)), st.sampled_from(ALL_FACTS)), max_size=40))
def test_random_trigger_sequences_follow_the_model_file(
    walk: list[tuple[Trigger, frozenset[Guard]]],
) -> None:
    snap = lifecycle.NEW
    for trigger, facts in walk:
        free = facts - lifecycle.KEPT_GUARDS
        seen = {str(g) for g in free} | ({"human_held_before"} if snap.human_held else set())
        expected = _expected(snap.state, trigger, seen)
        try:
            after, _ = lifecycle.step(snap, trigger, free)
        except TriggerRefused:
            assert expected is None
            continue
        assert expected == (str(after.state), after.outcome)
        assert after.human_held == (snap.human_held or after.state is State.AGENT_ENGAGED)
        snap = after


def test_compiling_the_bundled_model_gives_the_table_step_runs_on() -> None:
    """The table is compiled at import; compiling again must give it rule for rule (state,
    trigger, guards, destination, outcome and the snapshots each rule leads to)."""
    assert lifecycle.compile_table(load_bundled("lifecycle")) == lifecycle._TABLE


def test_compiling_interns_each_snapshot_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled again, the table leads to the very snapshot objects step runs on; compiled into
    an empty intern table, it makes each snapshot once, with its state, outcome and human_held."""
    again = lifecycle.compile_table(load_bundled("lifecycle"))
    pairs = zip(_results(again), _results(lifecycle._TABLE), strict=True)
    assert all(mine is theirs for mine, theirs in pairs)
    monkeypatch.setattr(lifecycle, "_INTERNED", {})
    fresh = lifecycle.compile_table(load_bundled("lifecycle"))
    assert fresh == lifecycle._TABLE
    assert len({id(s) for s in _results(fresh)}) == len(set(_results(fresh))) > 1
    assert {(s.state, s.outcome, s.human_held): s for s in _results(fresh)} == lifecycle._INTERNED


def _results(table: dict[tuple[State, Trigger], tuple[lifecycle._Rule, ...]]) -> list[Snapshot]:
    return [snap for rules in table.values() for rule in rules for snap in rule.results]


def test_a_model_whose_guards_all_fail_refuses_naming_the_facts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bundled model always has a rule that applies; a model without the unguarded cancel
    row (abandon when no bot is left) refuses such a cancel, naming the facts that held."""
    raw = yaml.safe_load((bundled_models_dir() / "lifecycle.yaml").read_text())
    del raw["transitions"][12]
    monkeypatch.setattr(
        lifecycle, "_TABLE", lifecycle.compile_table(parse_model(raw, "edited.yaml"))
    )
    allowed = "agent_accepts, bot_takes, cancel, customer_left, wait_timeout"
    for held, facts in ((False, "[]"), (True, "['human_held_before']")):
        waiting = Snapshot(state=State.WAITING, human_held=held)
        with pytest.raises(TriggerRefused) as caught:
            lifecycle.step(waiting, Trigger.CANCEL)
        assert str(caught.value) == (
            f"trigger 'cancel' is not allowed in state 'waiting' (no guard combination holds "
            f"for facts {facts}); allowed there: {allowed}"
        )
        assert (caught.value.state, caught.value.trigger) == ("waiting", "cancel")
        assert not lifecycle.can_step(waiting, Trigger.CANCEL)
        assert lifecycle.can_step(waiting, Trigger.CANCEL, frozenset({Guard.BOT_TO_RETURN_TO}))
