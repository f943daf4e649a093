"""`handoff-fsm demo`: walk the seed flows and print a readable timeline.

Theory of operation: until the switchboard exists this walks the lifecycle alone through the
"two bots in one queue" flow of the Dynamics 365 article (Bot A -> human -> Bot B), printing every
transition the model fires and the state it leaves the conversation in.
"""

from __future__ import annotations

import argparse

from handoff_fsm import lifecycle
from handoff_fsm.lifecycle import Guard, Trigger

HELP = "walk the seed handoff flows and print their timelines"

_SEED_FLOW: tuple[tuple[str, Trigger, frozenset[Guard]], ...] = (
    ("customer starts; Bot A (highest capacity) takes it", Trigger.BOT_TAKES, frozenset()),
    ("customer asks for a human; Bot A escalates", Trigger.ESCALATE, frozenset()),
    ("the representative accepts the offer", Trigger.AGENT_ACCEPTS, frozenset()),
    ("the representative transfers to the queue, for a bot", Trigger.TRANSFER, frozenset()),
    ("Bot B (lowest capacity, never held it) takes it", Trigger.BOT_TAKES, frozenset()),
    ("Bot B ends the conversation with a survey", Trigger.END_WITH_SURVEY, frozenset()),
    ("the customer answers the survey", Trigger.SURVEY_RESPONSE, frozenset()),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options yet


def run(args: argparse.Namespace) -> int:
    del args
    snapshot = lifecycle.NEW
    print("Two bots in one queue (000_f8be55f87fc37532.txt), lifecycle only:")
    print(f"  {'':52} state: {snapshot.state}")
    for what, trigger, facts in _SEED_FLOW:
        snapshot, transition = lifecycle.step(snapshot, trigger, facts)
        outcome = f" ({snapshot.outcome})" if snapshot.outcome else ""
        print(
            f"  {what:52} {transition.trigger}: {transition.source} -> {transition.dest}{outcome}"
        )
    return 0
