"""Benchmark: bulk qualification of every lead, the real scoring service against bare SQL.

    python -m bench.scoring [--leads 100000] [--activities 5000000] [--runs 2] [--explain]
                            [--profile FILE] [--database-url URL] [--keep-database]

In a scratch database on the given server it generates, with SQL only, one company holding N
contacts (company size, industry and job title varied) with one lead each (qualification data
varied: empty, questions answered, BANT answers, demographic answers), M campaign activities
spread unevenly over 90 % of the contacts (sends, deliveries, opens -- a few prefetched by a
privacy proxy --, clicks, replies, calls, page views, forms...) over the last 180 days, stored
in time order as a live activity log is, and a conversation with 1-3 detected intents for a
fifth of the contacts. Then it times
(a) `scoring.service.qualify_all(session, company_id)` -- what
    `POST /api/v1/scoring/leads/bulk-qualify {"all": true}` runs -- in one unit of work, commit
    included, twice (the second run scores on top of the first run's score rows, and writes
    only the score rows that changed);
(b) the bare minimum of the engagement part of that work: one SQL statement computing every
    lead's engagement score from its contact's activities (decay 0.5 ** (age / 30 days); opens
    x5 capped at 30, clicks x10 capped at 30, replies x25 capped at 25, completed calls x15
    capped at 15; prefetched opens left out) into a temporary table.
It prints both times, their ratio and the leads per second against the target of the issue, a
breakdown of where the real path spends its time (wall clock and this process's CPU time, by
kind of SQL statement and by Python phase, garbage collection shown apart; the machine's load
average, since other work on it inflates wall clock times), and checks on a sample of leads
that the engagement score the real path stored equals the bare SQL's figure at the same
instant (and, for information, on all leads). It exits non-zero when
something is off (an error, a wrong count, a score different from the bare SQL's), never
because a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import re
import resource
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentconnect.db import Database
from agentconnect.leads import service as leads_service
from agentconnect.models import QualificationStatus
from agentconnect.scoring import service
from agentconnect.scoring.repository import ScoringRepository
from bench.common import BenchmarkFailed, main_with, say, scratch_database

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRATCH_DATABASE = "agentconnect_bench_scoring"

TARGET_LEADS_PER_SECOND = 10_000.0
SAMPLE_SIZE = 100

# Every tenth contact (n % 10 = 0) was never contacted: no activities, no engagement score.
UNCONTACTED_EVERY = 10
# Activities pick a block of ten contacts with density falling towards the end (a few contacts
# get hundreds of events, most a few dozen), then one of its nine contacted members.
ACTIVITY_SKEW = 1.3
ACTIVITY_DAYS = 180
PREFETCHED_SHARE = 0.04  # of the opens: a mail client's privacy proxy fetched the pixel
CONVERSATION_EVERY = 5  # contacts with n % 5 = 1 had a conversation, with 1-3 intents

# (activity type, share of all activities)
ACTIVITY_MIX = (
    ("email_sent", 0.28),
    ("email_delivered", 0.12),
    ("email_opened", 0.20),
    ("email_clicked", 0.07),
    ("email_replied", 0.02),
    ("sms_sent", 0.04),
    ("sms_replied", 0.01),
    ("whatsapp_replied", 0.005),
    ("call_initiated", 0.03),
    ("call_completed", 0.015),
    ("page_viewed", 0.15),
    ("form_submitted", 0.015),
    ("link_clicked", 0.02),
    ("meeting_scheduled", 0.005),
    ("enrolled", 0.02),
)
INTENTS = (
    "budget_confirmed", "timeline_defined", "pricing_interest", "demo_request",
    "decision_maker", "objection_budget", "objection_timing", "objection_competitor",
    "not_interested",
)  # fmt: skip

# The engagement score as the issue defines it (the scorer's defaults), written out here so the
# bare SQL does not borrow anything from the code under test.
HALF_LIFE_DAYS = 30.0
REPLY_TYPES = ("email_replied", "sms_replied", "whatsapp_replied")
SENT_TYPES = ("email_sent", "sms_sent", "whatsapp_sent", "call_initiated")
ENGAGEMENT_RULES = (  # (activity types, points per event, cap)
    (("email_opened",), 5, 30),
    (("email_clicked",), 10, 30),
    (REPLY_TYPES, 25, 25),
    (("call_completed",), 15, 15),
)


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# --- the scratch database -------------------------------------------------------------------


def server_description(url: str) -> str:
    """The version and the settings that decide these figures most."""
    names = ("server_version", "shared_buffers", "work_mem", "max_parallel_workers_per_gather")
    values = []
    with psycopg.connect(url) as conn:
        for name in (*names, "jit"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            assert row is not None
            values.append(str(row[0]))
    version, shared_buffers, work_mem, parallel, jit = values
    return (
        f"PostgreSQL {version.split()[0]} (shared_buffers {shared_buffers}, work_mem {work_mem},"
        f" max_parallel_workers_per_gather {parallel}, jit {jit})"
    )


def settle(url: str) -> None:
    """VACUUM ANALYZE what the previous phase wrote and flush dirty buffers, so no phase pays
    for the one before (autovacuum would do the same between two bulk runs)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) leads, contacts, lead_scores, lead_stage_changes")
        conn.execute("CHECKPOINT")


