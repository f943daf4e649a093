"""The wait model: the table is exactly `models/routing.yaml`, and a wait walks its states."""

from __future__ import annotations

import pytest
import yaml
from routing_helpers import (
    human,
    one_queue,
)

from handoff_fsm.errors import ModelError
from handoff_fsm.model import bundled_models_dir, guard_free_table, load_bundled, parse_model
from handoff_fsm.routing import (
    WAIT_TABLE,
    compile_wait_table,
)

# ----------------------------------------------------------------------------- the model


def test_the_wait_table_is_exactly_the_routing_model() -> None:
    table = guard_free_table(load_bundled("routing"))
    assert {(str(s), str(t)): str(d) for (s, t), d in WAIT_TABLE.items()} == table


def test_a_routing_model_that_differs_from_the_code_is_refused() -> None:
    raw = yaml.safe_load((bundled_models_dir() / "routing.yaml").read_text())
    raw["transitions"].append({"trigger": "teleport", "source": ["queued"], "dest": "assigned"})
    with pytest.raises(ModelError) as caught:
        compile_wait_table(parse_model(raw, "edited.yaml"))
    assert str(caught.value) == (
        "edited.yaml: transitions: differs from handoff_fsm.routing "
        "(missing: [], unknown: ['teleport'])"
    )


def test_a_wait_walks_the_model_states() -> None:
    router = one_queue(human("h1"), human("h2"))
    router.enqueue("c1", "q", 0)
    seen = [router.wait_status("c1")]
    router.serve(0)
    seen.append(router.wait_status("c1"))
    router.decline("c1", "h1", 1)
    seen.append(router.wait_status("c1"))
    router.serve(1)
    router.accept("c1", "h2", 2)
    seen.append(router.wait_status("c1"))
    assert seen == ["queued", "offered", "queued", "assigned"]
