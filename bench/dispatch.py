"""Benchmark: 100,000 due e-mails sent end to end by the delivery engine, against a bare
aiosmtplib blast of the same messages to the same SMTP sink.

    python -m bench.dispatch [--enrollments 100000] [--concurrency 20] [--batch-size 500]
                             [--profile] [--sink fast|aiosmtpd]

In a scratch database it generates, with SQL only, one company with N contacts (default
100,000), one active e-mail campaign with one step (an HTML body with a few tokens and one
link, so rendering, link tracking, the footer and the List-Unsubscribe headers all run), N
active enrollments due a minute ago at step 1, and the company's e-mail channel set to SMTP
pointing at a sink on loopback (`bench.smtp_sink`, in a process of its own).

(real) `Engine.schedule(now)` then `Engine.send(now)`, as the worker's loop runs them one after
       the other: claim, decide and render every enrollment into a queued delivery, then lease,
       send (two-phase, over `--concurrency` SMTP connections) and record every delivery.
       Checked afterwards: N deliveries `sent`, N `email_sent` activities, and the sink got N
       messages whose Message-IDs are exactly the deliveries' (no duplicate, none missing).
(bare) The same N messages, read back from the deliveries and built into MIME beforehand with
       the same `build_email`, blasted with `aiosmtplib.SMTP.sendmail` over the same number of
       connections to the same sink (counts reset), and checked the same way.

It prints messages per second of both, their ratio, the phase split and the SQL's share, and
exits non-zero when a result is wrong, never because a target is missed. `--profile` runs the
real path under cProfile (slower) and prints where its Python time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import os
import platform
import pstats
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any, TypeVar

import aiosmtplib
import psycopg
import uvloop
from psycopg import sql
from sqlalchemy import event, text

from agentconnect.channels.base import OutboundMessage
from agentconnect.channels.email_message import EmailSender, build_email
from agentconnect.db import Database
from agentconnect.delivery import repository as delivery_repository
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import BatchOutcome, EngineSettings
from agentconnect.delivery.sender import SenderSettings, SendOutcome
from agentconnect.models import MessageType
from bench.common import (
    BenchmarkFailed,
    main_with,
    say,
    scratch_database,
    server_version,
)

T = TypeVar("T")

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRATCH_DATABASE = "ac_dispatch_bench"
SINK_HOST = "127.0.0.1"

BASE_URL = "https://crm.bench.example"
SECRET_KEY = "bench-dispatch-secret-key-not-for-production-0123456789"  # noqa: S105
FROM_EMAIL = "news@outfitters.bench.example"
FROM_NAME = "Bench Outfitters"

SUBJECT = "{{first_name}}, the {{company.name}} spring catalogue is here"
BODY = """<p>Hi {{first_name|there}},</p>
<p>Thanks for trusting {{company.name}} at {{company_name|your company}}. As
{{job_title|a valued customer}} you get early access to the spring range, with free shipping
on every order this month.</p>
<p><a href="https://shop.outfitters.example/spring?utm_source=email&amp;utm_campaign=spring">
See the catalogue</a></p>
<p>Best regards,<br>The {{company.name}} team</p>"""

TARGET_RATE = 2_000.0
TARGET_RATIO = 0.5


# --- the sink -----------------------------------------------------------------------------------


class Sink:
    """`bench.smtp_sink` in a child process, driven over its stdin/stdout."""

    def __init__(self, kind: str) -> None:
        command = [sys.executable, "-m", "bench.smtp_sink", "--host", SINK_HOST, "--port", "0"]
        if kind == "aiosmtpd":
            command.append("--aiosmtpd")
        self.kind = kind
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.port = int(self._answer()["port"])

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise BenchmarkFailed("the SMTP sink stopped")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def stats(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.ask("stats").items()}

    def reset(self) -> None:
        self.ask("reset")

    def message_ids(self) -> set[str]:
        with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
            path = Path(tmp) / "ids"
            self.ask(f"dump {path}")
            return set(path.read_text().split())

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- data generation (SQL only) -------------------------------------------------------------


@dataclass
class Dataset:
    company_id: uuid.UUID
    campaign_id: uuid.UUID
    enrollments: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def generation_s(self) -> float:
        return sum(self.seconds.values())


_CONTACTS = """
INSERT INTO contacts (id, company_id, first_name, last_name, email, company_name, job_title,
                      lifecycle_stage, lead_source, opt_in_status, do_not_contact, tags,
                      custom_fields, lead_score, created_at, updated_at)