# --- data generation (SQL only) ---------------------------------------------------------------


@dataclass
class Dataset:
    company_id: uuid.UUID
    leads: int
    activities: int
    conversations: int
    intent_matches: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def generation_s(self) -> float:
        return sum(self.seconds.values())


# Contact n has id md5('bench-contact-n'), its lead md5('bench-lead-n'): the activities and
# conversations find their contact without a join. Attribute lists have coprime lengths (9, 8,
# 6) so every combination occurs.
_CONTACTS = """
INSERT INTO contacts (id, company_id, first_name, last_name, email, company_name, job_title,
                      industry, company_size, lifecycle_stage, lead_source, opt_in_status,
                      do_not_contact, tags, custom_fields, lead_score, created_at, updated_at)
SELECT md5('bench-contact-' || s.n)::uuid, %(company)s,
       (ARRAY['James', 'Mary', 'Wei', 'Priya', 'Ahmed', 'Fatima', 'José', 'Zoë'])[1 + s.n %% 8],
       (ARRAY['Smith', 'García', 'Müller', 'Nguyen', 'Kim', 'Patel', 'O''Brien'])[1 + s.n %% 7],
       'contact' || s.n || '@example.com', 'Customer ' || (s.n %% 9973),
       (ARRAY['CEO', 'Founder & CTO', 'VP Sales', 'Head of Marketing', 'Purchasing Manager',
              'Software Engineer', 'Data Analyst', 'Office Assistant', NULL])[1 + s.n %% 9],
       (ARRAY['Software', 'finance', 'Healthcare', 'retail', 'energy', 'education',
              'logistics', NULL])[1 + (s.n / 9) %% 8],
       (ARRAY['1-10', '11-50', '51-200', '201-1000', '1000+', NULL])[1 + (s.n / 72) %% 6],
       'lead', 'import', 'unknown', false, '[]', '{}', 0, s.created_at, s.created_at
FROM (
    SELECT n, now() - random() * interval '365 days' AS created_at
    FROM generate_series(0, %(leads)s - 1) AS n
) AS s
"""

# Stages: 70 % still `lead` (scoring may promote them), the rest further on. Qualification
# data: 40 % empty, 30 % questions answered, 20 % BANT answers, 10 % demographic answers that
# override the contact record.
_LEADS = """
INSERT INTO leads (id, company_id, contact_id, title, stage, qualification_status, score,
                   currency, qualification_data, stage_changed_at, created_at, updated_at)
SELECT md5('bench-lead-' || s.n)::uuid, %(company)s, md5('bench-contact-' || s.n)::uuid,
       'Deal ' || s.n,
       CASE WHEN s.r_stage < 0.70 THEN 'lead' WHEN s.r_stage < 0.85 THEN 'mql'
            WHEN s.r_stage < 0.93 THEN 'sql' WHEN s.r_stage < 0.97 THEN 'opportunity'
            WHEN s.r_stage < 0.99 THEN 'customer' ELSE 'lost' END,
       'pending', 0, 'USD',
       CASE WHEN s.r_data < 0.4 THEN '{}'::jsonb
            WHEN s.r_data < 0.7 THEN jsonb_build_object(
                'questions_total', 5, 'questions_answered', floor(random() * 6)::int)
            WHEN s.r_data < 0.9 THEN jsonb_build_object(
                'questions_total', 4, 'questions_answered', 2 + s.n %% 3,
                'budget_confirmed', s.n %% 2 = 0, 'timeline_defined', s.n %% 3 = 0,
                'decision_maker', s.n %% 5 <> 0)
            ELSE jsonb_build_object(
                'company_size', '1000+', 'industry', 'software', 'job_title', 'VP Engineering')
       END,
       s.created_at, s.created_at, s.created_at
FROM (
    SELECT n, random() AS r_stage, random() AS r_data,
           now() - random() * interval '365 days' AS created_at
    FROM generate_series(0, %(leads)s - 1) AS n
) AS s
"""


def _activity_case(column: str) -> str:
    """SQL mapping a uniform random number to an activity type with ACTIVITY_MIX's shares."""
    arms, bound = [], 0.0
    for activity_type, share in ACTIVITY_MIX[:-1]:
        bound += share
        arms.append(f"WHEN {column} < {bound:.4f} THEN '{activity_type}'")
    return f"CASE {' '.join(arms)} ELSE '{ACTIVITY_MIX[-1][0]}' END"


