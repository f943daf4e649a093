"""One exception hierarchy, rooted in HandoffError; one registry of codes, documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import handoff_fsm.errors as errors
from handoff_fsm.errors import (
    ErrorCode,
    HandoffError,
    InvalidStep,
    ModelError,
    StepRefused,
    StoreError,
    one_line,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def _error_classes() -> list[type[BaseException]]:
    return [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if c.__module__ == errors.__name__ and issubclass(c, BaseException)
    ]


def test_every_error_class_derives_from_the_one_base() -> None:
    classes = _error_classes()
    assert len(classes) >= 8
    assert all(issubclass(c, HandoffError) for c in classes)


def test_every_error_class_has_a_code_of_the_registry() -> None:
    for cls in _error_classes():
        assert isinstance(getattr(cls, "code", None), ErrorCode), cls


def test_the_docs_table_lists_exactly_the_codes_of_the_registry() -> None:
    documented = re.findall(r"^\| `([a-z_]+)` \|", DOC.read_text(encoding="utf-8"), re.M)
    assert sorted(documented) == sorted(code.value for code in ErrorCode)
    assert len(documented) == len(set(documented))


def test_the_contract_words_are_codes() -> None:
    for word in (
        "unknown_conversation",
        "not_holder",
        "no_offer",
        "cannot_serve",
        "time_backwards",
    ):
        assert ErrorCode(word).value == word


def test_a_refusal_carries_its_code_step_and_state() -> None:
    refused = StepRefused(ErrorCode.NO_OFFER, "no offer", step="accept", state="waiting")
    assert (refused.code, refused.step, refused.state, str(refused)) == (
        ErrorCode.NO_OFFER,
        "accept",
        "waiting",
        "no offer",
    )


def test_messages_stay_on_one_line() -> None:
    assert str(InvalidStep("key 'a\nb' is bad")) == "key 'a b' is bad"
    assert one_line("plain") == "plain"
    assert "\n" not in str(StepRefused(ErrorCode.ENDED, "x\r\ny"))


def test_class_codes() -> None:
    assert StoreError("x").code is ErrorCode.STORE_UNUSABLE
    assert InvalidStep("x").code is ErrorCode.INVALID_STEP


def test_model_error_message_names_file_and_place() -> None:
    error = ModelError("models/x.yaml", "transitions[2].dest", "names undeclared state 'moon'")
    assert str(error) == "models/x.yaml: transitions[2].dest: names undeclared state 'moon'"
    assert error.code is ErrorCode.MODEL_INVALID