SELECT gen_random_uuid(), %(company)s,
       (ARRAY['James', 'Mary', 'Wei', 'Priya', 'Ahmed', 'Fatima', 'José', 'María', 'Zoë',
              'Björn', 'Kenji', 'Aisha', 'Mateo', 'Olivia', 'Noah', 'Emma'])[1 + n %% 16],
       (ARRAY['Smith', 'García', 'Müller', 'Nguyen', 'Kim', 'Patel', 'Chen', 'Rossi',
              'Dubois', 'Tanaka', 'Okafor', 'Silva', 'Novak', 'Haddad', 'Ivanova',
              'O''Brien'])[1 + (n / 16) %% 16],
       'contact' || n || '@example.com',
       CASE WHEN n %% 4 <> 0 THEN 'Customer ' || (n %% 9973) END,
       (ARRAY['CEO', 'CTO', 'VP Sales', 'Buyer', 'Founder', NULL])[1 + n %% 6],
       'customer', 'website', 'opted_in', false, '[]', '{}', 50,
       now() - interval '1 day', now() - interval '1 day'
FROM generate_series(1, %(n)s) AS n
"""

_ENROLLMENTS = """
INSERT INTO campaign_contacts (id, company_id, campaign_id, contact_id, status, current_step,
                               next_step_at, variant_assignments, enrolled_at, updated_at)
SELECT gen_random_uuid(), %(company)s, %(campaign)s, c.id, 'active', 1,
       now() - interval '1 minute', '{}', now() - interval '1 hour', now() - interval '1 hour'
