"""Wire formats: the platforms' own payloads translated to and from the scenario format's steps.

Theory of operation: one module per platform (`botframework`, `sunshine`, `messenger`), each pure
and without I/O, so the HTTP service and an embedder use the same translation. Inbound, a payload
becomes one step mapping in the scenario format of SPEC §5 (`Translated`), which the caller feeds
through the same strict reader as a scenario file, or `Ignored`; a malformed payload raises
`WireError` (code `invalid_activity`) naming the place and the problem. Outbound, a platform's hub
or bridge object turns the center's effect lines, in order, into what the platform must be sent.

Rule: these modules depend on the core (config, effects, events), never the reverse.
"""

from handoff_fsm.wire.common import (
    INVALID_ACTIVITY,
    Ignored,
    MetadataTooLarge,
    Translated,
    Translation,
    WireError,
)

__all__ = [
    "INVALID_ACTIVITY",
    "Ignored",
    "MetadataTooLarge",
    "Translated",
    "Translation",
    "WireError",
]
