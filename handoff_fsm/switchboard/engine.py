"""The switchboard: the engine platforms embed, joining the lifecycle and routing.

Theory of operation: a `Switchboard` holds every conversation, participant and queue of one contact
center. `step(event, now=..., step_id=...)` takes one input event (the step vocabulary of SPEC §5,
as the classes of `handoff_fsm.events`) and returns a `StepResult`: applied, refused (with a coded
`StepRefused`) or duplicate, with the effects to deliver in order (`handoff_fsm.effects`). It never
sends, sleeps or reads a clock: time comes in with each event, and timeouts (offers, waits,
surveys) fire when time passes their deadline, in deadline order, before the event's own action.
The package splits the engine into its parts: `result` (the answer and the input checks),
`record` (one conversation), `timers`, `moves` (the operations), `handlers` (one per step kind),
`views` (what embedders read) and `inspect` (what only the testing kit reads).

Rules:
- Atomic steps: everything about an input is checked before anything changes (`check_input`,
  then each handler's preconditions). A malformed input raises `InvalidStep` and leaves no trace
  (its id is not remembered, no timeout fires); a refused step changes nothing but the timeouts
  that came due on the way to its time (their effects are in its result).
- A step whose `step_id` was seen before is a duplicate, whether the first was refused or not:
  no effect at all, and time does not move.
- Values in and out are copies: variables are copied in, contexts and views are copies.
"""

from __future__ import annotations

import math

from handoff_fsm import lifecycle
from handoff_fsm.config import Config
from handoff_fsm.effects import Context, Effect
from handoff_fsm.errors import ErrorCode, StepRefused
from handoff_fsm.events import Event, Tick
from handoff_fsm.routing import Explanation, PastDecision
from handoff_fsm.switchboard.changes import WorldChanges
from handoff_fsm.switchboard.result import DUPLICATE, StepResult, StepStatus, check_input
from handoff_fsm.switchboard.views import ConversationView, ParticipantView, QueueView
from handoff_fsm.vocabulary import Outcome, State


