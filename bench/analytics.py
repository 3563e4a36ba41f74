"""Benchmark: the campaign analytics endpoints over millions of activities, the real endpoints
(read from the rollups) against the bare `GROUP BY` over the raw activity log.

    python -m bench.analytics [--activities 10000000] [--campaigns 200] [--contacts 200000]
                              [--requests 200] [--warmup 20] [--keep-database] [--explain]

In a scratch database it generates, with SQL only (set-based, generate_series): one company
(time zone UTC) with an admin API key, `--contacts` contacts, `--campaigns` active e-mail
campaigns started 60 days ago with 1-3 steps each (A/B variants on every third campaign's
steps), and about `--activities` campaign activities. Campaign 0 (the measured one) holds
1/50 of them; the others share the rest on a Zipf-like curve. Each enrollment of a contact is
a journey: `enrolled`, then per step `email_sent`, `email_delivered` (or `email_bounced`, 3%),
0-3 `email_opened` (45% of the delivered with variant A, 50% with B; one open in ten flagged
`{"prefetched": true}`, which analytics do not count), 1-2 `email_clicked` (a quarter of the
openers), `email_replied` (3%), `email_unsubscribed` (0.5%), with `message_id` the step and
the variant fixed per (contact, step); occurred_at spread over the 60 days. They are inserted
`--chunk` rows per INSERT ... SELECT through the real triggers (which queue each counted
activity in `analytics_pending`), then folded with `SELECT analytics_fold(200000)` until the
queue is empty: that time is printed as the fold rate (activities/s), the write-path cost of
the rollups. For the attribution (converted, revenue, ROI) the measured campaign gets its
enrollments and one `sent` e-mail delivery per `email_sent` activity, and `--customers`
contacts of it a lead that reached `customer` a day after their last delivery. Then VACUUM
ANALYZE.

(real) Each endpoint through the app, `create_app()` served by uvicorn in a process of its own
       (log level warning, no access log) against the scratch database, over one keep-alive
       HTTP connection with the API key, one request at a time (latency, not throughput): the
       whole middleware stack, auth, the fold every analytics endpoint runs first (the queue
       is empty: its fixed cost), the rollup reads, the attribution query, serialisation.
         performance  GET /api/v1/campaigns/{id}/performance
         funnel       GET /api/v1/campaigns/{id}/funnel
         timeseries   GET /api/v1/campaigns/{id}/timeseries?metric=opened&interval=day
                      (since the campaign's start, until now: 61 daily points)
         activities   GET /api/v1/campaigns/{id}/activities?limit=50 (first page + total; it
                      reads the raw log, no rollup: a ratio near 1 is expected)
         compare      POST /api/v1/campaigns/analytics/compare (`--compare` campaigns, the
                      measured one first)
(bare) The plain SQL over raw `campaign_activities` answering the same question without the
       rollups, sent with psycopg from this process, the same number of times:
         performance  counted activities per type (events, distinct contacts), then per step,
                      variant and type (two statements; the attribution query is not included)
         funnel       counted activities per type (events, distinct contacts)
         timeseries   counted opens per UTC day, date_trunc GROUP BY
         activities   the app's page query (ORDER BY occurred_at DESC, id DESC LIMIT 50) and
                      its count(*)
         compare      the two performance statements for the `--compare` campaigns at once
       ("counted": prefetched opens left out, as the rollups leave them out.)

Both sides get `--warmup` untimed calls first, then `--requests` timed ones; p50/p95 are
nearest-rank, per call, request sent to answer read. Printed: p50/p95 of both, the ratio
bare p95 / real p95 ("x faster") and the targets of the issue, p95 under 50 ms per endpoint
and at least 10x faster than the bare query, met or missed.

Checked, or the benchmark fails (exit 1; never because a target is missed): every answer 200;
the measured campaign's performance totals (every stage, opens and clicks in total), its
funnel, its per-type figures and its steps' figures equal a recomputation from the raw log;
`converted` and `revenue` equal the customers generated for it; the time series sums to the
raw count of counted opens; every compared campaign's totals equal the raw recomputation; the
activity page and its total equal the bare query's. `--explain` prints EXPLAIN (ANALYZE,
BUFFERS) of the statements the analytics service sends, against the generated data. The
scratch database is dropped at the end unless `--keep-database`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from agentconnect.kit.sql import DriverStatement
from bench.common import (
    HOST,
    BenchmarkFailed,
    ServerProcess,
    create_api_key,
    free_port,
    kept_database,
    load_average,
    main_with,
    percentile,
    running,
    say,
    scratch_database,
    server_version,
)

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRATCH_DATABASE = "agentconnect_bench_analytics"
SECRET_KEY = "bench-analytics-secret-key-not-for-production-0123456789"  # noqa: S105

TARGET_P95_MS = 50.0
TARGET_RATIO = 10.0
MEASURED_SHARE = 1 / 50  # of all activities, in campaign 0
DAYS = 60
FOLD_BATCH = 200_000
# Expected activities of one step of a journey (see _ACTIVITIES): sent 1, delivered or bounced
# 1, opens 0.97 * 0.475 * 2, clicks 0.97 * 0.475 * 0.25 * 1.5, replies and unsubscribes.
PER_STEP = 1 + 1 + 0.97 * 0.475 * 2 + 0.97 * 0.475 * 0.25 * 1.5 + 0.97 * 0.035
ENDPOINTS = ("performance", "funnel", "timeseries", "activities", "compare")
# What analytics count (migration 0013): activities of a campaign, except prefetched opens.
COUNTED = (
    "NOT (a.activity_type = 'email_opened'"
    " AND coalesce(a.metadata ->> 'prefetched', 'false') = 'true')"
)


# --- data generation (SQL only) -------------------------------------------------------------


@dataclass
class Dataset:
    company_id: uuid.UUID
    campaigns: list[uuid.UUID]  # index 0 is the measured campaign
    activities: int = 0
    measured_activities: int = 0
    enrollments: int = 0
    customers: int = 0
    revenue: Decimal = Decimal(0)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: dict[str, float] = field(default_factory=dict)
    fold_s: float = 0.0
    folded: int = 0

    @property
    def measured(self) -> uuid.UUID:
        return self.campaigns[0]

    @property
    def generation_s(self) -> float:
        return sum(self.seconds.values())


def plan_enrollments(activities: int, campaigns: int, contacts: int) -> list[tuple[int, int]]:
    """(steps, enrollments) per campaign: campaign 0 gets MEASURED_SHARE of the activities,
    campaign k >= 1 a share proportional to 1 / (k + 1) ** 0.7 of the rest."""
    weights = [1 / (k + 1) ** 0.7 for k in range(1, campaigns)]
    total = sum(weights)
    shares = [MEASURED_SHARE] + [(1 - MEASURED_SHARE) * w / total for w in weights]
    plan = []
    for k, share in enumerate(shares):
        steps = 3 if k == 0 else 1 + k % 3
        per_enrollment = 1 + steps * PER_STEP
        plan.append((steps, max(1, min(contacts, round(activities * share / per_enrollment)))))
    return plan


_CONTACTS = """
INSERT INTO contacts (id, company_id, first_name, last_name, email, lifecycle_stage,
                      opt_in_status, do_not_contact, tags, custom_fields, lead_score,
                      created_at, updated_at)