# Inserted in occurred_at order, as a live log is appended: one contact's events are scattered
# over the whole table, which is what reading them per contact costs in production.
_ACTIVITIES = f"""
INSERT INTO campaign_activities (id, company_id, contact_id, activity_type, occurred_at,
                                 metadata)
SELECT gen_random_uuid(), %(company)s, md5('bench-contact-' || t.n)::uuid, t.activity_type,
       t.occurred_at,
       CASE WHEN t.activity_type = 'email_opened' AND t.r_meta < {PREFETCHED_SHARE}
            THEN '{{"prefetched": true}}'::jsonb ELSE '{{}}'::jsonb END
FROM (
    SELECT s.block * {UNCONTACTED_EVERY} + 1 + floor(s.r_member * {UNCONTACTED_EVERY - 1})::int
               AS n,
           {_activity_case("s.r_type")} AS activity_type, s.r_meta, s.occurred_at
    FROM (
        SELECT floor(power(random(), {ACTIVITY_SKEW}) * %(blocks)s)::int AS block,
               random() AS r_member, random() AS r_type, random() AS r_meta,
               now() - random() * interval '{ACTIVITY_DAYS} days' AS occurred_at
        FROM generate_series(1, %(activities)s)
    ) AS s
) AS t
ORDER BY t.occurred_at
"""

_CONVERSATIONS = f"""
INSERT INTO conversations (id, company_id, contact_id, lead_id, channel, started_at, messages)
SELECT md5('bench-conversation-' || n)::uuid, %(company)s, md5('bench-contact-' || n)::uuid,
       md5('bench-lead-' || n)::uuid,
       (ARRAY['call', 'sms', 'whatsapp', 'email', 'chat'])[1 + n %% 5],
       now() - random() * interval '{ACTIVITY_DAYS} days', '[]'
FROM generate_series(0, %(leads)s - 1) AS n
WHERE n %% {CONVERSATION_EVERY} = 1
"""

_INTENT_MATCHES = f"""
INSERT INTO intent_matches (id, company_id, conversation_id, contact_id, intent, confidence,
                            evidence, detected_at)
SELECT gen_random_uuid(), c.company_id, c.id, c.contact_id,
       (ARRAY[{_sql_list(INTENTS)}])[1 + floor(random() * {len(INTENTS)})::int],
       round((0.5 + random() * 0.5)::numeric, 2)::float8,
       'we could look at this next quarter, send me the pricing',
       c.started_at + k * interval '1 second'
FROM conversations AS c
CROSS JOIN LATERAL generate_series(1, 1 + floor(random() * 3)::int) AS k
WHERE c.company_id = %(company)s
"""


