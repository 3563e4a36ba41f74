"""achieve_goal: ends the sequences whose campaign goal was reached, and only those."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.delivery.goals import achieve_goal
from agentconnect.models import (
    ActivityType,
    CampaignContact,
    Delivery,
    DeliveryStatus,
    EnrollmentStatus,
    GoalType,
)
from tests.fixtures.world import World
from tests.tracking.helpers import activities, new_contact, row, sent_email

WHEN = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


async def test_ends_open_enrollments_of_campaigns_with_that_goal(
    world: World, session: AsyncSession
) -> None:
    contact = await new_contact(session, world.a.id)
    active = await sent_email(session, world.a.id, contact_id=contact, goal=GoalType.REPLY)
    paused = await sent_email(
        session, world.a.id, contact_id=contact, goal=GoalType.REPLY,
        enrollment_status=EnrollmentStatus.PAUSED,
    )  # fmt: skip
    done = await sent_email(
        session, world.a.id, contact_id=contact, goal=GoalType.REPLY,
        enrollment_status=EnrollmentStatus.COMPLETED,
    )  # fmt: skip
    other_goal = await sent_email(session, world.a.id, contact_id=contact, goal=GoalType.CLICK)
    no_goal = await sent_email(session, world.a.id, contact_id=contact)
    someone_else = await sent_email(session, world.a.id, goal=GoalType.REPLY)

    ended = await achieve_goal(session, world.a.id, contact, GoalType.REPLY, occurred_at=WHEN)
    await session.commit()

    assert ended == 2
    for setup in (active, paused):
        enrollment = await row(session, CampaignContact, setup.enrollment_id)
        assert enrollment.status == EnrollmentStatus.GOAL_ACHIEVED
        assert enrollment.exited_at == WHEN
        assert enrollment.exit_reason == "goal reached: reply"
        assert enrollment.next_step_at is None
        assert (await row(session, Delivery, setup.queued_id)).status == DeliveryStatus.CANCELLED
        assert (await row(session, Delivery, setup.delivery_id)).status == DeliveryStatus.SENT
    expected = {
        done.enrollment_id: EnrollmentStatus.COMPLETED,
        other_goal.enrollment_id: EnrollmentStatus.ACTIVE,
        no_goal.enrollment_id: EnrollmentStatus.ACTIVE,
        someone_else.enrollment_id: EnrollmentStatus.ACTIVE,
    }
    for enrollment_id, status in expected.items():
        assert (await row(session, CampaignContact, enrollment_id)).status == status
    goals = await activities(session, world.a.id, ActivityType.GOAL_ACHIEVED)
    assert {(g.campaign_id, g.contact_id) for g in goals} == {
        (active.campaign_id, contact),
        (paused.campaign_id, contact),
    }
    assert all(g.occurred_at == WHEN and g.details["goal"] == "reply" for g in goals)
    assert {g.details["enrollment_id"] for g in goals} == {
        str(active.enrollment_id),
        str(paused.enrollment_id),
    }


async def test_twice_or_with_no_goal_ends_nothing(world: World, session: AsyncSession) -> None:
    sent = await sent_email(session, world.a.id, goal=GoalType.CLICK)
    assert (
        await achieve_goal(session, world.a.id, sent.contact_id, GoalType.NONE, occurred_at=WHEN)
        == 0
    )
    assert (
        await achieve_goal(session, world.a.id, sent.contact_id, GoalType.CLICK, occurred_at=WHEN)
        == 1
    )
    assert (
        await achieve_goal(session, world.a.id, sent.contact_id, GoalType.CLICK, occurred_at=WHEN)
        == 0
    )
    await session.commit()
    assert len(await activities(session, world.a.id, ActivityType.GOAL_ACHIEVED)) == 1


async def test_another_company_is_never_touched(world: World, session: AsyncSession) -> None:
    in_b = await sent_email(session, world.b.id, goal=GoalType.CLICK)
    # company A naming B's contact: scoped by company, nothing happens
    assert (
        await achieve_goal(session, world.a.id, in_b.contact_id, GoalType.CLICK, occurred_at=WHEN)
        == 0
    )
    await session.commit()
    assert (await row(session, CampaignContact, in_b.enrollment_id)).status == "active"
    assert await activities(session, world.b.id, ActivityType.GOAL_ACHIEVED) == []