class Switchboard(WorldChanges):
    """One contact center's conversations, participants and queues. Not thread-safe: serialise
    calls per switchboard (an embedding service typically owns one per shard)."""

    # ----------------------------------------------------------------- steps

    def step(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> StepResult:
        """Apply one input event; say whether it was applied, refused or a duplicate, with the
        effects to deliver in order (for a refused step, those of the timeouts that fired on
        the way to its time). An input that is not a well-formed step raises `InvalidStep`
        before anything changes (its step id is not remembered)."""
        if isinstance(event, Tick) and now is None:
            now = event.now
        check_input(event, now, step_id)
        if step_id is not None:
            if self._is_duplicate(step_id, now):
                return DUPLICATE
            self._remember_id(step_id, self.now if now is None else max(now, self.now))
        self._out = []
        if now is not None:
            if now < self.now:
                refused = StepRefused(
                    ErrorCode.TIME_BACKWARDS, f"time goes backwards (from {self.now:g} to {now:g})"
                )
                return self._refused(event, refused, ())
            self._advance(now)
            self._expire(now)
        fired, self._out = self._out, []
        try:
            getattr(self, self._DISPATCH[type(event)])(event)
        except StepRefused as refused:
            self._out = []
            self._new_waits.clear()  # a refused step began no wait (it changed nothing)
            return self._refused(event, refused, tuple(fired))
        self._set_wait_timers()
        effects = (*fired, *self._out) if fired else tuple(self._out)
        self._out = []
        return StepResult(status=StepStatus.APPLIED, effects=effects)

    def handle(
        self, event: Event, *, now: float | None = None, step_id: str | None = None
    ) -> list[Effect]:
        """`step`, raising: the effects of an applied step (none for a duplicate), or
        `StepRefused` carrying the effects of the timeouts that fired first (`.effects`)."""
        return self.step(event, now=now, step_id=step_id).unwrap()

    def _is_duplicate(self, step_id: str, now: float | None) -> bool:
        """Seen, and not yet past its dedup window at this step's time (a retry after the
        window is new, whether or not the id has left memory yet)."""
        until = self._seen_ids.get(step_id)
        return until is not None and (self.now if now is None else max(now, self.now)) < until

    def _remember_id(self, step_id: str, processed: float) -> None:
        window = self.settings.dedup_window
        if window is None:
            self._seen_ids[step_id] = math.inf
            return
        until = processed + window
        self._seen_ids[step_id] = until
        self._id_expiry.append((until, step_id))

    def _refused(
        self, event: Event, refused: StepRefused, effects: tuple[Effect, ...]
    ) -> StepResult:
        refused.step = event.STEP
        state = self.state_of(event.conversation) if event.conversation is not None else None
        refused.state = None if state is None else state.value
        return StepResult(status=StepStatus.REFUSED, effects=effects, error=refused)

    # ----------------------------------------------------------------- reads

    def state_of(self, conversation: str) -> State | None:
        record = self._conversations.get(conversation)
        return None if record is None else record.state

    def outcome_of(self, conversation: str) -> Outcome | None:
        record = self._conversations.get(conversation)
        return None if record is None else record.snapshot.outcome

    def context_of(self, conversation: str) -> Context:
        return self._known(conversation).context()

    def monitors_of(self, conversation: str) -> tuple[str, ...]:
        return tuple(self._known(conversation).monitors)

    def trace_of(self, conversation: str) -> tuple[lifecycle.Transition, ...]:
        """The lifecycle transitions this conversation went through, in order (needs
        `trace=True`; intermediate states inside one step, such as `waiting` during a transfer
        straight to a bot, are included)."""
        if self._traces is None:
            raise StepRefused(ErrorCode.NOT_TRACED, "this switchboard was built without trace=True")
        self._known(conversation)
        return tuple(self._traces.get(conversation, ()))

    def conversations(self) -> tuple[str, ...]:
        return tuple(self._conversations)

    def next_deadline(self) -> float | None:
        """When the earliest pending timer is due, so an embedder knows when to send a tick."""
        return self._timers.next_deadline(self._timer_is_live)

    def conversation(self, conversation: str) -> ConversationView | None:
        """Where one conversation is (None if unknown or forgotten)."""
        record = self._conversations.get(conversation)
        if record is None:
            return None
        return ConversationView(
            id=record.id,
            state=record.state,
            outcome=record.snapshot.outcome,
            holder=self._router.holder(record.id),
            monitors=tuple(record.monitors),
            queue=self._router.queue_of(record.id),
            position=self._router.position(record.id),
            context=record.context(),
        )

    @property
    def world(self) -> Config:
        """The contact center as it is now: the first `config` with every live change applied
        (participants and queues added later come last; presence is each one's initial one)."""
        return Config(
            settings=self.settings,
            participants=self._router.participant_specs(),
            queues=self._router.queue_specs(),
        )

    def queue_views(self) -> tuple[QueueView, ...]:
        """Every queue's line, in configuration order (queues added later last)."""
        views = []
        for spec in self._router.queue_specs():
            line = self._router.line(spec.name)
            starts = [self._conversations[cid].wait_since for cid in line]
            views.append(
                QueueView(
                    name=spec.name, waiting=len(line), oldest_wait_start=min(starts, default=None)
                )
            )
        return tuple(views)

    def explain(self, conversation: str) -> Explanation:
        """Who was considered for a waiting conversation and why each was passed over (SPEC §3);
        `StepRefused` if it is unknown or not waiting. `.render()` gives it as text."""
        self._known(conversation)
        return self._router.explain(conversation)

    def decisions(self, conversation: str) -> tuple[PastDecision, ...]:
        """The conversation's last routing decisions (who was chosen, and each member's
        verdict), oldest first, kept until it is forgotten."""
        self._known(conversation)
        return self._router.decisions(conversation)

    def participant_views(self) -> tuple[ParticipantView, ...]:
        """Every participant's presence and load, in configuration order (added later last)."""
        router = self._router
        return tuple(
            ParticipantView(
                id=spec.id,
                kind=spec.kind,
                presence=router.presence(spec.id),
                load=router.load(spec.id),
                capacity=spec.capacity,
                holds=router.holds_of(spec.id),
                offers=router.offers_of(spec.id),
            )
            for spec in router.participant_specs()
        )

    def forget(self, conversation: str) -> None:
        """Drop an ended conversation from memory now (a long-running service calls this once
        the conversation is archived, or sets `settings.retention`). Refused for a live one."""
        record = self._known(conversation)
        if record.state is not State.ENDED:
            raise StepRefused(
                ErrorCode.NOT_ENDED, f"conversation {conversation!r} is {record.state}, not ended"
            )
        self._drop(record)


__all__ = ["Switchboard"]