@contextmanager
def without_indexes(conn: psycopg.Connection[Any], table: str) -> Iterator[None]:
    """Drop the table's indexes, primary key and foreign keys for a bulk load, then build them
    again: the same schema, built in minutes less than row-by-row index maintenance takes."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('p', 'f')"
        " ORDER BY contype DESC",  # the primary key first
        (table,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        " AND tablename = %s AND indexname NOT IN"
        " (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        (table, table),
    ).fetchall()
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    for name, _, _ in constraints:
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )
    yield
    for name, definition, _ in constraints:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(table), sql.Identifier(name), sql.SQL(definition)
            )
        )
    for _, definition in indexes:
        conn.execute(sql.SQL(definition))


def generate(url: str, leads: int, activities: int, seed: float) -> Dataset:
    company_id = uuid.uuid4()
    seconds: dict[str, float] = {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        say(f"  {name} ...")
        started = time.perf_counter()
        yield
        seconds[name] = time.perf_counter() - started
        say(f"  {name}: {seconds[name]:.1f} s")

    args = {
        "company": company_id,
        "leads": leads,
        "activities": activities,
        "blocks": leads // UNCONTACTED_EVERY,
    }
    with psycopg.connect(url) as conn:
        conn.execute("SELECT setseed(%s)", (seed,))
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(
            "INSERT INTO companies (id, name, default_timezone, settings)"
            " VALUES (%s, 'Bench company', 'UTC', '{}')",
            (company_id,),
        )
        with step("contacts"):
            conn.execute(_CONTACTS, args)
        with step("leads"):
            conn.execute(_LEADS, args)
        with without_indexes(conn, "campaign_activities"):
            with step("activities"):
                activity_rows = conn.execute(_ACTIVITIES, args).rowcount
            say("  activities: primary key, foreign keys and indexes ...")
            started = time.perf_counter()
        seconds["activity keys and indexes"] = time.perf_counter() - started
        say(f"  activity keys and indexes: {seconds['activity keys and indexes']:.1f} s")
        with step("conversations and intents"):
            conversations = conn.execute(_CONVERSATIONS, args).rowcount
            matches = conn.execute(_INTENT_MATCHES, args).rowcount
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn, step("VACUUM ANALYZE, CHECKPOINT"):
        for table in ("companies", "contacts", "leads", "campaign_activities", "conversations",
                      "intent_matches", "lead_scores", "lead_stage_changes"):  # fmt: skip
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        conn.execute("CHECKPOINT")
    if activity_rows != activities:
        raise BenchmarkFailed(f"generated {activity_rows} activities, not {activities}")
    return Dataset(company_id, leads, activity_rows, conversations, matches, seconds)


# --- the bare SQL -------------------------------------------------------------------------------


def bare_engagement_sql(at: str, only_ids: bool = False) -> str:
    """Every lead's engagement score from its contact's activities, as of the instant `at`
    (an SQL expression). Float8 throughout, as the scorer computes in Python floats: round()
    of a float8 rounds half to even, as Python's round() does."""
    age_days = f"greatest(0, extract(epoch FROM {at} - a.occurred_at))::float8 / 86400"
    decay = f"power(0.5::float8, {age_days} / {HALF_LIFE_DAYS})"
    terms = "\n         + ".join(
        f"least({cap}, {points} * coalesce(sum({decay})"
        f" FILTER (WHERE a.activity_type IN ({_sql_list(types)})), 0))"
        for types, points, cap in ENGAGEMENT_RULES
    )
    counted = tuple(t for types, _, _ in ENGAGEMENT_RULES for t in types) + SENT_TYPES
    sample = "AND l.id = ANY(%(ids)s)" if only_ids else ""
    # A lead gets a score when its contact was sent something or engaged (the scorer returns
    # None otherwise); an open a privacy proxy prefetched does not count at all.
    return f"""
SELECT l.id AS lead_id,
       round(least(100, {terms}))::smallint AS score
FROM leads AS l
JOIN campaign_activities AS a ON a.company_id = l.company_id AND a.contact_id = l.contact_id
WHERE l.company_id = %(company)s {sample}
  AND a.activity_type IN ({_sql_list(counted)})
  AND (a.activity_type <> 'email_opened' OR a.metadata ->> 'prefetched' IS DISTINCT FROM 'true')
GROUP BY l.id
"""


def run_bare(conn: psycopg.Connection[Any], company_id: uuid.UUID) -> tuple[float, int]:
    """CREATE TEMP TABLE bare_engagement AS <the statement>, committed; seconds and rows."""
    conn.execute("DROP TABLE IF EXISTS bare_engagement")
    conn.commit()
    statement = "CREATE TEMP TABLE bare_engagement AS " + bare_engagement_sql("now()")
    started = time.perf_counter()
    rows = conn.execute(statement, {"company": company_id}).rowcount
    conn.commit()
    return time.perf_counter() - started, rows


# --- the real path ------------------------------------------------------------------------------

# Statement categories, by a piece of their SQL, in the order they are tried.
_STATEMENT_KINDS = (
    ("WITH target", "promote: leads, history, contacts"),
    ("FROM scoring_configs", "config"),
    ("FROM campaign_activities", "facts: activity tallies"),
    ("FROM intent_matches", "facts: intents"),
    ("INTO lead_score_fingerprints", "store: fingerprints of the rows written"),
    ("FROM lead_score_fingerprints", "fingerprints: stored"),
    ("FROM lead_scores", "facts: manual scores"),
    ("JOIN contacts", "facts: leads + contacts"),
    ("work_mem", "facts: work_mem for the whole-company pass"),
    ("SELECT now()", "store: SELECT now()"),
    ("UPDATE leads AS l", "apply: UPDATE leads"),
    ("UPDATE contacts AS c", "apply: UPDATE contacts"),
)


def statement_kind(statement: str) -> str:
    for piece, kind in _STATEMENT_KINDS:
        if piece in statement:
            return kind
    return "other: " + " ".join(statement.split())[:60]


@dataclass
class Spent:
    """Time spent somewhere: wall clock, and CPU time of this process (the client: Python,
    SQLAlchemy, psycopg), which other load on the machine barely changes."""

    count: int = 0
    wall: float = 0.0
    cpu: float = 0.0

    def __sub__(self, other: Spent) -> Spent:
        return Spent(0, self.wall - other.wall, self.cpu - other.cpu)

    def __add__(self, other: Spent) -> Spent:
        return Spent(self.count + other.count, self.wall + other.wall, self.cpu + other.cpu)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


