"""Benchmark: the lead pipeline at a million leads, the real endpoints against bare SQL.

    python -m bench.leads [--scale 1.0] [--explain]

In a scratch database on the given server it generates, with SQL only, 10 companies holding
1,000,000 leads (one contact each, a stage history for every lead: its creation and 0-2 moves),
one company holding exactly 100,000 of them and the largest 250,000. Then it times
(a) the filtered list `GET /api/v1/leads?stage=&min_score=50&assigned_to=&sort=-score&limit=50`
    on the largest company, through the real app (ASGI, auth, SQLAlchemy, serialisation),
    against the bare SELECT ... LIMIT 50 plus the count(*) for `total`, via psycopg;
(b) `POST /api/v1/leads/bulk-stage` of 10,000 leads against a bare
    `UPDATE leads ... WHERE id = ANY(...)` of another 10,000 leads of the same shape (and, for
    information, a bare SQL statement doing the endpoint's whole work: leads, history, contacts);
(c) `GET /api/v1/leads/stats` (and `/leads/by-stage`) of the 100,000-lead company.
It prints the figures against the targets of the issue and exits non-zero when something is off
(an HTTP error, a result different from the bare SQL), never because a target is missed.
`--explain` adds EXPLAIN (ANALYZE, BUFFERS) of the SQL the app sent. The scratch database is
dropped at the end unless `--keep-database`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import event

from agentconnect.app import create_app
from agentconnect.config import Settings
from agentconnect.db import Database
from bench.common import (
    BenchmarkFailed,
    call_asgi,
    create_api_key,
    main_with,
    percentile,
    say,
    scratch_database,
)

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRATCH_DATABASE = "agentconnect_bench_leads"

# Leads per company at scale 1 (sum 1,000,000). STATS_COMPANY holds exactly 100,000 leads;
# LIST_COMPANY is the largest, so the list and the bulk change run where they are hardest.
COMPANY_LEADS = (100_000, 250_000, 200_000, 150_000, 75_000, 60_000, 50_000, 50_000, 40_000, 25_000)
STATS_COMPANY = 0
LIST_COMPANY = 1
AGENTS_PER_COMPANY = 8  # plus one manager; leads are assigned to agents only
UNASSIGNED_SHARE = 0.08
# Stage positions: the funnel, then lost. Shares of the current stage of a lead.
STAGES = ("lead", "mql", "sql", "opportunity", "customer", "lost")
STAGE_SHARES = (0.30, 0.20, 0.15, 0.12, 0.10, 0.13)
LIST_STAGES = ("sql", "mql", "opportunity", "lead")
LIST_MIN_SCORE = 50
LIST_LIMIT = 50
BULK_TARGET = "opportunity"
BULK_FROM = ("lead", "mql", "sql")  # open and not the target: every one of them really moves
BULK_SIZE = 10_000

TARGET_LIST_P95_MS = 50.0
TARGET_LIST_RATIO = 3.0
TARGET_BULK_RATIO = 2.0
TARGET_STATS_P95_MS = 200.0

_SQL_STAGES = "ARRAY[" + ", ".join(f"'{s}'" for s in STAGES) + "]"


# --- the scratch database -------------------------------------------------------------------


def server_description(url: str) -> str:
    """The version and the settings that decide these figures most."""
    values = []
    with psycopg.connect(url) as conn:
        for name in ("server_version", "shared_buffers", "work_mem", "jit"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            assert row is not None
            values.append(str(row[0]))
    version, shared_buffers, work_mem, jit = values
    return (
        f"PostgreSQL {version.split()[0]} (shared_buffers {shared_buffers},"
        f" work_mem {work_mem}, jit {jit})"
    )


# --- data generation (SQL only) ---------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    index: int
    id: uuid.UUID
    leads: int
    agents: list[uuid.UUID]


@dataclass
class Dataset:
    companies: list[Company]
    history_rows: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def leads(self) -> int:
        return sum(c.leads for c in self.companies)

    @property
    def generation_s(self) -> float:
        return sum(self.seconds.values())


def company_sizes(scale: float) -> list[int]:
    return [max(100, round(n * scale)) for n in COMPANY_LEADS]


def _stage_case(column: str) -> str:
    """SQL mapping a uniform random number to a stage position with STAGE_SHARES."""
    arms, bound = [], 0.0
    for position, share in enumerate(STAGE_SHARES[:-1]):
        bound += share
        arms.append(f"WHEN {column} < {bound:.4f} THEN {position}")
    return f"CASE {' '.join(arms)} ELSE {len(STAGE_SHARES) - 1} END"


# The plan: one row per lead with every random choice made once, in created_at order so the
# companies' rows interleave on disk as they do in a live database. Contacts, leads and history
# are all derived from it, so they agree with each other.
#   moves: stage changes after creation (0-2); start_pos: the stage the lead was created in.
#   A lost lead was either created lost or moved once from an open stage.
_PLAN = f"""
CREATE TEMP TABLE bench_plan AS
SELECT r.n, r.company_id, gen_random_uuid() AS lead_id, gen_random_uuid() AS contact_id,
       r.assigned_to, r.score, r.deal_value, r.qualification_status, r.source, r.created_at,
       s.pos, m.moves, st.start_pos,
       CASE WHEN m.moves = 0 THEN r.created_at
            ELSE r.created_at + (now() - r.created_at) * r.r_change END AS stage_changed_at
