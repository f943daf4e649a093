"""Sequence diagrams drawn from a run's lines: lifelines in order, one arrow per effect, notes for
state changes and outcomes, and texts that cannot break Mermaid."""

from __future__ import annotations

import re

from handoff_fsm.tools.sequence import (
    MAX_TEXT,
    conversations,
    sequence_diagram,
    sequence_document,
)
from handoff_fsm.vocabulary import JsonValue

Record = dict[str, JsonValue]


def _line(step: int, kind: str, to: str | None, state: str, **fields: JsonValue) -> Record:
    return {"step": step, "kind": kind, "conversation": "c1", "to": to, "state": state, **fields}


RUN: list[Record] = [
    _line(0, "participant_added", "bot-a", "bot_active", role="holder"),
    _line(0, "greeting", "bot-a", "bot_active"),
    _line(1, "message", "bot-a", "bot_active", **{"from": "customer", "text": "hi; #1 \"x\""}),
    _line(2, "participant_removed", "bot-a", "waiting"),
    _line(2, "offer", "rep-1", "waiting", queue="support"),
    _line(3, "participant_added", "rep-1", "agent_engaged", role="holder"),
    _line(4, "message", "customer", "agent_engaged", **{"from": "rep-1", "text": "x " * 80}),
    _line(5, "ended", None, "ended", outcome="resolved"),
    {"step": 6, "kind": "participant_added", "conversation": "c2", "to": "bot-a",
     "state": "bot_active", "role": "holder"},
]  # fmt: skip


def _body(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()[1:]]


def test_lifelines_customer_first_then_core_then_in_order_of_appearance() -> None:
    body = _body(sequence_diagram(RUN, "c1", {"bot-a": "bot", "rep-1": "human"}))
    assert body[:4] == [
        "actor C as customer",
        "participant H as handoff-fsm",
        "participant P1 as bot-a",
        "actor P2 as rep-1",
    ]


def test_every_effect_is_one_arrow_in_order_with_state_notes() -> None:
    body = _body(sequence_diagram(RUN, "c1"))[4:]
    assert body[:6] == [
        "Note over H: bot_active",
        "H->>P1: participant_added (holder)",
        "H->>P1: greeting",
        "C->>P1: hi#59; #35;1 #34;x#34;",
        "Note over H: waiting",
        "H-xP1: participant_removed",
    ]
    assert "H->>P2: offer (support)" in body
    assert body[-2:] == ["Note over H: ended", "Note over C,P2: ended, outcome resolved"]
    arrows = [line for line in body if not line.startswith("Note")]
    assert len(arrows) == len([r for r in RUN if r["conversation"] == "c1"]) - 1  # ended: a note


def test_long_texts_are_cut_with_an_ellipsis() -> None:
    [line] = [x for x in _body(sequence_diagram(RUN, "c1")) if x.startswith("P2->>C: ")]
    text = line.removeprefix("P2->>C: ")
    assert len(text) <= MAX_TEXT
    assert text.endswith("…")


def test_no_text_can_end_a_statement_or_open_a_comment() -> None:
    for line in _body(sequence_diagram(RUN, "c1")):
        message = re.sub(r"#\d+;", "", line.split(": ", 1)[-1])
        assert not re.search(r"[;\"<>%#]", message), line


def test_a_refused_step_is_a_note() -> None:
    error: Record = {"step": 9, "kind": "error", "conversation": "c1", "to": None,
                     "state": "bot_active", "error": "step 9 (accept): refused"}  # fmt: skip
    body = _body(sequence_diagram([*RUN[:2], error], "c1"))
    assert body[-1] == "Note over H: error: step 9 (accept): refused"


def test_document_has_one_heading_and_block_per_conversation() -> None:
    assert conversations(RUN) == ["c1", "c2"]
    page = sequence_document("flow.yaml", RUN)
    assert re.findall(r"^## Conversation (\w+)$", page, re.MULTILINE) == ["c1", "c2"]
    assert page.count("```mermaid\nsequenceDiagram\n") == 2
    assert "[flow.yaml](flow.yaml)" in page
    assert sequence_document("flow.yaml", RUN) == page
