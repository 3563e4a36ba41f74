"""Benchmark: enrolling half a million contacts from criteria, the real service against bare SQL.

    python -m bench.enroll [--contacts 1000000] [--server both|machine|private] [--explain]

By default it runs twice: on the given server (the machine's, stock settings) and on a private
PostgreSQL it starts itself (initdb into a temporary directory, Unix socket only) with the
settings a production server of a million-contact CRM would have (bench.common
PRIVATE_SERVER_SETTINGS: shared_buffers 4GB, ...), and reports both.

In a scratch database on the given server it generates, with SQL only, one company holding N
contacts (default 1,000,000), about half of them tagged "vip", a few percent do-not-contact,
opted out or without an e-mail address. Then, on fresh e-mail campaigns with one step, it times
(a) `campaigns.service.enroll_from_criteria(..., TargetCriteria(tags_any=["vip"]))` in one unit
    of work, commit included, against the bare minimum doing the same work through psycopg: one
    `INSERT INTO campaign_contacts ... SELECT ... FROM contacts WHERE <criteria and exclusions>
    ON CONFLICT DO NOTHING RETURNING contact_id` feeding the `enrolled` activities
    `INSERT ... SELECT` (and, for information, the enrollments alone, without activities);
(b) `campaigns.service.preview(...)` of the same criteria (the count and a sample of 10) against
    the bare `SELECT count(*)` with the same WHERE.
It prints the figures against the targets of the issue and exits non-zero when something is off
(a result different from the bare SQL's), never because a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event, text

from agentconnect.auth.principal import Principal
from agentconnect.campaigns import service
from agentconnect.campaigns.schemas import (
    CampaignCreate,
    PreviewRequest,
    StepCreate,
    TargetCriteria,
)
from agentconnect.db import Database
from agentconnect.models import CampaignType, Role
from bench.common import (
    BenchmarkFailed,
    load_average,
    main_with,
    percentile,
    private_server,
    say,
    scratch_database,
    server_version,
)

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRATCH_DATABASE = "agentconnect_bench_enroll"

TAG = "vip"
CRITERIA = TargetCriteria(tags_any=[TAG])
VIP_SHARE = 0.5
DO_NOT_CONTACT_SHARE = 0.03
OPTED_OUT_SHARE = 0.03
NO_EMAIL_EVERY = 50  # every 50th contact has no e-mail address (2 %)
PHONE_EVERY = 3  # every 3rd contact has a phone number
SAMPLE_SIZE = 10

TARGET_RATIO = 1.5
TARGET_RATE = 100_000.0
TARGET_PREVIEW_MS = 300.0


class _Rollback(Exception):
    """Raised inside a unit of work to roll it back (statements captured for EXPLAIN)."""


# --- the scratch database -------------------------------------------------------------------


def server_settings(url: str) -> str:
    names = ("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit")
    with psycopg.connect(url) as conn:
        values = [
            conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(n))).fetchone() for n in names
        ]
    return ", ".join(f"{n}={v[0] if v else '?'}" for n, v in zip(names, values, strict=True))


# --- data generation (SQL only) ---------------------------------------------------------------


@dataclass
class Dataset:
    company_id: uuid.UUID
    user_id: uuid.UUID
    contacts: int
    matched: int  # contacts meeting the criteria
    eligible: int  # ... and contactable by e-mail: what an enrollment enrolls
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def generation_s(self) -> float:
        return sum(self.seconds.values())


# One row per contact, every random choice drawn once in the inner SELECT. created_at grows
# with n (two years back to now), as rows of a live table would be laid out.
_CONTACTS = f"""
INSERT INTO contacts (id, company_id, first_name, last_name, email, phone, company_name,
                      job_title, lifecycle_stage, lead_source, opt_in_status, do_not_contact,
                      tags, custom_fields, lead_score, created_at, updated_at)