FROM (
    SELECT n, c.id AS company_id,
           CASE WHEN random() < {UNASSIGNED_SHARE} THEN NULL
                ELSE c.users[2 + floor(random() * (cardinality(c.users) - 1))::int]
           END AS assigned_to,
           floor(random() * 101)::smallint AS score,
           CASE WHEN random() < 0.1 THEN NULL
                ELSE round((random() * 50000)::numeric, 2) END AS deal_value,
           (ARRAY['pending', 'qualified', 'disqualified'])[1 + floor(random() * 3)::int]
               AS qualification_status,
           (ARRAY['website', 'referral', 'webinar', 'import', NULL])[1 + floor(random() * 5)::int]
               AS source,
           now() - random() * interval '365 days' AS created_at,
           random() AS r_stage, random() AS r_moved, random() AS r_moves, random() AS r_change
    FROM bench_companies c CROSS JOIN LATERAL generate_series(c.first_n, c.last_n) AS n
) AS r
CROSS JOIN LATERAL (SELECT {_stage_case("r.r_stage")} AS pos) AS s
CROSS JOIN LATERAL (
    SELECT CASE WHEN s.pos = 0 OR r.r_moved < 0.4 THEN 0
                WHEN s.pos = 5 THEN 1
                ELSE 1 + floor(r.r_moves * least(s.pos, 2))::int END AS moves
) AS m
CROSS JOIN LATERAL (
    SELECT CASE WHEN s.pos = 5 AND m.moves = 1 THEN floor(r.r_moves * 4)::int
                ELSE s.pos - m.moves END AS start_pos
) AS st
ORDER BY r.created_at
"""

_CONTACTS = """
INSERT INTO contacts (id, company_id, first_name, last_name, email, company_name, job_title,
                      lifecycle_stage, lead_source, opt_in_status, do_not_contact, tags,
                      custom_fields, lead_score, created_at, updated_at)
