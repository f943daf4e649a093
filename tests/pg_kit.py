"""A fresh PostgreSQL database per test, for the tests of the PostgreSQL store and service.

The server is named by `HANDOFF_TEST_POSTGRES` (a `postgresql://` URL of a role that may create
databases; `.ci/postgres` starts a throw-away cluster and prints one). Without it the tests skip
with that reason, unless CI is set, where they fail: CI cannot go green by skipping. Each test
gets `CREATE DATABASE` with a random name, dropped (`WITH (FORCE)`) at the end whatever happened.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

ENV = "HANDOFF_TEST_POSTGRES"


def server_url() -> str:
    """The server to test against; skip (or, under CI, fail) when none is configured."""
    url = os.environ.get(ENV)
    if url:
        return url
    reason = f"no PostgreSQL server: set {ENV}=postgresql://... (.ci/postgres starts one)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def need_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("psycopg is not installed (pip install 'handoff-fsm[postgresql]')")


def with_database(url: str, name: str) -> str:
    """`url` naming the database `name` instead."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def fresh_database() -> Iterator[str]:
    """A new empty database on the test server (its URL), dropped afterwards."""
    need_psycopg()
    import psycopg

    url = server_url()
    name = f"handoff_test_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
