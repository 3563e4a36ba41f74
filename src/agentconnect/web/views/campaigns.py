"""Campaigns: the list with headline metrics, the builder (settings, steps with variants and
send windows, targeting with a live count), the lifecycle, test-send and the analytics page.
Every change goes through campaigns/service.py, so its role and status rules are the API's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from agentconnect.analytics import rollups
from agentconnect.analytics import service as analytics
from agentconnect.analytics.schemas import SeriesInterval, SeriesMetric
from agentconnect.campaigns import schemas
from agentconnect.campaigns import service as campaigns
from agentconnect.campaigns.test_send import test_send
from agentconnect.delivery.renderer import KNOWN_TOKENS
from agentconnect.deps import ProviderEnvironmentDep, SecretKeyDep, SessionDep
from agentconnect.errors import AppError, InvalidInput
from agentconnect.models import (
    CampaignStatus,
    CampaignType,
    DelayUnit,
    GoalType,
    LeadStage,
    LifecycleStage,
    MessageType,
    OptInStatus,
)
from agentconnect.web import forms
from agentconnect.web.deps import Viewer, ViewerDep, check_csrf
from agentconnect.web.render import page, redirect, validation_lines

router = APIRouter()
actions = APIRouter(dependencies=[Depends(check_csrf)])

PAGE_SIZE = 25
VARIANT_ROWS = 3
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
SERIES_METRICS: tuple[SeriesMetric, ...] = (
    "sent", "delivered", "opened", "clicked", "replied", "converted",
)  # fmt: skip
TOKENS = sorted(KNOWN_TOKENS)
INTERVALS: dict[str, SeriesInterval] = {"hour": "hour", "day": "day", "week": "week"}


def _problem(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(validation_lines(list(error.errors()), most=8))
    return str(getattr(error, "detail", error))


def _choices_of(enum: type[Enum]) -> list[Enum]:
    return [*enum]


def _options() -> dict[str, Any]:
    return {
        "campaign_types": _choices_of(CampaignType),
        "goal_types": _choices_of(GoalType),
        "lifecycle_stages": _choices_of(LifecycleStage),
        "lead_stages": _choices_of(LeadStage),
        "opt_in_statuses": [s for s in OptInStatus if s != OptInStatus.OPTED_OUT],
        "message_types": _choices_of(MessageType),
        "delay_units": _choices_of(DelayUnit),
        "weekdays": WEEKDAYS,
        "tokens": TOKENS,
        "variant_rows": range(1, VARIANT_ROWS + 1),
        "step_values": step_values,
    }


# --- reading forms ---------------------------------------------------------------------------


def _criteria(values: FormData) -> dict[str, Any]:
    criteria: dict[str, Any] = {
        "lifecycle_stages": forms.choices(values, "lifecycle_stages", LifecycleStage),
        "lead_stages": forms.choices(values, "lead_stages", LeadStage),
        "opt_in_statuses": forms.choices(values, "opt_in_statuses", OptInStatus),
        "lead_sources": forms.words(values, "lead_sources"),
        "tags_all": forms.words(values, "tags_all"),
        "tags_any": forms.words(values, "tags_any"),
        "min_score": forms.integer(values, "min_score", 0, 100),
        "max_score": forms.integer(values, "max_score", 0, 100),
    }
    return {k: v for k, v in criteria.items() if v not in (None, [])}


def _settings(values: FormData, *, with_type: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": forms.text(values, "name", 200),
        "description": forms.text(values, "description", 5000),
        "goal_type": forms.choice(values, "goal_type", GoalType),
        "timezone": forms.text(values, "timezone", 64),
        "budget": forms.decimal(values, "budget"),
        "cost": forms.decimal(values, "cost"),
        "attribution_window_days": forms.integer(values, "attribution_window_days", 1, 365),
        "send_time_optimization": forms.checked(values, "send_time_optimization"),
    }
    if with_type:
        data["campaign_type"] = forms.choice(values, "campaign_type", CampaignType)
    start, end = forms.text(values, "quiet_start", 5), forms.text(values, "quiet_end", 5)
    if start or end:
        data["quiet_hours"] = {"start": start or "08:00", "end": end or "21:00"}
    return {k: v for k, v in data.items() if v is not None}


def _step(values: FormData, *, editing: bool = False) -> dict[str, Any]:
    """A step from the form. Editing sends every field, so emptied ones are cleared."""
    data: dict[str, Any] = {
        "message_type": forms.choice(values, "message_type", MessageType),
        "delay_value": forms.integer(values, "delay_value", 0, 10_000),
        "delay_unit": forms.choice(values, "delay_unit", DelayUnit),
        "subject": forms.text(values, "subject", 500),
        "body": forms.text(values, "body", schemas.EMAIL_MAX_CHARS),
    }
    window_start = forms.text(values, "window_start", 5)
    window_end = forms.text(values, "window_end", 5)
    if window_start or window_end:
        days = [int(d) for d in values.getlist("window_days") if isinstance(d, str) and d.isdigit()]
        data["send_window"] = {
            "start": window_start or "",
            "end": window_end or "",
            "days": days or list(range(7)),
        }
    variants = []
    for row in range(1, VARIANT_ROWS + 1):
        name = forms.text(values, f"variant_name_{row}", 100)
        if not name:
            continue
        variants.append(
            {
                "name": name,
                "weight": forms.integer(values, f"variant_weight_{row}", 1, 1000) or 1,
                "subject": forms.text(values, f"variant_subject_{row}", 500),
                "body": forms.text(values, f"variant_body_{row}", schemas.EMAIL_MAX_CHARS),
            }
        )
    if variants or editing:
        data["variants"] = variants
    if editing:
        data.setdefault("send_window", None)
        data["body"] = data.get("body") or ""
        return data
    return {k: v for k, v in data.items() if v is not None}


def step_values(step: schemas.Step) -> dict[str, Any]:
    """A saved step as the step form's values (for its edit form)."""
    values: dict[str, Any] = {
        "message_type": step.message_type.value,
        "delay_value": str(step.delay_value),
        "delay_unit": step.delay_unit.value,
        "subject": step.subject or "",
        "body": step.body,
    }
    if step.send_window:
        values["window_start"] = step.send_window.get("start", "")
        values["window_end"] = step.send_window.get("end", "")
        values["window_days"] = [str(d) for d in step.send_window.get("days", [])]
    for row, variant in enumerate(step.variants[:VARIANT_ROWS], start=1):
        values[f"variant_name_{row}"] = variant.get("name", "")
        values[f"variant_weight_{row}"] = str(variant.get("weight", 1))
        values[f"variant_subject_{row}"] = variant.get("subject") or ""
        values[f"variant_body_{row}"] = variant.get("body") or ""
    return values


