"""Rows for tracking and webhook tests: a campaign, a contact enrolled in it, a sent delivery
of step 1 and a queued delivery of step 2, written straight to the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.models import (
    ActivityType,
    Campaign,
    CampaignActivity,
    CampaignContact,
    CampaignMessage,
    CampaignStatus,
    CampaignType,
    Contact,
    Delivery,
    DeliveryStatus,
    EnrollmentStatus,
    GoalType,
    MessageType,
)
from agentconnect.models.delivery import DeliveryContent

LINKS = ["https://example.com/pricing?plan=pro&ref=mail", "https://example.com/demo"]


@dataclass
class Sent:
    company_id: uuid.UUID
    contact_id: uuid.UUID
    campaign_id: uuid.UUID
    enrollment_id: uuid.UUID
    step_id: uuid.UUID
    delivery_id: uuid.UUID
    queued_id: uuid.UUID
    message_id_header: str


async def new_contact(
    session: AsyncSession, company_id: uuid.UUID, email: str | None = None
) -> uuid.UUID:
    email = email or f"ada.{uuid.uuid4().hex[:8]}@example.com"
    contact = Contact(company_id=company_id, first_name="Ada", email=email)
    session.add(contact)
    await session.flush()
    return contact.id


async def sent_email(
    session: AsyncSession,
    company_id: uuid.UUID,
    *,
    contact_id: uuid.UUID | None = None,
    goal: GoalType = GoalType.NONE,
    status: DeliveryStatus = DeliveryStatus.SENT,
    enrollment_status: EnrollmentStatus = EnrollmentStatus.ACTIVE,
    links: list[str] | None = None,
) -> Sent:
    if contact_id is None:
        contact_id = await new_contact(session, company_id)
    campaign = Campaign(
        company_id=company_id,
        name=f"Campaign {uuid.uuid4().hex[:6]}",
        campaign_type=CampaignType.EMAIL,
        status=CampaignStatus.ACTIVE,
        goal_type=goal,
    )
    session.add(campaign)
    await session.flush()
    step = CampaignMessage(
        company_id=company_id,
        campaign_id=campaign.id,
        sequence_order=1,
        message_type=MessageType.EMAIL,
        subject="Hello",
        body="Hi",
    )
    enrollment = CampaignContact(
        company_id=company_id,
        campaign_id=campaign.id,
        contact_id=contact_id,
        status=enrollment_status,
        current_step=2,
        next_step_at=func.now(),
    )
    session.add_all([step, enrollment])
    await session.flush()
    delivery_id, queued_id = uuid.uuid4(), uuid.uuid4()
    header = f"{delivery_id}@mail.example"
    common: dict[str, Any] = {
        "company_id": company_id,
        "campaign_id": campaign.id,
        "enrollment_id": enrollment.id,
        "contact_id": contact_id,
        "channel": MessageType.EMAIL,
        "to_address": "Ada@Example.com",
    }
    session.add_all(
        [
            Delivery(
                id=delivery_id,
                message_id=step.id,
                step_order=1,
                dedupe_key=f"{enrollment.id}:1",
                status=status,
                content=DeliveryContent(
                    company_id=company_id,
                    subject="Hello",
                    body_text="Hi",
                    details={"links": LINKS if links is None else links},
                ),
                message_id_header=header,
                variant="A",
                **common,
            ),
            Delivery(
                id=queued_id,
                step_order=2,
                dedupe_key=f"{enrollment.id}:2",
                status=DeliveryStatus.QUEUED,
                **common,
            ),
        ]
    )
    await session.commit()
    return Sent(
        company_id, contact_id, campaign.id, enrollment.id, step.id, delivery_id, queued_id, header
    )


async def activities(
    session: AsyncSession, company_id: uuid.UUID, kind: ActivityType | None = None
) -> list[CampaignActivity]:
    session.expire_all()
    stmt = select(CampaignActivity).where(CampaignActivity.company_id == company_id)
    if kind is not None:
        stmt = stmt.where(CampaignActivity.activity_type == kind)
    return list((await session.scalars(stmt.order_by(CampaignActivity.occurred_at))).all())


async def row(session: AsyncSession, model: Any, id_: uuid.UUID) -> Any:
    session.expire_all()
    return await session.get(model, id_)