@dataclass
class RealRun:
    spent: Spent  # the whole unit of work, commit included
    commit: Spent
    outcomes: int
    statuses: dict[str, int]
    promoted: int
    score_rows: int  # scores computed
    rows_written: int  # score rows written (those that differ from the newest stored one)
    at: datetime  # the run's transaction time: the instant its scores are as of
    load: tuple[float, float, float]  # the machine's load average when the run began
    # phase -> time in the service functions it calls (timed by wrapping them); statement
    # kind -> time between SQLAlchemy's before and after cursor execute
    phases: dict[str, Spent]
    statements: dict[str, Spent]
    gc: Spent
    peak_rss_mb: float  # this process's high-water mark so far
    captured: dict[str, tuple[str, Any]]
    profile: str | None = None  # pyinstrument's text output

    @property
    def seconds(self) -> float:
        return self.spent.wall

    @property
    def leads_per_second(self) -> float:
        return self.outcomes / self.seconds


class Probe:
    """Times the service's phases by wrapping the functions it calls (restored afterwards) and
    every SQL statement by SQLAlchemy's cursor events; keeps the first statement of each kind."""

    PHASES: tuple[tuple[Any, str, str], ...] = (
        (ScoringRepository, "facts", "facts"),
        (ScoringRepository, "fingerprints", "fingerprints"),
        (ScoringRepository, "add_activities", "activities"),
        (service, "_score_profiles", "profiles"),
        (ScoringRepository, "apply", "apply"),
        (leads_service, "promote_by_scoring", "promote"),
        (service, "load_config", "config"),
    )

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.phases: dict[str, Spent] = defaultdict(Spent)
        self.statements: dict[str, Spent] = defaultdict(Spent)
        self.captured: dict[str, tuple[str, Any]] = {}
        self.gc = Spent()  # Python's cyclic garbage collector, inside the phases above
        self._gc_started = (0.0, 0.0)

    def _gc_callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = _clock()
        else:
            self._add(self.gc, self._gc_started)

    @staticmethod
    def _add(spent: Spent, started: tuple[float, float]) -> None:
        wall, cpu = _clock()
        spent.count += 1
        spent.wall += wall - started[0]
        spent.cpu += cpu - started[1]

    def _timed(
        self, name: str, function: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = _clock()
            try:
                return await function(*args, **kwargs)
            finally:
                self._add(self.phases[name], started)

        return timed

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(_clock())

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        kind = statement_kind(statement)
        self._add(self.statements[kind], conn.info["bench_started"].pop())
        self.captured.setdefault(kind, (statement, parameters))

    def _timed_writer(self, score_writer: Callable[..., Any]) -> Callable[..., Any]:
        """The open COPY: time in its write calls (rows to COPY text, sent; a call waits when
        the server falls behind) and in closing it (the server storing what is still queued)."""

        @asynccontextmanager
        async def timed(repo: Any) -> AsyncIterator[Callable[..., Awaitable[None]]]:
            started = _clock()
            async with score_writer(repo) as write:
                self._add(self.phases["store: open"], started)

                async def timed_write(rows: Any) -> None:
                    began = _clock()
                    try:
                        await write(rows)
                    finally:
                        self._add(self.phases["store: write"], began)

                yield timed_write
                closing = _clock()
            self._add(self.phases["store: close"], closing)

        return timed

    @contextmanager
    def installed(self) -> Iterator[None]:
        originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in self.PHASES]
        for (owner, attr, name), (_, _, original) in zip(self.PHASES, originals, strict=True):
            setattr(owner, attr, self._timed(name, original))
        score_writer = ScoringRepository.score_writer
        ScoringRepository.score_writer = self._timed_writer(score_writer)  # type: ignore[method-assign]
        sync_engine = self.engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", self._before)
        event.listen(sync_engine, "after_cursor_execute", self._after)
        gc.callbacks.append(self._gc_callback)
        try:
            yield
        finally:
            gc.callbacks.remove(self._gc_callback)
            event.remove(sync_engine, "before_cursor_execute", self._before)
            event.remove(sync_engine, "after_cursor_execute", self._after)
            for owner, attr, original in originals:
                setattr(owner, attr, original)
            ScoringRepository.score_writer = score_writer  # type: ignore[method-assign]


