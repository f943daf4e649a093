"""The shared words: one leaf module, and the light modules built on it read no file."""

from __future__ import annotations

import subprocess
import sys

from handoff_fsm import lifecycle
from handoff_fsm.vocabulary import BOT_HOLDING_STATES, HOLDING_STATES, Outcome, State, Trigger


def test_importing_the_light_modules_loads_no_model_and_no_yaml() -> None:
    code = (
        "import sys\n"
        "import handoff_fsm.vocabulary, handoff_fsm.errors, handoff_fsm.events, "
        "handoff_fsm.effects\n"
        "print(sorted(m for m in ('yaml', 'handoff_fsm.model', 'handoff_fsm.lifecycle') "
        "if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_lifecycle_model_names_exactly_the_vocabulary() -> None:
    assert set(lifecycle.MODEL.states) == {s.value for s in State}
    assert set(lifecycle.MODEL.outcomes) == {o.value for o in Outcome}
    assert {t.trigger for t in lifecycle.MODEL.transitions} == {t.value for t in Trigger}


def test_bot_holding_states_are_holding_states() -> None:
    assert BOT_HOLDING_STATES < HOLDING_STATES
    assert State.WAITING not in HOLDING_STATES