SELECT gen_random_uuid(), %(company)s,
       (ARRAY['James', 'Mary', 'Wei', 'Priya', 'Ahmed', 'Fatima', 'José', 'María', 'Zoë',
              'Björn', 'Kenji', 'Aisha', 'Mateo', 'Olivia', 'Noah', 'Emma'])[1 + r.n %% 16],
       (ARRAY['Smith', 'García', 'Müller', 'Nguyen', 'Kim', 'Patel', 'Chen', 'Rossi',
              'Dubois', 'Tanaka', 'Okafor', 'Silva', 'Novak', 'Haddad', 'Ivanova',
              'O''Brien'])[1 + (r.n / 16) %% 16],
       CASE WHEN r.n %% {NO_EMAIL_EVERY} = 0 THEN NULL ELSE 'contact' || r.n || '@example.com' END,
       CASE WHEN r.n %% {PHONE_EVERY} = 0 THEN '+1555' || lpad(r.n::text, 8, '0') END,
       'Customer ' || (r.n %% 9973),
       (ARRAY['CEO', 'CTO', 'VP Sales', 'Buyer', 'Founder', NULL])[1 + r.n %% 6],
       (ARRAY['subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer', 'evangelist',
              'other'])[1 + floor(r.r_stage * 8)::int],
       (ARRAY['website', 'referral', 'webinar', 'import', NULL])[1 + floor(r.r_source * 5)::int],
       CASE WHEN r.r_opt < {OPTED_OUT_SHARE} THEN 'opted_out'
            WHEN r.r_opt < 0.30 THEN 'opted_in'
            WHEN r.r_opt < 0.35 THEN 'pending'
            ELSE 'unknown' END,
       r.r_dnc < {DO_NOT_CONTACT_SHARE},
       (CASE WHEN r.r_vip < {VIP_SHARE} THEN '["{TAG}"]'::jsonb ELSE '[]'::jsonb END)
         || jsonb_build_array('region-' || (r.n %% 5))
         || (CASE WHEN r.r_news < 0.3 THEN '["newsletter"]'::jsonb ELSE '[]'::jsonb END),
       '{{}}', floor(r.r_score * 101)::smallint, r.created_at, r.created_at
