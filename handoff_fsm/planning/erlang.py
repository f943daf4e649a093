"""Erlang C and Erlang A: the exact steady-state figures of a queue of c identical servers.

Theory of operation: staffing models that contact centers size their teams with, here only to
check the simulator (`handoff_fsm.planning.simulate`) against a known answer. Both take Poisson
arrivals (`arrival_rate` per second), exponential handle times (mean `handle_time` seconds) and
`servers` agents of capacity 1, served first come, first served.

- Erlang C (M/M/c): nobody gives up. The chance to wait comes from the Erlang B recursion (stable
  for any c); the wait of those who wait is exponential with rate c*mu - lambda, so the mean wait
  and the service level have closed forms. Defined only below full load (lambda < c*mu).
- Erlang A (M/M/c+M): a waiting customer leaves after an exponential patience (mean `patience`
  seconds, rate theta). No closed form is needed: the number in the system is a birth-death
  chain (birth lambda, death min(n, c)*mu + max(n - c, 0)*theta) whose stationary law is summed
  out in log space and cut where the terms fall below 1e-18 of the largest. An arrival sees that
  law (PASTA). With k customers ahead of it in line, it moves up at rate c*mu + j*theta (j ahead)
  while its own patience runs at rate theta, so its chance to be served and its mean wait when
  served are products and sums over those stages; the service level (served within t) is the
  same pure-death chain solved by uniformization.

Rules: pure functions of numbers, no randomness; inputs that have no steady state are refused
with ValueError (the simulator's adapter never calls these with user input).
"""

from __future__ import annotations

import math

import attrs

_NEGLIGIBLE = math.log(1e-18)


@attrs.frozen(kw_only=True)
class QueueFigures:
    """Steady-state figures of one queue, named as the simulator reports them."""

    p_wait: float  # share of arrivals that find every server busy
    asa: float  # mean wait of the answered, seconds (those answered at once count with 0)
    service_level: float  # share of arrivals answered within the threshold
    occupancy: float  # mean busy share of the servers
    abandoned: float  # share of arrivals that leave before being answered


def _check(servers: int, arrival_rate: float, handle_time: float) -> None:
    if servers < 1 or arrival_rate <= 0 or handle_time <= 0:
        raise ValueError("need servers >= 1, arrival_rate > 0 and handle_time > 0")


def erlang_c(
    *, servers: int, arrival_rate: float, handle_time: float, answer_within: float
) -> QueueFigures:
    _check(servers, arrival_rate, handle_time)
    load = arrival_rate * handle_time  # offered load, in Erlangs
    if load >= servers:
        raise ValueError(f"offered load {load:g} Erlangs needs more than {servers} servers")
    blocking = 1.0  # Erlang B, by the recursion B(k) = a B(k-1) / (k + a B(k-1))
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    p_wait = servers * blocking / (servers - load * (1 - blocking))
    drain = servers / handle_time - arrival_rate  # rate of the exponential wait of the waiting
    return QueueFigures(
        p_wait=p_wait,
        asa=p_wait / drain,
        service_level=1 - p_wait * math.exp(-drain * answer_within),
        occupancy=load / servers,
        abandoned=0.0,
    )


def erlang_a(
    *,
    servers: int,
    arrival_rate: float,
    handle_time: float,
    patience: float,
    answer_within: float,
) -> QueueFigures:
    _check(servers, arrival_rate, handle_time)
    if patience <= 0:
        raise ValueError("need patience > 0")
    mu, theta = 1 / handle_time, 1 / patience
    law = _stationary_law(servers, arrival_rate, mu, theta)
    ahead = law[servers:]  # an arrival that finds n = servers + k has k customers ahead in line
    stage = [servers * mu + j * theta for j in range(len(ahead))]
    served_given, wait_given = [], []
    survive, mean = 1.0, 0.0
    for rate in stage:
        survive *= rate / (rate + theta)
        mean += 1 / (rate + theta)
        served_given.append(survive)
        wait_given.append(survive * mean)
    p_wait = sum(ahead)
    answered = (1 - p_wait) + sum(p * s for p, s in zip(ahead, served_given, strict=True))
    waited = sum(p * w for p, w in zip(ahead, wait_given, strict=True))
    within = _served_within(ahead, stage, theta, answer_within)
    busy = sum(min(n, servers) * p for n, p in enumerate(law))
    return QueueFigures(
        p_wait=p_wait,
        asa=waited / answered,
        service_level=(1 - p_wait) + within,
        occupancy=busy / servers,
        abandoned=1 - answered,
    )


def _stationary_law(servers: int, arrival_rate: float, mu: float, theta: float) -> list[float]:
    logs = [0.0]
    n = 0
    while True:
        n += 1
        death = min(n, servers) * mu + max(n - servers, 0) * theta
        logs.append(logs[-1] + math.log(arrival_rate / death))
        if n > servers and arrival_rate < death and logs[-1] < max(logs) + _NEGLIGIBLE:
            break
    top = max(logs)
    weights = [math.exp(value - top) for value in logs]
    total = sum(weights)
    return [w / total for w in weights]


def _served_within(ahead: list[float], stage: list[float], theta: float, t: float) -> float:
    """P(an arrival waits, is served, and its wait is at most t), by uniformization of the line
    ahead of it: position j moves to j - 1 (position 0 to served) at stage[j], and leaves at
    theta."""
    if t <= 0 or not ahead:
        return 0.0
    top = max(stage) + theta
    mean = top * t
    vector = list(ahead)  # the probability of each position, after m uniformized jumps
    served = 0.0  # P(served within m jumps)
    total = 0.0
    weight_log = -mean  # log of the Poisson weight of m jumps
    covered = 0.0
    m = 0
    while covered < 1 - 1e-13 and m < 100_000:
        weight = math.exp(weight_log)
        total += weight * served
        covered += weight
        moved = [0.0] * len(vector)
        served += vector[0] * stage[0] / top
        for j in range(1, len(vector)):
            moved[j - 1] += vector[j] * stage[j] / top
        for j, p in enumerate(vector):
            moved[j] += p * (1 - (stage[j] + theta) / top)
        vector = moved
        m += 1
        weight_log += math.log(mean) - math.log(m)
    return total + (1 - covered) * served


__all__ = ["QueueFigures", "erlang_a", "erlang_c"]
