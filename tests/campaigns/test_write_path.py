"""The enrollment write path: time-ordered ids, composite tenant keys, cascades, activities."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.models import CampaignActivity, CampaignContact
from tests.campaigns.conftest import CAMPAIGNS, contact, email_step, new_campaign
from tests.fixtures.world import World


async def test_uuid_v7_is_version_7_and_ordered_by_time(session: AsyncSession) -> None:
    first = uuid.UUID(str(await session.scalar(text("SELECT uuid_v7()"))))
    await session.execute(text("SELECT pg_sleep(0.002)"))
    ids = [
        uuid.UUID(str(i))
        for i in (await session.scalars(text("SELECT uuid_v7() FROM generate_series(1, 1000)")))
    ]
    for value in (first, *ids):
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
    assert len(set(ids)) == len(ids)
    # the first 48 bits are Unix milliseconds: now, and later ids are never smaller
    milliseconds = first.int >> 80
    assert abs(milliseconds - time.time() * 1000) < 60_000
    assert all(first < i for i in ids)
    assert [i.int >> 80 for i in ids] == sorted(i.int >> 80 for i in ids)


async def _enroll_all(world: World) -> tuple[str, list[str]]:
    campaign = await new_campaign(world.a.manager, target_criteria={"tags_any": ["vip"]})
    await email_step(world.a.manager, campaign["id"])
    people = [
        (await contact(world.a.admin, email=f"p{i}@x.example", tags=["vip"]))["id"]
        for i in range(5)
    ]
    response = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/enroll-from-criteria")
    assert response.status_code == 200, response.text
    assert response.json()["enrolled"] == 5
    return campaign["id"], people


async def test_enrollments_and_their_activities_get_time_ordered_ids(
    world: World, session: AsyncSession
) -> None:
    campaign_id, people = await _enroll_all(world)
    enrollments = (
        await session.scalars(
            select(CampaignContact.id).where(CampaignContact.campaign_id == uuid.UUID(campaign_id))
        )
    ).all()
    activities = (
        await session.execute(
            select(CampaignActivity.id, CampaignActivity.activity_type, CampaignActivity.contact_id)
            .where(CampaignActivity.campaign_id == uuid.UUID(campaign_id))
        )
    ).all()  # fmt: skip
    assert len(enrollments) == 5
    assert {str(a.contact_id) for a in activities} == set(people)
    assert {a.activity_type.value for a in activities} == {"enrolled"}
    assert {i.version for i in (*enrollments, *(a.id for a in activities))} == {7}


async def test_composite_keys_refuse_another_companys_campaign_or_contact(
    world: World, session: AsyncSession
) -> None:
    theirs = await new_campaign(world.b.manager)
    their_contact = (await contact(world.b.admin, email="theirs@x.example"))["id"]
    ours = await new_campaign(world.a.manager)
    our_contact = (await contact(world.a.admin, email="ours@x.example"))["id"]
    rows = [
        (CampaignContact, theirs["id"], our_contact),
        (CampaignContact, ours["id"], their_contact),
        (CampaignActivity, theirs["id"], our_contact),
        (CampaignActivity, ours["id"], their_contact),
    ]
    for model, campaign_id, contact_id in rows:
        values = {
            "company_id": world.a.id,
            "campaign_id": uuid.UUID(campaign_id),
            "contact_id": uuid.UUID(contact_id),
        }
        if model is CampaignActivity:
            values["activity_type"] = "enrolled"
        with pytest.raises(IntegrityError, match="foreign key"):
            async with session.begin_nested():
                await session.execute(model.__table__.insert().values(**values))
    await session.rollback()


async def test_deleting_a_contact_or_a_campaign_removes_its_enrollments_and_activities(
    world: World, session: AsyncSession
) -> None:
    campaign_id, people = await _enroll_all(world)

    async def counts() -> tuple[int, int]:
        enrolled = await session.scalar(
            select(func.count())
            .select_from(CampaignContact)
            .where(CampaignContact.campaign_id == uuid.UUID(campaign_id))
        )
        logged = await session.scalar(
            select(func.count())
            .select_from(CampaignActivity)
            .where(CampaignActivity.campaign_id == uuid.UUID(campaign_id))
        )
        await session.rollback()
        return int(enrolled or 0), int(logged or 0)

    assert await counts() == (5, 5)
    response = await world.a.admin.delete(f"/api/v1/contacts/{people[0]}")
    assert response.status_code == 204, response.text
    assert await counts() == (4, 4)
    response = await world.a.manager.delete(f"{CAMPAIGNS}/{campaign_id}")
    assert response.status_code == 204, response.text
    assert await counts() == (0, 0)
