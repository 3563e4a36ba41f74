"""The public tracking endpoints against the app and a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.models import (
    ActivityType,
    CampaignContact,
    Contact,
    Delivery,
    DeliveryStatus,
    EnrollmentStatus,
    GoalType,
    OptInStatus,
)
from agentconnect.tracking.endpoints import PIXEL_GIF
from agentconnect.tracking.tokens import click_token, open_token, unsubscribe_token
from tests.fixtures.world import World
from tests.tracking.helpers import LINKS, activities, new_contact, row, sent_email

SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko)"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


def secret_of(app: Any) -> str:
    secret: str = app.state.secret_key
    return secret


async def rescore_jobs(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT count(*) FROM procrastinate_jobs")) or 0)


async def test_open_pixel_records_a_real_open(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id)
    response = await world.anonymous.get(
        f"/t/o/{open_token(secret_of(app), sent.delivery_id)}", headers={"User-Agent": SAFARI}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["cache-control"].startswith("no-store")
    assert response.content == PIXEL_GIF
    [opened] = await activities(session, world.a.id, ActivityType.EMAIL_OPENED)
    assert opened.details == {
        "delivery_id": str(sent.delivery_id),
        "prefetched": False,
        "user_agent": SAFARI,
    }
    assert (opened.campaign_id, opened.contact_id, opened.message_id, opened.variant) == (
        sent.campaign_id,
        sent.contact_id,
        sent.step_id,
        "A",
    )


async def test_head_apple_proxy_and_gmail_proxy(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id)
    url = f"/t/o/{open_token(secret_of(app), sent.delivery_id)}"
    head = await world.anonymous.head(url, headers={"User-Agent": SAFARI})
    assert head.status_code == 200
    assert head.headers["content-type"] == "image/gif"
    apple = await world.anonymous.get(url, headers={"User-Agent": "Mozilla/5.0"})
    gmail = await world.anonymous.get(url, headers={"User-Agent": GMAIL})
    assert apple.content == gmail.content == PIXEL_GIF
    opens = await activities(session, world.a.id, ActivityType.EMAIL_OPENED)
    flags = [(a.details["user_agent"], a.details["prefetched"]) for a in opens]
    assert sorted(flags) == sorted([(SAFARI, True), ("Mozilla/5.0", True), (GMAIL, False)])


async def test_forged_or_altered_tokens_answer_404_and_record_nothing(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id)
    secret = secret_of(app)
    good = open_token(secret, sent.delivery_id)
    altered = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    forged = open_token("not-the-app-secret", sent.delivery_id)
    for path in (
        f"/t/o/{altered}",
        f"/t/o/{forged}",
        "/t/o/nonsense",
        f"/t/c/{good}",  # an open token is no click token
        f"/t/c/{click_token('not-the-app-secret', sent.delivery_id, 0)}",
        f"/u/{good}",
        f"/u/{unsubscribe_token('not-the-app-secret', sent.delivery_id)}",
    ):
        response = await world.anonymous.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    response = await world.anonymous.post(f"/u/{forged}", content=b"List-Unsubscribe=One-Click")
    assert response.status_code == 404
    assert await activities(session, world.a.id) == []
    contact = await row(session, Contact, sent.contact_id)
    assert contact.opt_in_status == OptInStatus.UNKNOWN


async def test_click_records_and_redirects_to_the_original_url(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id)
    response = await world.anonymous.get(
        f"/t/c/{click_token(secret_of(app), sent.delivery_id, 0)}", headers={"User-Agent": SAFARI}
    )
    assert response.status_code == 302
    assert response.headers["location"] == LINKS[0]
    [clicked] = await activities(session, world.a.id, ActivityType.EMAIL_CLICKED)
    assert clicked.details["url"] == LINKS[0]
    assert clicked.details["delivery_id"] == str(sent.delivery_id)
    assert clicked.contact_id == sent.contact_id
    assert await rescore_jobs(session) == 1
    # no click goal on this campaign: the sequence goes on
    enrollment = await row(session, CampaignContact, sent.enrollment_id)
    assert enrollment.status == EnrollmentStatus.ACTIVE


async def test_a_head_request_on_a_link_redirects_and_records_nothing(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id)
    response = await world.anonymous.head(
        f"/t/c/{click_token(secret_of(app), sent.delivery_id, 1)}"
    )
    assert response.status_code == 302
    assert response.headers["location"] == LINKS[1]
    assert await activities(session, world.a.id) == []


async def test_a_click_reaches_the_click_goal(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id, goal=GoalType.CLICK)
    other = await sent_email(session, world.a.id, contact_id=sent.contact_id, goal=GoalType.REPLY)
    response = await world.anonymous.get(f"/t/c/{click_token(secret_of(app), sent.delivery_id, 1)}")
    assert response.status_code == 302
    enrollment = await row(session, CampaignContact, sent.enrollment_id)
    assert enrollment.status == EnrollmentStatus.GOAL_ACHIEVED
    assert enrollment.exited_at is not None
    assert enrollment.exit_reason == "goal reached: click"
    assert (await row(session, Delivery, sent.queued_id)).status == DeliveryStatus.CANCELLED
    [goal] = await activities(session, world.a.id, ActivityType.GOAL_ACHIEVED)
    assert goal.campaign_id == sent.campaign_id
    assert goal.details["goal"] == "click"
    # the reply-goal campaign goes on
    assert (await row(session, CampaignContact, other.enrollment_id)).status == "active"
    assert (await row(session, Delivery, other.queued_id)).status == DeliveryStatus.QUEUED


async def test_no_open_redirect(world: World, app: Any, session: AsyncSession) -> None:
    secret = secret_of(app)
    sent = await sent_email(session, world.a.id)
    beyond = await world.anonymous.get(f"/t/c/{click_token(secret, sent.delivery_id, 2)}")
    assert beyond.status_code == 404
    tampered = await sent_email(session, world.a.id, links=["javascript:alert(1)"])
    script = await world.anonymous.get(f"/t/c/{click_token(secret, tampered.delivery_id, 0)}")
    assert script.status_code == 404
    # the target comes from the delivery only; a query parameter changes nothing
    token = click_token(secret, sent.delivery_id, 0)
    response = await world.anonymous.get(f"/t/c/{token}?url=https://evil.example")
    assert response.headers["location"] == LINKS[0]
    assert len(await activities(session, world.a.id, ActivityType.EMAIL_CLICKED)) == 1


async def test_unsubscribe_page_changes_nothing_and_posts_to_itself(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id)
    token = unsubscribe_token(secret_of(app), sent.delivery_id)
    response = await world.anonymous.get(f"/u/{token}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f'<form method="post" action="/u/{token}">' in response.text
    assert (await row(session, Contact, sent.contact_id)).opt_in_status == OptInStatus.UNKNOWN
    assert await activities(session, world.a.id) == []


async def test_one_click_unsubscribe_is_complete_and_idempotent(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id)
    paused = await sent_email(
        session, world.a.id, contact_id=sent.contact_id, enrollment_status=EnrollmentStatus.PAUSED
    )
    url = f"/u/{unsubscribe_token(secret_of(app), sent.delivery_id)}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    first = await world.anonymous.post(url, content=b"List-Unsubscribe=One-Click", headers=form)
    assert first.status_code == 200
    assert "unsubscribed" in first.text
    assert (await row(session, Contact, sent.contact_id)).opt_in_status == OptInStatus.OPTED_OUT
    for setup in (sent, paused):
        enrollment = await row(session, CampaignContact, setup.enrollment_id)
        assert enrollment.status == EnrollmentStatus.OPTED_OUT
        assert enrollment.exit_reason == "unsubscribed"
        assert enrollment.exited_at is not None
        assert (await row(session, Delivery, setup.queued_id)).status == DeliveryStatus.CANCELLED
    # what was already sent stays as it was
    assert (await row(session, Delivery, sent.delivery_id)).status == DeliveryStatus.SENT
    [unsubscribed] = await activities(session, world.a.id, ActivityType.EMAIL_UNSUBSCRIBED)
    assert unsubscribed.details == {"delivery_id": str(sent.delivery_id), "method": "one_click"}
    assert unsubscribed.campaign_id == sent.campaign_id

    before = len(await activities(session, world.a.id))
    again = await world.anonymous.post(url)  # an empty POST, as from the page's button
    assert again.status_code == 200
    assert len(await activities(session, world.a.id)) == before


async def test_deleted_delivery_or_contact_answers_404(
    world: World, app: Any, session: AsyncSession
) -> None:
    secret = secret_of(app)
    sent = await sent_email(session, world.a.id)
    await session.execute(Delivery.__table__.delete().where(Delivery.id == sent.delivery_id))
    await session.commit()
    assert (
        await world.anonymous.get(f"/t/o/{open_token(secret, sent.delivery_id)}")
    ).status_code == 404
    other = await sent_email(
        session, world.a.id, contact_id=await new_contact(session, world.a.id, "bo@example.com")
    )
    await session.execute(Contact.__table__.delete().where(Contact.id == other.contact_id))
    await session.commit()
    url = f"/u/{unsubscribe_token(secret, other.delivery_id)}"
    assert (await world.anonymous.post(url)).status_code == 404
    assert await activities(session, world.a.id) == []


async def test_a_token_of_company_a_never_touches_company_b(
    world: World, app: Any, session: AsyncSession
) -> None:
    secret = secret_of(app)
    # the same person, with the same address, is a contact of both companies
    same = "ada@example.com"
    in_a = await sent_email(
        session, world.a.id, contact_id=await new_contact(session, world.a.id, same),
        goal=GoalType.CLICK,
    )  # fmt: skip
    in_b = await sent_email(
        session, world.b.id, contact_id=await new_contact(session, world.b.id, same),
        goal=GoalType.CLICK,
    )  # fmt: skip
    await world.anonymous.get(f"/t/o/{open_token(secret, in_a.delivery_id)}")
    await world.anonymous.get(f"/t/c/{click_token(secret, in_a.delivery_id, 0)}")
    await world.anonymous.post(f"/u/{unsubscribe_token(secret, in_a.delivery_id)}")
    assert await activities(session, world.b.id) == []
    assert (await row(session, Contact, in_b.contact_id)).opt_in_status == OptInStatus.UNKNOWN
    assert (await row(session, CampaignContact, in_b.enrollment_id)).status == "active"
    assert (await row(session, Delivery, in_b.queued_id)).status == DeliveryStatus.QUEUED
    assert (await row(session, Contact, in_a.contact_id)).opt_in_status == OptInStatus.OPTED_OUT
    count = await session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.status == "cancelled")
    )
    assert count == 1
    assert await _b_api_sees_nothing(world.b.admin, in_a.contact_id)


async def _b_api_sees_nothing(client: httpx.AsyncClient, contact_id: Any) -> bool:
    response = await client.get(f"/api/v1/contacts/{contact_id}")
    return response.status_code == 404
