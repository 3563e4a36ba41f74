"""Benchmark: signed Twilio status callbacks posted to the running app, against a bare endpoint
that only verifies the signature.

    python -m bench.callbacks [--callbacks 20000] [--clients 8] [--workers 1] [--profile]
                              [--client raw|aiohttp] [--keep-database]

In a scratch database it generates, with SQL only, one company with its Twilio settings (an
account SID, a sender number and the auth token encrypted under the app secret, as
`PUT /channels/twilio` stores them), one active SMS campaign with one step, and for each
callback a contact with a phone, a completed enrollment and an SMS delivery in status `sent`
(provider `twilio`, Twilio's answer `queued`, a unique `SM...` MessageSid). It then builds
every request beforehand: a form body as Twilio posts it (AccountSid, ApiVersion, From, To,
MessageSid, SmsSid, MessageStatus, SmsStatus, and ErrorCode 30003 on `undelivered`) and its
`X-Twilio-Signature` from `twilio.request_validator.RequestValidator`. One callback per
delivery, so every (MessageSid, MessageStatus) pair is new: half `delivered`, a quarter `sent`,
a quarter `undelivered`, interleaved.

(real) `POST /webhooks/twilio/{company}/messages/status` of the app, `create_app()` served by
       uvicorn in a process of its own (one worker unless `--workers`; uvloop, httptools, no
       access log, log level warning), against the scratch database: the app's whole
       middleware stack, then its status fast path (channels/twilio_status_fastpath.py): the
       company's settings (read and decrypted, then cached for a few seconds), the signature,
       one statement that stores the event, applies the status and writes the activity
       (autocommit), answer 204.
(bare) The same request bytes to a raw ASGI app in another uvicorn process with the same
       flags, which reads the body, parses the form and verifies the signature with the same
       `RequestValidator` and the same token held in memory: 204, or 403.

Both are posted by `--clients` concurrent loops, each over one keep-alive HTTP/1.1
connection, from this process (by default a minimal HTTP client on asyncio streams that writes
the prebuilt bytes and reads status line, headers and body, so the load generator takes as
little of the shared CPUs as possible; `--client aiohttp` for a library client). A few hundred
extra callbacks (`--warmup`) are posted first, untimed. The rate is callbacks over the wall
time from the first send to the last answer; latency is per request, send to answer.

Checked ("nothing lost"), or the benchmark fails (exit 1): every app answer 2xx and every bare
answer 204; a request with a wrong signature is refused (403) by both and stores nothing;
afterwards exactly one `inbound_events` row per callback posted, every delivery's
`provider_status` the status posted for it and its `status` `delivered`, `sent` or `failed`
(last_error `Twilio error 30003`) accordingly, one `sms_delivered` activity per delivered
callback and one `sms_failed` per undelivered one, nothing else. Then `--replay` of the same
callbacks are posted again (Twilio retries): all answered 2xx and nothing in the database
changes (counts and a digest of every delivery's status columns and `updated_at`).

Also printed: the CPU seconds per callback of the server process, the PostgreSQL backends
serving it (read from /proc, when the server runs on this machine) and the load generator.
`--profile` runs the app under cProfile (slower: its rate is not comparable) and prints where
its Python time goes. Targets (the issue): above 1,000 callbacks/s, and nothing lost; a missed
rate is reported, never an exit status.

The public URL the signatures are computed over (`AGENTCONNECT_BASE_URL`, as behind a proxy)
is https://crm.bench.example for both servers, so both receive byte-identical requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import psycopg
from twilio.request_validator import RequestValidator

from bench.common import (
    HOST,
    BenchmarkFailed,
    ServerProcess,
    free_port,
    load_average,
    main_with,
    percentile,
    running,
    say,
    scratch_database,
    server_version,
)

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRATCH_DATABASE = "agentconnect_bench_callbacks"
PUBLIC_URL = "https://crm.bench.example"
SECRET_KEY = "bench-callbacks-secret-key-not-for-production-0123456789"  # noqa: S105
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"  # noqa: S105 - a fake Twilio auth token
ACCOUNT_SID = "AC" + hashlib.md5(b"bench account").hexdigest()  # noqa: S324 - an id, not a MAC
SMS_FROM = "+15550100000"
TARGET_RATE = 1_000.0
UNDELIVERED_CODE = "30003"  # Twilio: unreachable destination handset

# The bare server reads its token and public URL from these (set by this script).
_ENV_TOKEN = "BENCH_CALLBACKS_AUTH_TOKEN"  # noqa: S105 - a variable name
_ENV_PUBLIC_URL = "BENCH_CALLBACKS_PUBLIC_URL"


# --- data generation (SQL only) -------------------------------------------------------------


def message_sid(n: int) -> str:
    """The MessageSid of delivery n: the same expression as the SQL that generates them."""
    return "SM" + hashlib.md5(str(n).encode()).hexdigest()  # noqa: S324 - an id, not a MAC


def phone(n: int) -> str:
    return f"+1555{n:07d}"


def posted_status(n: int) -> str:
    """The status called back for delivery n: half delivered, a quarter sent or undelivered."""
    return ("delivered", "sent", "delivered", "undelivered")[n % 4]


_CONTACTS = """
INSERT INTO contacts (id, company_id, first_name, last_name, phone, lifecycle_stage,
                      lead_source, opt_in_status, do_not_contact, tags, custom_fields,
                      lead_score, created_at, updated_at)
