"""The shared words of handoff-fsm: every enum and alias more than one module speaks.

Theory of operation: the lifecycle, routing, the switchboard, the effects and the events all talk
about the same things (states, outcomes, kinds of participant, presence, roles, why an offer was
withdrawn). They are defined here once, as `StrEnum`s whose values are the contract's spellings
(SPEC §2-§5), so every other module imports its words from one leaf module.

Rules:
- This module imports nothing of the package and reads no file: importing it (or `events`,
  `effects`, `errors`, which build on it) costs no disk access. Only `handoff_fsm.lifecycle` reads
  `models/lifecycle.yaml`, and it checks there that the model names exactly what these enums name.
- Nothing here has behaviour beyond naming; rules live with the module that owns them.
"""

from __future__ import annotations

import enum
from typing import TypeAlias

#: A value a conversation's context may hold: what JSON can carry.
JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

#: The address of effects meant for the customer (SPEC §4).
CUSTOMER = "customer"


class State(enum.StrEnum):
    """A conversation's lifecycle state (SPEC §2)."""

    NEW = "new"
    BOT_ACTIVE = "bot_active"
    WAITING = "waiting"
    AGENT_ENGAGED = "agent_engaged"
    RETURNED_TO_BOT = "returned_to_bot"
    SURVEY = "survey"
    ENDED = "ended"


class Outcome(enum.StrEnum):
    """How an ended conversation ended."""

    RESOLVED = "resolved"
    SURVEY_COMPLETED = "survey_completed"
    SURVEY_SKIPPED = "survey_skipped"
    ABANDONED = "abandoned"
    UNSERVED = "unserved"


class Trigger(enum.StrEnum):
    """What moves a conversation through `models/lifecycle.yaml`."""

    BOT_TAKES = "bot_takes"
    ENQUEUE = "enqueue"
    AGENT_ACCEPTS = "agent_accepts"
    ESCALATE = "escalate"
    ESCALATION_PHRASE = "escalation_phrase"
    FALLBACK_LIMIT = "fallback_limit"
    TRANSFER = "transfer"
    HOLDER_OFFLINE = "holder_offline"
    CANCEL = "cancel"
    WAIT_TIMEOUT = "wait_timeout"
    TAKE_OVER = "take_over"
    END = "end"
    END_WITH_SURVEY = "end_with_survey"
    SURVEY_RESPONSE = "survey_response"
    SURVEY_TIMEOUT = "survey_timeout"
    CUSTOMER_LEFT = "customer_left"


class Guard(enum.StrEnum):
    """The facts a lifecycle transition may depend on."""

    HUMAN_HELD_BEFORE = "human_held_before"
    BOT_TO_RETURN_TO = "bot_to_return_to"
    OVERFLOW_TRANSFER = "overflow_transfer"
    OVERFLOW_RETURNS_TO_BOT = "overflow_returns_to_bot"


class Kind(enum.StrEnum):
    """What a participant is."""

    BOT = "bot"
    HUMAN = "human"


class Wanted(enum.StrEnum):
    """The kind of participant a request (start, escalate, transfer) asks for."""

    BOT = "bot"
    HUMAN = "human"
    ANY = "any"


class Strategy(enum.StrEnum):
    """How a queue picks among its eligible members (SPEC §3)."""

    HIGHEST_CAPACITY = "highest_capacity"
    ROUND_ROBIN = "round_robin"
    LEAST_ACTIVE = "least_active"
    MOST_IDLE = "most_idle"


class PresenceStatus(enum.StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


class Role(enum.StrEnum):
    """How a participant is in a conversation it joined."""

    HOLDER = "holder"
    MONITOR = "monitor"


class WithdrawReason(enum.StrEnum):
    """Why an offer ended without an accept."""

    DECLINED = "declined"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


#: States in which a participant holds the conversation, and those in which a bot does.
HOLDING_STATES = frozenset({State.BOT_ACTIVE, State.AGENT_ENGAGED, State.RETURNED_TO_BOT})
BOT_HOLDING_STATES = frozenset({State.BOT_ACTIVE, State.RETURNED_TO_BOT})

__all__ = [
    "BOT_HOLDING_STATES",
    "CUSTOMER",
    "HOLDING_STATES",
    "Guard",
    "JsonValue",
    "Kind",
    "Outcome",
    "PresenceStatus",
    "Role",
    "State",
    "Strategy",
    "Trigger",
    "Wanted",
    "WithdrawReason",
]
