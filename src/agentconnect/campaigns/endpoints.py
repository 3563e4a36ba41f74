"""Campaigns: CRUD, sequence steps, targeting, enrollment, lifecycle, summary and test-send."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import AwareDatetime

from agentconnect.activities import service as activities
from agentconnect.activities.schemas import Activity
from agentconnect.analytics import rollups
from agentconnect.analytics import schemas as analytics_schemas
from agentconnect.analytics import service as analytics
from agentconnect.campaigns import schemas, service
from agentconnect.campaigns.test_send import test_send
from agentconnect.contacts.schemas import Contact
from agentconnect.deps import (
    ManagerDep,
    PrincipalDep,
    ProviderEnvironmentDep,
    SecretKeyDep,
    SessionDep,
    reads_only,
)
from agentconnect.kit.pagination import Page, PageDep
from agentconnect.models import (
    ActivityType,
    Campaign,
    CampaignStatus,
    CampaignType,
    EnrollmentStatus,
)

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
CampaignId = uuid.UUID


async def _page(
    session: SessionDep,
    principal: PrincipalDep,
    rows: list[Campaign],
    total: int,
    page: PageDep,
) -> Page[schemas.CampaignDetail]:
    items = await service.describe(session, principal, rows)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", response_model=schemas.CampaignDetail, status_code=status.HTTP_201_CREATED)
async def create_campaign(
    session: SessionDep, principal: ManagerDep, body: schemas.CampaignCreate
) -> schemas.CampaignDetail:
    """Create a draft campaign."""
    campaign = await service.create_campaign(session, principal, body)
    return await service.describe_one(session, principal, campaign)


@router.get("", response_model=Page[schemas.CampaignDetail])
@reads_only
async def list_campaigns(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    status_: Annotated[list[CampaignStatus] | None, Query(alias="status")] = None,
    campaign_type: Annotated[list[CampaignType] | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200, description="part of the name")] = None,
    sort: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[schemas.CampaignDetail]:
    """List campaigns, newest first (sort: created_at, updated_at, name, started_at)."""
    rows, total = await service.list_campaigns(
        session, principal, statuses=status_ or [], types=campaign_type or [], q=q,
        sort=sort, limit=page.limit, offset=page.offset,
    )  # fmt: skip
    return await _page(session, principal, rows, total, page)


@router.get("/active", response_model=Page[schemas.CampaignDetail])
@reads_only
async def active_campaigns(
    session: SessionDep, principal: PrincipalDep, page: PageDep
) -> Page[schemas.CampaignDetail]:
    """Campaigns that are sending now."""
    rows, total = await service.list_campaigns(
        session, principal, statuses=[CampaignStatus.ACTIVE], types=[], q=None,
        sort="-started_at", limit=page.limit, offset=page.offset,
    )  # fmt: skip
    return await _page(session, principal, rows, total, page)


@router.get("/by-type/{campaign_type}", response_model=Page[schemas.CampaignDetail])
@reads_only
async def campaigns_by_type(
    session: SessionDep, principal: PrincipalDep, campaign_type: CampaignType, page: PageDep
) -> Page[schemas.CampaignDetail]:
    """Campaigns of one channel type."""
    rows, total = await service.list_campaigns(
        session, principal, statuses=[], types=[campaign_type], q=None,
        sort=None, limit=page.limit, offset=page.offset,
    )  # fmt: skip
    return await _page(session, principal, rows, total, page)


@router.post("/analytics/compare", response_model=analytics_schemas.Comparison)
async def compare_campaigns(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    body: analytics_schemas.CompareRequest,
) -> analytics_schemas.Comparison:
    """The performance figures of up to 20 campaigns side by side, in the order asked. A
    campaign of another company (or none) is `404`."""
    await rollups.fold(request.app.state.database)
    campaign_ids = list(dict.fromkeys(body.campaign_ids))
    return analytics_schemas.Comparison(
        campaigns=await analytics.performances(session, principal, campaign_ids, body.attribution)
    )


@router.get("/{campaign_id}", response_model=schemas.CampaignDetail)
@reads_only
async def get_campaign(
    session: SessionDep, principal: PrincipalDep, campaign_id: CampaignId
) -> schemas.CampaignDetail:
    """One campaign with its step count and enrollments per status."""
    campaign = await service.get_campaign(session, principal, campaign_id)
    return await service.describe_one(session, principal, campaign)


@router.patch("/{campaign_id}", response_model=schemas.CampaignDetail)
async def update_campaign(
    session: SessionDep,
    principal: ManagerDep,
    campaign_id: CampaignId,
    body: schemas.CampaignUpdate,
) -> schemas.CampaignDetail:
    """Change settings. A completed or archived campaign cannot change (409); the channel type
    only while it is a draft."""
    campaign = await service.update_campaign(session, principal, campaign_id, body)
    return await service.describe_one(session, principal, campaign)


@router.delete("/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_campaign(
    session: SessionDep, principal: ManagerDep, campaign_id: CampaignId
) -> Response:
    """Delete a draft; archive a campaign in any other status (its history stays)."""
    await service.delete_campaign(session, principal, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{campaign_id}/clone", response_model=schemas.CampaignDetail, status_code=201)
async def clone_campaign(
    session: SessionDep, principal: ManagerDep, campaign_id: CampaignId
) -> schemas.CampaignDetail:
    """A new draft with the same settings and steps and no enrollments."""
    clone = await service.clone_campaign(session, principal, campaign_id)
    return await service.describe_one(session, principal, clone)


@router.get("/{campaign_id}/summary", response_model=schemas.Summary)
@reads_only
async def campaign_summary(
    session: SessionDep, principal: PrincipalDep, campaign_id: CampaignId
) -> schemas.Summary:
    """Settings, steps, enrollments by status and activity counts on one screen."""
    return await service.summary(session, principal, campaign_id)


@router.get("/{campaign_id}/performance", response_model=analytics_schemas.Performance)
@reads_only
async def campaign_performance(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    campaign_id: CampaignId,
    attribution: analytics_schemas.AttributionModel = "last_touch",
) -> analytics_schemas.Performance:
    """Enrolled, sent, delivered, opened, clicked, replied, bounced, unsubscribed, failed and
    converted contacts with every rate, revenue, cost and ROI; per channel, per step and per
    A/B variant with the Bayesian verdict. Read from the rollups, brought up to date first."""
    await rollups.fold(request.app.state.database)
    return await analytics.performance(session, principal, campaign_id, attribution)


@router.get("/{campaign_id}/timeseries", response_model=analytics_schemas.TimeSeries)
@reads_only
async def campaign_timeseries(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    campaign_id: CampaignId,
    metric: analytics_schemas.SeriesMetric = "sent",
    interval: analytics_schemas.SeriesInterval = "day",
    since: Annotated[AwareDatetime | None, Query(description="default: the start")] = None,
    until: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
) -> analytics_schemas.TimeSeries:
    """A metric per hour, day or week in the campaign's time zone (else the company's), every
    bucket of the range present, empty ones at zero."""
    await rollups.fold(request.app.state.database)
    return await analytics.timeseries(
        session, principal, campaign_id, metric, interval, since, until
    )


@router.get("/{campaign_id}/funnel", response_model=analytics_schemas.Funnel)
@reads_only
async def campaign_funnel(
    request: Request, session: SessionDep, principal: PrincipalDep, campaign_id: CampaignId
) -> analytics_schemas.Funnel:
    """Distinct contacts at each stage — enrolled → sent → delivered → opened → clicked →
    replied → converted — with stage-to-stage and overall rates (definitions: the API guide,
    "Campaign analytics"). Read from the rollups, brought up to date first."""
    await rollups.fold(request.app.state.database)
    return await analytics.funnel(session, principal, campaign_id)


@router.get("/{campaign_id}/activities", response_model=Page[Activity])
@reads_only
async def campaign_activities(
    session: SessionDep,
    principal: PrincipalDep,
    campaign_id: CampaignId,
    page: PageDep,
    activity_type: Annotated[
        list[ActivityType] | None, Query(description="repeatable: any of these types")
    ] = None,
    contact_id: uuid.UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="from this instant on")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before this instant")] = None,
) -> Page[Activity]:
    """The campaign's activity log, newest first: enrollments, messages, engagement, calls,
    goals. Filters: `activity_type` (repeatable), `contact_id`, `since`, `until`."""
    analytics.ordered(since, until)
    await service.get_campaign(session, principal, campaign_id)
    rows, total = await activities.timeline(
        session,
        principal,
        page.limit,
        page.offset,
        campaign_id=campaign_id,
        contact_id=contact_id,
        types=activity_type or (),
        since=since,
        until=until,
    )
    items = [Activity.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


# --- steps ------------------------------------------------------------------------------------


@router.post("/{campaign_id}/messages", response_model=schemas.Step, status_code=201)
async def add_step(
    session: SessionDep, principal: ManagerDep, campaign_id: CampaignId, body: schemas.StepCreate
) -> schemas.Step:
    """Add a step. It is checked for its channel (email needs a subject, SMS at most 1,600
    characters, voice a script or call flow) and unknown `{{tokens}}` are refused."""
    return schemas.Step.model_validate(
        await service.add_step(session, principal, campaign_id, body)
    )


@router.get("/{campaign_id}/messages", response_model=list[schemas.Step])
@reads_only
async def list_steps(
    session: SessionDep, principal: PrincipalDep, campaign_id: CampaignId
) -> list[schemas.Step]:
    """The sequence, in order."""
    steps = await service.list_steps(session, principal, campaign_id)
    return [schemas.Step.model_validate(step) for step in steps]


@router.patch("/{campaign_id}/messages/{message_id}", response_model=schemas.Step)
async def update_step(
    session: SessionDep,
    principal: ManagerDep,
    campaign_id: CampaignId,
    message_id: uuid.UUID,
    body: schemas.StepUpdate,
) -> schemas.Step:
    """Change a step; the result is validated as a whole."""
    step = await service.update_step(session, principal, campaign_id, message_id, body)
    return schemas.Step.model_validate(step)


@router.delete("/{campaign_id}/messages/{message_id}", status_code=204)
async def delete_step(
    session: SessionDep, principal: ManagerDep, campaign_id: CampaignId, message_id: uuid.UUID
) -> Response:
    """Remove a step."""
    await service.delete_step(session, principal, campaign_id, message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- targeting and enrollment -----------------------------------------------------------------


@router.post("/{campaign_id}/targeting/preview", response_model=schemas.Preview)
async def preview_targeting(
    session: SessionDep,
    principal: PrincipalDep,
    campaign_id: CampaignId,
    body: schemas.PreviewRequest | None = None,
) -> schemas.Preview:
    """How many contacts the criteria (the campaign's, or those given) would enroll now, and a
    sample. Enrolls nobody."""
    total, sample = await service.preview(
        session, principal, campaign_id, body or schemas.PreviewRequest()
    )
    return schemas.Preview(total=total, sample=[Contact.model_validate(c) for c in sample])


@router.post("/{campaign_id}/enroll", response_model=schemas.EnrollResult)
async def enroll(
    session: SessionDep, principal: ManagerDep, campaign_id: CampaignId, body: schemas.EnrollRequest
) -> schemas.EnrollResult:
    """Enroll contacts by id; each id not enrolled comes back with its reason (not_found,
    already_enrolled, do_not_contact, opted_out, no_address)."""
    return await service.enroll(session, principal, campaign_id, body.contact_ids)


@router.post("/{campaign_id}/enroll-from-criteria", response_model=schemas.EnrollFromCriteriaResult)
async def enroll_from_criteria(
    session: SessionDep,
    principal: ManagerDep,
    campaign_id: CampaignId,
    body: schemas.EnrollFromCriteriaRequest | None = None,
) -> schemas.EnrollFromCriteriaResult:
    """Enroll every contact matching the campaign's criteria (or those given) in one statement."""
    override = body.target_criteria if body else None
    return await service.enroll_from_criteria(session, principal, campaign_id, override)


@router.post("/{campaign_id}/unenroll", response_model=schemas.UnenrollResult)
async def unenroll(
    session: SessionDep, principal: ManagerDep, campaign_id: CampaignId, body: schemas.EnrollRequest
) -> schemas.UnenrollResult:
    """Stop the campaign for these contacts; they keep their history."""
    return await service.unenroll(session, principal, campaign_id, body.contact_ids)


@router.get("/{campaign_id}/contacts", response_model=Page[schemas.Enrollment])
@reads_only
async def list_enrollments(
    session: SessionDep,
    principal: PrincipalDep,
    campaign_id: CampaignId,
    page: PageDep,
    status_: Annotated[list[EnrollmentStatus] | None, Query(alias="status")] = None,
) -> Page[schemas.Enrollment]:
    """Enrollments, newest first, with the contact, status, current step and next send time."""
    rows, total = await service.list_enrollments(
        session, principal, campaign_id, status_ or [], page.limit, page.offset
    )
    items = [schemas.Enrollment.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


# --- lifecycle --------------------------------------------------------------------------------


@router.post("/{campaign_id}/start", response_model=schemas.CampaignDetail)
async def start(
    session: SessionDep, principal: ManagerDep, campaign_id: CampaignId
) -> schemas.CampaignDetail:
    """draft/scheduled → active. Needs steps, and enrollments or target criteria (which are
    enrolled now)."""
    campaign = await service.transition(session, principal, campaign_id, "start")
    return await service.describe_one(session, principal, campaign)


@router.post("/{campaign_id}/pause", response_model=schemas.CampaignDetail)
async def pause(
    session: SessionDep, principal: ManagerDep, campaign_id: CampaignId
) -> schemas.CampaignDetail:
    """active → paused: nothing is sent; enrollments keep their place."""
    campaign = await service.transition(session, principal, campaign_id, "pause")
    return await service.describe_one(session, principal, campaign)


@router.post("/{campaign_id}/resume", response_model=schemas.CampaignDetail)
async def resume(
    session: SessionDep, principal: ManagerDep, campaign_id: CampaignId
) -> schemas.CampaignDetail:
    """paused → active."""
    campaign = await service.transition(session, principal, campaign_id, "resume")
    return await service.describe_one(session, principal, campaign)


@router.post("/{campaign_id}/test-send", response_model=schemas.TestSendResult)
async def send_test(
    session: SessionDep,
    principal: ManagerDep,
    secret: SecretKeyDep,
    environment: ProviderEnvironmentDep,
    campaign_id: CampaignId,
    body: schemas.TestSendRequest,
) -> schemas.TestSendResult:
    """Render a step for a contact (or sample data) and send it now to `to` only: no
    enrollment, no activity, no analytics. A provider that refuses the message answers 502."""
    return await test_send(
        session, principal, campaign_id, body, secret_key=secret, environment=environment
    )