SELECT gen_random_uuid(), %(company)s,
       (ARRAY['James', 'Mary', 'Wei', 'Priya', 'Ahmed', 'Fatima', 'José', 'Zoë'])[1 + n %% 8],
       (ARRAY['Smith', 'García', 'Müller', 'Nguyen', 'Kim', 'O''Brien'])[1 + n %% 6],
       '+1555' || lpad(n::text, 7, '0'),
       'customer', 'website', 'opted_in', false, '[]', '{}', 50,
       now() - interval '1 day', now() - interval '1 day'
FROM generate_series(0, %(n)s - 1) AS n
"""

_ENROLLMENTS = """
INSERT INTO campaign_contacts (id, company_id, campaign_id, contact_id, status, current_step,
                               variant_assignments, enrolled_at, updated_at)
SELECT gen_random_uuid(), %(company)s, %(campaign)s, c.id, 'completed', 1, '{}',
       now() - interval '1 hour', now() - interval '10 minutes'
FROM contacts AS c WHERE c.company_id = %(company)s
"""

# What the sender leaves behind after Twilio accepted the message: status `sent`, Twilio's
# own status `queued`, its MessageSid.
_DELIVERIES = """
INSERT INTO deliveries (id, company_id, campaign_id, enrollment_id, contact_id, message_id,
                        step_order, channel, dedupe_key, status, to_address,
                        not_before, attempts, provider, provider_message_id,
                        provider_status, segments, created_at, sent_at, updated_at)
SELECT gen_random_uuid(), %(company)s, %(campaign)s, e.id, c.id, %(message)s, 1, 'sms',
       e.id::text || ':1', 'sent', c.phone,
       now() - interval '10 minutes', 1, 'twilio',
       'SM' || md5(substr(c.phone, 6)::int::text), 'queued', 1,
       now() - interval '10 minutes', now() - interval '9 minutes', now() - interval '9 minutes'
