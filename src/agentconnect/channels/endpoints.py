"""Channel endpoints: what the console provider recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from agentconnect.deps import ManagerDep, SessionDep
from agentconnect.kit.pagination import Page, PageDep
from agentconnect.kit.schemas import OutputSchema
from agentconnect.models import ConsoleMessage, MessageType
from agentconnect.tenancy.scoping import TenantRepository

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


class ConsoleMessageOut(OutputSchema):
    id: Any
    channel: MessageType
    to_address: str
    subject: str | None
    body: str
    html_body: str | None
    created_at: datetime


class ConsoleMessages(TenantRepository[ConsoleMessage]):
    model = ConsoleMessage


@router.get("/console/messages", response_model=Page[ConsoleMessageOut])
async def console_messages(
    session: SessionDep, principal: ManagerDep, page: PageDep
) -> Page[ConsoleMessageOut]:
    """Messages the console provider recorded instead of sending, newest first."""
    repo = ConsoleMessages(session, principal.company_id)
    stmt = repo.select().order_by(ConsoleMessage.created_at.desc(), ConsoleMessage.id)
    rows, total = await repo.page(stmt, page.limit, page.offset)
    items = [ConsoleMessageOut.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
