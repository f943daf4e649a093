"""Erlang C and Erlang A against independent forms of the same answers.

Erlang C is checked against the textbook sum formula (not the Erlang B recursion the module
uses) and against M/M/1; Erlang A against Erlang C as patience grows without end, against the
closed form when patience and handle time have the same mean (the system is then M/M/infinity,
Poisson in law), and against its own limits (service level from no wait to the answered share).
"""

from __future__ import annotations

import functools
import math

import pytest

from handoff_fsm.planning.erlang import erlang_a, erlang_c


def textbook_erlang_c(servers: int, load: float) -> float:
    """P(wait) = (a^c / c!) (c / (c - a)) / (sum_{k<c} a^k / k! + (a^c / c!) (c / (c - a)))."""
    top = load**servers / math.factorial(servers) * servers / (servers - load)
    return top / (sum(load**k / math.factorial(k) for k in range(servers)) + top)


@pytest.mark.parametrize(("servers", "load"), [(1, 0.5), (2, 1.5), (10, 8.0), (30, 28.5)])
def test_erlang_c_agrees_with_the_textbook_sum(servers: int, load: float) -> None:
    figures = erlang_c(servers=servers, arrival_rate=load / 300, handle_time=300, answer_within=20)
    expected = textbook_erlang_c(servers, load)
    assert figures.p_wait == pytest.approx(expected, rel=1e-12)
    drain = servers / 300 - load / 300
    assert figures.asa == pytest.approx(expected / drain, rel=1e-12)
    assert figures.service_level == pytest.approx(1 - expected * math.exp(-drain * 20), rel=1e-12)
    assert figures.occupancy == pytest.approx(load / servers)
    assert figures.abandoned == 0


def test_erlang_c_of_one_server_is_m_m_1() -> None:
    figures = erlang_c(servers=1, arrival_rate=0.5, handle_time=1.0, answer_within=2.0)
    assert figures.p_wait == pytest.approx(0.5)
    assert figures.asa == pytest.approx(1.0)  # rho / (mu - lambda)
    assert figures.service_level == pytest.approx(1 - 0.5 * math.exp(-1.0))


def test_erlang_c_refuses_a_load_with_no_steady_state() -> None:
    with pytest.raises(ValueError, match="needs more than 10 servers"):
        erlang_c(servers=10, arrival_rate=10 / 300, handle_time=300, answer_within=20)
    with pytest.raises(ValueError, match="servers >= 1"):
        erlang_c(servers=0, arrival_rate=1, handle_time=1, answer_within=1)


@pytest.mark.parametrize("load", [0.5, 0.8, 0.95])
def test_erlang_a_becomes_erlang_c_as_patience_grows(load: float) -> None:
    c = erlang_c(servers=10, arrival_rate=load * 10 / 300, handle_time=300, answer_within=20)
    a = erlang_a(
        servers=10, arrival_rate=load * 10 / 300, handle_time=300, patience=1e12, answer_within=20
    )
    for name in ("p_wait", "asa", "service_level", "occupancy"):
        assert getattr(a, name) == pytest.approx(getattr(c, name), rel=1e-5), name
    assert a.abandoned == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize(("servers", "load"), [(1, 1.0), (3, 2.0), (10, 12.0)])
def test_erlang_a_with_patience_equal_to_handle_time_is_poisson(servers: int, load: float) -> None:
    """With theta = mu every customer in the system leaves at rate mu, served or not: the count
    in the system is Poisson(a), so P(wait) = P(N >= c) and E[queue] = E[(N - c)+]."""
    figures = erlang_a(
        servers=servers, arrival_rate=load, handle_time=1.0, patience=1.0, answer_within=1.0
    )
    poisson = [math.exp(-load) * load**n / math.factorial(n) for n in range(120)]
    assert figures.p_wait == pytest.approx(sum(poisson[servers:]), rel=1e-9)
    queue = sum((n - servers) * p for n, p in enumerate(poisson) if n > servers)
    assert figures.abandoned == pytest.approx(queue / load, rel=1e-9)  # theta E[Q] / lambda
    busy = sum(min(n, servers) * p for n, p in enumerate(poisson))
    assert figures.occupancy == pytest.approx(busy / servers, rel=1e-9)


def test_erlang_a_service_level_runs_from_no_wait_to_the_answered_share() -> None:
    within = functools.partial(
        erlang_a, servers=10, arrival_rate=0.9 * 10 / 300, handle_time=300.0, patience=200.0
    )
    at_once = within(answer_within=0)
    assert at_once.service_level == pytest.approx(1 - at_once.p_wait)
    levels = [within(answer_within=t).service_level for t in (5, 20, 60, 300)]
    assert levels == sorted(levels) and levels[0] > at_once.service_level
    forever = within(answer_within=5_000)
    assert forever.service_level == pytest.approx(1 - forever.abandoned, rel=1e-9)


def test_erlang_a_is_defined_above_full_load_because_customers_leave() -> None:
    figures = erlang_a(
        servers=10, arrival_rate=1.5 * 10 / 300, handle_time=300, patience=60, answer_within=20
    )
    assert 0.3 < figures.abandoned < 0.5  # at least a third must leave: only 10 of 15 fit
    assert 0.9 < figures.occupancy < 1
    answered_load = (1 - figures.abandoned) * 15
    assert figures.occupancy == pytest.approx(answered_load / 10, rel=1e-9)
    with pytest.raises(ValueError, match="patience > 0"):
        erlang_a(servers=1, arrival_rate=1, handle_time=1, patience=0, answer_within=1)