FROM campaign_contacts AS e JOIN contacts AS c ON c.id = e.contact_id
WHERE e.company_id = %(company)s
"""


@dataclass
class Dataset:
    company_id: uuid.UUID
    deliveries: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def generation_s(self) -> float:
        return sum(self.seconds.values())


def generate(url: str, deliveries: int) -> Dataset:
    from agentconnect.channels.settings import secret_context
    from agentconnect.kit.crypto import encrypt_secret

    seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(name: str) -> Iterator[None]:
        say(f"  {name} ...")
        started = time.perf_counter()
        yield
        seconds[name] = time.perf_counter() - started

    company_id, campaign_id, message_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    args = {"company": company_id, "campaign": campaign_id, "message": message_id, "n": deliveries}
    settings = {
        "account_sid": ACCOUNT_SID,
        "sms_from": SMS_FROM,
        "messaging_service_sid": None,
        "messaging_service_rate": None,
        "whatsapp_from": None,
        "voice_from": None,
        "transfer_number": None,
    }
    ciphertext = encrypt_secret(
        AUTH_TOKEN, SECRET_KEY, context=secret_context(company_id, "twilio")
    )
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO companies (id, name, postal_address, default_timezone, settings)"
            " VALUES (%s, 'Bench Outfitters', '1 Bench Street, Springfield, IL 62701', 'UTC',"
            " '{}')",
            (company_id,),
        )
        conn.execute(
            "INSERT INTO channel_settings (company_id, channel, settings, secret_ciphertext)"
            " VALUES (%s, 'twilio', %s, %s)",
            (company_id, json.dumps(settings), ciphertext),
        )
        conn.execute(
            "INSERT INTO campaigns (id, company_id, name, campaign_type, status, goal_type,"
            " target_criteria, send_time_optimization, cost, currency, started_at)"
            " VALUES (%(campaign)s, %(company)s, 'Spring texts', 'sms', 'active', 'none',"
            " '{}', false, 0, 'USD', now() - interval '1 hour')",
            args,
        )
        conn.execute(
            "INSERT INTO campaign_messages (id, company_id, campaign_id, sequence_order,"
            " message_type, delay_value, delay_unit, body, variants)"
            " VALUES (%(message)s, %(company)s, %(campaign)s, 1, 'sms', 0, 'minutes',"
            " '{{first_name}}, the spring range is in. Reply STOP to opt out.', '[]')",
            args,
        )
        with step(f"{deliveries:,} contacts"):
            conn.execute(_CONTACTS, args)
        with step(f"{deliveries:,} enrollments"):
            conn.execute(_ENROLLMENTS, args)
        with step(f"{deliveries:,} deliveries"):
            conn.execute(_DELIVERIES, args)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn, step("VACUUM ANALYZE, CHECKPOINT"):
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    return Dataset(company_id, deliveries, seconds)


# --- the requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Callback:
    index: int  # the delivery it reports on
    status: str
    request: bytes  # the whole HTTP/1.1 request
    body: bytes
    signature: str


def status_path(company_id: uuid.UUID) -> str:
    return f"/webhooks/twilio/{company_id}/messages/status"


def _http_request(path: str, body: bytes, signature: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {HOST}\r\n"
        "User-Agent: TwilioProxy/1.1\r\n"
        "Accept: */*\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


def build_callback(company_id: uuid.UUID, index: int, status: str, token: str) -> Callback:
    """Twilio's status callback for delivery `index`, signed over the public URL."""
    sid = message_sid(index)
    form = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": SMS_FROM,
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": phone(index),
    }
    if status == "undelivered":
        form["ErrorCode"] = UNDELIVERED_CODE
    path = status_path(company_id)
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + path, form)
    body = urlencode(form).encode("ascii")
    return Callback(index, status, _http_request(path, body, signature), body, signature)


def build_callbacks(company_id: uuid.UUID, indexes: range) -> list[Callback]:
    return [build_callback(company_id, i, posted_status(i), AUTH_TOKEN) for i in indexes]


# --- the servers --------------------------------------------------------------------------------


def _uvicorn_flags(port: int, workers: int) -> list[str]:
    flags = ["--host", HOST, "--port", str(port), "--log-level", "warning", "--no-access-log"]
    flags += ["--http", "httptools"]
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401

        flags += ["--loop", "uvloop"]
    if workers > 1:
        flags += ["--workers", str(workers)]
    return flags


def serve_profiled(stats_path: str, port: int) -> None:
    """The app under cProfile until SIGTERM (uvicorn stops gracefully), stats to a file.
    Run in the server's own process: `python -c 'from bench.callbacks import ...'`."""
    import uvicorn

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvicorn.run(
            "agentconnect.app:create_app",
            factory=True,
            host=HOST,
            port=port,
            log_level="warning",
            access_log=False,
            http="httptools",
            loop="uvloop",
        )
    finally:
        profiler.disable()
        profiler.dump_stats(stats_path)


