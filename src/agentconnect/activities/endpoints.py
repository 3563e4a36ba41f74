"""Activities that happen outside the CRM, recorded for a contact one at a time or in batches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response, status
from sqlalchemy import select

from agentconnect.activities import ingest
from agentconnect.activities.schemas import Activity
from agentconnect.deps import PrincipalDep, SessionDep
from agentconnect.errors import InvalidInput, NotFound
from agentconnect.models import CampaignActivity

router = APIRouter(prefix="/api/v1/activities", tags=["activities"])


@router.post("", response_model=Activity, status_code=status.HTTP_201_CREATED)
async def record_activity(
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    body: ingest.ActivityIn,
) -> Activity:
    """Record one activity for a contact (by `contact_id` or `email`). Accepted types:
    page_viewed, form_submitted, link_clicked, meeting_scheduled, deal_won, deal_lost. An
    `external_id` seen before answers 200 with the activity already stored."""
    result, created = await ingest.record(session, principal, [body.model_dump(mode="json")])
    if result.errors:
        message = result.errors[0]["msg"]
        raise (NotFound if "not found" in message else InvalidInput)(message)
    stmt = select(CampaignActivity).where(CampaignActivity.company_id == principal.company_id)
    if created:
        stmt = stmt.where(CampaignActivity.id == created[0])
    else:
        response.status_code = status.HTTP_200_OK
        stmt = stmt.where(CampaignActivity.external_id == body.external_id)
    row = (await session.scalars(stmt)).one()
    return Activity.model_validate(row)


@router.post("/batch", response_model=ingest.BatchResult)
async def record_batch(
    session: SessionDep,
    principal: PrincipalDep,
    body: ingest.BatchIn = Body(),
) -> ingest.BatchResult:
    """Up to 1,000 activities; each item is validated on its own and a bad one is reported by
    its index without stopping the others."""
    items: list[Any] = body.items
    result, _ = await ingest.record(session, principal, items)
    return result