SELECT md5('contact' || n)::uuid, %(company)s,
       (ARRAY['James', 'Mary', 'Wei', 'Priya', 'Ahmed', 'Fatima', 'José', 'Zoë'])[1 + n %% 8],
       (ARRAY['Smith', 'García', 'Müller', 'Nguyen', 'Kim', 'Patel', 'Chen', 'Rossi'])
           [1 + (n / 8) %% 8],
       'contact' || n || '@example.com', 'lead', 'opted_in', false, '[]', '{}', n %% 101,
       %(started)s - interval '30 days', %(started)s - interval '30 days'
FROM generate_series(0, %(contacts)s - 1) AS n
"""

# Journeys of the enrollments g0 <= g < g1 (g numbers every enrollment of every campaign).
# Enrollment g of campaign c is contact (c.contact_offset + g - c.first_g) mod contacts.
_ACTIVITIES = """
INSERT INTO campaign_activities (id, company_id, campaign_id, contact_id, message_id, variant,
                                 activity_type, occurred_at, metadata)
WITH e AS (
    SELECT c.idx, c.id AS campaign_id,
           md5('contact' || ((c.contact_offset + g - c.first_g) %% %(contacts)s))::uuid
               AS contact_id,
           %(started)s + random() * interval '52 days' AS t0
    FROM bench_campaigns AS c
    CROSS JOIN LATERAL generate_series(greatest(c.first_g, %(g0)s),
                                       least(c.first_g + c.enrollments, %(g1)s) - 1) AS g
    WHERE c.first_g < %(g1)s AND c.first_g + c.enrollments > %(g0)s
), st AS (
    SELECT e.campaign_id, e.contact_id, m.id AS message_id, r.variant,
           r.sent_at, r.r_bounce, r.r_open < CASE r.variant WHEN 'B' THEN 0.50 ELSE 0.45 END
               AS opened,
           r.r_click, r.r_reply, r.r_unsub, r.r_prefetch, r.opens, r.clicks
    FROM e JOIN bench_steps AS m ON m.idx = e.idx
    CROSS JOIN LATERAL (
        SELECT CASE WHEN m.ab THEN (ARRAY['A', 'B'])[1 + floor(random() * 2)::int] END
                   AS variant,
               e.t0 + (m.step - 1) * interval '3 days' + random() * interval '12 hours'
                   AS sent_at,
               random() AS r_bounce, random() AS r_open, random() AS r_click,
               random() AS r_reply, random() AS r_unsub, random() AS r_prefetch,
               1 + floor(random() * 3)::int AS opens, 1 + floor(random() * 2)::int AS clicks
    ) AS r
)
SELECT gen_random_uuid(), %(company)s, x.campaign_id, x.contact_id, x.message_id, x.variant,
       x.kind, x.at, x.metadata
