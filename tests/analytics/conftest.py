"""What the analytics tests share: activities written as the engine writes them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from agentconnect.db import Database


async def insert_activities(database: Database, rows: list[dict[str, Any]]) -> None:
    """One statement for all the rows, as the engine writes its batches."""
    async with database.unit_of_work() as session:
        await session.execute(
            text("""
            INSERT INTO campaign_activities (id, company_id, campaign_id, contact_id, message_id,
                                             activity_type, occurred_at, metadata)
            SELECT gen_random_uuid(), r.company_id, r.campaign_id, r.contact_id, r.message_id,
                   r.activity_type, r.occurred_at, r.metadata
            FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
                company_id uuid, campaign_id uuid, contact_id uuid, message_id uuid,
                activity_type text,
                occurred_at timestamptz, metadata jsonb)
            """),
            {"rows": json.dumps(rows, default=str)},
        )
