"""`handoff_fsm.tools.require`: a library of a missing extra is one clear error naming the extra."""

from __future__ import annotations

import json
import sys

import pytest

from handoff_fsm.errors import HandoffError
from handoff_fsm.tools import MissingExtra, require


def test_an_installed_library_is_returned() -> None:
    assert require("json", extra="tools") is json


def test_a_missing_library_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "networkx", None)  # what an uninstalled library looks like
    with pytest.raises(MissingExtra) as caught:
        require("networkx", extra="tools")
    error = caught.value
    assert isinstance(error, HandoffError)
    assert (error.code, error.module, error.extra) == ("missing_extra", "networkx", "tools")
    assert str(error) == (
        "this needs networkx, which is not installed; "
        "install handoff-fsm[tools] (pip install 'handoff-fsm[tools]')"
    )
