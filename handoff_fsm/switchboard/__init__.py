"""The switchboard: the engine platforms embed (see `engine` for its theory of operation).

`from handoff_fsm.switchboard import Switchboard, StepResult, ...` is the public way in; the
modules of the package are `result`, `record`, `timers`, `moves`, `handlers`, `engine`, `views`
and `inspect` (the last for the testing kit only).
"""

from handoff_fsm.switchboard.engine import Switchboard
from handoff_fsm.switchboard.record import STEP_STATES
from handoff_fsm.switchboard.result import DUPLICATE, StepResult, StepStatus
from handoff_fsm.switchboard.views import ConversationView, ParticipantView, QueueView

__all__ = [
    "DUPLICATE",
    "STEP_STATES",
    "ConversationView",
    "ParticipantView",
    "QueueView",
    "StepResult",
    "StepStatus",
    "Switchboard",
]
