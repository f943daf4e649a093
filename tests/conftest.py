"""Shared test set-up: Hypothesis profiles, and the rule for tests that need a system program.

`ci` is loaded when the CI environment variable is set (bounded, derandomized, no deadline: the CI
machine is small and noisy); `fuzz` is the long hunt of `make fuzz`; `dev` is the default.

`needs_program("dot")` marks a test that runs a system program: without it on PATH the test is
skipped with a reason saying what to install, so `make test` passes on a machine with only Python
and make; when CI is set it is never skipped, so CI (which installs the program) cannot go green
by skipping. Import it as `from conftest import needs_program`.
"""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

#: What to install for each program a test may need.
_INSTALL = {"dot": "Graphviz (Debian/Ubuntu: apt-get install graphviz)"}


def needs_program(name: str) -> pytest.MarkDecorator:
    """Skip unless `name` is on PATH; with CI set, never skip (a missing program then fails)."""
    missing = shutil.which(name) is None and not os.environ.get("CI")
    install = _INSTALL.get(name, name)
    return pytest.mark.skipif(
        missing, reason=f"needs {name!r} on PATH: install {install}; required when CI is set"
    )
