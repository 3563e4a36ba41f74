"""Reading the activity log: timelines of contacts, leads and campaigns."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.activities.repository import ActivityRepository
from agentconnect.auth.principal import Principal
from agentconnect.models import ActivityType, CampaignActivity


async def timeline(
    session: AsyncSession,
    principal: Principal,
    limit: int,
    offset: int,
    *,
    contact_id: uuid.UUID | None = None,
    campaign_id: uuid.UUID | None = None,
    types: Sequence[ActivityType] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[CampaignActivity], int]:
    """Newest first. Callers check that the contact or campaign is the principal's first."""
    activities = ActivityRepository(session, principal.company_id)
    stmt = activities.timeline(
        contact_id=contact_id, campaign_id=campaign_id, types=types, since=since, until=until
    )
    return await activities.page(stmt, limit, offset)
