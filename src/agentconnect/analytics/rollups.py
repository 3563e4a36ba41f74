"""The analytics rollups: rebuilt from the raw activity log, and checked against it.

The database keeps the rollups itself: triggers on `campaign_activities` queue what was
written or deleted, `fold` applies the queue (migration 0013). A rebuild is for what the
triggers cannot know: a rollup table restored from an older backup,
or a change to what counts. `differences` recomputes every figure from the raw log with plain
`GROUP BY`s — independently of the trigger's code — and lists where the rollups disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.db import Database

_ROLLUP_TABLES = (
    "analytics_campaign_stats",
    "analytics_step_stats",
    "analytics_timeline",
    "analytics_campaign_contacts",
    "analytics_step_contacts",
)
_BATCH = 50_000

# What analytics count, written out independently of the trigger functions.
_WHERE = """
    a.company_id = ANY(:companies) AND a.campaign_id IS NOT NULL
    AND NOT (a.activity_type = 'email_opened'
             AND coalesce(a.metadata ->> 'prefetched', 'false') = 'true')
"""
_STEP = "coalesce(a.message_id, '00000000-0000-0000-0000-000000000000'::uuid)"
# Every counted activity, and once more as each funnel stage it counts for (`stage:<name>`).
_COUNTED_WITH_STAGES = f"""
    FROM (
        SELECT a.campaign_id, {_STEP} AS step_key, coalesce(a.variant, '') AS variant_key,
               a.activity_type, a.contact_id, a.occurred_at
        FROM campaign_activities AS a WHERE {_WHERE}
        UNION ALL
        SELECT a.campaign_id, {_STEP}, coalesce(a.variant, ''), 'stage:' || m.stage,
               a.contact_id, a.occurred_at
        FROM campaign_activities AS a
        CROSS JOIN LATERAL unnest(analytics_stages(a.activity_type)) AS m(stage)
        WHERE {_WHERE}
    ) AS c
"""  # noqa: S608 - fixed SQL fragments, values bound

# (rollup table, its key columns, its figures, the same figures recomputed from the raw log)
_CHECKS: tuple[tuple[str, str, str, str], ...] = (
    (
        "analytics_campaign_stats",
        "campaign_id, activity_type",
        "events, contacts",
        f"SELECT c.campaign_id, c.activity_type, count(*), count(DISTINCT c.contact_id) "
        f"{_COUNTED_WITH_STAGES} GROUP BY 1, 2",
    ),
    (
        "analytics_step_stats",
        "campaign_id, step_key, variant_key, activity_type",
        "events, contacts",
        # a contact counts once per step and variant (the engine gives it one variant there)
        f"SELECT c.campaign_id, c.step_key, c.variant_key, c.activity_type, count(*), "
        f"count(DISTINCT c.contact_id) {_COUNTED_WITH_STAGES} GROUP BY 1, 2, 3, 4",
    ),
    (
        "analytics_timeline",
        "campaign_id, activity_type, bucket",
        "events",
        f"SELECT c.campaign_id, c.activity_type, date_bin('15 minutes', c.occurred_at, "
        f"timestamptz '2000-01-01 00:00:00+00'), count(*) {_COUNTED_WITH_STAGES} "
        f"GROUP BY 1, 2, 3",
    ),
)


@dataclass(frozen=True)
class Difference:
    table: str
    key: tuple[Any, ...]
    stored: tuple[Any, ...] | None
    recomputed: tuple[Any, ...] | None


async def fold(database: Database, batch: int = _BATCH) -> int:
    """Apply every queued activity to the rollups, batch after batch, each in a transaction of
    its own (a fold holds a lock that serializes folds until its transaction ends: inside a
    caller's longer transaction it would hold back every other fold). Returns how many."""
    # Most reads find the queue empty: that costs one index probe in one round trip, not a
    # transaction, the fold's lock, its temporary table and statements.
    pool = await database.bare_pool()
    async with pool.connection() as connection:
        cursor = await connection.execute(_ANYTHING_QUEUED)
        if not (await cursor.fetchone() or (False,))[0]:
            return 0
    total = 0
    while True:
        async with database.unit_of_work() as session:
            folded = await _fold_batch(session, batch)
        total += folded
        if folded < batch:
            return total


_ANYTHING_QUEUED = "SELECT EXISTS (SELECT 1 FROM analytics_pending)"


async def _fold_batch(session: AsyncSession, batch: int) -> int:
    return int(await session.scalar(text("SELECT analytics_fold(:batch)"), {"batch": batch}) or 0)


_ENQUEUE_BATCH = text(f"""
WITH batch AS (
    SELECT a FROM campaign_activities AS a
    WHERE a.company_id = ANY(:companies) AND a.id > :last
    ORDER BY a.id LIMIT {_BATCH}
)
SELECT analytics_enqueue(ARRAY(SELECT b.a FROM batch AS b), CAST(1 AS smallint)) AS queued,
       (SELECT max(CAST((b.a).id AS text)) FROM batch AS b) AS last
""")  # noqa: S608 - a constant


async def rebuild(session: AsyncSession, company_ids: Sequence[uuid.UUID]) -> int:
    """Forget the companies' rollups and count their activities again; returns how many
    activities were counted."""
    params = {"companies": list(company_ids)}
    # What is queued for them would be counted twice: the log is read whole below.
    while await _fold_batch(session, _BATCH) == _BATCH:
        pass
    for table in _ROLLUP_TABLES:
        await session.execute(
            text(f"DELETE FROM {table} WHERE company_id = ANY(:companies)"),  # noqa: S608
            params,
        )
    queued, last = 0, uuid.UUID(int=0)
    while True:  # queued as the triggers queue them (`analytics_enqueue`), a batch at a time
        row = (await session.execute(_ENQUEUE_BATCH, {**params, "last": last})).one()
        if row.last is None:
            break
        queued, last = queued + int(row.queued), uuid.UUID(row.last)
        while await _fold_batch(session, _BATCH) == _BATCH:
            pass
    return queued


async def differences(session: AsyncSession, company_ids: Sequence[uuid.UUID]) -> list[Difference]:
    """Where the stored rollups differ from a recomputation from the raw log (none: exact).
    Fold the queue first (`fold`) for a current answer."""
    params = {"companies": list(company_ids)}
    found: list[Difference] = []
    for table, key, figures, recompute in _CHECKS:
        width = len(key.split(","))
        stored_sql = f"SELECT {key}, {figures} FROM {table} WHERE company_id = ANY(:companies)"  # noqa: S608
        stored = {
            tuple(row[:width]): tuple(row[width:])
            for row in await session.execute(text(stored_sql), params)
        }
        fresh = {
            tuple(row[:width]): tuple(row[width:])
            for row in await session.execute(text(recompute), params)
        }
        for k in stored.keys() | fresh.keys():
            mine, theirs = stored.get(k), fresh.get(k)
            if _zero(mine) and theirs is None:
                continue  # counts taken back to zero leave their row behind
            if mine != theirs:
                found.append(Difference(table, k, mine, theirs))
    return found


def _zero(figures: tuple[Any, ...] | None) -> bool:
    return figures is not None and len(figures) > 0 and all(value == 0 for value in figures)
