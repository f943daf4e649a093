"""Cutting a deployment into parts that no conversation crosses, for the check to explore apart.

Theory of operation: queues that share a member, or that one overflows into, belong together; a
conversation of one part never meets a participant or queue of another, so the check explores
each part on its own switchboard (far fewer states than the product of the parts) and its
witnesses replay the same on the whole deployment. Bot-only queues join every part with humans:
any human may hand a conversation to one (the seeds' two-queue flow).

Rules: a part is a `Config` of the same settings, with only its queues and their members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from handoff_fsm.config import Config, Kind, OverflowTransfer, QueueSpec


def bots_only(queue: QueueSpec, kinds: Mapping[str, Kind]) -> bool:
    return bool(queue.members) and all(kinds[m] is Kind.BOT for m in queue.members)


def takes_back(queue: QueueSpec, kinds: Mapping[str, Kind]) -> bool:
    """A queue that lists a bot after a human: the seeds' one-queue flow, where the human hands
    the conversation back to the second bot."""
    listed = [kinds[m] for m in queue.members]
    return Kind.HUMAN in listed and Kind.BOT in listed[listed.index(Kind.HUMAN) :]


def components(config: Config) -> list[Config]:
    """The deployment cut into parts that no conversation crosses: queues joined by a shared
    member or an overflow, each with the bot-only queues (any human may hand a conversation to
    one). A conversation of one part never meets a participant or queue of another, so each
    part is explored alone, and its witnesses replay the same on the whole deployment."""
    kinds = {p.id: p.kind for p in config.participants}
    parent = {q.name: q.name for q in config.queues}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    holder_of: dict[str, str] = {}
    for queue in config.queues:
        links = [holder_of.setdefault(m, queue.name) for m in queue.members]
        if isinstance(queue.overflow, OverflowTransfer):
            links.append(queue.overflow.queue)
        for other in links:
            parent[root(other)] = root(queue.name)
    shared = [q for q in config.queues if bots_only(q, kinds)]
    groups: dict[str, list[QueueSpec]] = {}
    for queue in config.queues:
        groups.setdefault(root(queue.name), []).append(queue)
    parts = []
    for members in groups.values():
        with_humans = any(kinds[m] is Kind.HUMAN for q in members for m in q.members)
        extra = [q for q in shared if with_humans and q not in members]
        queues = (*members, *extra)
        # a bot-only queue's overflow may lead on: follow it into the part as well
        names = {q.name for q in queues}
        wanted = [q for q in config.queues if q.name not in names and _led_to(q, queues)]
        queues = (*queues, *wanted)
        used = {m for q in queues for m in q.members}
        parts.append(
            Config(
                settings=config.settings,
                participants=tuple(p for p in config.participants if p.id in used),
                queues=queues,
            )
        )
    return parts


def _led_to(queue: QueueSpec, queues: Sequence[QueueSpec]) -> bool:
    return any(
        isinstance(q.overflow, OverflowTransfer) and q.overflow.queue == queue.name for q in queues
    )


__all__ = ["bots_only", "components", "takes_back"]