def app_server(url: str, port: int, workers: int, profile_to: str | None) -> ServerProcess:
    env = {
        "AGENTCONNECT_DATABASE_URL": url,
        "AGENTCONNECT_SECRET_KEY": SECRET_KEY,
        "AGENTCONNECT_BASE_URL": PUBLIC_URL,
        "AGENTCONNECT_LOG_LEVEL": "WARNING",
    }
    if profile_to is None:
        command = [sys.executable, "-m", "uvicorn", "agentconnect.app:create_app", "--factory"]
        command += _uvicorn_flags(port, workers)
    else:
        code = f"from bench.callbacks import serve_profiled; serve_profiled({profile_to!r}, {port})"
        command = [sys.executable, "-c", code]
    return ServerProcess("callbacks-app", command, env, port)


def bare_server(port: int, workers: int) -> ServerProcess:
    command = [sys.executable, "-m", "uvicorn", "bench.callbacks:bare_app"]
    command += _uvicorn_flags(port, workers)
    return ServerProcess(
        "callbacks-bare", command, {_ENV_TOKEN: AUTH_TOKEN, _ENV_PUBLIC_URL: PUBLIC_URL}, port
    )


# --- the bare endpoint (runs in its own uvicorn process) ----------------------------------------


class _Params(dict[str, list[str]]):
    """All values of each parameter, read by RequestValidator through `getall`."""

    def getall(self, name: str) -> list[str]:
        return self[name]


_Message = MutableMapping[str, Any]


async def bare_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[_Message]],
    send: Callable[[_Message], Awaitable[None]],
) -> None:
    """The least a status endpoint must do: read the body, parse the form, check the
    signature over the public URL with the company's token. 204, or 403."""
    if scope["type"] == "lifespan":
        while True:
            event = (await receive())["type"]
            if event == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] == "GET" and scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": _EMPTY})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    params = _Params()
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    signature = b""
    for name, value in scope["headers"]:
        if name == b"x-twilio-signature":
            signature = value
    url = _BARE_PUBLIC_URL + scope["path"]
    if scope["query_string"]:
        url += "?" + scope["query_string"].decode("latin-1")
    ok = (
        scope["method"] == "POST"
        and scope["path"].endswith("/messages/status")
        and bool(signature)
        and _BARE_VALIDATOR.validate(url, params, signature.decode("latin-1"))
    )
    # 204 carries no Content-Length (RFC 9110), as the app's answer; 403 an empty body.
    status, headers = (204, []) if ok else (403, _EMPTY)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


_EMPTY = [(b"content-length", b"0")]
_BARE_VALIDATOR = RequestValidator(os.environ.get(_ENV_TOKEN, ""))
_BARE_PUBLIC_URL = os.environ.get(_ENV_PUBLIC_URL, "")


# --- the load generator -------------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep-alive) of one HTTP/1.1 response; its body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    keep_alive = True
    for line in head.lower().split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            raise BenchmarkFailed(f"unexpected Transfer-Encoding in a response:\n{head!r}")
        elif name == b"connection" and value.strip() == b"close":
            keep_alive = False
    if length:
        await reader.readexactly(length)
    return status, keep_alive


@dataclass
class Load:
    """What one run of requests saw."""

    wall_s: float
    statuses: Counter[int]
    latencies_s: list[float]
    cpu_s: float  # this process: the load generator

    @property
    def count(self) -> int:
        return len(self.latencies_s)

    @property
    def rate(self) -> float:
        return self.count / self.wall_s

    def ms(self, q: float) -> float:
        return percentile(self.latencies_s, q) * 1000 if self.latencies_s else 0.0


async def _raw_client(
    port: int, requests: list[bytes], next_index: Iterator[int], load: Load
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for index in next_index:
            started = time.perf_counter()
            writer.write(requests[index])
            status, keep_alive = await read_response(reader)
            load.latencies_s.append(time.perf_counter() - started)
            load.statuses[status] += 1
            if not keep_alive:
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
    finally:
        writer.close()


async def _post_all_raw(port: int, callbacks: list[Callback], clients: int, load: Load) -> None:
    requests = [callback.request for callback in callbacks]
    next_index = iter(range(len(requests)))  # shared: each client takes the next request
    await asyncio.gather(*(_raw_client(port, requests, next_index, load) for _ in range(clients)))


async def _post_all_aiohttp(port: int, callbacks: list[Callback], clients: int, load: Load) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        next_item = iter(callbacks)

        async def client() -> None:
            for callback in next_item:
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": callback.signature,
                }
                started = time.perf_counter()
                async with session.post(
                    f"http://{HOST}:{port}{status_path_of(callback)}",
                    data=callback.body,
                    headers=headers,
                ) as response:
                    await response.read()
                load.latencies_s.append(time.perf_counter() - started)
                load.statuses[response.status] += 1

        await asyncio.gather(*(client() for _ in range(clients)))