FROM contacts AS c WHERE c.company_id = %(company)s
"""


def generate(url: str, enrollments: int, sink_port: int) -> Dataset:
    seconds: dict[str, float] = {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        say(f"  {name} ...")
        started = time.perf_counter()
        yield
        seconds[name] = time.perf_counter() - started

    company_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    args = {"company": company_id, "campaign": campaign_id, "n": enrollments}
    channel = {
        "provider": "smtp",
        "host": SINK_HOST,
        "port": sink_port,
        "security": "none",
        "username": None,
        "from_email": FROM_EMAIL,
        "from_name": FROM_NAME,
        "reply_to": None,
    }
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO companies (id, name, postal_address, default_timezone, settings)"
            " VALUES (%s, %s, '1 Bench Street, Springfield, IL 62701', 'UTC', '{}')",
            (company_id, FROM_NAME),
        )
        # What channels.settings.put_email_settings stores: the fields, no password.
        conn.execute(
            "INSERT INTO channel_settings (company_id, channel, settings) VALUES (%s, 'email', %s)",
            (company_id, json.dumps(channel)),
        )
        conn.execute(
            "INSERT INTO campaigns (id, company_id, name, campaign_type, status, goal_type,"
            " target_criteria, send_time_optimization, cost, currency, started_at)"
            " VALUES (%(campaign)s, %(company)s, 'Spring catalogue', 'email', 'active', 'none',"
            " '{}', false, 0, 'USD', now())",
            args,
        )
        conn.execute(
            "INSERT INTO campaign_messages (id, company_id, campaign_id, sequence_order,"
            " message_type, delay_value, delay_unit, subject, body, variants)"
            " VALUES (gen_random_uuid(), %(company)s, %(campaign)s, 1, 'email', 0, 'minutes',"
            " %(subject)s, %(body)s, '[]')",
            {**args, "subject": SUBJECT, "body": BODY},
        )
        with step(f"{enrollments:,} contacts"):
            conn.execute(_CONTACTS, args)
        with step(f"{enrollments:,} enrollments"):
            conn.execute(_ENROLLMENTS, args)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn, step("VACUUM ANALYZE, CHECKPOINT"):
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    return Dataset(company_id, campaign_id, enrollments, seconds)


def server_settings(url: str) -> str:
    names = ("shared_buffers", "synchronous_commit", "fsync", "wal_level", "max_connections")
    with psycopg.connect(url) as conn:
        values = [
            conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(n))).fetchone() for n in names
        ]
    return ", ".join(f"{n}={v[0] if v else '?'}" for n, v in zip(names, values, strict=True))


# --- statement timing ---------------------------------------------------------------------------


def label(statement: str) -> str:
    flat = " ".join(statement.split())
    for needle, name in (
        ("WITH leased AS ( UPDATE deliveries", "send: lease queued deliveries"),
        ("FOR UPDATE OF cc SKIP LOCKED", "schedule: claim due enrollments"),
        ("FROM campaign_messages", "schedule: steps"),
        ("FROM contacts WHERE id = ANY", "schedule: contacts"),
        ("FROM companies WHERE", "schedule: companies"),
        ("FROM suppressions", "schedule: suppressions"),
        ("GROUP BY contact_id, activity_type", "schedule: goal events"),
        ("CROSS JOIN LATERAL", "schedule: recent sends (frequency cap)"),
        ("INSERT INTO deliveries", "schedule: insert deliveries"),
        ("UPDATE campaign_contacts", "schedule: update enrollments"),
        ("FROM channel_settings", "send: channel settings (one per SMTP lane)"),
        ("'sending' THEN 'sent'", "send: record sent (delivery, contact, activity)"),
        ("INSERT INTO campaign_activities", "insert activities"),
        ("select pg_catalog.version()", "connection set-up"),
    ):
        if needle in flat:
            return name
    return re.sub(r"\s+", " ", flat)[:60]


@dataclass
class Statements:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


@contextmanager
def clocked(database: Database, statements: Statements) -> Iterator[None]:
    engine = database.engine.sync_engine

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        name = label(statement)
        statements.seconds[name] += time.perf_counter() - conn.info.pop("bench_started")
        statements.calls[name] += 1

    # The group commits' `sent` records run on bare psycopg connections, out of SQLAlchemy's
    # sight: timed around the call instead (the whole autocommit transaction).
    record_sent_alone = delivery_repository.record_sent_alone

    async def timed_record_sent_alone(*args: Any) -> set[uuid.UUID]:
        started = time.perf_counter()
        try:
            return await record_sent_alone(*args)
        finally:
            name = "send: record sent, autocommit (delivery, contact, activity, commit)"
            statements.seconds[name] += time.perf_counter() - started
            statements.calls[name] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    delivery_repository.record_sent_alone = timed_record_sent_alone
    try:
        yield
    finally:
        delivery_repository.record_sent_alone = record_sent_alone
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


# --- CPU of the other processes ----------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@dataclass
class OtherCpu:
    """CPU seconds used meanwhile by every PostgreSQL process of the server (its backends, the
    WAL writer, the checkpointer; other sessions' too, if any were busy) and by the sink."""

    postgres_s: float = 0.0
    sink_s: float = 0.0

    @classmethod
    @contextmanager
    def measured(cls, sink_pid: int) -> Iterator[OtherCpu]:
        pids = _postgres_pids()
        before = {pid: _cpu_seconds(pid) for pid in pids}
        sink_before = _cpu_seconds(sink_pid)
        used = cls()
        try:
            yield used
        finally:
            after = {pid: _cpu_seconds(pid) for pid in _postgres_pids()}
            used.postgres_s = sum(after[pid] - before.get(pid, 0.0) for pid in after)
            used.sink_s = _cpu_seconds(sink_pid) - sink_before


# --- the real path ------------------------------------------------------------------------------


@dataclass
class RealRun:
    """The real path's figures. Overlapped (the default, `Engine.drain`): `schedule_s` is when
    the scheduler queued its last batch and `send_s` when the last message was recorded, both
    from the start, with one set of SQL and CPU figures in the send slot. Sequential
    (`--sequential`: `Engine.schedule`, then `Engine.send`): the two phases one after the
    other, each with its own figures."""

    overlapped: bool
    schedule_s: float
    send_s: float
    scheduled: BatchOutcome
    sent: SendOutcome
    schedule_sql: Statements
    send_sql: Statements
    schedule_cpu_s: float = 0.0  # CPU time of this process (the sink and PostgreSQL apart)
    send_cpu_s: float = 0.0
    others: OtherCpu = field(default_factory=OtherCpu)

    @property
    def total_s(self) -> float:
        return self.send_s if self.overlapped else self.schedule_s + self.send_s


def _engine(database: Database, args: argparse.Namespace) -> Engine:
    return Engine(
        database,
        EngineSettings(base_url=BASE_URL, secret_key=SECRET_KEY, batch_size=args.batch_size),
        SenderSettings(
            worker_id="bench-dispatch", batch_size=args.batch_size, concurrency=args.concurrency
        ),
    )


async def _sequential(engine: Engine, database: Database, now: datetime) -> RealRun:
    schedule_sql, send_sql = Statements(), Statements()
    with clocked(database, schedule_sql):
        started, cpu = time.perf_counter(), time.process_time()
        scheduled = await engine.schedule(now)
        schedule_s = time.perf_counter() - started
        schedule_cpu_s = time.process_time() - cpu
    say(f"  scheduled {scheduled.queued:,} in {schedule_s:.1f} s; sending ...")
    with clocked(database, send_sql):
        started, cpu = time.perf_counter(), time.process_time()
        sent = await engine.send(now)
        send_s = time.perf_counter() - started
        send_cpu_s = time.process_time() - cpu
    return RealRun(
        False, schedule_s, send_s, scheduled, sent, schedule_sql, send_sql,
        schedule_cpu_s, send_cpu_s,
    )  # fmt: skip


async def _overlapped(engine: Engine, database: Database, now: datetime) -> RealRun:
    statements = Statements()
    scheduler_done: list[float] = []
    run_batch = engine.scheduler.run_batch

    async def noting_the_last_batch(session: Any, at: datetime) -> BatchOutcome:
        batch = await run_batch(session, at)
        if batch.claimed < engine.scheduler.settings.batch_size:
            scheduler_done.append(time.perf_counter() - started)
        return batch

    engine.scheduler.run_batch = noting_the_last_batch  # type: ignore[method-assign]
    with clocked(database, statements):
        started, cpu = time.perf_counter(), time.process_time()
        scheduled, sent = await engine.drain(now)
        total_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu
    return RealRun(
        True, scheduler_done[0], total_s, scheduled, sent, Statements(), statements, 0.0, cpu_s
    )


async def run_real(url: str, args: argparse.Namespace, sink_pid: int) -> RealRun:
    database = Database.from_url(url)
    try:
        async with database.unit_of_work() as session:  # open the pools before timing
            await session.execute(text("SELECT 1"))
        async with (await database.bare_pool()).connection() as connection:
            await connection.execute("SELECT 1")
        engine = _engine(database, args)
        now = datetime.now(UTC)
        try:
            with OtherCpu.measured(sink_pid) as others:
                if args.sequential:
                    real = await _sequential(engine, database, now)
                else:
                    real = await _overlapped(engine, database, now)
        finally:
            await engine.sender.close()
        real.others = others
        return real
    finally:
        await database.dispose()


def check_real(url: str, data: Dataset, run: RealRun, sink: Sink) -> None:
    n = data.enrollments
    if run.scheduled.queued != n or run.sent.sent != n or run.sent.retried or run.sent.failed:
        raise BenchmarkFailed(f"the engine answered {run.scheduled} and {run.sent}; expected {n}")
    with psycopg.connect(url) as conn:
        by_status = dict(
            conn.execute(
                "SELECT status, count(*) FROM deliveries WHERE company_id = %s GROUP BY status",
                (data.company_id,),
            ).fetchall()
        )
        activities = dict(
            conn.execute(
                "SELECT activity_type, count(*) FROM campaign_activities"
                " WHERE company_id = %s GROUP BY activity_type",
                (data.company_id,),
            ).fetchall()
        )
        enrollments = dict(
            conn.execute(
                "SELECT status, count(*) FROM campaign_contacts WHERE company_id = %s"
                " GROUP BY status",
                (data.company_id,),
            ).fetchall()
        )
    if by_status != {"sent": n}:
        raise BenchmarkFailed(f"deliveries by status {by_status}, expected {{'sent': {n}}}")
    if activities.get("email_sent") != n or len(activities) != 1:
        raise BenchmarkFailed(f"activities {activities}, expected {n} email_sent only")
    if enrollments != {"completed": n}:
        raise BenchmarkFailed(f"enrollments by status {enrollments}, expected all completed")
    check_sink(sink, expected_ids(url, data), "real")


def expected_ids(url: str, data: Dataset) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT message_id_header FROM deliveries WHERE company_id = %s", (data.company_id,)
        ).fetchall()
    return {str(row[0]) for row in rows}


