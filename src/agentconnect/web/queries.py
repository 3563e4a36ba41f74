"""Reads the dashboard needs that no service offers yet (thin adapters; each says where it
belongs). They use the owning domain's repository classes and filters, so tenancy and filter
rules stay theirs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.channels.repository import ConsoleMessageRepository
from agentconnect.leads import schemas as lead_schemas
from agentconnect.leads import service as leads
from agentconnect.leads.repository import LeadFilters, LeadRepository, filter_clauses
from agentconnect.models import ConsoleMessage, Lead, LeadStage


@dataclass(frozen=True)
class Column:
    stage: LeadStage
    count: int
    value: Decimal
    leads: list[lead_schemas.Lead]


async def kanban(
    session: AsyncSession, principal: Principal, filters: LeadFilters, per_stage: int
) -> list[Column]:
    """The kanban with filters (`GET /leads/by-stage` has none): counts and values per stage
    over the filtered leads, and each stage's best-scored cards through the leads service's
    own list. Belongs in leads/service.py as `kanban(..., filters)`."""
    repo = LeadRepository(session, principal.company_id)
    totals_stmt = repo.select(
        Lead.stage, func.count(), func.coalesce(func.sum(Lead.deal_value), 0)
    ).where(*filter_clauses(replace(filters, q=None)))
    rows = (await session.execute(totals_stmt.group_by(Lead.stage))).all()
    totals = {row[0]: (int(row[1]), Decimal(row[2])) for row in rows}
    columns = []
    for stage in LeadStage:
        count, value = totals.get(stage, (0, Decimal(0)))
        cards: list[lead_schemas.Lead] = []
        if count:
            cards, _ = await leads.list_leads(
                session, principal, replace(filters, stages=[stage]), "-score", per_stage, 0
            )
        columns.append(Column(stage=stage, count=count, value=value, leads=cards))
    return columns


async def console_messages(
    session: AsyncSession, principal: Principal, limit: int, offset: int
) -> tuple[list[ConsoleMessage], int]:
    """What the console provider recorded, newest first: the query of
    `GET /api/v1/channels/console/messages`, which keeps it in the endpoint (it belongs in a
    channels service)."""
    repo = ConsoleMessageRepository(session, principal.company_id)
    stmt = repo.select().order_by(ConsoleMessage.created_at.desc(), ConsoleMessage.id)
    return await repo.page(stmt, limit, offset)


async def leads_of_contact(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID
) -> list[Lead]:
    """A contact's leads, newest first (the leads list has no contact filter; it belongs
    there as `contact_id`)."""
    repo = LeadRepository(session, principal.company_id)
    stmt = repo.select().where(Lead.contact_id == contact_id).order_by(Lead.created_at.desc())
    return list((await session.scalars(stmt.limit(100))).all())
