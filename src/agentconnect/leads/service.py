"""Rules of the sales pipeline: who may change a lead, how stages move, how leads are shared out."""

from __future__ import annotations

import heapq
import itertools
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.errors import Conflict, Forbidden, InvalidInput, NotFound
from agentconnect.kit.schemas import refuse_nulls
from agentconnect.leads import schemas
from agentconnect.leads.repository import (
    CONTACT_SUMMARY,
    LeadFilters,
    LeadRepository,
    StageUpdate,
    filter_shape,
    page_statement,
)
from agentconnect.models import (
    OPEN_LEAD_STAGES,
    Lead,
    LeadStage,
    LeadStageChange,
    Role,
    StageChangeSource,
)
from agentconnect.models.leads import stage_bit
from agentconnect.scoring import jobs
from agentconnect.tenancy import service as tenancy
from agentconnect.webhooks import events

FUNNEL = (LeadStage.LEAD, LeadStage.MQL, LeadStage.SQL, LeadStage.OPPORTUNITY, LeadStage.CUSTOMER)
CLOSED_NEEDS_REASON = "leaving {stage} needs a reason: say why the lead is reopened"

# A list page is read as plain rows: the lead columns a lead answer shows, then its
# contact's summary columns, then the list's total.
_LEAD_FIELDS = tuple(name for name in schemas.Lead.model_fields if name != "contact")
_ANSWER_COLUMNS = tuple(getattr(Lead, name) for name in _LEAD_FIELDS)
_CONTACT_FIELDS = tuple(column.key for column in CONTACT_SUMMARY)


def _repo(session: AsyncSession, principal: Principal) -> LeadRepository:
    return LeadRepository(session, principal.company_id)


def ensure_may_modify(principal: Principal, lead: Lead) -> None:
    if principal.role == Role.AGENT and (
        principal.user_id is None or lead.assigned_to != principal.user_id
    ):
        raise Forbidden("an agent may change only the leads assigned to it")


async def _ensure_users(leads: LeadRepository, user_ids: list[uuid.UUID]) -> None:
    missing = [u for u in user_ids if u not in await leads.active_user_ids(user_ids)]
    if missing:
        raise NotFound(f"no active user {', '.join(map(str, missing))} in this company")


# --- read --------------------------------------------------------------------------------------


async def get_lead(session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> Lead:
    lead = await _repo(session, principal).get_with_contact(lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id} not found")
    return lead


async def list_leads(
    session: AsyncSession,
    principal: Principal,
    filters: LeadFilters,
    sort: str | None,
    limit: int,
    offset: int,
    default_sort: str = "-created_at",
) -> tuple[list[schemas.Lead], int]:
    leads = _repo(session, principal)
    shape, values = filter_shape(filters)
    stmt = page_statement(shape, sort or default_sort, default_sort, _ANSWER_COLUMNS)
    params = {**values, "company_id": principal.company_id, "limit": limit, "offset": offset}
    rows = await stmt.rows(session, params)
    if not rows:
        # Past the end of the list the page is empty, and so would be its total.
        return [], await leads.count_filtered(filters) if offset else 0
    # One validation call for the whole page: pydantic-core loops, not Python.
    return _ANSWERS.validate_python([_answer(row) for row in rows]), int(rows[0][-1])


_ANSWERS = TypeAdapter(list[schemas.Lead])


def _answer(row: Sequence[Any]) -> dict[str, Any]:
    lead = dict(zip(_LEAD_FIELDS, row, strict=False))
    lead["contact"] = dict(zip(_CONTACT_FIELDS, row[len(_LEAD_FIELDS) :], strict=False))
    return lead


# --- write -------------------------------------------------------------------------------------


async def create_lead(
    session: AsyncSession, principal: Principal, data: schemas.LeadCreate
) -> Lead:
    leads = _repo(session, principal)
    contact = await leads.contact_in_company(data.contact_id)
    if contact is None:
        raise NotFound(f"contact {data.contact_id} not found")
    assignee = data.assigned_to
    if principal.role == Role.AGENT:
        if assignee not in (None, principal.user_id) or principal.user_id is None:
            raise Forbidden("an agent may create leads only for itself")
        assignee = principal.user_id
    elif assignee is not None:
        await _ensure_users(leads, [assignee])
    if data.stage == LeadStage.LOST and not data.lost_reason:
        raise InvalidInput("a lead created as lost needs a lost_reason")
    title = (
        data.title
        or contact.company_name
        or " ".join(p for p in (contact.first_name, contact.last_name) if p)
        or contact.email
        or "New lead"
    )
    lead = leads.add(
        Lead(
            contact_id=contact.id,
            title=title[:200],
            stage=data.stage,
            deal_value=data.deal_value,
            currency=data.currency,
            expected_close_date=data.expected_close_date,
            assigned_to=assignee,
            source=data.source,
            qualification_data=data.qualification_data.model_dump(exclude_none=True),
            lost_reason=data.lost_reason if data.stage == LeadStage.LOST else None,
            reached_stages=stage_bit(data.stage),
        )
    )
    await session.flush()
    # The creation is the first entry of the history: conversion and time-in-stage figures
    # start from it.
    leads.record_stage_change(
        LeadStageChange(
            lead_id=lead.id,
            from_stage=None,
            to_stage=data.stage,
            reason="created",
            changed_by=principal.user_id,
            source=StageChangeSource.MANUAL,
        )
    )
    await leads.advance_contact_lifecycle(contact.id, data.stage)
    await session.flush()
    await events.emit_lead_events(session, principal.company_id, "lead.created", [lead.id])
    return await get_lead(session, principal, lead.id)


async def update_lead(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: schemas.LeadUpdate
) -> Lead:
    lead = await get_lead(session, principal, lead_id)
    ensure_may_modify(principal, lead)
    changes = data.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("title", "currency", "qualification_data"))
    if "qualification_data" in changes and data.qualification_data is not None:
        # Answers arrive one at a time from agents and forms: merge, don't replace.
        answers = data.qualification_data.model_dump(exclude_unset=True)
        merged = {**lead.qualification_data, **answers}
        total, answered = merged.get("questions_total"), merged.get("questions_answered")
        if total is not None and answered is not None and answered > total:
            raise InvalidInput("questions_answered cannot exceed questions_total")
        changes["qualification_data"] = merged
    for name, value in changes.items():
        setattr(lead, name, value)
    await session.flush()
    if "qualification_data" in changes:
        await jobs.schedule_rescore(session, principal.company_id, [lead.contact_id])
    return await get_lead(session, principal, lead_id)