FROM (
    SELECT e.campaign_id, e.contact_id, NULL::uuid AS message_id, NULL AS variant,
           'enrolled' AS kind, e.t0 AS at, '{}'::jsonb AS metadata
    FROM e
    UNION ALL
    SELECT st.campaign_id, st.contact_id, st.message_id, st.variant, ev.kind, ev.at,
           ev.metadata
    FROM st CROSS JOIN LATERAL (
        SELECT 'email_sent' AS kind, st.sent_at AS at, '{}'::jsonb AS metadata
        UNION ALL
        SELECT CASE WHEN st.r_bounce < 0.03 THEN 'email_bounced' ELSE 'email_delivered' END,
               st.sent_at + interval '20 seconds', '{}'
        UNION ALL
        SELECT 'email_opened', st.sent_at + k * interval '90 minutes',
               CASE WHEN k = 1 AND st.r_prefetch < 0.1 THEN '{"prefetched": true}'
                    ELSE '{}' END::jsonb
        FROM generate_series(1, st.opens) AS k
        WHERE st.r_bounce >= 0.03 AND st.opened
        UNION ALL
        SELECT 'email_clicked', st.sent_at + interval '100 minutes' + k * interval '5 minutes',
               jsonb_build_object('url', 'https://shop.example/spring?utm=' || k)
        FROM generate_series(1, st.clicks) AS k
        WHERE st.r_bounce >= 0.03 AND st.opened AND st.r_click < 0.25
        UNION ALL
        SELECT 'email_replied', st.sent_at + interval '5 hours', '{}'
        WHERE st.r_bounce >= 0.03 AND st.r_reply < 0.03
        UNION ALL
        SELECT 'email_unsubscribed', st.sent_at + interval '6 hours', '{}'
        WHERE st.r_bounce >= 0.03 AND st.r_unsub < 0.005
    ) AS ev
) AS x
"""

# The measured campaign's enrollments and one sent delivery per `email_sent` activity.
_ENROLLMENTS = """
INSERT INTO campaign_contacts (id, company_id, campaign_id, contact_id, status, current_step,
                               variant_assignments, enrolled_at, updated_at)
SELECT gen_random_uuid(), a.company_id, a.campaign_id, a.contact_id, 'active', 1, '{}',
       a.occurred_at, a.occurred_at
FROM campaign_activities AS a
WHERE a.company_id = %(company)s AND a.campaign_id = %(campaign)s
  AND a.activity_type = 'enrolled'
"""
_DELIVERIES = """
INSERT INTO deliveries (id, company_id, campaign_id, enrollment_id, contact_id, message_id,
                        step_order, channel, variant, dedupe_key, status, to_address,
                        not_before, attempts, provider, created_at, sent_at, updated_at)
SELECT gen_random_uuid(), a.company_id, a.campaign_id, e.id, a.contact_id, a.message_id,
       m.sequence_order, 'email', a.variant, 'bench:' || a.id, 'sent',
       'contact@example.com', a.occurred_at, 1, 'smtp', a.occurred_at, a.occurred_at,
       a.occurred_at
FROM campaign_activities AS a
JOIN campaign_contacts AS e
  ON e.company_id = a.company_id AND e.campaign_id = a.campaign_id
 AND e.contact_id = a.contact_id
JOIN campaign_messages AS m ON m.id = a.message_id
WHERE a.company_id = %(company)s AND a.campaign_id = %(campaign)s
  AND a.activity_type = 'email_sent'
"""
# Customers: contacts of the measured campaign whose lead reached `customer` a day after the
# last delivery they got (so the campaign gets the credit, last touch and first touch).
_CUSTOMERS = """
CREATE TEMP TABLE bench_customers AS
SELECT d.contact_id, md5('lead' || d.contact_id::text)::uuid AS lead_id,
       max(d.sent_at) + interval '1 day' AS converted_at,
       (500 + (row_number() OVER (ORDER BY d.contact_id)) %% 50 * 10)::numeric(14, 2) AS value
FROM deliveries AS d
WHERE d.company_id = %(company)s AND d.campaign_id = %(campaign)s
GROUP BY d.contact_id
ORDER BY d.contact_id
LIMIT %(customers)s
"""
_LEADS = """
INSERT INTO leads (id, company_id, contact_id, title, stage, qualification_status, score,
                   deal_value, currency, qualification_data, previous_stage, stage_changed_at,
                   created_at, updated_at)
SELECT b.lead_id, %(company)s, b.contact_id, 'Spring order', 'customer', 'qualified', 80,
       b.value, 'USD', '{}', 'opportunity', b.converted_at,
       b.converted_at - interval '10 days', b.converted_at
FROM bench_customers AS b
"""
_STAGE_CHANGES = """
INSERT INTO lead_stage_changes (id, company_id, lead_id, from_stage, to_stage, source,
                                changed_at)
SELECT gen_random_uuid(), %(company)s, b.lead_id, s.from_stage, s.to_stage, 'manual',
       b.converted_at - s.before
FROM bench_customers AS b
CROSS JOIN (VALUES (NULL, 'lead', interval '10 days'),
                   ('lead', 'opportunity', interval '5 days'),
                   ('opportunity', 'customer', interval '0 days'))
    AS s(from_stage, to_stage, before)