FROM (
    SELECT n, random() AS r_stage, random() AS r_source, random() AS r_opt, random() AS r_dnc,
           random() AS r_vip, random() AS r_news, random() AS r_score,
           now() - interval '730 days' * (%(contacts)s - n) / %(contacts)s AS created_at
    FROM generate_series(1, %(contacts)s) AS n
) AS r
"""

# The criteria and the exclusions the service applies (contactable, reachable by e-mail), by
# hand. `%(company)s` and `%(tags)s` as in every bare statement below.
_WHERE = """
c.company_id = %(company)s AND c.tags ?| %(tags)s
AND c.do_not_contact IS false AND c.opt_in_status <> 'opted_out' AND c.email IS NOT NULL
"""


def generate(url: str, contacts: int, seed: float) -> Dataset:
    seconds: dict[str, float] = {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        say(f"  {name} ...")
        started = time.perf_counter()
        yield
        seconds[name] = time.perf_counter() - started
        say(f"  {name}: {seconds[name]:.1f} s")

    company_id, user_id = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(url) as conn:
        conn.execute("SELECT setseed(%s)", (seed,))
        conn.execute(
            "INSERT INTO companies (id, name, default_timezone, settings)"
            " VALUES (%s, 'Bench company', 'UTC', '{}')",
            (company_id,),
        )
        conn.execute(
            "INSERT INTO users (id, company_id, email, name, role, password_hash, is_active)"
            " VALUES (%s, %s, 'admin@bench.test', 'Bench admin', 'admin', 'not-a-hash', true)",
            (user_id, company_id),
        )
        with step(f"{contacts:,} contacts"):
            conn.execute(_CONTACTS, {"company": company_id, "contacts": contacts})
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn, step("VACUUM ANALYZE, CHECKPOINT"):
        for table in ("companies", "users", "contacts"):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        conn.execute("CHECKPOINT")
    with psycopg.connect(url) as conn:
        args = {"company": company_id, "tags": [TAG]}
        matched = conn.execute(
            "SELECT count(*) FROM contacts c WHERE c.company_id = %(company)s"
            " AND c.tags ?| %(tags)s",
            args,
        ).fetchone()
        eligible = conn.execute(f"SELECT count(*) FROM contacts c WHERE {_WHERE}", args).fetchone()
    assert matched is not None
    assert eligible is not None
    return Dataset(
        company_id=company_id,
        user_id=user_id,
        contacts=contacts,
        matched=int(matched[0]),
        eligible=int(eligible[0]),
        seconds=seconds,
    )


# --- the bare SQL -------------------------------------------------------------------------------

# What enroll_from_criteria does, by hand: the enrollments of the matching contacts and one
# `enrolled` activity for each one really inserted, in one statement; the same write design
# (time-ordered ids from the schema's uuid_v7(), candidates in contact order).
BARE_ENROLL = f"""
WITH candidates AS MATERIALIZED (
    SELECT c.id FROM contacts c WHERE {_WHERE}
), inserted AS (
    INSERT INTO campaign_contacts (id, company_id, campaign_id, contact_id, status, current_step,
                                   next_step_at, variant_assignments, enrolled_at, updated_at)
    SELECT uuid_v7(), %(company)s, %(campaign)s, id, 'active', 1, now(), '{{}}', now(), now()
    FROM candidates ORDER BY id
    ON CONFLICT DO NOTHING
    RETURNING contact_id
), activities AS (
    INSERT INTO campaign_activities (id, company_id, campaign_id, contact_id, activity_type,
                                     occurred_at, metadata)
    SELECT uuid_v7(), %(company)s, %(campaign)s, contact_id, 'enrolled', now(), '{{}}'
    FROM inserted
)
SELECT count(*) FROM inserted
"""
# The enrollments alone (for information): what is left without the activity log.
BARE_ENROLL_ONLY = f"""
WITH candidates AS MATERIALIZED (
    SELECT c.id FROM contacts c WHERE {_WHERE}
)
INSERT INTO campaign_contacts (id, company_id, campaign_id, contact_id, status, current_step,
                               next_step_at, variant_assignments, enrolled_at, updated_at)
SELECT uuid_v7(), %(company)s, %(campaign)s, id, 'active', 1, now(), '{{}}', now(), now()
FROM candidates ORDER BY id
ON CONFLICT DO NOTHING
"""
BARE_PREVIEW_COUNT = f"""
SELECT count(*) FROM contacts c
WHERE {_WHERE}
  AND NOT EXISTS (SELECT 1 FROM campaign_contacts cc
                  WHERE cc.company_id = %(company)s AND cc.campaign_id = %(campaign)s
                    AND cc.contact_id = c.id)
