"""Leads: the pipeline, stages, assignment and statistics."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from agentconnect.activities import service as activities
from agentconnect.activities.schemas import Activity
from agentconnect.deps import ManagerDep, PrincipalDep, SessionDep, reads_only
from agentconnect.kit.pagination import Page, PageDep
from agentconnect.leads import schemas, service
from agentconnect.leads.repository import LeadFilters
from agentconnect.models import LeadStage
from agentconnect.scoring import service as scoring

router = APIRouter(prefix="/api/v1/leads", tags=["leads"])

SortParam = Annotated[str | None, Query(max_length=200, examples=["-score"])]


def _page(items: list[schemas.Lead], total: int, page: PageDep) -> Page[schemas.Lead]:
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", response_model=schemas.Lead, status_code=status.HTTP_201_CREATED)
async def create_lead(
    session: SessionDep, principal: PrincipalDep, body: schemas.LeadCreate
) -> schemas.Lead:
    """Open a lead for a contact. An agent's lead is assigned to the agent."""
    return schemas.Lead.model_validate(await service.create_lead(session, principal, body))


@router.get("", response_model=Page[schemas.Lead])
@reads_only
async def list_leads(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    query: Annotated[schemas.LeadListQuery, Query()],
) -> Page[schemas.Lead]:
    """List leads, newest first unless `sort` says otherwise
    (created_at, updated_at, score, deal_value, expected_close_date, stage_changed_at, title)."""
    filters = _filters(query, stages=query.stage or [])
    rows, total = await service.list_leads(
        session, principal, filters, query.sort, page.limit, page.offset
    )
    return _page(rows, total, page)


@router.get("/stats", response_model=schemas.PipelineStats)
@reads_only
async def pipeline_stats(session: SessionDep, principal: PrincipalDep) -> schemas.PipelineStats:
    """Counts and value per stage, total and weighted pipeline value, average score, win rate,
    stage-to-stage conversion from the history, and average days spent in each stage."""
    return await service.pipeline_stats(session, principal)


@router.get("/by-stage", response_model=schemas.Kanban)
@reads_only
async def leads_by_stage(
    session: SessionDep, principal: PrincipalDep, query: Annotated[schemas.KanbanQuery, Query()]
) -> schemas.Kanban:
    """The kanban board: every stage with its count, value and best-scored leads, over the
    leads the filters (those of the list, but the stage) keep."""
    return await service.kanban(session, principal, query.per_stage, _filters(query))


def _filters(query: schemas.LeadFilterQuery, stages: list[LeadStage] | None = None) -> LeadFilters:
    return LeadFilters(
        stages=stages or [],
        contact_id=query.contact_id,
        assigned_to=query.assigned_to,
        qualification_status=query.qualification_status or [],
        min_score=query.min_score,
        max_score=query.max_score,
        min_value=query.min_value,
        max_value=query.max_value,
        q=query.q.strip() if query.q else None,
    )


@router.get("/high-value", response_model=Page[schemas.Lead])
@reads_only
async def high_value_leads(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    min_value: Annotated[Decimal | None, Query(ge=0)] = None,
) -> Page[schemas.Lead]:
    """Open leads worth at least `min_value` (default: the scoring configuration's
    `high_value_min`), highest value first."""
    if min_value is None:
        min_value = (await scoring.load_config(session, principal.company_id)).high_value_min
    filters = LeadFilters(open_only=True, min_value=min_value)
    rows, total = await service.list_leads(
        session, principal, filters, None, page.limit, page.offset, default_sort="-deal_value"
    )
    return _page(rows, total, page)


@router.get("/unassigned", response_model=Page[schemas.Lead])
@reads_only
async def unassigned_leads(
    session: SessionDep, principal: PrincipalDep, page: PageDep, sort: SortParam = None
) -> Page[schemas.Lead]:
    """Open leads nobody is working on, best score first."""
    filters = LeadFilters(open_only=True, unassigned_only=True)
    rows, total = await service.list_leads(
        session, principal, filters, sort, page.limit, page.offset, default_sort="-score"
    )
    return _page(rows, total, page)