"""


def generate(url: str, args: argparse.Namespace) -> Dataset:
    seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(name: str) -> Iterator[None]:
        say(f"  {name} ...")
        started = time.perf_counter()
        yield
        seconds[name] = time.perf_counter() - started

    plan = plan_enrollments(args.activities, args.campaigns, args.contacts)
    company_id = uuid.uuid4()
    campaign_ids = [uuid.uuid4() for _ in plan]
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=DAYS)
    data = Dataset(company_id, campaign_ids, started_at=started_at, seconds=seconds)
    params: dict[str, Any] = {
        "company": company_id, "campaign": data.measured, "started": started_at,
        "contacts": args.contacts, "customers": args.customers,
    }  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT setseed(%s)", (args.seed,))
        with step("company, campaigns, steps, contacts"):
            conn.execute(
                "INSERT INTO companies (id, name, default_timezone, settings)"
                " VALUES (%s, 'Bench Outfitters', 'UTC', '{}')",
                (company_id,),
            )
            conn.execute(
                "CREATE UNLOGGED TABLE bench_campaigns (idx int PRIMARY KEY, id uuid NOT NULL,"
                " steps int NOT NULL, enrollments int NOT NULL, first_g bigint NOT NULL,"
                " contact_offset int NOT NULL)"
            )
            first_g, rows = 0, []
            for idx, (steps, enrollments) in enumerate(plan):
                offset = (idx * 7919) % args.contacts
                rows.append((idx, campaign_ids[idx], steps, enrollments, first_g, offset))
                first_g += enrollments
            data.enrollments = first_g
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO bench_campaigns VALUES (%s, %s, %s, %s, %s, %s)", rows)
            conn.execute(
                "INSERT INTO campaigns (id, company_id, name, campaign_type, status, goal_type,"
                " target_criteria, send_time_optimization, cost, currency, started_at,"
                " created_at, updated_at)"
                " SELECT id, %(company)s, 'Spring campaign ' || idx, 'email', 'active', 'click',"
                " '{}', false, 2500 + idx, 'USD', %(started)s, %(started)s - interval '1 day',"
                " %(started)s FROM bench_campaigns",
                params,
            )
            # Every third campaign (the measured one too) tests two variants on its steps.
            conn.execute(
                "CREATE UNLOGGED TABLE bench_steps AS"
                " SELECT c.idx, s.step, c.idx % 3 = 0 AS ab,"
                "        md5('step' || c.id::text || s.step)::uuid AS id"
                " FROM bench_campaigns AS c"
                " CROSS JOIN LATERAL generate_series(1, c.steps) AS s(step)"
            )
            conn.execute("CREATE INDEX ON bench_steps (idx)")
            conn.execute(
                "INSERT INTO campaign_messages (id, company_id, campaign_id, sequence_order,"
                " message_type, delay_value, delay_unit, subject, body, variants)"
                " SELECT s.id, %(company)s, c.id, s.step, 'email', 3 * (s.step - 1), 'days',"
                "        'Spring range, part ' || s.step, 'Hello {{first_name}}',"
                '        CASE WHEN s.ab THEN \'[{"name": "A", "subject": "Spring"},'
                '                             {"name": "B", "subject": "New in"}]\''
                "             ELSE '[]' END::jsonb"
                " FROM bench_steps AS s JOIN bench_campaigns AS c ON c.idx = s.idx",
                params,
            )
            conn.execute(_CONTACTS, params)
            conn.execute("ANALYZE bench_campaigns; ANALYZE bench_steps; ANALYZE contacts")
        per_chunk = max(1, round(data.enrollments * args.chunk / args.activities))
        with step(f"~{args.activities:,} activities, {args.chunk:,} per INSERT (triggers queue)"):
            for g0 in range(0, data.enrollments, per_chunk):
                g1 = min(g0 + per_chunk, data.enrollments)
                written = conn.execute(_ACTIVITIES, {**params, "g0": g0, "g1": g1}).rowcount
                data.activities += written
                say(f"    enrollments {g1:,}/{data.enrollments:,}: {data.activities:,} activities")
        with step("measured campaign: enrollments, deliveries, customers"):
            conn.execute(_ENROLLMENTS, params)
            conn.execute(_DELIVERIES, params)
            conn.execute(_CUSTOMERS, params)
            conn.execute(_LEADS, params)
            conn.execute(_STAGE_CHANGES, params)
            row = conn.execute(
                "SELECT count(*), coalesce(sum(value), 0) FROM bench_customers"
            ).fetchone()
            assert row is not None
            data.customers, data.revenue = int(row[0]), Decimal(row[1])
            conn.execute("DROP TABLE bench_campaigns, bench_steps")
        say(f"  folding the queue ({FOLD_BATCH:,} per analytics_fold call) ...")
        started = time.perf_counter()
        while True:
            result = conn.execute("SELECT analytics_fold(%s)", (FOLD_BATCH,)).fetchone()
            folded = int(result[0]) if result else 0
            data.folded += folded
            if folded < FOLD_BATCH:
                break
            rate = data.folded / (time.perf_counter() - started)
            say(f"    folded {data.folded:,} ({rate:,.0f}/s)")
        data.fold_s = time.perf_counter() - started
        with step("VACUUM ANALYZE, CHECKPOINT"):
            conn.execute("VACUUM (ANALYZE)")
            conn.execute("CHECKPOINT")
        row = conn.execute(
            "SELECT count(*) FROM campaign_activities WHERE company_id = %s AND campaign_id = %s",
            (company_id, data.measured),
        ).fetchone()
        data.measured_activities = int(row[0]) if row else 0
    return data


# --- the bare SQL ------------------------------------------------------------------------------

BARE_TYPES = f"""
SELECT a.activity_type, count(*), count(DISTINCT a.contact_id)
FROM campaign_activities AS a
WHERE a.company_id = %(company)s AND a.campaign_id = %(campaign)s AND {COUNTED}
GROUP BY a.activity_type
"""
BARE_STEPS = f"""
SELECT a.message_id, coalesce(a.variant, ''), a.activity_type, count(*),
       count(DISTINCT a.contact_id)
