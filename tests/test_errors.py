"""One exception hierarchy, rooted in HandoffError."""

from __future__ import annotations

import inspect

import handoff_fsm.errors as errors
from handoff_fsm.errors import HandoffError, ModelError


def test_every_error_class_derives_from_the_one_base() -> None:
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__
    ]
    assert len(classes) >= 6
    assert all(issubclass(c, HandoffError) for c in classes)


def test_model_error_message_names_file_and_place() -> None:
    error = ModelError("models/x.yaml", "transitions[2].dest", "names undeclared state 'moon'")
    assert str(error) == "models/x.yaml: transitions[2].dest: names undeclared state 'moon'"