async def run_real(url: str, company_id: uuid.UUID, profile: bool) -> RealRun:
    database = Database.from_url(url)
    profiler: Any = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="enabled")
    load = os.getloadavg()
    try:
        async with database.engine.connect() as conn:  # a warm pool, as a running API has
            await conn.execute(text("SELECT 1"))
        probe = Probe(database.engine)
        with probe.installed():
            if profiler is not None:
                profiler.start()
            started = _clock()
            async with database.unit_of_work() as session:
                summary = await service.qualify_all(session, company_id)
                body_done = _clock()
                # The instant the real path scored at (its transaction's now(), the decay's
                # reference), for the check; outside the timed body.
                at = (await session.execute(text("SELECT now()"))).scalar_one()
            finished = _clock()
            if profiler is not None:
                profiler.stop()
    finally:
        await database.dispose()
    profile_text = None
    if profiler is not None:
        profile_text = str(profiler.output_text(unicode=True, color=False, show_all=False))
    statuses = {s.value: summary.statuses[s] for s in QualificationStatus}
    return RealRun(
        spent=Spent(1, finished[0] - started[0], finished[1] - started[1]),
        commit=Spent(1, finished[0] - body_done[0], finished[1] - body_done[1]),
        outcomes=summary.scored,
        statuses=statuses,
        promoted=summary.promoted,
        score_rows=summary.score_rows,
        rows_written=summary.rows_written,
        at=at,
        load=load,
        phases=dict(probe.phases),
        statements=dict(probe.statements),
        gc=probe.gc,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        captured=probe.captured,
        profile=profile_text,
    )


# --- checks -------------------------------------------------------------------------------------

_NEWEST_ENGAGEMENT = """
SELECT DISTINCT ON (lead_id) lead_id, score, computed_at
FROM lead_scores
WHERE company_id = %(company)s AND score_type = 'engagement' {sample}
ORDER BY lead_id, computed_at DESC, id
"""


@dataclass
class Check:
    sample: int = 0
    sample_equal: int = 0
    sample_unscored: int = 0  # no engagement score on either side (never contacted)
    mismatches: list[str] = field(default_factory=list)
    clock_differences: int = 0  # sample leads whose score moved between the two instants
    all_leads: int = 0
    all_mismatches: int = 0
    stored_rows: int = 0