FROM campaign_activities AS a
WHERE a.company_id = %(company)s AND a.campaign_id = %(campaign)s AND {COUNTED}
GROUP BY 1, 2, 3
"""
BARE_COMPARE_TYPES = f"""
SELECT a.campaign_id, a.activity_type, count(*), count(DISTINCT a.contact_id)
FROM campaign_activities AS a
WHERE a.company_id = %(company)s AND a.campaign_id = ANY(%(campaigns)s) AND {COUNTED}
GROUP BY 1, 2
"""
BARE_COMPARE_STEPS = f"""
SELECT a.campaign_id, a.message_id, coalesce(a.variant, ''), a.activity_type, count(*),
       count(DISTINCT a.contact_id)
FROM campaign_activities AS a
WHERE a.company_id = %(company)s AND a.campaign_id = ANY(%(campaigns)s) AND {COUNTED}
GROUP BY 1, 2, 3, 4
"""
BARE_SERIES = f"""
SELECT date_trunc('day', a.occurred_at AT TIME ZONE 'UTC') AS day, count(*)
FROM campaign_activities AS a
WHERE a.company_id = %(company)s AND a.campaign_id = %(campaign)s
  AND a.activity_type = 'email_opened' AND a.occurred_at >= %(since)s
  AND a.occurred_at < %(until)s AND {COUNTED}
GROUP BY 1 ORDER BY 1
"""
BARE_PAGE = """
SELECT a.id, a.company_id, a.campaign_id, a.contact_id, a.lead_id, a.message_id, a.variant,
       a.activity_type, a.occurred_at, a.external_id, a.metadata
FROM campaign_activities AS a
WHERE a.company_id = %(company)s AND a.campaign_id = %(campaign)s
ORDER BY a.occurred_at DESC, a.id DESC
LIMIT 50
"""
BARE_PAGE_TOTAL = """
SELECT count(*) FROM campaign_activities AS a
WHERE a.company_id = %(company)s AND a.campaign_id = %(campaign)s
"""
BARE: dict[str, tuple[str, ...]] = {
    "performance": (BARE_TYPES, BARE_STEPS),
    "funnel": (BARE_TYPES,),
    "timeseries": (BARE_SERIES,),
    "activities": (BARE_PAGE, BARE_PAGE_TOTAL),
    "compare": (BARE_COMPARE_TYPES, BARE_COMPARE_STEPS),
}

# The funnel stages of the measured campaign recomputed from the raw log (the stage map is the
# migration's `analytics_stages`; a contact counts once per stage).
RAW_STAGES = f"""
SELECT 'stage:' || m.stage, count(*), count(DISTINCT a.contact_id)
FROM campaign_activities AS a
CROSS JOIN LATERAL unnest(analytics_stages(a.activity_type)) AS m(stage)
WHERE a.company_id = %(company)s AND a.campaign_id = %(campaign)s AND {COUNTED}
GROUP BY 1
"""


# --- the app server ------------------------------------------------------------------------------


def app_server(url: str) -> ServerProcess:
    """`create_app()` under uvicorn in a process of its own."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "agentconnect.app:create_app", "--factory"]
    command += ["--host", HOST, "--port", str(port), "--log-level", "warning", "--no-access-log"]
    env = {
        "AGENTCONNECT_DATABASE_URL": url,
        "AGENTCONNECT_SECRET_KEY": SECRET_KEY,
        "AGENTCONNECT_LOG_LEVEL": "WARNING",
    }
    return ServerProcess("analytics-app", command, env, port)


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Timing:
    samples_ms: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 0.50)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 0.95)


Call = Callable[[], Any]


def timed(call: Call, warmup: int, requests: int) -> Timing:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(samples)


def http_calls(client: httpx.Client, data: Dataset, compared: list[uuid.UUID]) -> dict[str, Call]:
    base = f"/api/v1/campaigns/{data.measured}"

    def get(path: str, **params: Any) -> Callable[[], Any]:
        def call() -> Any:
            answer = client.get(path, params=params)
            if answer.status_code != 200:
                raise BenchmarkFailed(f"GET {path}: {answer.status_code} {answer.text[:500]}")
            return answer.json()

        return call

    def compare() -> Any:
        body = {"campaign_ids": [str(c) for c in compared]}
        answer = client.post("/api/v1/campaigns/analytics/compare", json=body)
        if answer.status_code != 200:
            raise BenchmarkFailed(f"POST compare: {answer.status_code} {answer.text[:500]}")
        return answer.json()

    return {
        "performance": get(f"{base}/performance"),
        "funnel": get(f"{base}/funnel"),
        "timeseries": get(f"{base}/timeseries", metric="opened", interval="day"),
        "activities": get(f"{base}/activities", limit=50),
        "compare": compare,
    }