SELECT p.contact_id, p.company_id,
       (ARRAY['James', 'Mary', 'Wei', 'Priya', 'Ahmed', 'Fatima', 'José', 'María', 'Zoë',
              'Björn', 'Kenji', 'Aisha', 'Mateo', 'Olivia', 'Noah', 'Emma'])[1 + p.n % 16],
       (ARRAY['Smith', 'García', 'Müller', 'Nguyen', 'Kim', 'Patel', 'Chen', 'Rossi',
              'Dubois', 'Tanaka', 'Okafor', 'Silva', 'Novak', 'Haddad', 'Ivanova',
              'O''Brien'])[1 + (p.n / 16) % 16],
       'contact' || p.n || '@example.com',
       'Customer ' || (p.n % 9973),
       (ARRAY['CEO', 'CTO', 'VP Sales', 'Buyer', 'Founder', NULL])[1 + p.n % 6],
       (ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer', 'lead'])[p.pos + 1],
       p.source, 'unknown', false, '[]', '{}', p.score, p.created_at, p.stage_changed_at
FROM bench_plan AS p
"""

_LEADS = f"""
INSERT INTO leads (id, company_id, contact_id, title, stage, qualification_status, score,
                   deal_value, currency, expected_close_date, assigned_to, source,
                   qualification_data, previous_stage, stage_changed_at, lost_reason,
                   created_at, updated_at)
SELECT p.lead_id, p.company_id, p.contact_id, 'Deal ' || p.n, ({_SQL_STAGES})[p.pos + 1],
       p.qualification_status, p.score, p.deal_value, 'USD',
       CASE WHEN p.pos < 4 THEN (p.created_at + interval '120 days')::date END,
       p.assigned_to, p.source, '{{}}',
       CASE WHEN p.moves > 0 THEN ({_SQL_STAGES})[p.start_pos + p.moves] END,
       p.stage_changed_at, CASE WHEN p.pos = 5 THEN 'no budget this year' END,
       p.created_at, p.stage_changed_at
FROM bench_plan AS p
"""

# Step k of a lead's path: its creation (k = 0, from nothing), then one row per move; the last
# move reaches the current stage at stage_changed_at.
_STEP = "(CASE WHEN {k} = p.moves THEN p.pos ELSE p.start_pos + {k} END)"
_HISTORY = f"""
INSERT INTO lead_stage_changes (id, company_id, lead_id, from_stage, to_stage, reason,
                                changed_by, source, changed_at)
SELECT gen_random_uuid(), p.company_id, p.lead_id,
       CASE WHEN k > 0 THEN ({_SQL_STAGES})[{_STEP.format(k="k - 1")} + 1] END,
       ({_SQL_STAGES})[{_STEP.format(k="k")} + 1],
       CASE WHEN k = 0 THEN 'created' WHEN p.pos = 5 THEN 'no budget this year' END,
       p.assigned_to,
       CASE WHEN k = 0 THEN 'manual'
            ELSE (ARRAY['manual', 'bulk', 'scoring', 'automation'])[1 + (p.n + k) % 4] END,
       p.created_at + (p.stage_changed_at - p.created_at) * k / greatest(p.moves, 1)
FROM bench_plan AS p CROSS JOIN LATERAL generate_series(0, p.moves) AS k
"""

# What every stage change stores since migration 0008: the stay that ended, and the stages ever
# reached (the same statements as the migration's backfill).
_STAGE_FIGURES_STAYS = """
UPDATE lead_stage_changes AS h
SET seconds_in_from_stage = extract(epoch FROM h.changed_at - p.previous_at)
FROM (SELECT id, lag(changed_at) OVER (PARTITION BY lead_id ORDER BY changed_at) AS previous_at
      FROM lead_stage_changes) AS p
WHERE h.id = p.id AND h.from_stage IS NOT NULL AND p.previous_at IS NOT NULL
"""
_STAGE_FIGURES_REACHED = """
UPDATE leads AS l SET reached_stages = r.bits
FROM (
    SELECT lead_id, bit_or(1 << (array_position(
        ARRAY['lead', 'mql', 'sql', 'opportunity', 'customer', 'lost'], stage) - 1)) AS bits
    FROM (SELECT id AS lead_id, stage FROM leads
          UNION ALL SELECT lead_id, to_stage FROM lead_stage_changes
          UNION ALL SELECT lead_id, from_stage FROM lead_stage_changes
                    WHERE from_stage IS NOT NULL) AS s
    GROUP BY lead_id
) AS r
WHERE l.id = r.lead_id
"""


def generate(url: str, scale: float, seed: float) -> Dataset:
    sizes = company_sizes(scale)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    seconds: dict[str, float] = {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        say(f"  {name} ...")
        started = time.perf_counter()
        yield
        seconds[name] = time.perf_counter() - started
        say(f"  {name}: {seconds[name]:.1f} s")

    with psycopg.connect(url) as conn:
        conn.execute("SELECT setseed(%s)", (seed,))
        with step("companies and users"):
            conn.execute(
                "CREATE TEMP TABLE bench_companies"
                " (idx int PRIMARY KEY, id uuid NOT NULL, first_n int, last_n int, users uuid[])"
            )
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO bench_companies VALUES (%s, %s, %s, %s,"
                    " ARRAY(SELECT gen_random_uuid() FROM generate_series(0, %s)))",
                    [
                        (i, uuid.uuid4(), starts[i], starts[i] + sizes[i] - 1, AGENTS_PER_COMPANY)
                        for i in range(len(sizes))
                    ],
                )
            conn.execute(
                "INSERT INTO companies (id, name, default_timezone, settings)"
                " SELECT id, 'Bench company ' || idx, 'UTC', '{}' FROM bench_companies"
            )
            conn.execute(
                "INSERT INTO users (id, company_id, email, name, role, password_hash, is_active)"
                " SELECT c.users[u + 1], c.id, 'user' || u || '@company' || c.idx || '.test',"
                "        'User ' || u, CASE WHEN u = 0 THEN 'manager' ELSE 'agent' END,"
                "        'not-a-hash', true"
                " FROM bench_companies c"
                " CROSS JOIN LATERAL generate_series(0, cardinality(c.users) - 1) AS u"
            )
        with step("plan (temp table)"):
            conn.execute(_PLAN)
        with step("contacts"):
            conn.execute(_CONTACTS)
        with step("leads"):
            conn.execute(_LEADS)
        with step("stage history"):
            history_rows = conn.execute(_HISTORY).rowcount
        with step("stored stage figures (as the app writes them)"):
            conn.execute(_STAGE_FIGURES_STAYS)
            conn.execute(_STAGE_FIGURES_REACHED)
        rows = conn.execute(
            "SELECT idx, id, users[2:] FROM bench_companies ORDER BY idx"
        ).fetchall()
        conn.commit()
    with step("VACUUM ANALYZE, CHECKPOINT"):
        vacuum(url)
    companies = [
        Company(index=idx, id=cid, leads=sizes[idx], agents=list(agents))
        for idx, cid, agents in rows
    ]
    return Dataset(companies=companies, history_rows=history_rows, seconds=seconds)


# --- the bare SQL -------------------------------------------------------------------------------

BARE_LIST = f"""
SELECT l.id, l.contact_id, l.title, l.stage, l.qualification_status, l.score, l.deal_value,
       l.currency, l.expected_close_date, l.assigned_to, l.source, l.qualification_data,
       l.previous_stage, l.stage_changed_at, l.lost_reason, l.created_at, l.updated_at,
       c.id, c.first_name, c.last_name, c.email, c.company_name
FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id AND c.company_id = l.company_id
WHERE l.company_id = %(company)s AND l.stage = %(stage)s AND l.score >= %(min_score)s
  AND l.assigned_to = %(user)s
ORDER BY l.score DESC, l.id
LIMIT {LIST_LIMIT}
"""
BARE_COUNT = """
SELECT count(*) FROM leads AS l
WHERE l.company_id = %(company)s AND l.stage = %(stage)s AND l.score >= %(min_score)s
  AND l.assigned_to = %(user)s
"""
BARE_UPDATE = """
UPDATE leads SET stage = %(stage)s, previous_stage = stage, stage_changed_at = now(),
                 updated_at = now()
WHERE company_id = %(company)s AND id = ANY(%(ids)s)
"""
# What the endpoint does, written by hand: move the leads, write their history, bring their
# contacts' lifecycle stage along. For information: it tells the work from the overhead.
BARE_FULL_CHANGE = """
WITH moved AS (
    UPDATE leads SET stage = %(stage)s, previous_stage = stage, stage_changed_at = now(),
                     updated_at = now()
    WHERE company_id = %(company)s AND id = ANY(%(ids)s) AND stage <> %(stage)s
    RETURNING id, contact_id, previous_stage
), history AS (
    INSERT INTO lead_stage_changes (id, company_id, lead_id, from_stage, to_stage, source,
                                    changed_at)
    SELECT gen_random_uuid(), %(company)s, id, previous_stage, %(stage)s, 'bulk', now()
    FROM moved
), contacts_synced AS (
    UPDATE contacts SET lifecycle_stage = %(stage)s, updated_at = now()
    WHERE company_id = %(company)s AND id IN (SELECT contact_id FROM moved)
)
SELECT count(*) FROM moved
"""


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latencies:
    """Seconds per call."""

    samples: list[float]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples, 0.95) * 1000


@dataclass
class Results:
    list_endpoint: Latencies | None = None  # the app called as a server calls it (ASGI)
    list_client: Latencies | None = None  # the same through httpx's in-process client
    list_bare: Latencies | None = None
    list_matches: int = 0
    bulk_size: int = 0
    bulk_endpoint: Latencies | None = None
    bulk_bare: Latencies | None = None
    bulk_bare_full: Latencies | None = None
    stats: Latencies | None = None
    by_stage: Latencies | None = None
    captured: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)


class Bench:
    def __init__(self, url: str, app: Any, client: httpx.AsyncClient, database: Database) -> None:
        self.url = url
        self.app = app
        self.client = client
        self.database = database

    async def settle(self) -> None:
        """Flush dirty buffers, so a checkpoint caused by one phase does not land in the next."""
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("CHECKPOINT")

    async def call(
        self, method: str, path: str, key: str, *, params: Any = None, body: bytes | None = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {key}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = await self.client.request(
            method, path, params=params, content=body, headers=headers
        )
        if response.status_code != 200:
            raise BenchmarkFailed(
                f"{method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        return response.json()

    async def call_app(self, path: str, key: str, params: Any) -> Any:
        """GET straight into the app (ASGI), as a server would hand it the parsed request."""
        status, body = await call_asgi(
            self.app, "GET", path, params=params, headers={"Authorization": f"Bearer {key}"}
        )
        if status != 200:
            raise BenchmarkFailed(f"GET {path} answered {status}: {body[:500]!r}")
        return json.loads(body)

    @contextmanager
    def capture(self, into: list[tuple[str, dict[str, Any]]]) -> Iterator[None]:
        """Record the SQL the app sends (statement and parameters) while the block runs."""

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            into.append((statement, dict(parameters or {})))

        engine = self.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", record)

    # (a) ------------------------------------------------------------------------------------

    async def list_leads(
        self, company: Company, key: str, requests: int, warmup: int, results: Results
    ) -> None:
        timed: dict[str, list[float]] = {"endpoint": [], "client": [], "bare": []}
        matched = 0
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            for i in range(warmup + requests):
                stage = LIST_STAGES[i % len(LIST_STAGES)]
                user = company.agents[(i // len(LIST_STAGES)) % len(company.agents)]
                query = {
                    "stage": stage,
                    "min_score": LIST_MIN_SCORE,
                    "assigned_to": str(user),
                    "sort": "-score",
                    "limit": LIST_LIMIT,
                }
                args = {
                    "company": company.id,
                    "stage": stage,
                    "min_score": LIST_MIN_SCORE,
                    "user": user,
                }
                # Rotate which side goes first so none always finds the cache warmer.
                sides = ("endpoint", "client", "bare")
                order = sides[i % 3 :] + sides[: i % 3]
                pages: list[Any] = []
                rows: list[Any] = []
                total = -1
                for side in order:
                    started = time.perf_counter()
                    if side == "endpoint":
                        pages.append(await self.call_app("/api/v1/leads", key, query))
                    elif side == "client":
                        pages.append(await self.call("GET", "/api/v1/leads", key, params=query))
                    else:
                        cursor = await conn.execute(BARE_LIST, args)
                        rows = await cursor.fetchall()
                        cursor = await conn.execute(BARE_COUNT, args)
                        count_row = await cursor.fetchone()
                        assert count_row is not None
                        total = int(count_row[0])
                    elapsed = time.perf_counter() - started
                    if i >= warmup:
                        timed[side].append(elapsed)
                for page in pages:
                    ids = [item["id"] for item in page["items"]]
                    if ids != [str(row[0]) for row in rows] or page["total"] != total:
                        raise BenchmarkFailed(
                            f"list stage={stage} user={user}: endpoint total {page['total']}"
                            f" and {len(ids)} items differ from the bare SQL ({total}, {len(rows)})"
                        )
                matched += total
        results.list_endpoint = Latencies(timed["endpoint"])
        results.list_client = Latencies(timed["client"])
        results.list_bare = Latencies(timed["bare"])
        results.list_matches = matched // (warmup + requests)
        # One more request with its SQL recorded, for --explain.
        stage, user = LIST_STAGES[0], company.agents[0]
        captured: list[tuple[str, dict[str, Any]]] = []
        results.captured["list"] = captured
        with self.capture(captured):
            await self.call(
                "GET",
                "/api/v1/leads",
                key,
                params={
                    "stage": stage,
                    "min_score": LIST_MIN_SCORE,
                    "assigned_to": str(user),
                    "sort": "-score",
                    "limit": LIST_LIMIT,
                },
            )
        bare_args = {
            "company": company.id,
            "stage": stage,
            "min_score": LIST_MIN_SCORE,
            "user": user,
        }
        results.captured["list-bare"] = [(BARE_LIST, bare_args), (BARE_COUNT, bare_args)]

    # (b) ------------------------------------------------------------------------------------

    async def bulk_stage(
        self, company: Company, key: str, size: int, repetitions: int, results: Results
    ) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT id FROM leads WHERE company_id = %s AND stage = ANY(%s)"
                " ORDER BY md5(id::text)",
                (company.id, list(BULK_FROM)),
            )
            candidates = [row[0] for row in await cursor.fetchall()]
            size = min(size, len(candidates) // (3 * repetitions))
            if size < 1:
                raise BenchmarkFailed(f"only {len(candidates)} leads can move: too few")
            batches = [candidates[i * size : (i + 1) * size] for i in range(3 * repetitions)]
            endpoint: list[float] = []
            bare: list[float] = []
            bare_full: list[float] = []
            for rep in range(repetitions):
                ids_endpoint, ids_bare, ids_full = batches[3 * rep : 3 * rep + 3]
                body = json.dumps(
                    {"lead_ids": [str(i) for i in ids_endpoint], "stage": BULK_TARGET}
                ).encode()
                args = {"company": company.id, "stage": BULK_TARGET}
                await self.settle()
                started = time.perf_counter()
                answer = await self.call("POST", "/api/v1/leads/bulk-stage", key, body=body)
                endpoint.append(time.perf_counter() - started)
                if answer["updated"] != size or answer["not_found"] or answer["refused"]:
                    raise BenchmarkFailed(f"bulk-stage of {size} leads answered {answer}")

                await self.settle()
                started = time.perf_counter()
                async with conn.transaction():
                    cursor = await conn.execute(BARE_UPDATE, {**args, "ids": ids_bare})
                bare.append(time.perf_counter() - started)
                if cursor.rowcount != size:
                    raise BenchmarkFailed(f"bare UPDATE moved {cursor.rowcount} of {size}")

                await self.settle()
                started = time.perf_counter()
                async with conn.transaction():
                    cursor = await conn.execute(BARE_FULL_CHANGE, {**args, "ids": ids_full})
                    moved = await cursor.fetchone()
                bare_full.append(time.perf_counter() - started)
                if moved is None or moved[0] != size:
                    raise BenchmarkFailed(f"bare full change moved {moved} of {size}")
                say(
                    f"  rep {rep + 1}: endpoint {endpoint[-1]:.3f} s, bare UPDATE"
                    f" {bare[-1]:.3f} s, bare full {bare_full[-1]:.3f} s"
                )
        results.bulk_size = size
        results.bulk_endpoint = Latencies(endpoint)
        results.bulk_bare = Latencies(bare)
        results.bulk_bare_full = Latencies(bare_full)

    # (c) ------------------------------------------------------------------------------------

    async def repeat(
        self, path: str, key: str, requests: int, warmup: int, expect_total: int | None = None
    ) -> Latencies:
        samples = []
        for i in range(warmup + requests):
            started = time.perf_counter()
            answer = await self.call("GET", path, key)
            elapsed = time.perf_counter() - started
            if i >= warmup:
                samples.append(elapsed)
            if expect_total is not None and answer["total_leads"] != expect_total:
                raise BenchmarkFailed(
                    f"{path}: total_leads {answer['total_leads']}, expected {expect_total}"
                )
        return Latencies(samples)

    async def stats(
        self, company: Company, key: str, requests: int, warmup: int, results: Results
    ) -> None:
        results.stats = await self.repeat(
            "/api/v1/leads/stats", key, requests, warmup, expect_total=company.leads
        )
        results.by_stage = await self.repeat("/api/v1/leads/by-stage", key, requests, warmup)
        captured: list[tuple[str, dict[str, Any]]] = []
        results.captured["stats"] = captured
        with self.capture(captured):
            await self.call("GET", "/api/v1/leads/stats", key)


async def measure(
    url: str, data: Dataset, args: argparse.Namespace, list_key: str, stats_key: str
) -> Results:
    list_company = data.companies[LIST_COMPANY]
    stats_company = data.companies[STATS_COMPANY]
    results = Results()
    database = Database.from_url(url)
    with tempfile.TemporaryDirectory(prefix="bench-leads-") as folder:
        settings = Settings(database_url=url, secret_key="x" * 40, data_dir=Path(folder))
        app = create_app(settings, database)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                bench = Bench(url, app, client, database)
                await bench.settle()
                say(f"(a) list: {args.requests} requests after {args.warmup} warm-up ...")
                await bench.list_leads(list_company, list_key, args.requests, args.warmup, results)
                say(f"(c) stats: {args.stats_requests} requests after 3 warm-up ...")
                await bench.stats(stats_company, stats_key, args.stats_requests, 3, results)
                say(f"(b) bulk stage: {args.bulk_repetitions} repetitions ...")
                size = min(BULK_SIZE, args.bulk_size or round(BULK_SIZE * min(1.0, args.scale)))
                await bench.bulk_stage(list_company, list_key, size, args.bulk_repetitions, results)
        finally:
            await database.dispose()
    return results


# --- reporting --------------------------------------------------------------------------------


def explain(url: str, captured: dict[str, list[tuple[str, dict[str, Any]]]]) -> str:
    """EXPLAIN ANALYZE of every lead query the app sent (and of the bare ones)."""
    out = []
    with psycopg.connect(url) as conn:
        for name, statements in captured.items():
            for statement, parameters in statements:
                if "leads" not in statement or statement.lstrip().upper().startswith("UPDATE"):
                    continue
                out.append(f"--- {name} ---\n{statement.strip()}\n")
                rows = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                ).fetchall()
                out.extend(str(row[0]) for row in rows)
                out.append("")
        conn.rollback()
    return "\n".join(out)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _got(figures: Latencies | None) -> Latencies:
    assert figures is not None, "a phase did not run"
    return figures


def render(data: Dataset, results: Results, postgres: str) -> str:
    list_co = data.companies[LIST_COMPANY]
    stats_co = data.companies[STATS_COMPANY]
    le, lc, lb = (_got(x) for x in (results.list_endpoint, results.list_client, results.list_bare))
    p95_ratio, p50_ratio = le.p95_ms / lb.p95_ms, le.p50_ms / lb.p50_ms
    st, bs = _got(results.stats), _got(results.by_stage)
    width = 52

    def row(name: str, p50: str, p95: str, target: str = "", verdict: str = "") -> str:
        return f"{name:<{width}}{p50:>10}{p95:>10}  {target:<22}{verdict}"

    def ms(value: float) -> str:
        return f"{value:.1f}"

    lines = [
        f"lead pipeline benchmark: {data.leads:,} leads in {len(data.companies)} companies,"
        f" {data.history_rows:,} stage changes; Python {platform.python_version()}, {postgres}",
        f"generation: {data.generation_s:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in data.seconds.items())
        + ")",
        "",
        f"(a) filtered list on the {list_co.leads:,}-lead company: stage in {LIST_STAGES},"
        f" min_score={LIST_MIN_SCORE}, assigned_to (one of {len(list_co.agents)} agents),"
        f" sort=-score, limit={LIST_LIMIT}; {len(le.samples)} requests each,"
        f" ~{results.list_matches:,} matching leads per request (the total)",
        row("", "p50 ms", "p95 ms", "target", "result"),
        row("  GET /api/v1/leads (endpoint, called as ASGI)", ms(le.p50_ms), ms(le.p95_ms),
            f"p95 < {TARGET_LIST_P95_MS:g} ms", _verdict(le.p95_ms < TARGET_LIST_P95_MS)),
        row("  bare SQL (page + count, psycopg)", ms(lb.p50_ms), ms(lb.p95_ms)),
        row("  ratio endpoint / bare", f"{p50_ratio:.2f}x", f"{p95_ratio:.2f}x",
            f"ratio < {TARGET_LIST_RATIO:g}",
            _verdict(max(p50_ratio, p95_ratio) < TARGET_LIST_RATIO)),
        row("  (info) the same through httpx's in-process client", ms(lc.p50_ms),
            ms(lc.p95_ms)),
        row("  (info) ratio with the client / bare", f"{lc.p50_ms / lb.p50_ms:.2f}x",
            f"{lc.p95_ms / lb.p95_ms:.2f}x"),
        "",
        *_bulk_lines(results, list_co, row),
        f"(c) statistics of the {stats_co.leads:,}-lead company;"
        f" {len(st.samples)} requests each",
        row("", "p50 ms", "p95 ms", "target", "result"),
        row("  GET /api/v1/leads/stats", ms(st.p50_ms), ms(st.p95_ms),
            f"p95 < {TARGET_STATS_P95_MS:g} ms",
            _verdict(st.p95_ms < TARGET_STATS_P95_MS)),
        row("  GET /api/v1/leads/by-stage (info)", ms(bs.p50_ms),
            ms(bs.p95_ms)),
    ]  # fmt: skip
    return "\n".join(lines)


def _bulk_lines(results: Results, list_co: Company, row: Callable[..., str]) -> list[str]:
    be, bb, bf = _got(results.bulk_endpoint), _got(results.bulk_bare), _got(results.bulk_bare_full)
    bulk_e, bulk_b, bulk_f = (statistics.median(x.samples) for x in (be, bb, bf))
    bulk_ratio = bulk_e / bulk_b
    return [
        f"(b) bulk stage change of {results.bulk_size:,} leads ({'/'.join(BULK_FROM)} ->"
        f" {BULK_TARGET}) on the {list_co.leads:,}-lead company;"
        f" median of {len(be.samples)}, fresh ids each time",
        row("", "median s", "max s", "target", "result"),
        row("  POST /api/v1/leads/bulk-stage (endpoint)", f"{bulk_e:.3f}",
            f"{max(be.samples):.3f}"),
        row("  bare UPDATE leads", f"{bulk_b:.3f}", f"{max(bb.samples):.3f}"),
        row("  ratio endpoint / bare UPDATE", f"{bulk_ratio:.2f}x", "",
            f"< {TARGET_BULK_RATIO:g}x", _verdict(bulk_ratio < TARGET_BULK_RATIO)),
        row("  (info) bare SQL of the same work: leads+history+contacts", f"{bulk_f:.3f}",
            f"{max(bf.samples):.3f}"),
        row("  (info) ratio endpoint / bare same work", f"{bulk_e / bulk_f:.2f}x", ""),
        "",
    ]  # fmt: skip


# --- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    with scratch_database(args.database_url, args.database_name, keep=args.keep_database) as url:
        say(f"generating {sum(company_sizes(args.scale)):,} leads ...")
        data = generate(url, args.scale, args.seed)
        say(f"generated in {data.generation_s:.1f} s")
        measure_and_report(url, data, args)


def measure_and_report(url: str, data: Dataset, args: argparse.Namespace) -> None:
    list_key = create_api_key(url, data.companies[LIST_COMPANY].id)
    stats_key = create_api_key(url, data.companies[STATS_COMPANY].id)
    results = asyncio.run(measure(url, data, args, list_key, stats_key))
    print(render(data, results, server_description(url)))
    if args.explain:
        print()
        print(explain(url, results.captured))


def vacuum(url: str) -> None:
    """Fresh planner statistics, no dead rows, nothing left to write back."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("companies", "users", "contacts", "leads", "lead_stage_changes"):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        conn.execute("CHECKPOINT")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 leads")
    parser.add_argument("--requests", type=int, default=200, help="(a) timed list requests")
    parser.add_argument("--warmup", type=int, default=20, help="(a) untimed requests first")
    parser.add_argument("--bulk-repetitions", type=int, default=5, help="(b) repetitions")
    parser.add_argument(
        "--bulk-size", type=int, default=0, help="(b) leads per change (default 10,000 x scale)"
    )
    parser.add_argument("--stats-requests", type=int, default=20, help="(c) timed requests")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE")
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="server to use")
    parser.add_argument("--database-name", default=SCRATCH_DATABASE, help="scratch database")
    parser.add_argument("--seed", type=float, default=0.42, help="setseed() value, -1 to 1")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10:
        parser.error("--scale must be in (0, 10]")
    if args.requests < 1 or args.stats_requests < 1 or args.bulk_repetitions < 1:
        parser.error("request and repetition counts must be at least 1")
    if not -1 <= args.seed <= 1:
        parser.error("--seed must be between -1 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return main_with(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
