"""What every benchmark script shares: progress notes, the scratch database, percentiles."""

from __future__ import annotations

import argparse
import http.client
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from agentconnect.auth.secrets import new_api_key
from agentconnect.db import plain_url
from agentconnect.migrations_runner import upgrade

_STARTED = time.monotonic()
HOST = "127.0.0.1"


class BenchmarkFailed(Exception):
    """The code under test misbehaved; the figures would mean nothing."""


def say(message: str) -> None:
    """Progress notes go to stderr so stdout holds only the results."""
    print(f"[{time.monotonic() - _STARTED:6.0f} s] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def create_api_key(url: str, company_id: uuid.UUID) -> str:
    """A new admin API key of the company, written straight into the database."""
    key, prefix, key_hash = new_api_key()
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO api_keys (id, company_id, name, role, prefix, key_hash)"
            " VALUES (%s, %s, 'bench', 'admin', %s, %s)",
            (uuid.uuid4(), company_id, prefix, key_hash),
        )
    return key


async def call_asgi(
    app: Any,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, bytes]:
    """One request straight into an ASGI app, as a server hands it over after parsing HTTP:
    the app's own cost, without an HTTP client's (httpx's in-process transport builds its own
    request and response objects and streams, ~1-2 ms a request, which no server pays)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": urlencode(params or {}, doseq=True).encode(),
        "headers": [
            (b"host", b"bench"),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
        ],
        "server": ("bench", 80),
        "client": (HOST, 1),
    }
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    """A server (uvicorn) in a process of its own on HOST, its output in a temporary file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int) -> None:
        self.name = name
        self.port = port
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix=f"bench-{name}-", suffix=".log"
        )
        say(f"{name} server on port {port}: {' '.join(command[1:])}")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def wait_ready(self, path: str = "/health", timeout_s: float = 60.0) -> None:
        """Until `path` answers 200; BenchmarkFailed with the server's output otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkFailed(f"the {self.name} server exited:\n{self.output()}")
            connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.1)
        raise BenchmarkFailed(f"the {self.name} server did not answer {path}:\n{self.output()}")

    def stop(self) -> None:
        """SIGINT, as Ctrl-C: uvicorn shuts down gracefully (a profiled server still writes
        its profile)."""
        if self.process.poll() is not None:
            say(f"{self.name} server had exited ({self.process.returncode}):\n{self.output()}")
        else:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    """The server until the block ends, ready to answer `/health` when it starts."""
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def drop_database(server_url: str, name: str) -> None:
    # FORCE: a run killed halfway may leave a connection behind.
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(plain_url(server_url), autocommit=True) as admin:
        admin.execute(statement)


def database_on(server_url: str, name: str) -> str:
    """The URL of database `name` on the server."""
    return make_url(plain_url(server_url)).set(database=name).render_as_string(hide_password=False)


def recreate_database(server_url: str, name: str) -> str:
    """Drop and create `name` on the server; return its URL."""
    drop_database(server_url, name)
    with psycopg.connect(plain_url(server_url), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_on(server_url, name)


def kept_database(server_url: str, name: str) -> str:
    """The database an earlier `--keep-database` run left, migrated to head (for `--reuse`)."""
    url = database_on(server_url, name)
    upgrade(url)
    return url


@contextmanager
def scratch_database(server_url: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh database on `server_url`, migrated to head, dropped afterwards unless `keep`."""
    say(f"scratch database {name} ...")
    url = recreate_database(server_url, name)
    try:
        upgrade(url)
        yield url
    finally:
        if not keep:
            drop_database(server_url, name)


def server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    return str(row[0])


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# What a production server for a CRM of millions of contacts would be given on this machine
# (24 GB RAM): the working set in shared_buffers, checkpoints spread out. Durability is left
# as it is (fsync, synchronous_commit, full_page_writes on).
PRIVATE_SERVER_SETTINGS = {
    "shared_buffers": "4GB",
    "effective_cache_size": "16GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
    "random_page_cost": "1.1",
}


def postgres_bindir() -> str:
    """Where initdb and pg_ctl live: PG_BINDIR, else pg_config's answer, else Debian's path."""
    if found := os.environ.get("PG_BINDIR"):
        return found
    if pg_config := shutil.which("pg_config"):
        answer = subprocess.run(  # noqa: S603 - pg_config found on PATH
            [pg_config, "--bindir"], capture_output=True, text=True
        )
        if answer.returncode == 0 and os.path.exists(os.path.join(answer.stdout.strip(), "initdb")):
            return answer.stdout.strip()
    debian = "/usr/lib/postgresql"
    versions = (
        sorted(os.listdir(debian), key=lambda v: int(v) if v.isdigit() else 0)
        if (os.path.isdir(debian))
        else []
    )
    for version in reversed(versions):
        if os.path.exists(os.path.join(debian, version, "bin", "initdb")):
            return os.path.join(debian, version, "bin")
    raise BenchmarkFailed("initdb not found: set PG_BINDIR to run a private server")


@contextmanager
def private_server(settings: dict[str, str] | None = None, port: int = 55432) -> Iterator[str]:
    """A PostgreSQL of the benchmark's own: initdb into a temporary directory, started on a
    Unix socket there (no TCP), stopped and deleted at the end. Yields its URL."""
    bindir = postgres_bindir()
    root = tempfile.mkdtemp(prefix="agentconnect-bench-pg-")
    # initdb refuses to run as root: run the server as the postgres user then.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    data, log = os.path.join(root, "data"), os.path.join(root, "server.log")
    options = [f"-p {port}", f"-k {root}", "-c listen_addresses=''"] + [
        f"-c {name}={value}" for name, value in (settings or PRIVATE_SERVER_SETTINGS).items()
    ]
    try:
        subprocess.run(  # noqa: S603 - our own arguments
            [*as_user, f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(  # noqa: S603 - our own arguments
            [*as_user, f"{bindir}/pg_ctl", "-D", data, "-l", log, "-w", "-o", " ".join(options),
             "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            yield f"postgresql://postgres@/postgres?host={root}&port={port}"
        finally:
            subprocess.run(  # noqa: S603 - our own arguments
                [*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                capture_output=True,
            )
    except subprocess.CalledProcessError as error:
        raise BenchmarkFailed(
            f"private server: {' '.join(error.cmd[:3])} failed: {error.stderr or error.stdout}"
        ) from error
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
