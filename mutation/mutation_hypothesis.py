"""A pytest plugin for mutation runs: a small, derandomized Hypothesis budget.

Theory of operation: `mutation/run.py` puts this directory on PYTHONPATH and passes
`-p mutation_hypothesis`, so this module is imported before `tests/conftest.py`. It registers the
profile `mutate`, which the run selects with HYPOTHESIS_PROFILE (conftest loads it). Tests that
pin their own settings (the stateful machine, `@settings(...)`) are capped at collection time.

Rules: derandomized and without the example database, so a mutant gets the same verdict on every
run and the score before and after a change compares like with like; capped, not replaced, so a
test asking for fewer examples keeps its own number. The project's tests are not touched.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, settings

#: Examples per property test, and steps per stateful run, during a mutation run.
MAX_EXAMPLES = int(os.environ.get("MUTATION_MAX_EXAMPLES", "25"))
MAX_STEPS = int(os.environ.get("MUTATION_MAX_STEPS", "50"))

settings.register_profile(
    "mutate",
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # a kill needs no shrinking
    suppress_health_check=list(HealthCheck),
)


def _capped(own: settings) -> settings:
    return settings(
        own,
        max_examples=min(own.max_examples, MAX_EXAMPLES),
        stateful_step_count=min(own.stateful_step_count, MAX_STEPS),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
    )


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        cls = getattr(item, "cls", None)
        own = getattr(cls, "settings", None)
        if cls is not None and isinstance(own, settings):  # a RuleBasedStateMachine.TestCase
            cls.settings = _capped(own)
        function = getattr(item, "obj", None)
        pinned = getattr(function, "_hypothesis_internal_use_settings", None)
        if function is not None and isinstance(pinned, settings):  # @given, maybe @settings
            function._hypothesis_internal_use_settings = _capped(pinned)
