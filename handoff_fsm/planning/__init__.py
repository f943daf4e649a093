"""Planning a deployment before it goes live: what a configuration does to waits and staff.

Theory of operation: `simulate` runs the real switchboard under seeded random traffic (the one
place of the package that draws random numbers, always from a seeded generator, never a clock);
`erlang` holds the exact queueing formulas the simulation is checked against. Nothing here is
needed to embed the switchboard: the core never imports this package.
"""
