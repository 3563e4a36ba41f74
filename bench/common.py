"""What every benchmark script shares: progress notes, the scratch database, percentiles."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from agentconnect.db import plain_url

_STARTED = time.monotonic()


class BenchmarkFailed(Exception):
    """The code under test misbehaved; the figures would mean nothing."""


def say(message: str) -> None:
    """Progress notes go to stderr so stdout holds only the results."""
    print(f"[{time.monotonic() - _STARTED:6.0f} s] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def drop_database(server_url: str, name: str) -> None:
    # FORCE: a run killed halfway may leave a connection behind.
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(plain_url(server_url), autocommit=True) as admin:
        admin.execute(statement)


def recreate_database(server_url: str, name: str) -> str:
    """Drop and create `name` on the server; return its URL."""
    drop_database(server_url, name)
    with psycopg.connect(plain_url(server_url), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(plain_url(server_url)).set(database=name).render_as_string(hide_password=False)


def server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    return str(row[0])


def main_with(
    parse_args: Callable[[list[str] | None], argparse.Namespace],
    run: Callable[[argparse.Namespace], object],
    argv: list[str] | None = None,
) -> int:
    """Parse, run, and turn a BenchmarkFailed into exit status 1 (a missed target is not one)."""
    args = parse_args(argv)
    try:
        run(args)
    except BenchmarkFailed as failure:
        say(f"benchmark failed: {failure}")
        return 1
    return 0