@router.post("/bulk-stage", response_model=schemas.BulkResult)
async def bulk_change_stage(
    session: SessionDep, principal: ManagerDep, body: schemas.BulkStageRequest
) -> schemas.BulkResult:
    """Move up to 10,000 leads to one stage in a single statement. Another company's ids are
    reported in `not_found` and never touched; closed leads without a reason in `refused`."""
    return await service.bulk_change_stage(session, principal, body)


@router.post("/bulk-assign", response_model=schemas.BulkAssignResult)
async def bulk_assign(
    session: SessionDep, principal: ManagerDep, body: schemas.BulkAssignRequest
) -> schemas.BulkAssignResult:
    """Share leads among users: `single` (one user), `round_robin` (continues where the
    previous call stopped) or `least_loaded` (fewest open leads first)."""
    return await service.bulk_assign(session, principal, body)


@router.get("/{lead_id}", response_model=schemas.Lead)
@reads_only
async def get_lead(
    session: SessionDep, principal: PrincipalDep, lead_id: uuid.UUID
) -> schemas.Lead:
    """One lead with a summary of its contact."""
    return schemas.Lead.model_validate(await service.get_lead(session, principal, lead_id))


@router.patch("/{lead_id}", response_model=schemas.Lead)
async def update_lead(
    session: SessionDep, principal: PrincipalDep, lead_id: uuid.UUID, body: schemas.LeadUpdate
) -> schemas.Lead:
    """Change a lead's details. `qualification_data` is merged key by key. Agents may change
    only their own leads."""
    return schemas.Lead.model_validate(await service.update_lead(session, principal, lead_id, body))


@router.delete("/{lead_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_lead(session: SessionDep, principal: ManagerDep, lead_id: uuid.UUID) -> Response:
    """Delete a lead and its history (manager or admin)."""
    await service.delete_lead(session, principal, lead_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{lead_id}/stage", response_model=schemas.Lead)
async def change_stage(
    session: SessionDep,
    principal: PrincipalDep,
    lead_id: uuid.UUID,
    body: schemas.StageChangeRequest,
) -> schemas.Lead:
    """Move a lead to another stage. `lost` needs a reason, and so does leaving `customer` or
    `lost` (409 without). Writes the history and keeps the contact's lifecycle stage in step."""
    return schemas.Lead.model_validate(
        await service.change_stage(session, principal, lead_id, body)
    )


@router.get("/{lead_id}/stage-history", response_model=Page[schemas.StageChange])
@reads_only
async def stage_history(
    session: SessionDep, principal: PrincipalDep, lead_id: uuid.UUID, page: PageDep
) -> Page[schemas.StageChange]:
    """Every stage change of the lead, newest first, starting with its creation."""
    rows, total = await service.stage_history(session, principal, lead_id, page.limit, page.offset)
    items = [schemas.StageChange.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.put("/{lead_id}/assign", response_model=schemas.Lead)
async def assign_lead(
    session: SessionDep, principal: ManagerDep, lead_id: uuid.UUID, body: schemas.AssignRequest
) -> schemas.Lead:
    """Give the lead to a user of the company, or `null` to unassign it."""
    return schemas.Lead.model_validate(
        await service.assign(session, principal, lead_id, body.user_id)
    )


@router.get("/{lead_id}/activities", response_model=Page[Activity])
@reads_only
async def lead_activities(
    session: SessionDep, principal: PrincipalDep, lead_id: uuid.UUID, page: PageDep
) -> Page[Activity]:
    """The timeline of the lead's contact, newest first."""
    lead = await service.get_lead(session, principal, lead_id)
    rows, total = await activities.timeline(
        session, principal, page.limit, page.offset, contact_id=lead.contact_id
    )
    items = [Activity.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
