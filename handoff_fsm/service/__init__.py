"""`handoff-fsm serve`: the core as a long-running HTTP/JSON service (SPEC §6).

Theory of operation: `app` holds the Starlette routes and nothing else; every center lives behind
the one small interface of `backend` (`CenterBackend`), the only module that touches a store.
`clock` gives the service's time (Unix seconds, never backwards, across restarts too), `feed`
answers the long-polling effects feed, `timers` fires due timeouts with no request needed,
`views` renders the read-only views and `metrics` the Prometheus text. `botframework` plays the
Bot Framework agent hub (SPEC §7) on a center's feed, with its own log (`hub_log`) and pushes to
the bots' endpoints (`push`).

Rules: this package needs the `service` extra (starlette, uvicorn, prometheus-client) and is
imported only by `handoff-fsm serve`, so the rest of the command line stays fast and works
without it. The core knows nothing of it.
"""