def check_sink(sink: Sink, expected: set[str], side: str) -> dict[str, int]:
    stats = sink.stats()
    if stats["messages"] != len(expected) or stats["without_id"]:
        raise BenchmarkFailed(f"{side}: the sink got {stats}, expected {len(expected)} messages")
    if stats["distinct"] != stats["messages"]:
        duplicates = stats["messages"] - stats["distinct"]
        raise BenchmarkFailed(f"{side}: {duplicates} messages arrived more than once")
    received = sink.message_ids()
    if received != expected:
        raise BenchmarkFailed(
            f"{side}: {len(expected - received)} Message-IDs never arrived,"
            f" {len(received - expected)} arrived that no delivery has"
        )
    return stats


# --- the bare path ------------------------------------------------------------------------------


def prebuild(url: str, data: Dataset) -> list[tuple[str, bytes]]:
    """Every delivery's (recipient, MIME bytes), built as the SMTP provider builds it."""
    sender = EmailSender(from_email=FROM_EMAIL, from_name=FROM_NAME)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT d.id, d.campaign_id, d.to_address, c.subject, c.body_text, c.body_html,"
            " c.details, d.message_id_header"
            " FROM deliveries AS d JOIN delivery_contents AS c ON c.delivery_id = d.id"
            " WHERE d.company_id = %s ORDER BY d.sent_at, d.id",
            (data.company_id,),
        ).fetchall()
    built = []
    for delivery_id, campaign_id, to, subject, body, html, details, message_id in rows:
        message = OutboundMessage(
            company_id=data.company_id,
            channel=MessageType.EMAIL,
            to=to,
            body=body,
            subject=subject,
            html_body=html,
            metadata={"delivery_id": str(delivery_id), "campaign_id": str(campaign_id)},
            message_id_header=message_id,
            headers=(details or {}).get("headers", {}),
        )
        mime = build_email(message, sender, message_id=message_id)
        built.append((to, mime.as_bytes(policy=SMTP_POLICY)))
    return built


