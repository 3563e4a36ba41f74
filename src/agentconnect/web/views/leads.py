"""A lead: contact, stage history, score breakdown, answers, timeline, conversations; and the
actions on it (stage, assignment, qualify now, manual score) through the API's services."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from agentconnect.activities import service as activities
from agentconnect.contacts import service as contacts
from agentconnect.conversations import service as conversations
from agentconnect.deps import SessionDep
from agentconnect.errors import Conflict, InvalidInput
from agentconnect.leads import schemas as lead_schemas
from agentconnect.leads import service as leads
from agentconnect.models import LeadStage, ScoreType
from agentconnect.scoring import service as scoring
from agentconnect.web import forms
from agentconnect.web.deps import ViewerDep, check_csrf
from agentconnect.web.render import label, page, redirect, wants_json
from agentconnect.web.views.pipeline import REASON_FROM, REASON_TO, company_users

router = APIRouter()
actions = APIRouter(dependencies=[Depends(check_csrf)])

SCORE_TYPES = [t for t in ScoreType if t != ScoreType.COMBINED]


@router.get("/leads/{lead_id}", include_in_schema=False)
async def lead_page(
    request: Request, session: SessionDep, viewer: ViewerDep, lead_id: uuid.UUID
) -> Response:
    lead = await leads.get_lead(session, viewer.principal, lead_id)  # 404: not this company's
    contact = await contacts.get_contact(session, viewer.principal, lead.contact_id)
    history, _ = await leads.stage_history(session, viewer.principal, lead_id, 100, 0)
    newest, config = await scoring.scores_of(session, viewer.principal, lead_id)
    by_type = {row.score_type: row for row in newest}
    timeline, timeline_total = await activities.timeline(
        session, viewer.principal, 50, 0, contact_id=lead.contact_id
    )
    talks, _ = await conversations.list_for(session, viewer.principal, lead.contact_id, 10, 0)
    users = await company_users(session, viewer)
    combined = by_type.get(ScoreType.COMBINED)
    chart = {
        "labels": [label(t) for t in SCORE_TYPES],
        "scores": [by_type[t].score if t in by_type else None for t in SCORE_TYPES],
        "weights": [config.weight(t) for t in SCORE_TYPES],
    }
    return page(
        request,
        "lead.html",
        viewer,
        lead=lead_schemas.Lead.model_validate(lead),
        contact=contact,
        history=history,
        scores=[(t, by_type.get(t), config.weight(t)) for t in SCORE_TYPES],
        combined=combined,
        chart=chart,
        timeline=timeline,
        timeline_total=timeline_total,
        conversations=talks,
        users=users,
        user_names={u.id: u.name for u in users},
        stages=list(LeadStage),
        can_modify=viewer.can_manage or lead.assigned_to == viewer.user_id,
        reason_to=[s.value for s in REASON_TO],
        reason_from=[s.value for s in REASON_FROM],
    )


def _back(lead_id: uuid.UUID, values: Any) -> str:
    """Where a form goes back to: the board it was sent from, or the lead's page."""
    return "/pipeline" if values.get("back") == "pipeline" else f"/leads/{lead_id}"


@actions.post("/leads/{lead_id}/stage", include_in_schema=False)
async def change_stage(
    request: Request, session: SessionDep, viewer: ViewerDep, lead_id: uuid.UUID
) -> Response:
    """Move a lead (the board's drag and drop, or the form). A script asking for JSON learns
    whether the move needs a reason, so it can ask for one."""
    values = await request.form()
    stage = forms.choice(values, "stage", LeadStage)
    if stage is None:
        raise InvalidInput("stage: choose a stage")
    reason = forms.text(values, "reason")
    body = lead_schemas.StageChangeRequest(stage=stage, reason=reason)
    try:
        lead = await leads.change_stage(session, viewer.principal, lead_id, body)
    except (InvalidInput, Conflict) as error:
        if not wants_json(request):
            raise
        # Without a reason, these refusals are the stage rules asking for one.
        return JSONResponse(
            {"status": error.status, "detail": error.detail, "needs_reason": reason is None},
            status_code=error.status,
        )
    if wants_json(request):
        return JSONResponse({"id": str(lead.id), "stage": lead.stage.value})
    return redirect(request, _back(lead_id, values), notice="stage")


@actions.post("/leads/{lead_id}/assign", include_in_schema=False)
async def assign(
    request: Request, session: SessionDep, viewer: ViewerDep, lead_id: uuid.UUID
) -> Response:
    values = await request.form()
    user_id = forms.identifier(values, "user_id")
    await leads.assign(session, viewer.principal, lead_id, user_id)
    return redirect(request, f"/leads/{lead_id}", notice="assigned")


_ANSWERS = ("budget_confirmed", "timeline_defined", "decision_maker")


def _tri_state(values: Any, name: str) -> bool | None:
    value = forms.text(values, name, 5)
    if value not in (None, "yes", "no"):
        raise InvalidInput(f"{name}: must be yes, no or empty")
    return None if value is None else value == "yes"


@actions.post("/leads/{lead_id}/details", include_in_schema=False)
async def update_details(
    request: Request, session: SessionDep, viewer: ViewerDep, lead_id: uuid.UUID
) -> Response:
    """Title, value, close date and the qualification answers (merged key by key, as the
    API's PATCH does; an empty answer leaves the stored one)."""
    values = await request.form()
    answers: dict[str, Any] = {
        name: answer for name in _ANSWERS if (answer := _tri_state(values, name)) is not None
    }
    for name in ("questions_total", "questions_answered"):
        number = forms.integer(values, name, 0, 1000)
        if number is not None:
            answers[name] = number
    data: dict[str, Any] = {
        "title": forms.text(values, "title", 200),
        "deal_value": forms.decimal(values, "deal_value"),
        "expected_close_date": forms.text(values, "expected_close_date", 10),
        "source": forms.text(values, "source", 100),
    }
    changes = {k: v for k, v in data.items() if v is not None}
    if answers:
        changes["qualification_data"] = answers
    body = lead_schemas.LeadUpdate.model_validate(changes)
    await leads.update_lead(session, viewer.principal, lead_id, body)
    return redirect(request, f"/leads/{lead_id}", notice="saved")


@actions.post("/leads/{lead_id}/qualify", include_in_schema=False)
async def qualify(
    request: Request, session: SessionDep, viewer: ViewerDep, lead_id: uuid.UUID
) -> Response:
    await scoring.qualify_one(session, viewer.principal, lead_id)
    return redirect(request, f"/leads/{lead_id}", notice="qualified")


@actions.post("/leads/{lead_id}/manual-score", include_in_schema=False)
async def manual_score(
    request: Request, session: SessionDep, viewer: ViewerDep, lead_id: uuid.UUID
) -> Response:
    values = await request.form()
    score = forms.integer(values, "score", 0, 100)
    reasoning = forms.text(values, "reasoning")
    if score is None or not reasoning:
        raise InvalidInput("a manual score needs a score from 0 to 100 and the reasoning")
    await scoring.set_manual_score(session, viewer.principal, lead_id, score, reasoning)
    return redirect(request, f"/leads/{lead_id}", notice="manual")


router.include_router(actions)
