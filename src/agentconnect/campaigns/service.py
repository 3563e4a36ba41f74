"""Rules of campaigns: what may change in which status, sequences, targeting and enrollment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.activities.repository import ActivityRepository
from agentconnect.auth.principal import Principal
from agentconnect.campaigns import schemas, targeting
from agentconnect.campaigns.repository import (
    CampaignRepository,
    EnrollmentRepository,
    StepRepository,
)
from agentconnect.campaigns.steps import (
    channel_for,
    delay_of,
    validate_call_flow,
    validate_step,
    with_article,
)
from agentconnect.errors import Conflict, InvalidInput, NotFound
from agentconnect.kit.schemas import refuse_nulls
from agentconnect.kit.sorting import order_by
from agentconnect.kit.sql import like_pattern
from agentconnect.models import (
    Campaign,
    CampaignContact,
    CampaignMessage,
    CampaignStatus,
    CampaignType,
    Contact,
    DelayUnit,
    EnrollmentStatus,
    MessageType,
    Role,
)
from agentconnect.webhooks import events

FROZEN = (CampaignStatus.COMPLETED, CampaignStatus.ARCHIVED)
SORTABLE = {
    "created_at": Campaign.created_at,
    "updated_at": Campaign.updated_at,
    "name": Campaign.name,
    "started_at": Campaign.started_at,
}


def _campaigns(session: AsyncSession, principal: Principal) -> CampaignRepository:
    return CampaignRepository(session, principal.company_id)


async def get_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, *, lock: bool = False
) -> Campaign:
    campaigns = _campaigns(session, principal)
    campaign = await (campaigns.lock(campaign_id) if lock else campaigns.get(campaign_id))
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def _refuse_if_frozen(campaign: Campaign, action: str) -> None:
    if campaign.status in FROZEN:
        raise Conflict(f"cannot {action}: the campaign is {campaign.status.value}")


async def describe(
    session: AsyncSession, principal: Principal, campaigns: list[Campaign]
) -> list[schemas.CampaignDetail]:
    """Campaigns with their step and enrollment counts: two grouped queries for the page."""
    repo = _campaigns(session, principal)
    ids = [c.id for c in campaigns]
    messages = await repo.message_counts(ids)
    enrollments = await repo.enrollment_counts(ids)
    return [
        schemas.CampaignDetail(
            **schemas.Campaign.model_validate(c).model_dump(),
            message_count=messages.get(c.id, 0),
            enrollment_counts=enrollments.get(c.id, {}),
        )
        for c in campaigns
    ]


async def describe_one(
    session: AsyncSession, principal: Principal, campaign: Campaign
) -> schemas.CampaignDetail:
    return (await describe(session, principal, [campaign]))[0]


async def list_campaigns(
    session: AsyncSession,
    principal: Principal,
    *,
    statuses: list[CampaignStatus],
    types: list[CampaignType],
    q: str | None,
    sort: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Campaign], int]:
    repo = _campaigns(session, principal)
    stmt = repo.select()
    if statuses:
        stmt = stmt.where(Campaign.status.in_(statuses))
    if types:
        stmt = stmt.where(Campaign.campaign_type.in_(types))
    if q:
        stmt = stmt.where(Campaign.name.ilike(like_pattern(q), escape="\\"))
    stmt = stmt.order_by(*order_by(sort, SORTABLE, default="-created_at", tiebreaker=Campaign.id))
    return await repo.page(stmt, limit, offset)


def _settings(data: schemas.CampaignFields) -> dict[str, Any]:
    if data.call_flow_config is not None:
        validate_call_flow(data.call_flow_config)
    values = data.model_dump(exclude_unset=True, mode="json")
    if "target_criteria" in values:
        criteria = data.target_criteria
        values["target_criteria"] = (
            criteria.model_dump(mode="json", exclude_defaults=True) if criteria else {}
        )
    if data.quiet_hours is not None:
        values["quiet_hours"] = data.quiet_hours.model_dump()  # with the defaults filled in
    for money in ("budget", "cost"):
        if values.get(money) is not None:
            values[money] = Decimal(values[money])
    return values


async def create_campaign(
    session: AsyncSession, principal: Principal, data: schemas.CampaignCreate
) -> Campaign:
    principal.require(Role.MANAGER)
    values = _settings(data)
    values.setdefault("cost", Decimal(0))
    campaign = _campaigns(session, principal).add(Campaign(**values, created_by=principal.user_id))
    await session.flush()
    await session.refresh(campaign)
    return campaign


_ACCOUNTING_FIELDS = frozenset({"attribution_window_days", "cost"})


async def update_campaign(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    data: schemas.CampaignUpdate,
) -> Campaign:
    principal.require(Role.MANAGER)
    campaign = await get_campaign(session, principal, campaign_id, lock=True)
    # How results are read (the attribution window, the cost spent) may change after the end;
    # what was sent may not.
    if data.model_fields_set - _ACCOUNTING_FIELDS:
        _refuse_if_frozen(campaign, "change it")
    values = _settings(data)
    not_nullable = ("name", "campaign_type", "goal_type", "cost", "currency",
                    "send_time_optimization", "target_criteria",
                    "attribution_window_days")  # fmt: skip
    refuse_nulls(values, not_nullable)
    new_type = values.get("campaign_type")
    if (
        new_type
        and new_type != campaign.campaign_type.value
        and campaign.status != CampaignStatus.DRAFT
    ):
        raise Conflict(f"the channel of a campaign that is {campaign.status.value} cannot change")
    if new_type and new_type != campaign.campaign_type.value and new_type != "multi_channel":
        steps = await StepRepository(session, principal.company_id).of_campaign(campaign.id)
        misfits = sorted({s.message_type.value for s in steps if s.message_type.value != new_type})
        if misfits:
            raise Conflict(
                f"the campaign has {', '.join(misfits)} steps, which"
                f" {with_article(new_type)} campaign cannot send; change or remove them first"
            )
    start = values.get("schedule_start", campaign.schedule_start)
    end = values.get("schedule_end", campaign.schedule_end)
    if start and end and _as_datetime(end) <= _as_datetime(start):
        raise InvalidInput("schedule_end must be after schedule_start")
    for name, value in values.items():
        setattr(campaign, name, value)
    await session.flush()
    await session.refresh(campaign)
    return campaign


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


async def delete_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> None:
    """A draft is deleted; anything else is archived, keeping its history for analytics."""
    principal.require(Role.MANAGER)
    campaign = await get_campaign(session, principal, campaign_id, lock=True)
    if campaign.status == CampaignStatus.DRAFT:
        await session.delete(campaign)
    else:
        campaign.status = CampaignStatus.ARCHIVED
        # An archived campaign sends nothing more: its open enrollments end here.
        await EnrollmentRepository(session, principal.company_id).unenroll(
            campaign.id, None, "campaign archived"
        )
    await session.flush()


async def clone_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> Campaign:
    principal.require(Role.MANAGER)
    source = await get_campaign(session, principal, campaign_id)
    copied = {
        column: getattr(source, column)
        for column in ("description", "campaign_type", "goal_type", "target_criteria",
                       "schedule_start", "schedule_end", "timezone", "send_time_optimization",
                       "quiet_hours", "budget", "currency", "call_flow_config",
                       "attribution_window_days")
    }  # fmt: skip
    clone = _campaigns(session, principal).add(
        Campaign(
            **copied,
            name=f"Copy of {source.name}"[:200],
            status=CampaignStatus.DRAFT,
            cost=Decimal(0),
            created_by=principal.user_id,
        )
    )
    await session.flush()
    await StepRepository(session, principal.company_id).copy_steps(source.id, clone.id)
    await session.refresh(clone)
    return clone


# --- steps ------------------------------------------------------------------------------------


async def list_steps(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> list[CampaignMessage]:
    await get_campaign(session, principal, campaign_id)
    return await StepRepository(session, principal.company_id).of_campaign(campaign_id)


async def add_step(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: schemas.StepCreate
) -> CampaignMessage:
    principal.require(Role.MANAGER)
    campaign = await get_campaign(session, principal, campaign_id, lock=True)
    _refuse_if_frozen(campaign, "add a step")
    steps = StepRepository(session, principal.company_id)
    existing = await steps.of_campaign(campaign_id)
    last = existing[-1].sequence_order if existing else 0
    order = min(data.sequence_order or last + 1, last + 1)
    step = CampaignMessage(
        campaign_id=campaign_id,
        sequence_order=order,
        message_type=channel_for(campaign, data.message_type),
        delay_value=data.delay_value or 0,
        delay_unit=data.delay_unit or DelayUnit.DAYS,
        subject=data.subject,
        body=data.body or "",
        variants=[v.model_dump(exclude_none=True) for v in data.variants or []],
        send_window=data.send_window.model_dump() if data.send_window else None,
        options={k: v for k, v in data.options_given().items() if v is not None},
    )
    validate_step(campaign, step)
    if order <= last:
        await steps.make_room(campaign_id, order)
    steps.add(step)
    await session.flush()
    await session.refresh(step)
    return step


async def _step(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, step_id: uuid.UUID
) -> CampaignMessage:
    step = await StepRepository(session, principal.company_id).get_in(campaign_id, step_id)
    if step is None:
        raise NotFound(f"step {step_id} not found in campaign {campaign_id}")
    return step


async def update_step(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
    data: schemas.StepUpdate,
) -> CampaignMessage:
    principal.require(Role.MANAGER)
    campaign = await get_campaign(session, principal, campaign_id, lock=True)
    step = await _step(session, principal, campaign_id, step_id)
    _refuse_if_frozen(campaign, "change a step")
    changes = data.model_dump(exclude_unset=True)
    if "message_type" in changes:
        step.message_type = channel_for(campaign, data.message_type)
    for name in ("delay_value", "delay_unit", "subject"):
        if name in changes:
            setattr(step, name, changes[name])
    if step.delay_value is None or step.delay_unit is None:
        raise InvalidInput("delay_value and delay_unit cannot be null")
    if "body" in changes:
        step.body = changes["body"] or ""
    if "variants" in changes:
        step.variants = [v.model_dump(exclude_none=True) for v in data.variants or []]
    if "send_window" in changes:
        step.send_window = data.send_window.model_dump() if data.send_window else None
    options = {**(step.options or {}), **data.options_given()}
    step.options = {k: v for k, v in options.items() if v is not None}
    validate_step(campaign, step)
    await session.flush()
    await session.refresh(step)
    return step


async def delete_step(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, step_id: uuid.UUID
) -> None:
    principal.require(Role.MANAGER)
    campaign = await get_campaign(session, principal, campaign_id, lock=True)
    step = await _step(session, principal, campaign_id, step_id)
    _refuse_if_frozen(campaign, "remove a step")
    await session.delete(step)
    await session.flush()


# --- targeting and enrollment -----------------------------------------------------------------


async def _channels(
    session: AsyncSession, principal: Principal, campaign: Campaign
) -> tuple[set[MessageType], list[CampaignMessage]]:
    steps = await StepRepository(session, principal.company_id).of_campaign(campaign.id)
    return targeting.channels_of(campaign.campaign_type, (s.message_type for s in steps)), steps


def _criteria(
    campaign: Campaign, override: schemas.TargetCriteria | None
) -> schemas.TargetCriteria:
    return (
        override
        if override is not None
        else schemas.TargetCriteria.model_validate(campaign.target_criteria or {})
    )


async def preview(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    request: schemas.PreviewRequest,
) -> tuple[int, list[Contact]]:
    campaign = await get_campaign(session, principal, campaign_id)
    channels, _ = await _channels(session, principal, campaign)
    clauses = targeting.targetable(
        _criteria(campaign, request.target_criteria), principal.company_id, campaign.id, channels
    )
    return await EnrollmentRepository(session, principal.company_id).preview(
        clauses, request.sample_size
    )


async def enroll_from_criteria(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    override: schemas.TargetCriteria | None,
) -> schemas.EnrollFromCriteriaResult:
    principal.require(Role.MANAGER)
    campaign = await get_campaign(session, principal, campaign_id, lock=True)
    _refuse_if_frozen(campaign, "enroll contacts")
    criteria = _criteria(campaign, override)
    if criteria.is_empty():
        raise InvalidInput(
            "the target criteria are empty, which would enroll every contact; give at least one"
            " criterion (or enroll contacts by id)"
        )
    return await _enroll_matching(session, principal, campaign, criteria)


async def _enroll_matching(
    session: AsyncSession,
    principal: Principal,
    campaign: Campaign,
    criteria: schemas.TargetCriteria,
) -> schemas.EnrollFromCriteriaResult:
    channels, steps = await _channels(session, principal, campaign)
    # Candidates are the criteria's matches that may be contacted on the channel; contacts
    # already enrolled are among them and fall out through ON CONFLICT DO NOTHING.
    clauses = [
        *targeting.criteria_clauses(criteria, principal.company_id),
        targeting.contactable(),
        targeting.reachable(channels),
    ]
    enrollments = EnrollmentRepository(session, principal.company_id)
    matched, _ = await enrollments.preview(
        targeting.criteria_clauses(criteria, principal.company_id), 0
    )
    source = select(Contact.id.label("contact_id")).where(*clauses)
    first = steps[0] if steps else None
    enrolled = await enrollments.enroll(
        campaign.id, source, first_order=first.sequence_order if first else 1, delay=delay_of(first)
    )
    return schemas.EnrollFromCriteriaResult(enrolled=enrolled, skipped=matched - enrolled)


def _skip_reason(candidate: Any, channels: set[MessageType]) -> str | None:
    if not candidate.found:
        return "not_found"
    if candidate.enrolled:
        return "already_enrolled"
    if candidate.do_not_contact:
        return "do_not_contact"
    if candidate.opted_out:
        return "opted_out"
    wants_email = MessageType.EMAIL in channels or not channels
    wants_phone = bool(channels - {MessageType.EMAIL}) or not channels
    if not ((wants_email and candidate.has_email) or (wants_phone and candidate.has_phone)):
        return "no_address"
    return None


async def enroll(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    contact_ids: list[uuid.UUID],
) -> schemas.EnrollResult:
    principal.require(Role.MANAGER)
    campaign = await get_campaign(session, principal, campaign_id, lock=True)
    _refuse_if_frozen(campaign, "enroll contacts")
    channels, steps = await _channels(session, principal, campaign)
    enrollments = EnrollmentRepository(session, principal.company_id)
    unique_ids = list(dict.fromkeys(contact_ids))
    skipped, eligible = [], []
    for candidate in await enrollments.candidates(campaign.id, unique_ids):
        reason = _skip_reason(candidate, channels)
        if reason:
            skipped.append(schemas.Skipped(contact_id=candidate.contact_id, reason=reason))
        else:
            eligible.append(candidate.contact_id)
    enrolled = 0
    if eligible:
        first = steps[0] if steps else None
        source = select(Contact.id.label("contact_id")).where(
            Contact.company_id == principal.company_id, Contact.id.in_(eligible)
        )
        enrolled = await enrollments.enroll(
            campaign.id,
            source,
            first_order=first.sequence_order if first else 1,
            delay=delay_of(first),
        )
    return schemas.EnrollResult(enrolled=enrolled, skipped=skipped)


async def unenroll(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    contact_ids: list[uuid.UUID],
) -> schemas.UnenrollResult:
    principal.require(Role.MANAGER)
    campaign = await get_campaign(session, principal, campaign_id, lock=True)
    changed = await EnrollmentRepository(session, principal.company_id).unenroll(
        campaign.id, contact_ids, "unenrolled by a user"
    )
    done = set(changed)
    if done:
        await complete_if_finished(session, principal, campaign)
    return schemas.UnenrollResult(
        updated=len(done), not_found=[i for i in dict.fromkeys(contact_ids) if i not in done]
    )


async def list_enrollments(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    statuses: list[EnrollmentStatus],
    limit: int,
    offset: int,
) -> tuple[list[CampaignContact], int]:
    await get_campaign(session, principal, campaign_id)
    enrollments = EnrollmentRepository(session, principal.company_id)
    stmt = enrollments.with_contacts(campaign_id)
    if statuses:
        stmt = stmt.where(CampaignContact.status.in_(statuses))
    stmt = stmt.order_by(CampaignContact.enrolled_at.desc(), CampaignContact.id)
    return await enrollments.page(stmt, limit, offset)


# --- lifecycle --------------------------------------------------------------------------------

_TRANSITIONS = {
    "start": ((CampaignStatus.DRAFT, CampaignStatus.SCHEDULED), CampaignStatus.ACTIVE),
    "pause": ((CampaignStatus.ACTIVE,), CampaignStatus.PAUSED),
    "resume": ((CampaignStatus.PAUSED,), CampaignStatus.ACTIVE),
}


async def transition(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, action: str
) -> Campaign:
    principal.require(Role.MANAGER)
    campaign = await get_campaign(session, principal, campaign_id, lock=True)
    allowed, target = _TRANSITIONS[action]
    if campaign.status not in allowed:
        raise Conflict(
            f"cannot {action} a campaign that is {campaign.status.value}"
            f" (only from {' or '.join(s.value for s in allowed)})"
        )
    if action == "start":
        await _start(session, principal, campaign)
    campaign.status = target
    await session.flush()
    if action == "start":
        await events.emit_campaign_events(
            session, "campaign.started", [campaign.id], principal.company_id
        )
    await session.refresh(campaign)
    return campaign


async def _start(session: AsyncSession, principal: Principal, campaign: Campaign) -> None:
    steps = await StepRepository(session, principal.company_id).of_campaign(campaign.id)
    if not steps:
        raise Conflict("cannot start a campaign without steps: add a message first")
    for step in steps:  # settings may have changed since the steps were saved
        try:
            validate_step(campaign, step)
        except InvalidInput as error:
            raise Conflict(f"step {step.sequence_order} cannot be sent: {error.detail}") from None
    criteria = schemas.TargetCriteria.model_validate(campaign.target_criteria or {})
    enrollments = EnrollmentRepository(session, principal.company_id)
    if not criteria.is_empty():
        await _enroll_matching(session, principal, campaign, criteria)
    if await enrollments.open_count(campaign.id) == 0:
        raise Conflict(
            "cannot start a campaign with nobody enrolled and no target criteria"
            if criteria.is_empty()
            else "cannot start: the target criteria match nobody who can be contacted"
        )
    await enrollments.reschedule_first_step(
        campaign.id, steps[0].sequence_order, delay_of(steps[0])
    )
    campaign.started_at = datetime.now(UTC)


async def complete_if_finished(
    session: AsyncSession, principal: Principal, campaign: Campaign
) -> bool:
    """An active campaign whose every enrollment has ended is completed."""
    if campaign.status != CampaignStatus.ACTIVE:
        return False
    if await EnrollmentRepository(session, principal.company_id).open_count(campaign.id) > 0:
        return False
    campaign.status = CampaignStatus.COMPLETED
    campaign.completed_at = datetime.now(UTC)
    await session.flush()
    await events.emit_campaign_events(
        session, "campaign.completed", [campaign.id], campaign.company_id
    )
    return True


# --- summary ----------------------------------------------------------------------------------


async def summary(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> schemas.Summary:
    campaign = await get_campaign(session, principal, campaign_id)
    steps = await StepRepository(session, principal.company_id).of_campaign(campaign_id)
    counts = await EnrollmentRepository(session, principal.company_id).counts_by_status(campaign_id)
    metrics = await ActivityRepository(session, principal.company_id).counts_by_type(campaign_id)
    return schemas.Summary(
        campaign=schemas.Campaign.model_validate(campaign),
        steps=[schemas.Step.model_validate(s) for s in steps],
        enrollment_counts=counts,
        metrics=metrics,
        total_cost=campaign.cost,
        budget_remaining=campaign.budget - campaign.cost if campaign.budget is not None else None,
    )