def bare_calls(
    conn: psycopg.Connection[Any], data: Dataset, compared: list[uuid.UUID]
) -> dict[str, Call]:
    params = {
        "company": data.company_id, "campaign": data.measured, "campaigns": compared,
        "since": data.started_at, "until": datetime.now(UTC),
    }  # fmt: skip

    def run(statements: tuple[str, ...]) -> Callable[[], list[list[Any]]]:
        def call() -> list[list[Any]]:
            return [conn.execute(s, params).fetchall() for s in statements]

        return call

    return {name: run(statements) for name, statements in BARE.items()}


# --- checks --------------------------------------------------------------------------------------


def _raw_totals(figures: dict[str, tuple[int, int]], enrolled: bool = True) -> dict[str, Any]:
    """The performance totals from per-type and per-stage figures (events, contacts)."""

    def contacts(kind: str) -> int:
        return figures.get(kind, (0, 0))[1]

    def events(*kinds: str) -> int:
        return sum(figures.get(kind, (0, 0))[0] for kind in kinds)

    return {
        "enrolled": contacts("enrolled") if enrolled else None,
        "sent": contacts("stage:sent"),
        "delivered": max(contacts("stage:delivered") - contacts("stage:bounced"), 0),
        "opened": contacts("stage:opened"),
        "opens_total": events("email_opened", "whatsapp_read"),
        "clicked": contacts("stage:clicked"),
        "clicks_total": events("stage:clicked"),
        "replied": contacts("stage:replied"),
        "bounced": contacts("stage:bounced"),
        "unsubscribed": contacts("stage:unsubscribed"),
        "failed": contacts("stage:failed"),
    }


def _raw_figures(
    conn: psycopg.Connection[Any], company: uuid.UUID, campaign: uuid.UUID
) -> dict[str, tuple[int, int]]:
    params = {"company": company, "campaign": campaign}
    figures: dict[str, tuple[int, int]] = {}
    for statement in (BARE_TYPES, RAW_STAGES):
        for kind, events, contacts in conn.execute(statement, params):
            figures[kind] = (int(events), int(contacts))
    return figures


def check(url: str, data: Dataset, compared: list[uuid.UUID], answers: dict[str, Any]) -> list[str]:
    """What the endpoints answered against the raw log; returns what was checked."""
    problems: list[str] = []

    def expect(what: str, got: Any, want: Any) -> None:
        if got != want:
            problems.append(f"{what}: the endpoint says {got!r}, the raw log {want!r}")

    with psycopg.connect(url) as conn:
        figures = _raw_figures(conn, data.company_id, data.measured)
        performance = answers["performance"]
        want = _raw_totals(figures)
        expect("performance totals", performance["totals"], want)
        expect("converted", performance["converted"], data.customers)
        expect("revenue", Decimal(performance["revenue"]), data.revenue)
        email = performance["by_channel"].get("email", {})
        for kind, (events, contacts) in figures.items():
            if not kind.startswith("stage:") and kind.startswith("email_"):
                got = email.get(kind)
                expect(f"by_channel email {kind}", got, {"events": events, "contacts": contacts})
        # per step (and variant): the step's combined totals and each variant's
        params = {"company": data.company_id, "campaign": data.measured}
        step_rows = conn.execute(
            f"""
            SELECT a.message_id, coalesce(a.variant, ''), x.kind, count(*),
                   count(DISTINCT a.contact_id)
            FROM campaign_activities AS a
            CROSS JOIN LATERAL (SELECT a.activity_type::text UNION ALL
                                SELECT 'stage:' || s
                                FROM unnest(analytics_stages(a.activity_type)) AS s
                               ) AS x(kind)
            WHERE a.company_id = %(company)s AND a.campaign_id = %(campaign)s
              AND a.message_id IS NOT NULL AND {COUNTED}
            GROUP BY 1, 2, 3
            """,
            params,
        ).fetchall()
        steps: dict[str, dict[str, dict[str, tuple[int, int]]]] = {}
        for message_id, variant, kind, events, contacts in step_rows:
            steps.setdefault(str(message_id), {}).setdefault(variant, {})[kind] = (
                int(events),
                int(contacts),
            )
        got_steps = {s["step_id"]: s for s in performance["by_step"] if s["step_id"]}
        expect("steps", sorted(got_steps), sorted(steps))
        for step_id, variants in steps.items():
            combined: dict[str, tuple[int, int]] = {}
            for kinds in variants.values():
                for kind, (events, contacts) in kinds.items():
                    had = combined.get(kind, (0, 0))
                    combined[kind] = (had[0] + events, had[1] + contacts)
            answer = got_steps.get(step_id, {})
            expect(f"step {step_id} totals", answer.get("totals"), _raw_totals(combined, False))
            named = {v["name"]: v["totals"] for v in answer.get("variants", [])}
            expect(
                f"step {step_id} variants",
                named,
                {name: _raw_totals(kinds, False) for name, kinds in variants.items() if name},
            )
        # the funnel
        stages = {s["stage"]: s["contacts"] for s in answers["funnel"]["stages"]}
        expect(
            "funnel",
            stages,
            {
                "enrolled": want["enrolled"], "sent": want["sent"],
                "delivered": want["delivered"], "opened": want["opened"],
                "clicked": want["clicked"], "replied": want["replied"],
                "converted": data.customers,
            },
        )  # fmt: skip
        # the time series: every counted open (stage opened) of the campaign, in 61 days
        series = answers["timeseries"]["points"]
        expect("time series total", sum(p["value"] for p in series), want["opens_total"])
        if not DAYS <= len(series) <= DAYS + 2:
            problems.append(f"time series: {len(series)} points for {DAYS} days")
        # compare: every campaign's totals
        got = [c["campaign_id"] for c in answers["compare"]["campaigns"]]
        expect("compared campaigns", got, [str(c) for c in compared])
        for answer in answers["compare"]["campaigns"]:
            campaign = uuid.UUID(answer["campaign_id"])
            expect(
                f"compare {campaign} totals",
                answer["totals"],
                _raw_totals(_raw_figures(conn, data.company_id, campaign)),
            )
        # the activity page
        page = conn.execute(BARE_PAGE, params).fetchall()
        total = conn.execute(BARE_PAGE_TOTAL, params).fetchone()
        activities = answers["activities"]
        expect("activity page", [i["id"] for i in activities["items"]], [str(r[0]) for r in page])
        expect("activity total", activities["total"], total[0] if total else None)
        # nothing left unfolded
        pending = conn.execute("SELECT count(*) FROM analytics_pending").fetchone()
        expect("analytics_pending rows", pending[0] if pending else None, 0)
    if problems:
        raise BenchmarkFailed("wrong results:\n  " + "\n  ".join(problems[:30]))
    return [
        f"performance totals {want}",
        f"converted {data.customers}, revenue {data.revenue}",
    ]


