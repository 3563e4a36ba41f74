"""SQL for campaigns, their steps and enrollments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, select, true, update
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.orm import contains_eager

from agentconnect.activities.repository import ActivityRepository
from agentconnect.kit.sql import planned_per_call, uuid_array
from agentconnect.models import (
    ActivityType,
    Campaign,
    CampaignContact,
    CampaignMessage,
    Contact,
    EnrollmentStatus,
)
from agentconnect.tenancy.scoping import TenantRepository

OPEN_ENROLLMENT = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)
# Renumbering steps goes through this offset so the unique (campaign, order) never sees a
# duplicate halfway through the UPDATE.
_SHIFT = 100_000


class CampaignRepository(TenantRepository[Campaign]):
    model = Campaign

    async def lock(self, campaign_id: uuid.UUID) -> Campaign | None:
        """The campaign, locked: lifecycle changes and enrollments of one campaign queue up."""
        stmt = self.select().where(Campaign.id == campaign_id).with_for_update()
        campaign: Campaign | None = await self.session.scalar(stmt)
        return campaign

    async def message_counts(self, campaign_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        stmt = (
            select(CampaignMessage.campaign_id, func.count())
            .where(
                CampaignMessage.company_id == self.company_id,
                CampaignMessage.campaign_id.in_(campaign_ids),
            )
            .group_by(CampaignMessage.campaign_id)
        )
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}

    async def enrollment_counts(
        self, campaign_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, int]]:
        stmt = (
            select(CampaignContact.campaign_id, CampaignContact.status, func.count())
            .where(
                CampaignContact.company_id == self.company_id,
                CampaignContact.campaign_id.in_(campaign_ids),
            )
            .group_by(CampaignContact.campaign_id, CampaignContact.status)
        )
        counts: dict[uuid.UUID, dict[str, int]] = {i: {} for i in campaign_ids}
        for campaign_id, status, count in (await self.session.execute(stmt)).all():
            counts[campaign_id][status.value] = count
        return counts


class StepRepository(TenantRepository[CampaignMessage]):
    model = CampaignMessage

    async def of_campaign(self, campaign_id: uuid.UUID) -> list[CampaignMessage]:
        stmt = (
            self.select()
            .where(CampaignMessage.campaign_id == campaign_id)
            .order_by(CampaignMessage.sequence_order)
        )
        return list((await self.session.scalars(stmt)).all())

    async def get_in(self, campaign_id: uuid.UUID, step_id: uuid.UUID) -> CampaignMessage | None:
        stmt = self.select().where(
            CampaignMessage.campaign_id == campaign_id, CampaignMessage.id == step_id
        )
        step: CampaignMessage | None = await self.session.scalar(stmt)
        return step

    async def make_room(self, campaign_id: uuid.UUID, at_order: int) -> None:
        """Move the steps at `at_order` and after one place down."""
        scoped = update(CampaignMessage).where(
            self.scope(), CampaignMessage.campaign_id == campaign_id
        )
        await self.session.execute(
            scoped.where(CampaignMessage.sequence_order >= at_order).values(
                sequence_order=CampaignMessage.sequence_order + _SHIFT
            )
        )
        await self.session.execute(
            scoped.where(CampaignMessage.sequence_order >= _SHIFT).values(
                sequence_order=CampaignMessage.sequence_order - _SHIFT + 1
            )
        )

    async def copy_steps(self, source_id: uuid.UUID, target_id: uuid.UUID) -> None:
        columns = ["sequence_order", "message_type", "delay_value", "delay_unit", "subject",
                   "body", "variants", "send_window", "options"]  # fmt: skip
        source = [getattr(CampaignMessage, c) for c in columns]
        await self.session.execute(
            insert(CampaignMessage).from_select(
                ["id", "company_id", "campaign_id", *columns],
                select(
                    func.gen_random_uuid(),
                    CampaignMessage.company_id,
                    literal(target_id, UUID(as_uuid=True)),
                    *source,
                ).where(self.scope(), CampaignMessage.campaign_id == source_id),
            )
        )


@dataclass(frozen=True)
class Candidate:
    contact_id: uuid.UUID
    found: bool
    do_not_contact: bool
    opted_out: bool
    has_email: bool
    has_phone: bool
    enrolled: bool


class EnrollmentRepository(TenantRepository[CampaignContact]):
    model = CampaignContact

    def with_contacts(self, campaign_id: uuid.UUID) -> Select[Any]:
        return (
            self.select()
            .join(Contact, Contact.id == CampaignContact.contact_id)
            .where(
                CampaignContact.campaign_id == campaign_id, Contact.company_id == self.company_id
            )
            .options(contains_eager(CampaignContact.contact))
        )

    async def candidates(
        self, campaign_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
    ) -> list[Candidate]:
        """What stands in the way of enrolling each given id, in one query."""
        ids = select(func.unnest(uuid_array(contact_ids)).label("id")).subquery("ids")
        enrolled = exists().where(
            CampaignContact.company_id == self.company_id,
            CampaignContact.campaign_id == campaign_id,
            CampaignContact.contact_id == ids.c.id,
        )
        stmt = select(
            ids.c.id,
            Contact.id.is_not(None),
            func.coalesce(Contact.do_not_contact, False),
            func.coalesce(Contact.opt_in_status == "opted_out", False),
            Contact.email.is_not(None),
            Contact.phone.is_not(None),
            enrolled,
        ).select_from(
            ids.outerjoin(
                Contact, and_(Contact.id == ids.c.id, Contact.company_id == self.company_id)
            )
        )
        return [Candidate(*row) for row in (await self.session.execute(stmt)).all()]

    def _enrollment_columns(
        self, campaign_id: uuid.UUID, first_order: int, delay: timedelta
    ) -> list[Any]:
        return [
            func.uuid_v7(),
            literal(self.company_id, UUID(as_uuid=True)),
            literal(campaign_id, UUID(as_uuid=True)),
            literal(EnrollmentStatus.ACTIVE.value),
            literal(first_order),
            func.now() + delay,
            literal({}, JSONB),
            func.now(),
            func.now(),
        ]

    async def enroll(
        self,
        campaign_id: uuid.UUID,
        source: Select[Any],
        *,
        first_order: int,
        delay: timedelta,
    ) -> int:
        """Enroll every contact `source` selects (one `contact_id` column), in one statement.

        Writes the enrollments and an `enrolled` activity for each; contacts already enrolled
        are left alone (ON CONFLICT DO NOTHING). Returns how many were enrolled.

        The candidates go in contact order: the index entries keyed by contact and the foreign
        key lookups of the contacts then walk their indexes once, front to back, instead of
        jumping around indexes bigger than memory. MATERIALIZED keeps the planner from
        reading the contacts in that order through an index (one random heap read per contact)
        to save the sort.
        """
        candidates = source.cte("candidates").prefix_with("MATERIALIZED")
        inserted = (
            insert(CampaignContact)
            .from_select(
                [
                    "id",
                    "company_id",
                    "campaign_id",
                    "status",
                    "current_step",
                    "next_step_at",
                    "variant_assignments",
                    "enrolled_at",
                    "updated_at",
                    "contact_id",
                ],
                select(
                    *self._enrollment_columns(campaign_id, first_order, delay),
                    candidates.c.contact_id,
                ).order_by(candidates.c.contact_id),
            )
            .on_conflict_do_nothing(index_elements=["company_id", "campaign_id", "contact_id"])
            .returning(CampaignContact.contact_id)
            .cte("inserted")
        )
        activities = (
            ActivityRepository(self.session, self.company_id)
            .insert_from(inserted, ActivityType.ENROLLED, campaign_id)
            .cte("enrolled_activities")
        )
        stmt = select(select(func.count()).select_from(inserted).scalar_subquery()).add_cte(
            activities
        )
        async with planned_per_call(self.session):  # the candidates' plan depends on them
            return int((await self.session.execute(stmt)).scalar_one())

    @staticmethod
    def _ended(reason: str) -> dict[str, Any]:
        return {
            "status": EnrollmentStatus.UNENROLLED,
            "exited_at": func.now(),
            "exit_reason": reason,
            "next_step_at": None,
            "updated_at": func.now(),
        }

    async def unenroll(
        self, campaign_id: uuid.UUID, contact_ids: Sequence[uuid.UUID] | None, reason: str
    ) -> list[uuid.UUID]:
        """End these contacts' open enrollments (None: all of the campaign's), each with an
        `unenrolled` activity; returns the contacts whose enrollment ended."""
        changed = (
            update(CampaignContact)
            .where(
                self.scope(),
                CampaignContact.campaign_id == campaign_id,
                CampaignContact.status.in_(OPEN_ENROLLMENT),
                true()
                if contact_ids is None
                else CampaignContact.contact_id == func.any(uuid_array(contact_ids)),
            )
            .values(self._ended(reason))
            .returning(CampaignContact.contact_id)
            .cte("changed")
        )
        activities = (
            ActivityRepository(self.session, self.company_id)
            .insert_from(changed, ActivityType.UNENROLLED, campaign_id, {"reason": reason})
            .cte("unenrolled_activities")
        )
        stmt = select(changed.c.contact_id).add_cte(activities)
        return list((await self.session.scalars(stmt)).all())

    async def reschedule_first_step(
        self, campaign_id: uuid.UUID, first_order: int, delay: timedelta
    ) -> None:
        """On start, enrollments still waiting for the first step count its delay from now."""
        await self.session.execute(
            update(CampaignContact)
            .where(
                self.scope(),
                CampaignContact.campaign_id == campaign_id,
                CampaignContact.status == EnrollmentStatus.ACTIVE,
                CampaignContact.current_step <= first_order,
            )
            .values(current_step=first_order, next_step_at=func.now() + delay)
        )

    async def preview(
        self, clauses: Sequence[ColumnElement[bool]], sample_size: int
    ) -> tuple[int, list[Contact]]:
        # how many contacts criteria match decides the plan (a scan or an index)
        async with planned_per_call(self.session):
            count = select(func.count()).select_from(Contact).where(*clauses)
            total = await self.session.scalar(count)
            if not total or sample_size == 0:
                # nothing to show: skip a scan that would walk every match to find none
                return int(total or 0), []
            sample = await self.session.scalars(
                select(Contact)
                .where(*clauses)
                .order_by(Contact.created_at.desc(), Contact.id)
                .limit(sample_size)
            )
            return int(total or 0), list(sample.all())

    async def counts_by_status(self, campaign_id: uuid.UUID) -> dict[str, int]:
        stmt = (
            self.select(CampaignContact.status, func.count())
            .where(CampaignContact.campaign_id == campaign_id)
            .group_by(CampaignContact.status)
        )
        return {row[0].value: row[1] for row in (await self.session.execute(stmt)).all()}

    async def open_count(self, campaign_id: uuid.UUID) -> int:
        stmt = self.select(func.count()).where(
            CampaignContact.campaign_id == campaign_id, CampaignContact.status.in_(OPEN_ENROLLMENT)
        )
        return int(await self.session.scalar(stmt) or 0)