"""


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latencies:
    """Seconds per call."""

    samples: list[float]

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples)

    @property
    def p50_ms(self) -> float:
        return self.median_s * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples, 0.95) * 1000


Statements = list[tuple[str, dict[str, Any], float]]  # SQL, parameters, seconds


@dataclass
class Results:
    real: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    bare_only: list[float] = field(default_factory=list)
    # Per real run: every statement it sent, with its duration.
    real_statements: list[Statements] = field(default_factory=list)
    preview: Latencies | None = None
    preview_bare: Latencies | None = None
    preview_statements: Statements = field(default_factory=list)
    preview_enrolled: Latencies | None = None
    preview_enrolled_bare: Latencies | None = None
    explain_enroll: Statements = field(default_factory=list)
    explain_preview: Statements = field(default_factory=list)
    explain_preview_enrolled: Statements = field(default_factory=list)
    load: dict[str, str] = field(default_factory=dict)  # phase: load average at its end


def label(statement: str) -> str:
    """A short name for a statement the service sent."""
    flat = " ".join(statement.split())
    if "INSERT INTO campaign_contacts" in flat:
        return "enroll: WITH candidates, INSERT enrollments + activities"
    if flat.startswith("SELECT count(*)") and "FROM contacts" in flat:
        return "count(*) of contacts matching"
    if "FROM contacts" in flat and "LIMIT" in flat:
        return "sample of contacts (ORDER BY created_at DESC LIMIT)"
    if "FROM campaigns" in flat:
        return "campaign" + (" FOR UPDATE" if "FOR UPDATE" in flat else "")
    if "FROM campaign_messages" in flat:
        return "steps of the campaign"
    return flat[:60]


class Bench:
    def __init__(self, url: str, data: Dataset, database: Database) -> None:
        self.url = url
        self.data = data
        self.database = database
        self.principal = Principal(
            company_id=data.company_id, role=Role.ADMIN, user_id=data.user_id
        )
        self.campaigns = 0

    @property
    def bare_args(self) -> dict[str, Any]:
        return {"company": self.data.company_id, "tags": [TAG]}

    async def settle(self) -> None:
        """VACUUM ANALYZE what the previous run wrote (autovacuum may be off) and flush dirty
        buffers, so no phase pays for the one before."""
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("VACUUM (ANALYZE) campaign_contacts, campaign_activities")
            await conn.execute("CHECKPOINT")

    async def new_campaign(self) -> uuid.UUID:
        """A fresh e-mail campaign with one step, through the real service (not timed)."""
        self.campaigns += 1
        async with self.database.unit_of_work() as session:
            campaign = await service.create_campaign(
                session,
                self.principal,
                CampaignCreate(
                    name=f"Bench campaign {self.campaigns}", campaign_type=CampaignType.EMAIL
                ),
            )
            await service.add_step(
                session,
                self.principal,
                campaign.id,
                StepCreate(
                    subject="Hello {{first_name}}",
                    body="Hi {{first_name}}, a word from us.",
                    delay_value=0,
                ),
            )
            return campaign.id

    @contextmanager
    def capture(self, into: Statements) -> Iterator[None]:
        """Record the SQL the service sends (statement, parameters, seconds) while the block
        runs."""

        def before(
            _conn: Any, _cursor: Any, _stmt: str, _params: Any, context: Any, *_: Any
        ) -> None:
            context._bench_started = time.perf_counter()

        def after(_conn: Any, _cursor: Any, stmt: str, params: Any, context: Any, *_: Any) -> None:
            elapsed = time.perf_counter() - context._bench_started
            into.append((stmt, dict(params or {}), elapsed))

        engine = self.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)

    async def activity_count(self, campaign_id: uuid.UUID) -> int:
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM campaign_activities"
                " WHERE company_id = %s AND campaign_id = %s AND activity_type = 'enrolled'",
                (self.data.company_id, campaign_id),
            )
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def enrollment_count(self, campaign_id: uuid.UUID) -> int:
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM campaign_contacts WHERE company_id = %s AND campaign_id = %s",
                (self.data.company_id, campaign_id),
            )
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    # (a) ------------------------------------------------------------------------------------

    async def enroll_real(self, campaign_id: uuid.UUID, results: Results) -> float:
        statements: Statements = []
        with self.capture(statements):
            started = time.perf_counter()
            async with self.database.unit_of_work() as session:
                outcome = await service.enroll_from_criteria(
                    session, self.principal, campaign_id, CRITERIA
                )
            elapsed = time.perf_counter() - started
        results.real_statements.append(statements)
        expected_skipped = self.data.matched - self.data.eligible
        if outcome.enrolled != self.data.eligible or outcome.skipped != expected_skipped:
            raise BenchmarkFailed(
                f"enroll_from_criteria answered {outcome}; expected enrolled="
                f"{self.data.eligible}, skipped={expected_skipped}"
            )
        return elapsed

    async def enroll_bare(
        self, conn: psycopg.AsyncConnection[Any], campaign_id: uuid.UUID, *, activities: bool
    ) -> float:
        args = {**self.bare_args, "campaign": campaign_id}
        started = time.perf_counter()
        async with conn.transaction():
            if activities:
                cursor = await conn.execute(BARE_ENROLL, args)
                row = await cursor.fetchone()
                enrolled = int(row[0]) if row else -1
            else:
                cursor = await conn.execute(BARE_ENROLL_ONLY, args)
                enrolled = cursor.rowcount
        elapsed = time.perf_counter() - started
        if enrolled != self.data.eligible:
            raise BenchmarkFailed(f"bare enroll inserted {enrolled}, not {self.data.eligible}")
        return elapsed

    async def enrollments(self, repetitions: int, results: Results) -> None:
        sides = ("real", "bare", "bare_only")
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            for rep in range(repetitions):
                # Rotate the order: each table grows with every run, so no side always goes
                # first into the smallest indexes.
                order = sides[rep % 3 :] + sides[: rep % 3]
                timings = []
                for side in order:
                    campaign_id = await self.new_campaign()
                    await self.settle()
                    if side == "real":
                        elapsed = await self.enroll_real(campaign_id, results)
                        results.real.append(elapsed)
                    elif side == "bare":
                        elapsed = await self.enroll_bare(conn, campaign_id, activities=True)
                        results.bare.append(elapsed)
                    else:
                        elapsed = await self.enroll_bare(conn, campaign_id, activities=False)
                        results.bare_only.append(elapsed)
                    timings.append(f"{side} {elapsed:.3f} s")
                    enrolled = await self.enrollment_count(campaign_id)
                    logged = await self.activity_count(campaign_id)
                    expected_logged = 0 if side == "bare_only" else self.data.eligible
                    if enrolled != self.data.eligible or logged != expected_logged:
                        raise BenchmarkFailed(
                            f"{side}: {enrolled} enrollments and {logged} activities stored,"
                            f" expected {self.data.eligible} and {expected_logged}"
                        )
                say(f"  rep {rep + 1}: " + ", ".join(timings))

    # (b) ------------------------------------------------------------------------------------

    async def preview_once(self, campaign_id: uuid.UUID, expect: int) -> float:
        started = time.perf_counter()
        async with self.database.unit_of_work() as session:
            total, sample = await service.preview(
                session,
                self.principal,
                campaign_id,
                PreviewRequest(target_criteria=CRITERIA, sample_size=SAMPLE_SIZE),
            )
        elapsed = time.perf_counter() - started
        if total != expect or len(sample) != min(SAMPLE_SIZE, expect):
            raise BenchmarkFailed(
                f"preview answered total={total} with {len(sample)} samples; expected {expect}"
            )
        return elapsed

    async def preview_bare_once(
        self, conn: psycopg.AsyncConnection[Any], campaign_id: uuid.UUID, expect: int
    ) -> float:
        started = time.perf_counter()
        cursor = await conn.execute(BARE_PREVIEW_COUNT, {**self.bare_args, "campaign": campaign_id})
        row = await cursor.fetchone()
        elapsed = time.perf_counter() - started
        if row is None or row[0] != expect:
            raise BenchmarkFailed(f"bare preview count {row}, expected {expect}")
        return elapsed

    async def previews(
        self, campaign_id: uuid.UUID, expect: int, runs: int, warmup: int
    ) -> tuple[Latencies, Latencies]:
        real: list[float] = []
        bare: list[float] = []
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            for i in range(warmup + runs):
                # Alternate which side goes first so neither always finds the cache warmer.
                pair: list[tuple[list[float], Callable[[], Awaitable[float]]]] = [
                    (real, lambda: self.preview_once(campaign_id, expect)),
                    (bare, lambda: self.preview_bare_once(conn, campaign_id, expect)),
                ]
                for samples, call in pair if i % 2 == 0 else reversed(pair):
                    elapsed = await call()
                    if i >= warmup:
                        samples.append(elapsed)
        return Latencies(real), Latencies(bare)

    async def preview(
        self, enrolled_campaign: uuid.UUID | None, runs: int, warmup: int, results: Results
    ) -> None:
        campaign_id = await self.new_campaign()
        await self.settle()
        results.preview, results.preview_bare = await self.previews(
            campaign_id, self.data.eligible, runs, warmup
        )
        with self.capture(results.preview_statements):
            await self.preview_once(campaign_id, self.data.eligible)
        if enrolled_campaign is not None:
            # A campaign whose matches are all enrolled already: the NOT EXISTS removes them all.
            results.preview_enrolled, results.preview_enrolled_bare = await self.previews(
                enrolled_campaign, 0, runs, warmup
            )

    # EXPLAIN -------------------------------------------------------------------------------

    async def capture_for_explain(
        self, enrolled_campaign: uuid.UUID | None, results: Results
    ) -> None:
        """The statements of one enrollment and of previews, for EXPLAIN ANALYZE. Each
        statement gets a campaign of its own, fresh when explained: the service's enrollment
        is rolled back here, and EXPLAIN rolls back what it writes."""
        for_real, for_bare, for_preview = [await self.new_campaign() for _ in range(3)]
        await self.settle()
        with self.capture(results.explain_enroll):
            try:
                async with self.database.unit_of_work() as session:
                    await service.enroll_from_criteria(session, self.principal, for_real, CRITERIA)
                    raise _Rollback
            except _Rollback:
                pass
        results.explain_enroll.append((BARE_ENROLL, {**self.bare_args, "campaign": for_bare}, 0.0))
        with self.capture(results.explain_preview):
            await self.preview_once(for_preview, self.data.eligible)
        results.explain_preview.append(
            (BARE_PREVIEW_COUNT, {**self.bare_args, "campaign": for_preview}, 0.0)
        )
        if enrolled_campaign is not None:
            with self.capture(results.explain_preview_enrolled):
                await self.preview_once(enrolled_campaign, 0)


async def measure(url: str, data: Dataset, args: argparse.Namespace) -> Results:
    results = Results()
    database = Database.from_url(url)
    try:
        async with database.unit_of_work() as session:  # open the pool before timing
            await session.execute(text("SELECT 1"))
        bench = Bench(url, data, database)
        say(
            f"(a) enroll from criteria: {args.repetitions} repetitions of real, bare, bare w/o act."
        )
        results.load["before"] = load_average()
        await bench.enrollments(args.repetitions, results)
        results.load["after (a)"] = load_average()
        first_real: uuid.UUID | None = None
        say(f"(b) preview: {args.preview_runs} runs after {args.preview_warmup} warm-up ...")
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cursor = await conn.execute(
                "SELECT id FROM campaigns WHERE company_id = %s ORDER BY created_at LIMIT 1",
                (data.company_id,),
            )
            row = await cursor.fetchone()
            first_real = row[0] if row else None
        await bench.preview(first_real, args.preview_runs, args.preview_warmup, results)
        results.load["after (b)"] = load_average()
        if args.explain:
            say("capturing statements for EXPLAIN ...")
            await bench.capture_for_explain(first_real, results)
    finally:
        await database.dispose()
    return results


# --- reporting --------------------------------------------------------------------------------


def explain(url: str, statements: Statements) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement, each in a transaction rolled back."""
    out = []
    with psycopg.connect(url) as conn:
        for statement, parameters, _ in statements:
            if "FROM contacts" not in statement:
                continue
            out.append(f"--- {label(statement)} ---\n{statement.strip()}\n")
            rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).fetchall()
            out.extend(str(row[0]) for row in rows)
            out.append("")
            conn.rollback()
    return "\n".join(out)