async def blast(
    port: int, messages: list[tuple[str, bytes]], concurrency: int
) -> tuple[float, float]:
    """Send them all over `concurrency` connections, each taking the next one when free."""
    queue = iter(messages)

    async def lane() -> None:
        smtp = aiosmtplib.SMTP(hostname=SINK_HOST, port=port, start_tls=False, timeout=30)
        await smtp.connect()
        try:
            for to, payload in queue:
                await smtp.sendmail(FROM_EMAIL, [to], payload)
        finally:
            await smtp.quit()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(lane() for _ in range(min(concurrency, len(messages)))))
    return time.perf_counter() - started, time.process_time() - cpu


# --- reporting ----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


@dataclass(frozen=True)
class Cpu:
    """CPU seconds of the benchmark's own process in each part (the sink and PostgreSQL run
    elsewhere): what the wall-clock figures cost on a machine that is not idle."""

    schedule_s: float
    send_s: float
    bare_s: float
    build_s: float  # building the bare path's MIME beforehand (untimed)


def render(
    data: Dataset,
    args: argparse.Namespace,
    real: RealRun,
    bare_s: float,
    cpu: Cpu,
    environment: dict[str, str],
    sink_stats: dict[str, int],
) -> str:
    n = data.enrollments
    real_rate, bare_rate = n / real.total_s, n / bare_s
    all_cpu_s = real.others.postgres_s + real.others.sink_s + cpu.schedule_s + cpu.send_s
    busy = all_cpu_s / real.total_s
    ratio = real_rate / bare_rate
    width = 58

    def row(name: str, a: str, b: str = "", target: str = "", verdict: str = "") -> str:
        return f"{name:<{width}}{a:>10}{b:>12}  {target:<12}{verdict}"

    lines = [
        f"dispatch benchmark: {n:,} due e-mail enrollments, one step, SMTP to a loopback sink"
        f" ({environment['sink']}); concurrency {args.concurrency}, batch size {args.batch_size},"
        f" event loop {'uvloop' if args.uvloop else 'asyncio'}",
        f"Python {platform.python_version()}, aiosmtplib {aiosmtplib.__version__},"
        f" PostgreSQL {environment['postgres']} ({environment['settings']})",
        f"{os.cpu_count()} CPUs; load average before {environment['load_before']},"
        f" after {environment['load_after']}",
        f"generation: {data.generation_s:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in data.seconds.items())
        + f"); messages average {sink_stats['bytes'] / max(sink_stats['messages'], 1):,.0f}"
        " bytes",
        "",
        row("", "seconds", "messages/s", "target", "result"),
        row(f"real: {'Engine.drain' if real.overlapped else 'Engine.schedule + Engine.send'}",
            f"{real.total_s:.2f}", f"{real_rate:,.0f}", f"> {TARGET_RATE:,.0f}/s",
            _verdict(real_rate > TARGET_RATE)),
        row("bare: aiosmtplib sendmail of the prebuilt messages", f"{bare_s:.2f}",
            f"{bare_rate:,.0f}"),
        row("ratio real / bare (messages/s)", f"{ratio:.2f}", "", f"> {TARGET_RATIO:g}",
            _verdict(ratio > TARGET_RATIO)),
        *(
            [
                row("  (info) scheduler done (all queued) after", f"{real.schedule_s:.2f}",
                    f"{n / real.schedule_s:,.0f}"),
                row("  (info) sender done (all recorded) after", f"{real.send_s:.2f}"),
            ]
            if real.overlapped
            else [
                row("  (info) schedule: claim, decide, render, queue", f"{real.schedule_s:.2f}",
                    f"{n / real.schedule_s:,.0f}"),
                row("  (info) send: lease, SMTP two-phase, record", f"{real.send_s:.2f}",
                    f"{n / real.send_s:,.0f}"),
                row("  (info) ratio send alone / bare",
                    f"{(n / real.send_s) / bare_rate:.2f}"),
            ]
        ),
        "",
        "CPU time of the benchmark process (not the sink's, not PostgreSQL's), per message:",
        (
            f"  real (schedule and send together) {cpu.send_s / n * 1000:.2f} ms"
            if real.overlapped
            else f"  real schedule {cpu.schedule_s / n * 1000:.2f} ms, real send"
            f" {cpu.send_s / n * 1000:.2f} ms"
        )
        + f"; bare blast {cpu.bare_s / n * 1000:.2f} ms"
        f" (+ {cpu.build_s / n * 1000:.2f} ms building the MIME beforehand, untimed)",
        f"  meanwhile, real path: PostgreSQL {real.others.postgres_s / n * 1000:.2f} ms,"
        f" the sink {real.others.sink_s / n * 1000:.2f} ms; all together {busy:.2f} of the"
        f" {os.cpu_count()} CPUs busy",
        "",
        "real path, SQL statements (time from execute to result, per phase; while one waits"
        " the event loop runs other work, so they overlap):",
    ]  # fmt: skip
    phases = [("schedule", real.schedule_sql, real.schedule_s), ("send", real.send_sql,
              real.send_s)]  # fmt: skip
    for phase, statements, total in phases[1:] if real.overlapped else phases:
        if real.overlapped:
            phase = "schedule and send"
        lines.append(f"  {phase}: {total:.2f} s, of which SQL {statements.total_s:.2f} s"
                     f" ({statements.total_s / total:.0%})")  # fmt: skip
        for name, seconds in sorted(statements.seconds.items(), key=lambda item: -item[1]):
            calls = statements.calls[name]
            lines.append(f"    {seconds:8.2f} s {seconds / total:5.0%} x{calls:<6} {name}")
        if real.overlapped:
            continue  # statements of both loops overlap each other: no remainder to speak of
        rest = total - statements.total_s
        lines.append(
            f"    {rest:8.2f} s {rest / total:5.0%}         (rest: Python, SMTP, BEGIN/COMMIT)"
        )
    return "\n".join(lines)