# --- list and builder ------------------------------------------------------------------------


async def _headline(
    request: Request, session: SessionDep, viewer: Viewer, ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Sent, opened, replied and converted contacts per campaign, from the same funnel the
    analytics endpoints read (rollups brought up to date first, as they do)."""
    await rollups.fold(request.app.state.database)
    funnels = await analytics.funnels(session, viewer.principal, ids)
    return {f.campaign_id: {s.stage: s.contacts for s in f.stages} for f in funnels}


@router.get("/campaigns", include_in_schema=False)
async def campaign_list(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    params = request.query_params
    status = forms.choice(params, "status", CampaignStatus)
    offset = forms.integer(params, "offset", 0, 10_000_000) or 0
    rows, total = await campaigns.list_campaigns(
        session, viewer.principal, statuses=[status] if status else [], types=[],
        q=forms.text(params, "q", 200), sort=None, limit=PAGE_SIZE, offset=offset,
    )  # fmt: skip
    details = await campaigns.describe(session, viewer.principal, rows)
    headline = await _headline(request, session, viewer, [c.id for c in details])
    return page(
        request,
        "campaigns.html",
        viewer,
        section="campaigns",
        campaigns=details,
        headline=headline,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        statuses=list(CampaignStatus),
        status=status.value if status else "",
        query_base=f"status={status.value}&" if status else "",
    )


@router.get("/campaigns/new", include_in_schema=False)
async def new_campaign(request: Request, viewer: ViewerDep) -> Response:
    return page(
        request, "campaign_new.html", viewer, section="campaigns", error=None, form={},
        **_options(),
    )  # fmt: skip


@actions.post("/campaigns/new", include_in_schema=False)
async def create_campaign(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    values = await request.form()
    try:
        data = _settings(values, with_type=True)
        data["target_criteria"] = _criteria(values)
        body = schemas.CampaignCreate.model_validate(data)
        campaign = await campaigns.create_campaign(session, viewer.principal, body)
    except (ValidationError, InvalidInput) as error:
        return page(
            request, "campaign_new.html", viewer, status_code=422, section="campaigns",
            error=_problem(error), form=_form_echo(values), **_options(),
        )  # fmt: skip
    return redirect(request, f"/campaigns/{campaign.id}", notice="created")


def _form_echo(values: FormData) -> dict[str, Any]:
    """What was typed, to fill the form again after a refusal."""
    echo: dict[str, Any] = {}
    for key in set(values.keys()):
        items = [v for v in values.getlist(key) if isinstance(v, str)]
        echo[key] = items if len(items) > 1 else (items[0] if items else "")
    return echo


async def _builder(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    campaign_id: uuid.UUID,
    *,
    error: str | None = None,
    step_form: dict[str, Any] | None = None,
    status_code: int = 200,
    test_result: schemas.TestSendResult | None = None,
) -> Response:
    campaign = await campaigns.get_campaign(session, viewer.principal, campaign_id)
    detail = await campaigns.describe_one(session, viewer.principal, campaign)
    steps = [
        schemas.Step.model_validate(s)
        for s in await campaigns.list_steps(session, viewer.principal, campaign_id)
    ]
    criteria = schemas.TargetCriteria.model_validate(campaign.target_criteria or {})
    total, sample = await campaigns.preview(
        session, viewer.principal, campaign_id, schemas.PreviewRequest(sample_size=5)
    )
    enrollments, enrolled_total = await campaigns.list_enrollments(
        session, viewer.principal, campaign_id, [], 25, 0
    )
    status = campaign.status
    return page(
        request,
        "campaign.html",
        viewer,
        enrollments=[schemas.Enrollment.model_validate(e) for e in enrollments],
        enrolled_total=enrolled_total,
        status_code=status_code,
        section="campaigns",
        campaign=detail,
        steps=steps,
        criteria=criteria,
        preview_total=total,
        preview_sample=sample,
        error=error,
        step_form=step_form or {},
        test_result=test_result,
        can_start=viewer.can_manage and status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED),
        can_pause=viewer.can_manage and status == CampaignStatus.ACTIVE,
        can_resume=viewer.can_manage and status == CampaignStatus.PAUSED,
        editable=viewer.can_manage and status not in campaigns.FROZEN,
        **_options(),
    )


@router.get("/campaigns/{campaign_id}", include_in_schema=False)
async def campaign_page(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    return await _builder(request, session, viewer, campaign_id)


async def _refusable(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    campaign_id: uuid.UUID,
    error: Exception,
    **extra: Any,
) -> Response:
    """A refused change is shown on the builder itself, with what was wrong."""
    if isinstance(error, AppError) and error.status in (403, 404):
        raise error
    await session.rollback()
    status = error.status if isinstance(error, AppError) else 422
    return await _builder(
        request, session, viewer, campaign_id, error=_problem(error), status_code=status, **extra
    )


@actions.post("/campaigns/{campaign_id}/settings", include_in_schema=False)
async def save_settings(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    return await _save(
        request, session, viewer, campaign_id,
        lambda values: schemas.CampaignUpdate.model_validate(_settings(values, with_type=False)),
    )  # fmt: skip


@actions.post("/campaigns/{campaign_id}/targeting", include_in_schema=False)
async def save_targeting(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    return await _save(
        request, session, viewer, campaign_id,
        lambda values: schemas.CampaignUpdate(
            target_criteria=schemas.TargetCriteria.model_validate(_criteria(values))
        ),
        anchor="#targeting",
    )  # fmt: skip


async def _save(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    campaign_id: uuid.UUID,
    change: Callable[[FormData], schemas.CampaignUpdate],
    anchor: str = "",
) -> Response:
    """A form that changes the campaign: saved and back to the builder, or shown refused."""
    values = await request.form()
    try:
        await campaigns.update_campaign(session, viewer.principal, campaign_id, change(values))
    except (ValidationError, AppError) as error:
        return await _refusable(request, session, viewer, campaign_id, error)
    return redirect(request, f"/campaigns/{campaign_id}{anchor}", notice="saved")


@actions.post("/campaigns/{campaign_id}/preview", include_in_schema=False)
async def preview(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    """The live count while the targeting form changes: enrolls nobody."""
    values = await request.form()
    try:
        criteria = schemas.TargetCriteria.model_validate(_criteria(values))
    except ValidationError as error:
        return page(request, "_preview.html", viewer, error=_problem(error), total=None)
    total, sample = await campaigns.preview(
        session, viewer.principal, campaign_id,
        schemas.PreviewRequest(target_criteria=criteria, sample_size=5),
    )  # fmt: skip
    return page(request, "_preview.html", viewer, error=None, total=total, sample=sample)


@actions.post("/campaigns/{campaign_id}/steps", include_in_schema=False)
async def add_step(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    values = await request.form()
    try:
        body = schemas.StepCreate.model_validate(_step(values))
        await campaigns.add_step(session, viewer.principal, campaign_id, body)
    except (ValidationError, AppError) as error:
        return await _refusable(
            request, session, viewer, campaign_id, error, step_form=_form_echo(values)
        )
    return redirect(request, f"/campaigns/{campaign_id}#steps", notice="step-added")


@actions.post("/campaigns/{campaign_id}/steps/{step_id}", include_in_schema=False)
async def edit_step(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
) -> Response:
    values = await request.form()
    try:
        body = schemas.StepUpdate.model_validate(_step(values, editing=True))
        await campaigns.update_step(session, viewer.principal, campaign_id, step_id, body)
    except (ValidationError, AppError) as error:
        return await _refusable(request, session, viewer, campaign_id, error)
    return redirect(request, f"/campaigns/{campaign_id}#steps", notice="step-saved")


@actions.post("/campaigns/{campaign_id}/steps/{step_id}/delete", include_in_schema=False)
async def delete_step(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
) -> Response:
    try:
        await campaigns.delete_step(session, viewer.principal, campaign_id, step_id)
    except AppError as error:
        return await _refusable(request, session, viewer, campaign_id, error)
    return redirect(request, f"/campaigns/{campaign_id}#steps", notice="step-deleted")


_DONE = {"start": "started", "pause": "paused", "resume": "resumed"}


async def _transition(
    request: Request, session: SessionDep, viewer: Viewer, campaign_id: uuid.UUID, action: str
) -> Response:
    """The service refuses what the role or the status does not allow: an agent starts
    nothing, whatever the page showed."""
    try:
        await campaigns.transition(session, viewer.principal, campaign_id, action)
    except AppError as error:
        return await _refusable(request, session, viewer, campaign_id, error)
    return redirect(request, f"/campaigns/{campaign_id}", notice=_DONE[action])


@actions.post("/campaigns/{campaign_id}/start", include_in_schema=False)
async def start(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    return await _transition(request, session, viewer, campaign_id, "start")


@actions.post("/campaigns/{campaign_id}/pause", include_in_schema=False)
async def pause(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    return await _transition(request, session, viewer, campaign_id, "pause")


@actions.post("/campaigns/{campaign_id}/resume", include_in_schema=False)
async def resume(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    return await _transition(request, session, viewer, campaign_id, "resume")


@actions.post("/campaigns/{campaign_id}/clone", include_in_schema=False)
async def clone(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    copy = await campaigns.clone_campaign(session, viewer.principal, campaign_id)
    return redirect(request, f"/campaigns/{copy.id}", notice="cloned")


@actions.post("/campaigns/{campaign_id}/test-send", include_in_schema=False)
async def send_test(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    secret: SecretKeyDep,
    environment: ProviderEnvironmentDep,
    campaign_id: uuid.UUID,
) -> Response:
    values = await request.form()
    try:
        body = schemas.TestSendRequest.model_validate(
            {
                "message_id": forms.identifier(values, "message_id"),
                "to": forms.text(values, "to", 320),
                "variant": forms.text(values, "variant", 100),
            }
        )
        result = await test_send(
            session, viewer.principal, campaign_id, body, secret_key=secret,
            environment=environment,
        )  # fmt: skip
    except (ValidationError, AppError) as error:
        return await _refusable(request, session, viewer, campaign_id, error)
    return await _builder(request, session, viewer, campaign_id, test_result=result)


# --- analytics -------------------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}/analytics", include_in_schema=False)
async def campaign_analytics(
    request: Request, session: SessionDep, viewer: ViewerDep, campaign_id: uuid.UUID
) -> Response:
    params = request.query_params
    given = forms.text(params, "interval", 10) or "day"
    if given not in INTERVALS:
        raise InvalidInput("interval: must be hour, day or week")
    interval = INTERVALS[given]
    campaign = await campaigns.get_campaign(session, viewer.principal, campaign_id)
    await rollups.fold(request.app.state.database)
    funnel = await analytics.funnel(session, viewer.principal, campaign_id)
    performance = await analytics.performance(session, viewer.principal, campaign_id)
    until = datetime.now(UTC)
    start = campaign.started_at or campaign.created_at
    # An hourly series of a long campaign would be thousands of points: the last week.
    since = max(start, until - timedelta(days=7)) if interval == "hour" else start
    since = min(since, until - timedelta(hours=1))
    series = {
        metric: await analytics.timeseries(
            session, viewer.principal, campaign_id, metric, interval, since, until
        )
        for metric in SERIES_METRICS
    }
    first = series["sent"]
    chart_series = {
        "labels": [p.bucket.strftime("%Y-%m-%d %H:%M" if interval == "hour" else "%Y-%m-%d")
                   for p in first.points],
        "series": [{"name": m, "values": [p.value for p in s.points]} for m, s in series.items()],
    }  # fmt: skip
    chart_funnel = {
        "labels": [s.stage for s in funnel.stages],
        "values": [s.contacts for s in funnel.stages],
    }
    return page(
        request,
        "analytics.html",
        viewer,
        section="campaigns",
        campaign=campaign,
        funnel=funnel,
        performance=performance,
        chart_funnel=chart_funnel,
        chart_series=chart_series,
        timezone=first.timezone,
        interval=interval,
    )


router.include_router(actions)