def status_path_of(callback: Callback) -> str:
    return callback.request.split(b" ", 2)[1].decode("ascii")


def post(port: int, callbacks: list[Callback], clients: int, kind: str) -> Load:
    """Post every callback over `clients` connections; wall time first send to last answer."""
    load = Load(0.0, Counter(), [], 0.0)
    poster = _post_all_raw if kind == "raw" else _post_all_aiohttp

    async def timed() -> None:
        cpu = time.process_time()
        started = time.perf_counter()
        await poster(port, callbacks, clients, load)
        load.wall_s = time.perf_counter() - started
        load.cpu_s = time.process_time() - cpu

    _run(timed())
    return load


def _run(coroutine: Awaitable[None]) -> None:
    async def main() -> None:
        await coroutine

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def refused(port: int, callback: Callback) -> int:
    """The status of `callback` with its signature spoiled (one character changed)."""
    spoiled = callback.signature[:-2] + ("A" if callback.signature[-2] != "A" else "B") + "="
    request = callback.request.replace(callback.signature.encode(), spoiled.encode())
    answer: list[int] = []

    async def once() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(request)
        answer.append((await read_response(reader))[0])
        writer.close()

    _run(once())
    return answer[0]


# --- CPU accounting -----------------------------------------------------------------------------


def _cpu_of(pid: int) -> float | None:
    """User + system CPU seconds of a process (from /proc), or None if it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """pid and its descendants (uvicorn --workers forks)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def backend_pids(url: str, database: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [int(row[0]) for row in rows]


@dataclass
class CpuSample:
    seconds: dict[int, float]

    @classmethod
    def of(cls, pids: list[int]) -> CpuSample:
        return cls({pid: cpu for pid in pids if (cpu := _cpu_of(pid)) is not None})

    def since(self, before: CpuSample) -> float | None:
        if not self.seconds:
            return None
        return sum(cpu - before.seconds.get(pid, 0.0) for pid, cpu in self.seconds.items())


# --- checks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    events: int
    activities: Counter[str]
    deliveries_digest: str


def snapshot(url: str, company_id: uuid.UUID) -> Snapshot:
    with psycopg.connect(url) as conn:
        events = conn.execute(
            "SELECT count(*) FROM inbound_events WHERE company_id = %s", (company_id,)
        ).fetchone()
        activities = conn.execute(
            "SELECT activity_type, count(*) FROM campaign_activities WHERE company_id = %s"
            " GROUP BY activity_type",
            (company_id,),
        ).fetchall()
        digest = conn.execute(
            "SELECT md5(string_agg(concat_ws('|', id, status, provider_status, last_error,"
            " delivered_at, failed_at, updated_at), ',' ORDER BY id))"
            " FROM deliveries WHERE company_id = %s",
            (company_id,),
        ).fetchone()
    assert events is not None
    assert digest is not None
    return Snapshot(int(events[0]), Counter({k: int(v) for k, v in activities}), str(digest[0]))


def check_answers(load: Load, side: str, allowed: Callable[[int], bool]) -> None:
    wrong = {status: n for status, n in load.statuses.items() if not allowed(status)}
    if wrong:
        raise BenchmarkFailed(f"{side}: {sum(wrong.values()):,} wrong answers: {wrong}")


def check_database(url: str, company_id: uuid.UUID, posted: list[Callback]) -> Snapshot:
    """Every posted callback stored once and applied: the statuses and the activities."""
    statuses = Counter(callback.status for callback in posted)
    state = snapshot(url, company_id)
    problems = []
    if state.events != len(posted):
        problems.append(f"{state.events:,} inbound events for {len(posted):,} callbacks")
    expected_activities = Counter(
        {"sms_delivered": statuses["delivered"], "sms_failed": statuses["undelivered"]}
    )
    if state.activities != +expected_activities:
        problems.append(
            f"activities {dict(state.activities)}, expected {dict(+expected_activities)}"
        )
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TEMPORARY TABLE expected (sid text PRIMARY KEY, status text, target text)"
        )
        target = {"delivered": "delivered", "sent": "sent", "undelivered": "failed"}
        with conn.cursor().copy("COPY expected (sid, status, target) FROM STDIN") as copy:
            for callback in posted:
                copy.write_row(
                    (message_sid(callback.index), callback.status, target[callback.status])
                )
        row = conn.execute(
            """
            SELECT count(d.id),
                   count(*) FILTER (WHERE d.provider_status IS DISTINCT FROM e.status),
                   count(*) FILTER (WHERE d.status IS DISTINCT FROM e.target),
                   count(*) FILTER (WHERE e.status = 'undelivered'
                                    AND d.last_error IS DISTINCT FROM %s),
                   count(*) FILTER (WHERE e.status = 'delivered' AND d.delivered_at IS NULL)
            FROM expected AS e
            LEFT JOIN deliveries AS d
                   ON d.company_id = %s AND d.provider_message_id = e.sid
            """,
            (f"Twilio error {UNDELIVERED_CODE}", company_id),
        ).fetchone()
    assert row is not None
    found, wrong_provider_status, wrong_status, wrong_error, no_delivered_at = row
    if found != len(posted):
        problems.append(f"{len(posted) - found:,} callbacks match no delivery (bench bug)")
    if wrong_provider_status:
        problems.append(f"{wrong_provider_status:,} deliveries with another provider_status")
    if wrong_status:
        problems.append(f"{wrong_status:,} deliveries with the wrong status")
    if wrong_error:
        problems.append(f"{wrong_error:,} undelivered without 'Twilio error 30003'")
    if no_delivered_at:
        problems.append(f"{no_delivered_at:,} delivered without delivered_at")
    if problems:
        raise BenchmarkFailed("the app lost or misapplied callbacks: " + "; ".join(problems))
    return state


