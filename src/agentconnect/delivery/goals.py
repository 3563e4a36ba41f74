"""Campaign goals: when a contact does what a campaign was for, its sequence stops.

Clicks and replies call `achieve_goal` as they are recorded; meetings, forms and won deals
will too. The delivery engine checks the same goals again before each step, so a goal
reached between two ticks is never missed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, func, literal, select, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.models import (
    ActivityType,
    Campaign,
    CampaignActivity,
    CampaignContact,
    Delivery,
    DeliveryStatus,
    EnrollmentStatus,
    GoalType,
)

OPEN_ENROLLMENT = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)


def exit_reason(goal: GoalType) -> str:
    return f"goal reached: {goal.value}"


async def achieve_goal(
    session: AsyncSession,
    company_id: uuid.UUID,
    contact_id: uuid.UUID,
    goal: GoalType,
    *,
    occurred_at: datetime,
) -> int:
    """End the contact's open (active or paused) enrollments in the company's campaigns whose
    goal is `goal`, cancel their queued deliveries and record one `goal_achieved` activity per
    ended enrollment, in one statement. Returns how many enrollments ended."""
    if goal is GoalType.NONE:
        return 0
    reason = exit_reason(goal)
    ended = (
        update(CampaignContact)
        .where(
            CampaignContact.company_id == company_id,
            CampaignContact.contact_id == contact_id,
            CampaignContact.status.in_(OPEN_ENROLLMENT),
            Campaign.id == CampaignContact.campaign_id,
            Campaign.company_id == company_id,
            Campaign.goal_type == goal,
        )
        .values(
            status=EnrollmentStatus.GOAL_ACHIEVED,
            exited_at=occurred_at,
            exit_reason=reason,
            next_step_at=None,
            updated_at=func.now(),
        )
        .returning(
            CampaignContact.id,
            CampaignContact.campaign_id,
            CampaignContact.contact_id,
            CampaignContact.lead_id,
        )
        .cte("ended")
    )
    cancelled = (
        update(Delivery)
        .where(
            Delivery.company_id == company_id,
            Delivery.enrollment_id.in_(select(ended.c.id)),
            Delivery.status == DeliveryStatus.QUEUED,
        )
        .values(status=DeliveryStatus.CANCELLED, last_error=reason, updated_at=func.now())
        .returning(Delivery.id)
        .cte("cancelled")
    )
    activities = (
        insert(CampaignActivity)
        .from_select(
            [
                "id",
                "company_id",
                "campaign_id",
                "contact_id",
                "lead_id",
                "activity_type",
                "occurred_at",
                "metadata",
            ],
            select(
                func.gen_random_uuid(),
                literal(company_id, UUID(as_uuid=True)),
                ended.c.campaign_id,
                ended.c.contact_id,
                ended.c.lead_id,
                literal(ActivityType.GOAL_ACHIEVED.value),
                literal(occurred_at, DateTime(timezone=True)),
                func.jsonb_build_object(
                    "goal",
                    literal(goal.value),
                    "enrollment_id",
                    ended.c.id,
                    "reason",
                    literal(reason),
                ),
            ),
        )
        .cte("goal_activities")
    )
    stmt = select(func.count()).select_from(ended).add_cte(cancelled, activities)
    return int((await session.execute(stmt)).scalar_one())
