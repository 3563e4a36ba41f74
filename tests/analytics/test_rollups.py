"""The rollups agree exactly with a recomputation from the raw activity log, whatever writes,
changes or deletes activities — and a rebuild gives the same figures."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.analytics.rollups import differences, fold, rebuild
from agentconnect.db import Database
from tests.campaigns.conftest import CAMPAIGNS, add_step, contact, new_campaign
from tests.fixtures.world import World

TYPES = ["email_sent", "email_delivered", "email_opened", "email_clicked", "email_replied"]
START = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


async def _insert(database: Database, rows: list[dict[str, Any]]) -> None:
    """One statement for the whole list, as the engine writes its batches."""
    async with database.unit_of_work() as session:
        await session.execute(
            text("""
            INSERT INTO campaign_activities (id, company_id, campaign_id, contact_id, message_id,
                                             variant, activity_type, occurred_at, metadata)
            SELECT gen_random_uuid(), r.company_id, r.campaign_id, r.contact_id, r.message_id,
                   r.variant, r.activity_type, r.occurred_at, r.metadata
            FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
                company_id uuid, campaign_id uuid, contact_id uuid, message_id uuid,
                variant text, activity_type text, occurred_at timestamptz, metadata jsonb)
            """),
            {"rows": _json(rows)},
        )


def _json(rows: list[dict[str, Any]]) -> str:
    import json

    return json.dumps(rows, default=str)


async def test_rollups_stay_exact_through_inserts_updates_and_deletes(
    world: World, database: Database, session: AsyncSession
) -> None:
    company = world.a.id
    campaign = await new_campaign(world.a.manager)
    steps = [
        (await add_step(world.a.manager, campaign["id"], subject="s", body=f"step {n}"))["id"]
        for n in range(2)
    ]
    people = [(await contact(world.a.admin, email=f"p{n}@x.example"))["id"] for n in range(12)]
    rng = random.Random(7)

    def activity() -> dict[str, Any]:
        kind = rng.choice(TYPES)
        person, step = rng.choice(people), rng.choice([*steps, None])
        return {
            "company_id": str(company),
            "campaign_id": campaign["id"],
            "contact_id": person,
            "message_id": step,
            # as the engine assigns them: one variant per contact and step
            "variant": None if step is None else "AB"[hash((person, step)) % 2],
            "activity_type": kind,
            "occurred_at": START + timedelta(minutes=rng.randrange(0, 3 * 24 * 60)),
            "metadata": {"prefetched": True}
            if kind == "email_opened" and rng.random() < 0.3
            else {},
        }

    for size in (1, 40, 1, 200, 3):
        await _insert(database, [activity() for _ in range(size)])
    # activities outside any campaign are not campaign analytics
    await _insert(database, [{**activity(), "campaign_id": None} for _ in range(5)])
    await fold(database)
    assert await differences(session, [company]) == []

    # deletes (the sender takes back a `sent` whose message the server refused) ...
    async with database.unit_of_work() as tx:
        await tx.execute(
            text("""
            DELETE FROM campaign_activities
            WHERE id IN (SELECT id FROM campaign_activities ORDER BY id LIMIT 30)
            """)
        )
    # ... a step removed (the foreign key sets its activities' message_id to NULL) ...
    deleted = await world.a.manager.delete(f"{CAMPAIGNS}/{campaign['id']}/messages/{steps[1]}")
    assert deleted.status_code == 204
    # ... and a contact deleted with its activities
    assert (await world.a.admin.delete(f"/api/v1/contacts/{people[0]}")).status_code == 204
    await fold(database)
    assert await differences(session, [company]) == []

    opened = (
        await session.execute(
            text("""
            SELECT events, contacts FROM analytics_campaign_stats
            WHERE campaign_id = :campaign AND activity_type = 'email_opened'
            """),
            {"campaign": campaign["id"]},
        )
    ).one()
    raw = (
        await session.execute(
            text("""
            SELECT count(*), count(DISTINCT contact_id) FROM campaign_activities
            WHERE campaign_id = :campaign AND activity_type = 'email_opened'
              AND coalesce(metadata ->> 'prefetched', 'false') <> 'true'
            """),
            {"campaign": campaign["id"]},
        )
    ).one()
    assert tuple(opened) == tuple(raw)
    assert raw[0] > 0

    # a rebuild from the raw log gives the same figures
    async with database.unit_of_work() as tx:
        counted = await rebuild(tx, [company])
    assert counted == await session.scalar(
        text("""
        SELECT count(*) FROM campaign_activities
        WHERE company_id = :c AND campaign_id IS NOT NULL
          AND NOT (activity_type = 'email_opened'
                   AND coalesce(metadata ->> 'prefetched', 'false') = 'true')
        """),
        {"c": company},
    )  # what analytics count: campaign activities, prefetched opens left out
    await fold(database)
    assert await differences(session, [company]) == []


async def test_a_rebuild_touches_only_the_companies_named(
    world: World, database: Database, session: AsyncSession
) -> None:
    mine = await new_campaign(world.a.manager)
    theirs = await new_campaign(world.b.manager)
    me = (await contact(world.a.admin, email="me@x.example"))["id"]
    them = (await contact(world.b.admin, email="them@x.example"))["id"]
    for company, campaign, person in ((world.a.id, mine, me), (world.b.id, theirs, them)):
        await _insert(
            database,
            [{"company_id": str(company), "campaign_id": campaign["id"], "contact_id": person,
              "message_id": None, "variant": None, "activity_type": "email_sent",
              "occurred_at": START, "metadata": {}}],
        )  # fmt: skip
    await fold(database)
    async with database.unit_of_work() as tx:
        await tx.execute(text("DELETE FROM analytics_campaign_stats WHERE company_id = :c"),
                         {"c": world.b.id})  # fmt: skip
        await rebuild(tx, [world.a.id])
    await fold(database)
    assert await differences(session, [world.a.id]) == []
    missing = await differences(session, [world.b.id])  # B's was not rebuilt
    assert {d.table for d in missing} == {"analytics_campaign_stats"}
    assert {d.key[1] for d in missing} == {"email_sent", "stage:sent", "stage:delivered"}
    assert uuid.UUID(theirs["id"])