# --- EXPLAIN of the service's statements ---------------------------------------------------------


def explain(url: str, data: Dataset) -> str:
    from agentconnect.analytics import service

    params: dict[str, Any] = {
        "company": data.company_id, "campaign": data.measured, "campaigns": [data.measured],
        "window": service.ATTRIBUTION_WINDOW,
        "tz": "UTC", "unit": "day", "step": "1 day", "since": data.started_at,
        "until": datetime.now(UTC), "kind": "stage:opened",
    }  # fmt: skip
    statements: dict[str, DriverStatement | None] = {
        "_STAGE_CONTACTS": service._STAGE_CONTACTS,
        "_CAMPAIGN_TYPES": service._CAMPAIGN_TYPES,
        "_STEP_TYPES": service._STEP_TYPES,
        "_STEPS": service._STEPS,
        "_RESPONSE_TIME": service._RESPONSE_TIME,
        "_ATTRIBUTION[last_touch]": service._ATTRIBUTION["last_touch"],
        "_SERIES": service._SERIES,
        "analytics_fold (empty queue)": None,
    }
    out = []
    with psycopg.connect(url) as conn:
        for name, statement in statements.items():
            if statement is None:
                sql_text, values = "SELECT analytics_fold(50000)", {}
            else:  # the service's statements are compiled to psycopg's SQL already
                sql_text, values = statement.sql, {**statement.constants, **params}
            plan = conn.execute(
                f"EXPLAIN (ANALYZE, BUFFERS) {sql_text}",
                values,
            ).fetchall()
            out.append(f"--- {name}\n" + "\n".join(str(r[0]) for r in plan))
        conn.rollback()
    return "\n\n".join(out)


# --- the report ----------------------------------------------------------------------------------


def render(
    args: argparse.Namespace,
    data: Dataset,
    real: dict[str, Timing],
    bare: dict[str, Timing],
    environment: dict[str, str],
) -> str:
    def row(*cells: str) -> str:
        return (
            f"{cells[0]:<13}"
            + "".join(f"{c:>11}" for c in cells[1:-2])
            + "".join(f"  {c:<16}" for c in cells[-2:])
        )

    lines = [
        f"analytics benchmark: {data.activities:,} activities over {len(data.campaigns)} campaigns"
        f" ({data.enrollments:,} enrollments of {args.contacts:,} contacts); measured campaign:"
        f" {data.measured_activities:,} activities, {data.customers} customers;"
        f" compare: {args.compare} campaigns",
        f"Python {platform.python_version()}, PostgreSQL {environment['postgres']};"
        f" {os.cpu_count()} CPUs; load average before {environment['load_before']},"
        f" after {environment['load_after']}",
        f"generation: {data.generation_s:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in data.seconds.items())
        + ")",
        f"fold: {data.folded:,} queued activities in {data.fold_s:.1f} s ="
        f" {data.folded / data.fold_s if data.fold_s else 0:,.0f} activities/s"
        f" (analytics_fold({FOLD_BATCH:,}) per transaction)",
        "",
        f"{args.requests} timed calls per endpoint after {args.warmup} warm-up, one at a time;"
        " ms",
        row("endpoint", "real p50", "real p95", "bare p50", "bare p95", "x faster",
            f"p95 < {TARGET_P95_MS:g} ms", f">= {TARGET_RATIO:g}x"),
    ]  # fmt: skip
    for name in ENDPOINTS:
        r, b = real[name], bare[name]
        ratio = b.p95 / r.p95
        lines.append(
            row(
                name, f"{r.p50:.1f}", f"{r.p95:.1f}", f"{b.p50:.1f}", f"{b.p95:.1f}",
                f"{ratio:.1f}x",
                "met" if r.p95 < TARGET_P95_MS else "MISSED",
                ("met" if ratio >= TARGET_RATIO else "MISSED")
                + (" (no rollup)" if name == "activities" else ""),
            )
        )  # fmt: skip
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    if args.reuse:
        url = kept_database(args.database_url, args.database_name)
        measure(url, load_dataset(url), args)
        return
    with scratch_database(args.database_url, args.database_name, keep=args.keep_database) as url:
        say(
            f"generating ~{args.activities:,} activities over {args.campaigns} campaigns,"
            f" {args.contacts:,} contacts ..."
        )
        data = generate(url, args)
        say(
            f"generated {data.activities:,} activities in {data.generation_s:.1f} s;"
            f" folded in {data.fold_s:.1f} s"
        )
        save_dataset(url, data)
        measure(url, data, args)