def check(conn: psycopg.Connection[Any], data: Dataset, at: datetime) -> Check:
    """The newest stored engagement score of a sample of leads against the bare SQL computed
    at the same instant (`at`, the last real run's transaction time), then against the timed
    bare table (computed seconds later: the decay moved a little), then all leads. A score
    row is written only when it changed, so the newest row may come from an earlier run: it
    must still equal the bare SQL at `at` (which checks that leaving it alone was right), and
    it must not be newer than `at`."""
    result = Check()
    args: dict[str, Any] = {"company": data.company_id, "at": at}
    row = conn.execute(
        "SELECT count(*) FROM lead_scores WHERE company_id = %(company)s", args
    ).fetchone()
    assert row is not None
    result.stored_rows = row[0]
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM leads WHERE company_id = %(company)s"
            " ORDER BY md5(id::text || 'sample') LIMIT %(n)s",
            {**args, "n": SAMPLE_SIZE},
        )
    ]
    args["ids"] = ids
    stored = {
        r[0]: (r[1], r[2])
        for r in conn.execute(_NEWEST_ENGAGEMENT.format(sample="AND lead_id = ANY(%(ids)s)"), args)
    }
    same_instant = dict(
        conn.execute(bare_engagement_sql("%(at)s::timestamptz", only_ids=True), args).fetchall()
    )
    timed = dict(
        conn.execute("SELECT lead_id, score FROM bare_engagement WHERE lead_id = ANY(%s)", (ids,))
    )
    result.sample = len(ids)
    for lead_id in ids:
        real_score, computed_at = stored.get(lead_id, (None, None))
        bare_score = same_instant.get(lead_id)
        if computed_at is not None and computed_at > at:
            result.mismatches.append(f"{lead_id}: newest engagement row is from {computed_at}")
        elif real_score == bare_score:
            result.sample_equal += 1
            result.sample_unscored += real_score is None
        else:
            result.mismatches.append(f"{lead_id}: real path {real_score}, bare SQL {bare_score}")
        result.clock_differences += timed.get(lead_id) != bare_score
    # All leads, for information: the same comparison over the whole company.
    row = conn.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE r.score IS DISTINCT FROM b.score)
        FROM ({_NEWEST_ENGAGEMENT.format(sample="")}) AS r
        FULL JOIN ({bare_engagement_sql("%(at)s::timestamptz")}) AS b USING (lead_id)
        """,
        args,
    ).fetchone()
    assert row is not None
    result.all_leads, result.all_mismatches = row
    conn.rollback()
    return result


# --- reporting --------------------------------------------------------------------------------


_LONG_ARRAY = re.compile(r"'\{[^}]{200,}\}'")


def _shorten(line: str) -> str:
    """An array of thousands of ids in a plan line says nothing: print how many there are."""
    return _LONG_ARRAY.sub(lambda m: f"'{{... {m.group(0).count(',') + 1} elements}}'", line)


def explain(url: str, data: Dataset, real: RealRun) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the real path's first SELECT of each kind and of the bare
    statement, in a transaction rolled back."""
    out = []
    with psycopg.connect(url) as conn:
        statements = [
            (kind, statement, parameters)
            for kind, (statement, parameters) in sorted(real.captured.items())
            if statement.lstrip().upper().startswith("SELECT") and not kind.startswith("store")
        ]
        statements.append(("bare SQL", bare_engagement_sql("now()"), {"company": data.company_id}))
        for kind, statement, parameters in statements:
            out.append(f"--- {kind} ---\n{statement.strip()}\n")
            rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            out.extend(_shorten(str(r[0])) for r in rows)
            out.append("")
        conn.rollback()
    return "\n".join(out)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def breakdown(real: RealRun) -> list[str]:
    """Where the real run's time goes: SQL statements by kind, and the Python between them
    (phases are the service functions, timed by wrapping them; the scorers are what is left)."""
    phases, statements = real.phases, real.statements
    width = 44
    none = Spent()

    def total(names: tuple[str, ...], spent: dict[str, Spent]) -> Spent:
        result = Spent()
        for name in names:
            result = result + spent.get(name, none)
        return result

    def line(name: str, spent: Spent, note: str = "") -> str:
        share = 100 * spent.wall / real.seconds
        return (
            f"    {name:<{width}}{spent.wall:>8.2f} s {share:>5.1f} % {spent.cpu:>8.2f} s  {note}"
        )

    def statement_line(kind: str) -> str:
        spent = statements.get(kind, none)
        return line(kind[:width], spent, f"{spent.count} statements" if spent.count else "")

    facts_sql = ("facts: leads + contacts", "facts: intents", "facts: manual scores")
    activity_sql = ("facts: work_mem for the whole-company pass", "facts: activity tallies")
    body = real.spent - real.commit
    # The activity pass runs while the profile scores are computed: its time is shown, not
    # added; waiting for it after them falls in "the rest".
    in_phases = total(tuple(p for p in phases if p != "activities"), phases)
    lines = [
        f"    {'':<{width}}{'wall':>10} {'share':>7} {'client CPU':>10}",
        *(statement_line(k) for k in ("config", *facts_sql)),
        line("facts: Python (rows to LeadFacts)",
             phases.get("facts", none) - total(facts_sql, statements)),
        statement_line("fingerprints: stored"),
        line("fingerprints: Python (JSON to a dict)",
             phases.get("fingerprints", none) - statements.get("fingerprints: stored", none)),
        "    the activity pass, running while the profile scores are computed (not added up):",
        *(statement_line(k) for k in activity_sql),
        line("  activities: Python (rows to tallies)",
             phases.get("activities", none) - total(activity_sql, statements)),
        line("profile scores and their rows (Python)", phases.get("profiles", none),
             "intent, demographic, workflow"),
        line("activity scores, combiner, rules (Python)", body - in_phases,
             "the rest of _qualify, and any wait for the activity pass"),
        line("store: open the COPY", phases.get("store: open", none)),
        line("store: rows to COPY text, sent", phases.get("store: write", none),
             f"{real.rows_written:,} rows; waits when the server falls behind"),
        line("store: close the COPY (server catches up)", phases.get("store: close", none)),
        statement_line("store: fingerprints of the rows written"),
        *(statement_line(k) for k in ("apply: UPDATE leads", "apply: UPDATE contacts",
                                      "promote: leads, history, contacts")),
        *(statement_line(k) for k in statements if k.startswith("other")),
        line("commit", real.commit),
        line("total", real.spent),
        line("(included above: Python garbage collection)", real.gc,
             f"{real.gc.count} collections; client peak RSS {real.peak_rss_mb:,.0f} MB"),
    ]  # fmt: skip
    return lines