def render_profile(profiler: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write("--- by own time ---\n")
    stats.sort_stats(pstats.SortKey.TIME).print_stats(top)
    out.write("--- by cumulative time ---\n")
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(top)
    return out.getvalue()


# --- the run ----------------------------------------------------------------------------------


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Both paths on the same event loop, so the ratio compares like with like.
    run_loop: Callable[[Coroutine[Any, Any, T]], T] = uvloop.run if args.uvloop else asyncio.run
    say(f"SMTP sink ({args.sink}) ...")
    sink = Sink(args.sink)
    try:
        with scratch_database(
            args.database_url, args.database_name, keep=args.keep_database
        ) as url:
            say(f"generating {args.enrollments:,} contacts and enrollments ...")
            data = generate(url, args.enrollments, sink.port)
            environment = {
                "sink": f"{sink.kind}, pid {sink.process.pid}",
                "postgres": server_version(url),
                "settings": server_settings(url),
                "load_before": _load(),
            }
            real_path = "Engine.schedule + Engine.send" if args.sequential else "Engine.drain"
            say(f"real: {real_path} ...")
            profiler = cProfile.Profile() if args.profile else None
            sink_pid = sink.process.pid
            if profiler is None:
                real = run_loop(run_real(url, args, sink_pid))
            else:
                real = profiler.runcall(run_loop, run_real(url, args, sink_pid))
            say(f"  sent {real.sent.sent:,} after {real.total_s:.1f} s; checking ...")
            check_real(url, data, real, sink)
            say("bare: building the same messages ...")
            started = time.process_time()
            messages = prebuild(url, data)
            build_cpu_s = time.process_time() - started
            sink.reset()
            say(f"bare: blasting {len(messages):,} messages ...")
            bare_s, bare_cpu_s = run_loop(blast(sink.port, messages, args.concurrency))
            sink_stats = check_sink(sink, expected_ids(url, data), "bare")
            environment["load_after"] = _load()
            cpu = Cpu(real.schedule_cpu_s, real.send_cpu_s, bare_cpu_s, build_cpu_s)
            print(render(data, args, real, bare_s, cpu, environment, sink_stats))
            if profiler is not None:
                print("\ncProfile of the real path (timings above are slowed by the profiler):")
                print(render_profile(profiler, args.profile_top))
    finally:
        sink.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--enrollments", type=int, default=100_000, help="due e-mails to send")
    parser.add_argument("--concurrency", type=int, default=20, help="SMTP connections")
    parser.add_argument("--batch-size", type=int, default=500, help="engine batch size")
    parser.add_argument("--sink", choices=("fast", "aiosmtpd"), default="fast", help="SMTP sink")
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="schedule everything, then send (the default overlaps them, as the worker does)",
    )
    parser.add_argument(
        "--uvloop", action="store_true", help="run both paths on uvloop instead of asyncio's loop"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the real path")
    parser.add_argument("--profile-top", type=int, default=30, help="functions to list")
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="server to use")
    parser.add_argument("--database-name", default=SCRATCH_DATABASE, help="scratch database")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.enrollments <= 10_000_000:
        parser.error("--enrollments must be between 1 and 10,000,000")
    if not 1 <= args.concurrency <= 500 or not 1 <= args.batch_size <= 10_000:
        parser.error("--concurrency must be 1 to 500 and --batch-size 1 to 10,000")
    return args


def main(argv: list[str] | None = None) -> int:
    return main_with(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