def save_dataset(url: str, data: Dataset) -> None:
    """What the generation produced, kept in the database for a later --reuse."""
    saved = {
        **{name: getattr(data, name) for name in _SAVED},
        "company_id": str(data.company_id),
        "campaigns": [str(c) for c in data.campaigns],
        "revenue": str(data.revenue),
        "started_at": data.started_at.isoformat(),
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_dataset (data jsonb NOT NULL)")
        conn.execute("TRUNCATE bench_dataset")
        conn.execute("INSERT INTO bench_dataset VALUES (%s)", (Jsonb(saved),))


def load_dataset(url: str) -> Dataset:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT data FROM bench_dataset").fetchone()
    if row is None:
        raise BenchmarkFailed("--reuse: the database holds no dataset of an earlier run")
    saved = row[0]
    return Dataset(
        company_id=uuid.UUID(saved["company_id"]),
        campaigns=[uuid.UUID(c) for c in saved["campaigns"]],
        revenue=Decimal(saved["revenue"]),
        started_at=datetime.fromisoformat(saved["started_at"]),
        **{name: saved[name] for name in _SAVED},
    )


_SAVED = (
    "activities",
    "measured_activities",
    "enrollments",
    "customers",
    "seconds",
    "fold_s",
    "folded",
)


def measure(url: str, data: Dataset, args: argparse.Namespace) -> None:
    key = create_api_key(url, data.company_id)
    compared = data.campaigns[: args.compare]
    environment = {"postgres": server_version(url), "load_before": load_average()}
    real: dict[str, Timing] = {}
    with (
        running(app_server(url)) as server,
        httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        ) as client,
    ):
        calls = http_calls(client, data, compared)
        answers = {name: call() for name, call in calls.items()}
        say("checking the answers against the raw log ...")
        check(url, data, compared, answers)
        for name, call in calls.items():
            say(f"real {name}: {args.warmup} + {args.requests} requests ...")
            real[name] = timed(call, args.warmup, args.requests)
    bare: dict[str, Timing] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, call in bare_calls(conn, data, compared).items():
            say(f"bare {name}: {args.warmup} + {args.requests} runs ...")
            bare[name] = timed(call, args.warmup, args.requests)
    environment["load_after"] = load_average()
    print(render(args, data, real, bare, environment))
    if args.explain:
        print()
        print(explain(url, data))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--activities", type=int, default=10_000_000, help="about this many")
    parser.add_argument("--campaigns", type=int, default=200, help="campaigns of the company")
    parser.add_argument("--contacts", type=int, default=200_000, help="contacts of the company")
    parser.add_argument("--customers", type=int, default=300, help="converted contacts")
    parser.add_argument("--compare", type=int, default=5, help="campaigns compared")
    parser.add_argument("--requests", type=int, default=200, help="timed calls per endpoint")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    parser.add_argument("--chunk", type=int, default=500_000, help="activities per INSERT")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the service SQL")
    parser.add_argument("--seed", type=float, default=0.42, help="setseed() value, -1 to 1")
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="server to use")
    parser.add_argument("--database-name", default=SCRATCH_DATABASE, help="scratch database")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the data a --keep-database run left"
    )
    args = parser.parse_args(argv)
    if not 10_000 <= args.activities <= 100_000_000:
        parser.error("--activities must be 10,000 to 100,000,000")
    if not 5 <= args.campaigns <= 10_000 or not 1 <= args.compare <= min(20, args.campaigns):
        parser.error("--campaigns must be 5 to 10,000 and --compare 1 to 20")
    if args.contacts < 1_000 or args.customers < 0 or args.chunk < 1_000:
        parser.error("--contacts at least 1,000, --chunk at least 1,000, --customers >= 0")
    if args.requests < 1 or args.warmup < 0 or not -1 <= args.seed <= 1:
        parser.error("--requests at least 1, --warmup >= 0, --seed between -1 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return main_with(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