def render(
    data: Dataset,
    reals: list[RealRun],
    bares: list[tuple[float, int]],
    result: Check,
    postgres: str,
) -> str:
    width = 50

    def row(
        name: str, seconds: str, rate: str, ratio: str, target: str = "", verdict: str = ""
    ) -> str:
        return f"{name:<{width}}{seconds:>9}{rate:>11}{ratio:>9}  {target:<20}{verdict}"

    lines = [
        f"scoring benchmark: {data.leads:,} leads (1 company, one contact each),"
        f" {data.activities:,} activities, {data.conversations:,} conversations with"
        f" {data.intent_matches:,} intent matches; Python {platform.python_version()},"
        f" {postgres}",
        f"generation: {data.generation_s:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in data.seconds.items())
        + ")",
        "",
        row("", "seconds", "leads/s", "ratio", "target", "result"),
    ]
    for i, (real, (bare_s, bare_rows)) in enumerate(zip(reals, bares, strict=True), 1):
        on_top = " (on top of run 1)" if i > 1 else ""
        ok = real.leads_per_second > TARGET_LEADS_PER_SECOND
        lines += [
            row(f"run {i}: bulk-qualify, real code{on_top}", f"{real.seconds:.2f}",
                f"{real.leads_per_second:,.0f}", f"{real.seconds / bare_s:.1f}x",
                f"> {TARGET_LEADS_PER_SECOND:,.0f} leads/s", _verdict(ok)),
            row(f"run {i}: bare SQL engagement score", f"{bare_s:.2f}",
                f"{data.leads / bare_s:,.0f}", "1.0x"),
        ]  # fmt: skip
        lines.append(
            f"    scored {real.outcomes:,} leads: {real.statuses['qualified']:,} qualified,"
            f" {real.statuses['disqualified']:,} disqualified, {real.statuses['pending']:,}"
            f" pending, {real.promoted:,} promoted to mql; {real.score_rows:,} scores,"
            f" {real.rows_written:,} score rows written (the others equal the newest stored);"
            f" bare SQL: {bare_rows:,} engagement scores"
        )
    lines += ["", "ratio = real / bare (the real path runs all six scorers, the combiner and"
              " the rules, and stores every score that changed with its factors; the bare SQL"
              " only the engagement score)", ""]  # fmt: skip
    for i, real in enumerate(reals, 1):
        lines.append(
            f"where run {i}'s {real.seconds:.2f} s go (machine load average"
            f" {real.load[0]:.1f} on {os.cpu_count()} CPUs as it began); the client's CPU time"
            f" alone, {real.spent.cpu:.1f} s, caps it at"
            f" {real.outcomes / real.spent.cpu:,.0f} leads/s:"
        )
        lines += breakdown(real)
    equal = result.sample_equal == result.sample
    lines += [
        "",
        f"check: engagement score stored by run {len(reals)} (newest row) vs bare SQL at the same"
        f" instant, {result.sample} sampled leads: {result.sample_equal} equal"
        f" ({result.sample_unscored} without a score on both sides) -> {_verdict(equal)}",
        f"    all {result.all_leads:,} scored leads (info): {result.all_mismatches} differ;"
        f" vs the timed bare table (its own now()): {result.clock_differences} of the sample"
        f" differ by the clock; {result.stored_rows:,} lead_scores rows in all",
    ]
    lines += [f"    MISMATCH {m}" for m in result.mismatches[:20]]
    return "\n".join(lines)


# --- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    with scratch_database(args.database_url, args.database_name, keep=args.keep_database) as url:
        say(f"generating {args.leads:,} leads and {args.activities:,} activities ...")
        data = generate(url, args.leads, args.activities, args.seed)
        say(f"generated in {data.generation_s:.1f} s")
        reals: list[RealRun] = []
        bares: list[tuple[float, int]] = []
        with psycopg.connect(url) as bare_conn:
            for i in range(1, args.runs + 1):
                settle(url)
                say(f"run {i}: qualify_all ...")
                real = asyncio.run(run_real(url, data.company_id, profile=False))
                say(f"run {i}: {real.seconds:.2f} s, {real.leads_per_second:,.0f} leads/s")
                if real.outcomes != data.leads:
                    raise BenchmarkFailed(f"scored {real.outcomes} leads, not {data.leads}")
                reals.append(real)
                settle(url)
                say(f"run {i}: bare SQL ...")
                bares.append(run_bare(bare_conn, data.company_id))
                say(f"run {i}: bare {bares[-1][0]:.2f} s, {bares[-1][1]:,} rows")
            say("checking the stored engagement scores ...")
            result = check(bare_conn, data, reals[-1].at)
        if args.profile is not None:
            settle(url)
            say("one more run under pyinstrument (not in the figures) ...")
            profiled = asyncio.run(run_real(url, data.company_id, profile=True))
            assert profiled.profile is not None
            args.profile.write_text(profiled.profile)
            say(f"  {profiled.seconds:.2f} s under the profiler, written to {args.profile}")
        print(render(data, reals, bares, result, server_description(url)))
        if args.explain:
            print()
            print(explain(url, data, reals[-1]))
        if result.mismatches:
            raise BenchmarkFailed(
                f"{len(result.mismatches)} of {result.sample} sampled engagement scores differ"
                " from the bare SQL"
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=100_000, help="leads (one contact each)")
    parser.add_argument("--activities", type=int, default=5_000_000, help="campaign activities")
    parser.add_argument("--runs", type=int, default=2, help="real and bare runs, in turn")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE")
    parser.add_argument(
        "--profile", type=Path, default=None, help="one more run under pyinstrument, text to FILE"
    )
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="server to use")
    parser.add_argument("--database-name", default=SCRATCH_DATABASE, help="scratch database")
    parser.add_argument("--seed", type=float, default=0.42, help="setseed() value, -1 to 1")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    args = parser.parse_args(argv)
    if args.leads < 10 * UNCONTACTED_EVERY or args.activities < 1:
        parser.error("--leads must be at least 100 and --activities at least 1")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not -1 <= args.seed <= 1:
        parser.error("--seed must be between -1 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return main_with(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
