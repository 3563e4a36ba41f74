"""SQL for the activity log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert

from agentconnect.models import ActivityType, CampaignActivity
from agentconnect.tenancy.scoping import TenantRepository


class ActivityRepository(TenantRepository[CampaignActivity]):
    model = CampaignActivity

    def timeline(
        self,
        *,
        contact_id: uuid.UUID | None = None,
        campaign_id: uuid.UUID | None = None,
        types: Sequence[ActivityType] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Select[Any]:
        stmt = self.select()
        if contact_id is not None:
            stmt = stmt.where(CampaignActivity.contact_id == contact_id)
        if campaign_id is not None:
            stmt = stmt.where(CampaignActivity.campaign_id == campaign_id)
        if types:
            stmt = stmt.where(CampaignActivity.activity_type.in_(types))
        if since is not None:
            stmt = stmt.where(CampaignActivity.occurred_at >= since)
        if until is not None:
            stmt = stmt.where(CampaignActivity.occurred_at < until)
        return stmt.order_by(CampaignActivity.occurred_at.desc(), CampaignActivity.id.desc())

    async def counts_by_type(self, campaign_id: uuid.UUID) -> dict[str, int]:
        stmt = (
            self.select(CampaignActivity.activity_type, func.count())
            .where(CampaignActivity.campaign_id == campaign_id)
            .group_by(CampaignActivity.activity_type)
        )
        return {row[0].value: row[1] for row in (await self.session.execute(stmt)).all()}

    def insert_from(
        self,
        rows: Any,
        activity_type: ActivityType,
        campaign_id: uuid.UUID | None,
        details: dict[str, Any] | None = None,
    ) -> Any:
        """An INSERT ... SELECT of one activity per row of `rows` (a CTE or subquery with a
        `contact_id` column), for use inside a larger statement."""
        return insert(CampaignActivity).from_select(
            [
                "id",
                "company_id",
                "campaign_id",
                "contact_id",
                "activity_type",
                "occurred_at",
                "metadata",
            ],
            select(
                # time-ordered: the primary key of the log grows at its right end
                func.uuid_v7(),
                literal(self.company_id, UUID(as_uuid=True)),
                literal(campaign_id, UUID(as_uuid=True)),
                rows.c.contact_id,
                literal(activity_type.value),
                func.now(),
                literal(details or {}, JSONB),
            ),
        )
