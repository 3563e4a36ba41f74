"""The pipeline: a kanban board of leads by stage, filtered by assignee, score and value."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from agentconnect.deps import SessionDep
from agentconnect.leads import service as leads
from agentconnect.leads.repository import LeadFilters
from agentconnect.models import LeadStage, User
from agentconnect.tenancy import service as tenancy
from agentconnect.web import forms
from agentconnect.web.deps import Viewer, ViewerDep
from agentconnect.web.render import is_htmx, page, redirect

router = APIRouter()

CARDS_PER_COLUMN = 50
# A hint for the board's script, which asks for a reason before sending a move that needs one;
# the leads service decides (and refuses a move without one all the same).
REASON_TO = (LeadStage.LOST,)
REASON_FROM = (LeadStage.CUSTOMER, LeadStage.LOST)


async def company_users(session: SessionDep, viewer: Viewer) -> list[User]:
    users, _ = await tenancy.list_users(session, viewer.principal, 500, 0)
    return [u for u in users if u.is_active]


@router.get("/", include_in_schema=False)
async def home(request: Request, viewer: ViewerDep) -> Response:
    return redirect(request, "/pipeline")


@router.get("/pipeline", include_in_schema=False)
async def pipeline(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    """The board. With htmx (filters, refresh after a move) only the board is sent."""
    params = request.query_params
    assignee_raw = forms.text(params, "assignee", 40)
    assigned_to: uuid.UUID | None = None
    unassigned = False
    if assignee_raw == "me":
        assigned_to = viewer.user_id
    elif assignee_raw == "none":
        unassigned = True
    elif assignee_raw:
        assigned_to = forms.identifier(params, "assignee")
    filters = LeadFilters(
        assigned_to=assigned_to,
        unassigned_only=unassigned,
        min_score=forms.integer(params, "min_score", 0, 100),
        max_score=forms.integer(params, "max_score", 0, 100),
        min_value=forms.decimal(params, "min_value"),
        max_value=forms.decimal(params, "max_value"),
    )
    board = await leads.kanban(session, viewer.principal, CARDS_PER_COLUMN, filters)
    users = await company_users(session, viewer)
    context: dict[str, Any] = {
        "columns": board.columns,
        "users": users,
        "user_names": {u.id: u.name for u in users},
        "stages": list(LeadStage),
        "reason_to": [s.value for s in REASON_TO],
        "reason_from": [s.value for s in REASON_FROM],
        "filters": {
            "assignee": assignee_raw or "",
            "min_score": params.get("min_score", ""),
            "max_score": params.get("max_score", ""),
            "min_value": params.get("min_value", ""),
            "max_value": params.get("max_value", ""),
        },
    }
    if is_htmx(request):
        return page(request, "_board.html", viewer, **context)
    stats = await leads.pipeline_stats(session, viewer.principal)
    return page(request, "pipeline.html", viewer, stats=stats, **context)
