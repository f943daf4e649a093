"""The one JSON encoding of the adapters (`handoff_fsm.adapters.jsonl`)."""

from __future__ import annotations

import json

import pytest

from handoff_fsm.adapters import jsonl
from handoff_fsm.adapters.jsonl import BASE_KEYS, dumps, format_line


def test_dumps_is_compact_and_keeps_text_as_utf8() -> None:
    assert dumps({"a": [1, 2.5, None, True], "b": "é 😀"}) == '{"a":[1,2.5,null,true],"b":"é 😀"}'


def test_dumps_keeps_the_key_order_it_is_given() -> None:
    assert dumps({"z": 1, "a": 2}) == '{"z":1,"a":2}'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_dumps_refuses_what_json_cannot_carry(value: float) -> None:
    with pytest.raises(ValueError):
        dumps({"a": value})


def test_dumps_refuses_text_that_utf8_cannot_carry() -> None:
    with pytest.raises(ValueError):
        dumps({"text": "x\ud800"})


def test_a_line_starts_with_the_base_keys_in_the_contracts_order_then_the_fields() -> None:
    line = format_line(
        seq=3, step=1, kind="message", conversation="c1", to="rep-1", state="bot_active",
        fields={"text": "hi", "from": "customer"},
    )  # fmt: skip
    assert line == (
        '{"seq":3,"step":1,"kind":"message","conversation":"c1","to":"rep-1",'
        '"state":"bot_active","text":"hi","from":"customer"}'
    )
    assert tuple(json.loads(line)) == (*BASE_KEYS, "text", "from")


def test_the_base_keys_are_the_contracts() -> None:
    assert BASE_KEYS == ("seq", "step", "kind", "conversation", "to", "state")


def test_a_field_may_not_overwrite_a_base_key() -> None:
    with pytest.raises(ValueError, match="'kind'"):
        format_line(
            seq=1, step=0, kind="x", conversation=None, to=None, state=None, fields={"kind": "y"}
        )


def test_lines_are_encoded_by_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl, "dumps", lambda value: "encoded")
    assert format_line(seq=1, step=0, kind="x", conversation=None, to=None, state=None) == (
        "encoded"
    )