def breakdown(statements: Statements, total: float) -> list[tuple[str, float]]:
    """Seconds per statement of one real run, then what is left: Python, COMMIT, the pool."""
    rows = [(label(stmt), seconds) for stmt, _, seconds in statements]
    rows.append(("(rest: COMMIT, Python, pool)", total - sum(s for _, s in rows)))
    return rows


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _got(figures: Latencies | None) -> Latencies:
    assert figures is not None, "a phase did not run"
    return figures


def render(data: Dataset, results: Results, postgres: str, settings: str) -> str:
    real, bare, bare_only = (Latencies(x) for x in (results.real, results.bare, results.bare_only))
    ratio = real.median_s / bare.median_s
    paired = statistics.median(r / b for r, b in zip(results.real, results.bare, strict=True))
    rate = data.eligible / real.median_s
    pv, pb = _got(results.preview), _got(results.preview_bare)
    width = 54

    def row(name: str, a: str, b: str, target: str = "", verdict: str = "") -> str:
        return f"{name:<{width}}{a:>11}{b:>12}  {target:<20}{verdict}"

    def per_s(seconds: float) -> str:
        return f"{data.eligible / seconds:,.0f}"

    def runs(samples: list[float]) -> str:
        return ", ".join(f"{s:.3f}" for s in samples)

    median_run = min(range(len(results.real)), key=lambda i: abs(results.real[i] - real.median_s))
    lines = [
        f"campaign enrollment benchmark: {data.contacts:,} contacts in one company;"
        f" Python {platform.python_version()}, PostgreSQL {postgres} ({settings})",
        f"generation: {data.generation_s:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in data.seconds.items())
        + ")",
        "load average (1, 5, 15 min): "
        + "; ".join(f"{phase} {load}" for phase, load in results.load.items()),
        f"criteria tags_any={CRITERIA.tags_any}: {data.matched:,} contacts match,"
        f" {data.eligible:,} enrollable on an e-mail campaign (not do-not-contact, not opted"
        f" out, with an e-mail); {data.matched - data.eligible:,} skipped",
        "",
        f"(a) enroll from criteria on a fresh e-mail campaign (one step); median of"
        f" {len(real.samples)}, commit included",
        row("", "median s", "enroll/s", "target", "result"),
        row("  service.enroll_from_criteria (real)", f"{real.median_s:.3f}", per_s(real.median_s),
            f"> {TARGET_RATE:,.0f}/s", _verdict(rate > TARGET_RATE)),
        row("  bare INSERT ... SELECT + activities (psycopg)", f"{bare.median_s:.3f}",
            per_s(bare.median_s)),
        row("  ratio real / bare", f"{ratio:.2f}x", "", f"< {TARGET_RATIO:g}x",
            _verdict(ratio < TARGET_RATIO)),
        row("  (info) median of the per-repetition ratios", f"{paired:.2f}x", ""),
        row("  (info) bare INSERT ... SELECT, no activities", f"{bare_only.median_s:.3f}",
            per_s(bare_only.median_s)),
        row("  (info) ratio real / bare without activities",
            f"{real.median_s / bare_only.median_s:.2f}x", ""),
        f"  runs (s): real {runs(results.real)}; bare {runs(results.bare)};"
        f" bare w/o activities {runs(results.bare_only)}",
        f"  real run {median_run + 1} (the median), statement by statement:",
    ]  # fmt: skip
    for name, seconds in breakdown(results.real_statements[median_run], results.real[median_run]):
        lines.append(f"    {name:<60}{seconds:>9.3f} s")
    lines += [
        "",
        f"(b) preview of the same criteria on a fresh campaign (count + sample of"
        f" {SAMPLE_SIZE}); {len(pv.samples)} runs each",
        row("", "p50 ms", "p95 ms", "target", "result"),
        row("  service.preview (real, unit of work)", f"{pv.p50_ms:.1f}", f"{pv.p95_ms:.1f}",
            f"< {TARGET_PREVIEW_MS:g} ms", _verdict(pv.p95_ms < TARGET_PREVIEW_MS)),
        row("  bare SELECT count(*), same WHERE (psycopg)", f"{pb.p50_ms:.1f}",
            f"{pb.p95_ms:.1f}"),
        row("  ratio real / bare", f"{pv.p50_ms / pb.p50_ms:.2f}x",
            f"{pv.p95_ms / pb.p95_ms:.2f}x"),
    ]  # fmt: skip
    if results.preview_enrolled and results.preview_enrolled_bare:
        pe, peb = results.preview_enrolled, results.preview_enrolled_bare
        lines += [
            row("  (info) preview of a campaign with all enrolled", f"{pe.p50_ms:.1f}",
                f"{pe.p95_ms:.1f}"),
            row("  (info) bare count(*) of it", f"{peb.p50_ms:.1f}", f"{peb.p95_ms:.1f}"),
        ]  # fmt: skip
    lines.append("  one preview, statement by statement:")
    for stmt, _, seconds in results.preview_statements:
        lines.append(f"    {label(stmt):<60}{seconds * 1000:>9.1f} ms")
    return "\n".join(lines)