# --- the run ----------------------------------------------------------------------------------


@dataclass
class RealRun:
    load: Load
    replay: Load
    server_cpu_s: float | None
    postgres_cpu_s: float | None
    state: Snapshot


def run_real(
    url: str,
    data: Dataset,
    callbacks: tuple[list[Callback], list[Callback]],
    args: argparse.Namespace,
    profile_to: str | None,
) -> RealRun:
    warmup, timed = callbacks
    database = args.database_name
    step = max(1, len(timed) // args.replay) if args.replay else 1
    replay = timed[::step][: args.replay]
    port = free_port()
    with running(app_server(url, port, args.workers, profile_to)) as server:
        status = refused(port, build_callback(data.company_id, 0, "failed", AUTH_TOKEN))
        if status != 403:
            raise BenchmarkFailed(f"app: a wrongly signed callback was answered {status}")
        say(f"app: {len(warmup):,} warm-up callbacks ...")
        check_answers(post(port, warmup, args.clients, args.client), "app warm-up", _is_2xx)
        pids = _tree(server.process.pid)
        backends = backend_pids(url, database)
        server_before, pg_before = CpuSample.of(pids), CpuSample.of(backends)
        say(f"app: {len(timed):,} callbacks over {args.clients} connections ...")
        load = post(port, timed, args.clients, args.client)
        server_cpu = CpuSample.of(pids).since(server_before)
        pg_cpu = CpuSample.of(backend_pids(url, database)).since(pg_before)
        say(f"  {load.rate:,.0f}/s; checking ...")
        check_answers(load, "app", _is_2xx)
        state = check_database(url, data.company_id, warmup + timed)
        say(f"app: replaying {len(replay):,} of them ...")
        again = post(port, replay, args.clients, args.client)
        check_answers(again, "app replay", _is_2xx)
        after = snapshot(url, data.company_id)
        if after != state:
            raise BenchmarkFailed(f"replayed callbacks changed the database: {after} (was {state})")
    return RealRun(load, again, server_cpu, pg_cpu, state)


def run_bare(
    callbacks: tuple[list[Callback], list[Callback]], args: argparse.Namespace
) -> tuple[Load, float | None]:
    warmup, timed = callbacks
    port = free_port()
    with running(bare_server(port, args.workers)) as server:
        status = refused(port, timed[0])
        if status != 403:
            raise BenchmarkFailed(f"bare: a wrongly signed callback was answered {status}")
        check_answers(post(port, warmup, args.clients, args.client), "bare warm-up", _is_204)
        pids = _tree(server.process.pid)
        before = CpuSample.of(pids)
        say(f"bare: {len(timed):,} callbacks over {args.clients} connections ...")
        load = post(port, timed, args.clients, args.client)
        cpu = CpuSample.of(pids).since(before)
        check_answers(load, "bare", _is_204)
    return load, cpu


def _is_2xx(status: int) -> bool:
    return 200 <= status < 300


def _is_204(status: int) -> bool:
    return status == 204


def _per_callback_ms(cpu_s: float | None, n: int) -> str:
    return "n/a" if cpu_s is None else f"{cpu_s / n * 1000:.2f} ms"


def render(
    args: argparse.Namespace,
    data: Dataset,
    real: RealRun,
    bare: Load,
    bare_cpu_s: float | None,
    environment: dict[str, str],
) -> str:
    n = args.callbacks
    load = real.load
    ratio = load.rate / bare.rate
    width = 62

    def row(name: str, *cells: str) -> str:
        return f"{name:<{width}}" + "".join(f"{cell:>13}" for cell in cells)

    verdict = "met" if load.rate > TARGET_RATE else "MISSED"
    lines = [
        f"callbacks benchmark: {n:,} signed Twilio status callbacks (+{args.warmup:,} warm-up),"
        f" {args.clients} concurrent clients ({args.client} HTTP/1.1 keep-alive),"
        f" {args.workers} uvicorn worker(s) per server"
        + (" -- app under cProfile, rate not comparable" if args.profile else ""),
        f"Python {platform.python_version()}, PostgreSQL {environment['postgres']};"
        f" {os.cpu_count()} CPUs; load average before {environment['load_before']},"
        f" after {environment['load_after']}",
        f"generation: {data.generation_s:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in data.seconds.items())
        + ")",
        "",
        row("", "seconds", "callbacks/s", "p50 ms", "p95 ms", "p99 ms"),
        row("real: POST .../messages/status (app + PostgreSQL)", f"{load.wall_s:.2f}",
            f"{load.rate:,.0f}", f"{load.ms(0.5):.2f}", f"{load.ms(0.95):.2f}",
            f"{load.ms(0.99):.2f}"),
        row("bare: read body, parse form, verify signature", f"{bare.wall_s:.2f}",
            f"{bare.rate:,.0f}", f"{bare.ms(0.5):.2f}", f"{bare.ms(0.95):.2f}",
            f"{bare.ms(0.99):.2f}"),
        row("ratio real / bare (callbacks/s)", f"{ratio:.3f}"),
        row(f"replay: {real.replay.count:,} repeated callbacks (stored nothing)",
            f"{real.replay.wall_s:.2f}", f"{real.replay.rate:,.0f}",
            f"{real.replay.ms(0.5):.2f}", f"{real.replay.ms(0.95):.2f}",
            f"{real.replay.ms(0.99):.2f}"),
        "",
        f"target: above {TARGET_RATE:,.0f} callbacks/s -- {verdict} ({load.rate:,.0f}/s);"
        " nothing lost -- met (checked below)",
        f"checked: {load.count:,} app answers {dict(load.statuses)}, {bare.count:,} bare answers"
        f" {dict(bare.statuses)}; {real.state.events:,} inbound events for"
        f" {args.warmup + n:,} callbacks; activities {dict(real.state.activities)};"
        " every delivery's provider_status and status as posted; wrong signatures refused"
        f" (403) by both; replay of {real.replay.count:,}: answers"
        f" {dict(real.replay.statuses)}, database unchanged",
        "",
        "CPU per callback (timed run): "
        f"app server {_per_callback_ms(real.server_cpu_s, n)},"
        f" its PostgreSQL backends {_per_callback_ms(real.postgres_cpu_s, n)},"
        f" load generator {_per_callback_ms(load.cpu_s, n)};"
        f" bare server {_per_callback_ms(bare_cpu_s, n)},"
        f" load generator {_per_callback_ms(bare.cpu_s, n)}",
    ]  # fmt: skip
    return "\n".join(lines)


_PACKAGES = (
    "agentconnect", "fastapi", "starlette", "uvicorn", "httptools", "sqlalchemy", "psycopg",
    "psycopg_binary", "anyio", "twilio", "cryptography", "pydantic", "asyncio", "concurrent",
    "threading", "json", "logging", "urllib", "uuid", "contextlib", "importlib",
)  # fmt: skip


def _package(filename: str, function: str) -> str:
    if filename == "~":  # a built-in: name it, e.g. "{method 'switch' of 'greenlet...'}"
        return "built-in " + function.split(" of ")[0].strip("{<>}")[:48]
    for package in _PACKAGES:
        if f"/{package}/" in filename or filename.endswith(f"/{package}.py"):
            return package
    return "other"


def render_profile(stats_path: str, top: int) -> str:
    """Own time grouped by package, then the functions with the most own time. Cumulative
    times mean little here: cProfile counts every resumption of a coroutine as a call."""
    out = io.StringIO()
    stats = pstats.Stats(stats_path, stream=out)
    own: dict[str, float] = {}
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _, function), (_, _, tottime, _, _) in raw.items():
        name = _package(filename, function)
        own[name] = own.get(name, 0.0) + tottime
    total = sum(own.values())
    out.write(f"--- own time by package (whole process, {total:.1f} s) ---\n")
    for name, seconds in sorted(own.items(), key=lambda item: -item[1])[:top]:
        out.write(f"{seconds:9.2f} s {seconds / total:6.1%}  {name}\n")
    out.write("--- functions by own time ---\n")
    stats.strip_dirs().sort_stats(pstats.SortKey.TIME).print_stats(top)
    return out.getvalue()


