"""SQL for tracking: finding the delivery a token or a provider event names, recording what
happened to it, and opting a contact out."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.models import (
    ActivityType,
    CampaignActivity,
    CampaignContact,
    Contact,
    Delivery,
    DeliveryStatus,
    EnrollmentStatus,
    OptInStatus,
)
from agentconnect.models.delivery import DeliveryContent
from agentconnect.tenancy.scoping import TenantRepository

OPEN_ENROLLMENT = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)


@dataclass(frozen=True)
class DeliveryRef:
    """What tracking needs of a delivery: who it went to, from which campaign step."""

    id: uuid.UUID
    company_id: uuid.UUID
    campaign_id: uuid.UUID
    enrollment_id: uuid.UUID
    contact_id: uuid.UUID
    lead_id: uuid.UUID | None
    message_id: uuid.UUID | None
    variant: str | None
    status: DeliveryStatus
    to_address: str
    message_id_header: str | None
    details: dict[str, Any]


_REF_COLUMNS: tuple[Any, ...] = (
    Delivery.id,
    Delivery.company_id,
    Delivery.campaign_id,
    Delivery.enrollment_id,
    Delivery.contact_id,
    Delivery.lead_id,
    Delivery.message_id,
    Delivery.variant,
    Delivery.status,
    Delivery.to_address,
    Delivery.message_id_header,
    func.coalesce(DeliveryContent.details, literal({}, JSONB)),
)
# The links a click token points into are part of the message, kept beside the delivery.
_WITH_CONTENT = (DeliveryContent, DeliveryContent.delivery_id == Delivery.id)


async def find_delivery_by_token(
    session: AsyncSession, delivery_id: uuid.UUID
) -> DeliveryRef | None:
    """The one lookup not scoped by company: the signed token is the authority, and the row it
    finds decides the company every later statement is scoped to."""
    stmt = select(*_REF_COLUMNS).outerjoin(*_WITH_CONTENT).where(Delivery.id == delivery_id)
    row = (await session.execute(stmt)).first()
    return DeliveryRef(*row) if row is not None else None


class DeliveryRepository(TenantRepository[Delivery]):
    model = Delivery

    async def by_message_ids(self, headers: Sequence[str]) -> dict[str, DeliveryRef]:
        if not headers:
            return {}
        stmt = (
            self.select(*_REF_COLUMNS)
            .outerjoin(*_WITH_CONTENT)
            .where(Delivery.message_id_header.in_(set(headers)))
        )
        refs = [DeliveryRef(*row) for row in (await self.session.execute(stmt)).all()]
        return {ref.message_id_header: ref for ref in refs if ref.message_id_header}

    async def move_status(
        self,
        delivery_id: uuid.UUID,
        to: DeliveryStatus,
        allowed_from: Sequence[DeliveryStatus],
        **values: Any,
    ) -> bool:
        """Move the status forward only from the given states, so a late or repeated event
        never moves it backwards; True when it moved."""
        stmt = (
            self.update()
            .where(Delivery.id == delivery_id, Delivery.status.in_(allowed_from))
            .values(status=to, updated_at=func.now(), **values)
            .returning(Delivery.id)
        )
        return (await self.session.scalar(stmt)) is not None


class TrackingActivities(TenantRepository[CampaignActivity]):
    model = CampaignActivity

    def record(
        self,
        ref: DeliveryRef,
        activity_type: ActivityType,
        details: dict[str, Any],
        occurred_at: datetime | None = None,
    ) -> CampaignActivity:
        activity = CampaignActivity(
            campaign_id=ref.campaign_id,
            contact_id=ref.contact_id,
            lead_id=ref.lead_id,
            message_id=ref.message_id,
            variant=ref.variant,
            activity_type=activity_type,
            details={"delivery_id": str(ref.id), **details},
        )
        if occurred_at is not None:
            activity.occurred_at = occurred_at
        return self.add(activity)


class OptOutRepository(TenantRepository[Contact]):
    model = Contact

    async def opt_out(
        self,
        ref: DeliveryRef,
        *,
        exit_reason: str,
        activity: ActivityType | None,
        details: dict[str, Any],
    ) -> bool:
        """In one statement: the contact opted out, its open enrollments in every campaign
        ended (`opted_out`), its queued deliveries cancelled, and — only when the contact was
        not opted out already — one `activity`. True when the contact changed."""
        contact = (
            update(Contact)
            .where(
                self.scope(),
                Contact.id == ref.contact_id,
                Contact.opt_in_status != OptInStatus.OPTED_OUT,
            )
            .values(opt_in_status=OptInStatus.OPTED_OUT, updated_at=func.now())
            .returning(Contact.id)
            .cte("opted_out")
        )
        exited = (
            update(CampaignContact)
            .where(
                CampaignContact.company_id == self.company_id,
                CampaignContact.contact_id == ref.contact_id,
                CampaignContact.status.in_(OPEN_ENROLLMENT),
            )
            .values(
                status=EnrollmentStatus.OPTED_OUT,
                exited_at=func.now(),
                exit_reason=exit_reason,
                next_step_at=None,
                updated_at=func.now(),
            )
            .returning(CampaignContact.id)
            .cte("exited")
        )
        cancelled = (
            update(Delivery)
            .where(
                Delivery.company_id == self.company_id,
                Delivery.contact_id == ref.contact_id,
                Delivery.status == DeliveryStatus.QUEUED,
            )
            .values(status=DeliveryStatus.CANCELLED, last_error=exit_reason, updated_at=func.now())
            .returning(Delivery.id)
            .cte("cancelled")
        )
        ctes = [exited, cancelled]
        if activity is not None:
            ctes.append(
                insert(CampaignActivity)
                .from_select(
                    [
                        "id",
                        "company_id",
                        "campaign_id",
                        "contact_id",
                        "lead_id",
                        "message_id",
                        "variant",
                        "activity_type",
                        "occurred_at",
                        "metadata",
                    ],
                    select(
                        func.gen_random_uuid(),
                        literal(self.company_id, UUID(as_uuid=True)),
                        literal(ref.campaign_id, UUID(as_uuid=True)),
                        contact.c.id,
                        literal(ref.lead_id, UUID(as_uuid=True)),
                        literal(ref.message_id, UUID(as_uuid=True)),
                        literal(ref.variant),
                        literal(activity.value),
                        func.now(),
                        literal({"delivery_id": str(ref.id), **details}, JSONB),
                    ),
                )
                .cte("opt_out_activity")
            )
        stmt = select(select(func.count()).select_from(contact).scalar_subquery()).add_cte(*ctes)
        return bool((await self.session.execute(stmt)).scalar_one())