# --- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    if args.server in ("machine", "both"):
        say(f"on the given server {args.database_url} ...")
        run_on(args.database_url, "the given server", args)
    if args.server in ("private", "both"):
        say("starting a private server (initdb, production-like settings) ...")
        with private_server() as server_url:
            run_on(server_url, "private server, production-like settings", args)


def run_on(server_url: str, name: str, args: argparse.Namespace) -> None:
    with scratch_database(server_url, args.database_name, keep=args.keep_database) as url:
        say(f"generating {args.contacts:,} contacts ...")
        data = generate(url, args.contacts, args.seed)
        say(
            f"generated in {data.generation_s:.1f} s: {data.matched:,} match,"
            f" {data.eligible:,} enrollable"
        )
        if data.eligible == 0:
            raise BenchmarkFailed("no contact is enrollable: nothing to measure")
        results = asyncio.run(measure(url, data, args))
        print(f"=== {name} ===")
        print(render(data, results, server_version(url), server_settings(url)))
        print(flush=True)
        if args.explain:
            print()
            print("EXPLAIN (ANALYZE, BUFFERS): preview on a fresh campaign (service, then bare)")
            print(explain(url, results.explain_preview))
            if results.explain_preview_enrolled:
                print("EXPLAIN (ANALYZE, BUFFERS): preview on a campaign with all enrolled")
                print(explain(url, results.explain_preview_enrolled))
            print("EXPLAIN (ANALYZE, BUFFERS): enrollment (service, then bare), rolled back")
            print(explain(url, results.explain_enroll))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=1_000_000, help="contacts to generate")
    parser.add_argument("--repetitions", type=int, default=3, help="(a) runs of each side")
    parser.add_argument("--preview-runs", type=int, default=10, help="(b) timed previews")
    parser.add_argument("--preview-warmup", type=int, default=2, help="(b) untimed first")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE")
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="the given server")
    parser.add_argument(
        "--server",
        choices=("both", "machine", "private"),
        default="both",
        help="run on the given server, on a private one started with production-like settings"
        " (initdb + pg_ctl, PG_BINDIR or pg_config to find them), or both (default)",
    )
    parser.add_argument("--database-name", default=SCRATCH_DATABASE, help="scratch database")
    parser.add_argument("--seed", type=float, default=0.42, help="setseed() value, -1 to 1")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    args = parser.parse_args(argv)
    if not 100 <= args.contacts <= 20_000_000:
        parser.error("--contacts must be between 100 and 20,000,000")
    if args.repetitions < 1 or args.preview_runs < 1 or args.preview_warmup < 0:
        parser.error("run counts must be at least 1 (warm-up at least 0)")
    if not -1 <= args.seed <= 1:
        parser.error("--seed must be between -1 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return main_with(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