def run(args: argparse.Namespace) -> None:
    deliveries = args.warmup + args.callbacks
    with scratch_database(args.database_url, args.database_name, keep=args.keep_database) as url:
        say(f"generating {deliveries:,} contacts, enrollments and sent SMS deliveries ...")
        data = generate(url, deliveries)
        say(f"signing {deliveries:,} callbacks ...")
        callbacks = (
            build_callbacks(data.company_id, range(args.warmup)),
            build_callbacks(data.company_id, range(args.warmup, deliveries)),
        )
        environment = {"postgres": server_version(url), "load_before": load_average()}
        with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp:
            profile_to = str(Path(tmp) / "app.prof") if args.profile else None
            real = run_real(url, data, callbacks, args, profile_to)
            bare, bare_cpu = run_bare(callbacks, args)
            environment["load_after"] = load_average()
            print(render(args, data, real, bare, bare_cpu, environment))
            if profile_to is not None:
                print("\ncProfile of the app server process (its whole life):")
                print(render_profile(profile_to, args.profile_top))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--callbacks", type=int, default=20_000, help="timed callbacks")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--warmup", type=int, default=400, help="untimed callbacks first")
    parser.add_argument("--replay", type=int, default=1_000, help="repeats posted afterwards")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw", help="client")
    parser.add_argument("--profile", action="store_true", help="run the app under cProfile")
    parser.add_argument("--profile-top", type=int, default=35, help="functions to list")
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="server to use")
    parser.add_argument("--database-name", default=SCRATCH_DATABASE, help="scratch database")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.callbacks <= 5_000_000 or not 1 <= args.clients <= 512:
        parser.error("--callbacks must be 1 to 5,000,000 and --clients 1 to 512")
    if not 1 <= args.warmup <= 100_000 or not 0 <= args.replay <= args.callbacks:
        parser.error("--warmup must be 1 to 100,000 and --replay 0 to --callbacks")
    if not 1 <= args.workers <= 16:
        parser.error("--workers must be 1 to 16")
    return args


def main(argv: list[str] | None = None) -> int:
    return main_with(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