async def delete_lead(session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> None:
    principal.require(Role.MANAGER)
    lead = await get_lead(session, principal, lead_id)
    await session.delete(lead)
    await session.flush()


# --- stages ------------------------------------------------------------------------------------


def _check_reason(stage: LeadStage, reason: str | None) -> None:
    if stage == LeadStage.LOST and not reason:
        raise InvalidInput("moving a lead to lost needs a reason")


async def change_stage(
    session: AsyncSession,
    principal: Principal,
    lead_id: uuid.UUID,
    request: schemas.StageChangeRequest,
    source: StageChangeSource = StageChangeSource.MANUAL,
) -> Lead:
    lead = await get_lead(session, principal, lead_id)
    ensure_may_modify(principal, lead)
    if lead.stage == request.stage:
        return lead  # already there: nothing to record
    _check_reason(request.stage, request.reason)
    result = await _repo(session, principal).change_stages(
        [lead_id],
        request.stage,
        reason=request.reason,
        changed_by=principal.user_id,
        source=source,
    )
    if result.refused:
        raise Conflict(CLOSED_NEEDS_REASON.format(stage=lead.stage.value))
    session.expire_all()
    return await get_lead(session, principal, lead_id)


async def bulk_change_stage(
    session: AsyncSession, principal: Principal, request: schemas.BulkStageRequest
) -> schemas.BulkResult:
    principal.require(Role.MANAGER)
    _check_reason(request.stage, request.reason)
    result = await _repo(session, principal).change_stages(
        request.lead_ids,
        request.stage,
        reason=request.reason,
        changed_by=principal.user_id,
        source=StageChangeSource.BULK,
    )
    return _bulk_result(result)


async def promote_by_scoring(
    session: AsyncSession, company_id: uuid.UUID, lead_ids: list[uuid.UUID]
) -> StageUpdate:
    """Scoring moves leads from lead to mql by itself; the history says it was scoring."""
    return await LeadRepository(session, company_id).change_stages(
        lead_ids, LeadStage.MQL, reason="combined score reached the MQL threshold",
        changed_by=None, source=StageChangeSource.SCORING,
    )  # fmt: skip


def _bulk_result(result: StageUpdate) -> schemas.BulkResult:
    return schemas.BulkResult(
        updated=len(result.changed),
        unchanged=len(result.unchanged),
        not_found=result.not_found,
        refused=[
            schemas.Refusal(
                lead_id=i, reason="the lead is closed (customer or lost); give a reason"
            )
            for i in result.refused
        ],
    )


async def stage_history(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[LeadStageChange], int]:
    await get_lead(session, principal, lead_id)
    return await _repo(session, principal).stage_history(lead_id, limit, offset)


# --- assignment --------------------------------------------------------------------------------


async def assign(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID, user_id: uuid.UUID | None
) -> Lead:
    principal.require(Role.MANAGER)
    leads = _repo(session, principal)
    lead = await get_lead(session, principal, lead_id)
    if user_id is not None:
        await _ensure_users(leads, [user_id])
    previous, lead.assigned_to = lead.assigned_to, user_id
    await session.flush()
    if previous != user_id:
        await events.emit_lead_events(session, principal.company_id, "lead.assigned", [lead_id])
    return await get_lead(session, principal, lead_id)


async def bulk_assign(
    session: AsyncSession, principal: Principal, request: schemas.BulkAssignRequest
) -> schemas.BulkAssignResult:
    principal.require(Role.MANAGER)
    leads = _repo(session, principal)
    users = list(dict.fromkeys(request.user_ids))
    if request.strategy == "single" and len(users) != 1:
        raise InvalidInput("strategy single takes exactly one user id")
    await _ensure_users(leads, users)
    lead_ids = await leads.existing_ids(request.lead_ids)
    found = set(lead_ids)
    not_found = [i for i in dict.fromkeys(request.lead_ids) if i not in found]

    if request.strategy == "single":
        pairs = [(lead_id, users[0]) for lead_id in lead_ids]
    elif request.strategy == "round_robin":
        pairs = await _round_robin(leads, lead_ids, users)
    else:
        pairs = _least_loaded(lead_ids, users, await leads.open_lead_counts(users))

    changed = await leads.assign_many(pairs)
    moved = [lead_id for lead_id, _ in pairs if lead_id in changed]
    await events.emit_lead_events(session, principal.company_id, "lead.assigned", moved)
    assignments = {user: 0 for user in users}
    for _, user in pairs:
        assignments[user] += 1
    return schemas.BulkAssignResult(
        updated=len(changed),
        unchanged=len(pairs) - len(changed),
        not_found=not_found,
        assignments=assignments,
    )


async def _round_robin(
    leads: LeadRepository, lead_ids: list[uuid.UUID], users: list[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    # A fixed order of the users, so the same team given in another order continues the
    # same rotation instead of restarting it.
    ring = sorted(users, key=str)
    last = await leads.round_robin_cursor()
    start = (ring.index(last) + 1) if last in ring else 0
    pairs = [(lead_id, ring[(start + i) % len(ring)]) for i, lead_id in enumerate(lead_ids)]
    if pairs:
        await leads.save_round_robin_cursor(pairs[-1][1])
    return pairs


def _least_loaded(
    lead_ids: list[uuid.UUID], users: list[uuid.UUID], loads: dict[uuid.UUID, int]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Each lead to the user with the fewest open leads at that moment (ties: order given)."""
    heap = [(loads[user], position, user) for position, user in enumerate(users)]
    heapq.heapify(heap)
    pairs = []
    for lead_id in lead_ids:
        load, position, user = heapq.heappop(heap)
        pairs.append((lead_id, user))
        heapq.heappush(heap, (load + 1, position, user))
    return pairs


# --- pipeline views ----------------------------------------------------------------------------


async def pipeline_stats(session: AsyncSession, principal: Principal) -> schemas.PipelineStats:
    leads = _repo(session, principal)
    settings = await tenancy.get_company_settings(session, principal)
    probabilities = settings.stage_probabilities
    totals = {stage: (count, value, avg) for stage, count, value, avg in await leads.stage_totals()}
    days = await leads.average_days_in_stage()
    stages = []
    for stage in LeadStage:
        count, value, _ = totals.get(stage, (0, Decimal(0), None))
        probability = probabilities.get(stage.value, Decimal(0))
        stages.append(
            schemas.StageStats(
                stage=stage,
                count=count,
                value=value,
                probability=probability,
                weighted_value=(value * probability).quantize(Decimal("0.01")),
                average_days_in_stage=round(days[stage], 2) if stage in days else None,
            )
        )
    open_stats = [s for s in stages if s.stage in OPEN_LEAD_STAGES]
    total = sum(s.count for s in stages)
    scored = [(count, avg) for count, _, avg in totals.values() if avg is not None]
    won = totals.get(LeadStage.CUSTOMER, (0, Decimal(0), None))[0]
    lost = totals.get(LeadStage.LOST, (0, Decimal(0), None))[0]
    conversions = await leads.conversions(FUNNEL)
    return schemas.PipelineStats(
        total_leads=total,
        open_leads=sum(s.count for s in open_stats),
        stages=stages,
        total_pipeline_value=sum((s.value for s in open_stats), Decimal(0)),
        weighted_pipeline_value=sum((s.weighted_value for s in open_stats), Decimal(0)),
        won_value=next(s.value for s in stages if s.stage == LeadStage.CUSTOMER),
        average_score=round(sum(c * float(a) for c, a in scored) / total, 2) if total else None,
        win_rate=round(won / (won + lost), 4) if won + lost else None,
        conversion_rates=[
            schemas.Conversion(
                from_stage=a,
                to_stage=b,
                reached_from=reached_a,
                reached_to=reached_both,
                rate=round(reached_both / reached_a, 4) if reached_a else None,
            )
            for (a, b), (reached_a, reached_both) in zip(
                itertools.pairwise(FUNNEL), conversions, strict=True
            )
        ],
    )


async def kanban(
    session: AsyncSession, principal: Principal, per_stage: int, filters: LeadFilters | None = None
) -> schemas.Kanban:
    leads = _repo(session, principal)
    totals = {stage: (count, value) for stage, count, value, _ in await leads.stage_totals(filters)}
    top = await leads.top_per_stage(per_stage, filters)
    columns = []
    for stage in LeadStage:
        count, value = totals.get(stage, (0, Decimal(0)))
        cards = [schemas.Lead.model_validate(lead) for lead in top if lead.stage == stage]
        columns.append(schemas.StageColumn(stage=stage, count=count, value=value, leads=cards))
    return schemas.Kanban(columns=columns)
