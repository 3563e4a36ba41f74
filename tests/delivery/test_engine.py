"""The delivery engine over simulated time, sending through the console provider.

Enrollment stamps `next_step_at` with the database clock; the tests then run the engine at
instants they choose (`Engine.tick(now)`), always later than that real clock.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.db import Database
from agentconnect.delivery import repository as repo
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings, choose_variant
from agentconnect.delivery.sender import SenderSettings
from agentconnect.models import (
    CampaignActivity,
    CampaignContact,
    ChannelSetting,
    Company,
    ConsoleMessage,
    Contact,
    Delivery,
    Suppression,
)
from tests.campaigns.conftest import CAMPAIGNS, add_step, contact, email_step, new_campaign
from tests.fixtures.world import World

NOW = datetime.now(UTC) + timedelta(minutes=5)


@pytest.fixture
def engine(database: Database, app: Any) -> Engine:
    settings = EngineSettings(base_url="http://crm.test", secret_key=app.state.secret_key)
    return Engine(database, settings, SenderSettings(worker_id="test", batch_size=50))


async def _start(client: Any, campaign_id: str) -> None:
    response = await client.post(f"{CAMPAIGNS}/{campaign_id}/start")
    assert response.status_code == 200, response.text


async def _enroll(client: Any, campaign_id: str, contact_ids: list[str]) -> None:
    response = await client.post(
        f"{CAMPAIGNS}/{campaign_id}/enroll", json={"contact_ids": contact_ids}
    )
    assert response.status_code == 200, response.text
    assert response.json()["enrolled"] == len(contact_ids), response.text


async def _outbox(session: AsyncSession, company_id: uuid.UUID) -> list[ConsoleMessage]:
    rows = await session.scalars(
        select(ConsoleMessage)
        .where(ConsoleMessage.company_id == company_id)
        .order_by(ConsoleMessage.created_at)
    )
    return list(rows)


async def _activities(session: AsyncSession, contact_id: str) -> list[str]:
    rows = await session.scalars(
        select(CampaignActivity.activity_type)
        .where(CampaignActivity.contact_id == uuid.UUID(contact_id))
        .order_by(CampaignActivity.occurred_at, CampaignActivity.activity_type)
    )
    return [str(getattr(kind, "value", kind)) for kind in rows]


async def _enrollment(session: AsyncSession, contact_id: str) -> CampaignContact:
    session.expire_all()
    row = await session.scalar(
        select(CampaignContact).where(CampaignContact.contact_id == uuid.UUID(contact_id))
    )
    assert row is not None
    return row


async def _two_step_campaign(world: World, **fields: Any) -> tuple[dict[str, Any], list[str]]:
    campaign = await new_campaign(world.a.manager, **fields)
    await email_step(world.a.manager, campaign["id"], delay_value=0, delay_unit="minutes")
    await email_step(
        world.a.manager,
        campaign["id"],
        subject="Still there, {{first_name}}?",
        body="Following up.",
        delay_value=2,
        delay_unit="days",
    )
    people = [
        await contact(
            world.a.admin, first_name=name, email=f"{name.lower()}@x.example", company_name="Acme"
        )
        for name in ("Ada", "Bo")
    ]
    ids = [p["id"] for p in people]
    await _enroll(world.a.manager, campaign["id"], ids)
    await _start(world.a.manager, campaign["id"])
    return campaign, ids


async def test_a_sequence_runs_step_by_step_and_completes(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    campaign, ids = await _two_step_campaign(world)
    first = await engine.tick(NOW)
    assert (first.scheduled.queued, first.sent.sent) == (2, 2)
    outbox = await _outbox(session, world.a.id)
    assert sorted(m.subject or "" for m in outbox) == ["Hello Ada", "Hello Bo"]
    assert all("/u/" in (m.body or "") for m in outbox), "every email carries an unsubscribe link"
    ada = await _enrollment(session, ids[0])
    assert ada.current_step == 2
    assert ada.next_step_at is not None
    assert abs(ada.next_step_at - (NOW + timedelta(days=2))) < timedelta(seconds=1)

    nothing = await engine.tick(NOW + timedelta(days=1))
    assert (nothing.scheduled.queued, nothing.sent.sent) == (0, 0)

    second = await engine.tick(NOW + timedelta(days=2, minutes=1))
    assert second.sent.sent == 2
    assert second.campaigns_completed == 1
    assert (await _enrollment(session, ids[0])).status == "completed"
    assert await _activities(session, ids[0]) == ["enrolled", "email_sent", "email_sent"]
    contact_row = await session.get(Contact, uuid.UUID(ids[0]))
    assert contact_row is not None
    assert contact_row.last_contacted_at is not None
    status = (await world.a.manager.get(f"{CAMPAIGNS}/{campaign['id']}")).json()["status"]
    assert status == "completed"


async def test_running_twice_at_the_same_instant_sends_nothing_twice(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    await _two_step_campaign(world)
    await engine.tick(NOW)
    again = await engine.tick(NOW)
    assert (again.scheduled.claimed, again.sent.leased) == (0, 0)
    assert len(await _outbox(session, world.a.id)) == 2
    keys = (await session.scalars(select(Delivery.dedupe_key))).all()
    assert len(keys) == len(set(keys)) == 2


async def test_a_paused_campaign_sends_nothing_until_resumed(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    campaign, ids = await _two_step_campaign(world)
    paused = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/pause")
    assert paused.status_code == 200, paused.text
    result = await engine.tick(NOW)
    assert (result.scheduled.claimed, result.sent.sent) == (0, 0)
    assert (await _enrollment(session, ids[0])).current_step == 1
    resumed = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/resume")
    assert resumed.status_code == 200, resumed.text
    assert (await engine.tick(NOW)).sent.sent == 2


async def test_pausing_after_queueing_holds_the_queued_messages(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    campaign, _ = await _two_step_campaign(world)
    scheduled = await engine.schedule(NOW)
    assert scheduled.queued == 2
    await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/pause")
    assert (await engine.send(NOW)).leased == 0
    await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/resume")
    assert (await engine.send(NOW)).sent == 2


async def test_do_not_contact_and_opted_out_contacts_are_never_sent_to(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    _, ids = await _two_step_campaign(world)
    await session.execute(
        update(Contact).where(Contact.id == uuid.UUID(ids[0])).values(do_not_contact=True)
    )
    await session.execute(
        update(Contact).where(Contact.id == uuid.UUID(ids[1])).values(opt_in_status="opted_out")
    )
    await session.commit()
    result = await engine.tick(NOW)
    assert (result.scheduled.ended, result.sent.sent) == (2, 0)
    assert await _outbox(session, world.a.id) == []
    ended = await _enrollment(session, ids[0])
    assert (ended.status, ended.exit_reason) == ("opted_out", "do_not_contact")
    assert await _activities(session, ids[1]) == ["enrolled", "step_skipped"]


async def test_a_suppressed_address_skips_the_step_with_its_reason(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    _, ids = await _two_step_campaign(world)
    session.add(
        Suppression(
            company_id=world.a.id, channel="email", address="ada@x.example", reason="hard_bounce"
        )
    )
    await session.commit()
    result = await engine.tick(NOW)
    assert (result.scheduled.skipped, result.sent.sent) == (1, 1)
    skipped = await session.scalar(
        select(CampaignActivity).where(CampaignActivity.activity_type == "step_skipped")
    )
    assert skipped is not None
    assert skipped.details == {"reason": "suppressed", "step": 1}
    assert (await _enrollment(session, ids[0])).current_step == 2


async def test_reaching_the_goal_ends_the_sequence(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    _, ids = await _two_step_campaign(world, goal_type="reply")
    await engine.tick(NOW)
    session.add(
        CampaignActivity(
            company_id=world.a.id,
            contact_id=uuid.UUID(ids[0]),
            activity_type="email_replied",
            occurred_at=NOW + timedelta(hours=3),
        )
    )
    await session.commit()
    result = await engine.tick(NOW + timedelta(days=3))
    assert (result.scheduled.ended, result.sent.sent) == (1, 1)
    ada = await _enrollment(session, ids[0])
    assert (ada.status, ada.exit_reason) == ("goal_achieved", "goal reached: reply")
    assert (await _activities(session, ids[0]))[-1] == "goal_achieved"


async def test_the_frequency_cap_holds_a_message_until_a_slot_frees(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    company = await session.get(Company, world.a.id)
    assert company is not None
    company.settings = {"frequency_cap": {"per_day": 1, "per_week": 5}}
    await session.commit()
    person = await contact(world.a.admin, first_name="Cy", email="cy@x.example")
    for name in ("First", "Second"):
        campaign = await new_campaign(world.a.manager, name=name)
        await email_step(world.a.manager, campaign["id"], delay_value=0, delay_unit="minutes")
        await _enroll(world.a.manager, campaign["id"], [person["id"]])
        await _start(world.a.manager, campaign["id"])
    result = await engine.tick(NOW)
    assert (result.scheduled.queued, result.scheduled.held, result.sent.sent) == (1, 1, 1)
    held = (
        await session.scalars(select(CampaignContact).where(CampaignContact.status == "active"))
    ).one()
    assert held.next_step_at is not None
    assert held.next_step_at >= NOW + timedelta(days=1) - timedelta(minutes=10)
    assert (await engine.tick(NOW + timedelta(hours=12))).sent.sent == 0
    assert (await engine.tick(NOW + timedelta(days=1, minutes=10))).sent.sent == 1


async def test_sms_waits_for_the_company_quiet_hours_in_the_contact_time_zone(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type="sms")
    await add_step(
        world.a.manager,
        campaign["id"],
        message_type="sms",
        body="Hi {{first_name}}",
        delay_value=0,
        delay_unit="minutes",
    )
    person = await contact(
        world.a.admin, first_name="Nia", phone="+12125550123", timezone="America/New_York"
    )
    await _enroll(world.a.manager, campaign["id"], [person["id"]])
    await _start(world.a.manager, campaign["id"])
    new_york = ZoneInfo("America/New_York")
    # 03:00 in New York on a day after the real clock: outside 08:00-21:00.
    night = (NOW + timedelta(days=2)).astimezone(new_york).replace(hour=3, minute=0)
    result = await engine.tick(night.astimezone(UTC))
    assert (result.scheduled.held, result.sent.sent) == (1, 0)
    held = await _enrollment(session, person["id"])
    assert held.next_step_at is not None
    assert held.next_step_at.astimezone(new_york).hour == 8
    morning = await engine.tick(held.next_step_at)
    assert morning.sent.sent == 1
    outbox = await _outbox(session, world.a.id)
    assert [(m.to_address, m.body) for m in outbox] == [("+12125550123", "Hi Nia")]


async def test_a_send_window_across_the_spring_daylight_saving_change(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(
        world.a.manager,
        campaign["id"],
        delay_value=0,
        delay_unit="minutes",
        send_window={"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4]},
    )
    person = await contact(
        world.a.admin, first_name="Lu", email="lu@x.example", timezone="Europe/Berlin"
    )
    await _enroll(world.a.manager, campaign["id"], [person["id"]])
    await _start(world.a.manager, campaign["id"])
    berlin = ZoneInfo("Europe/Berlin")
    # Saturday 2027-03-27 20:00 Berlin (UTC+1); clocks go forward on Sunday 2027-03-28.
    saturday = datetime(2027, 3, 27, 20, 0, tzinfo=berlin)
    result = await engine.tick(saturday.astimezone(UTC))
    assert result.scheduled.held == 1
    held = await _enrollment(session, person["id"])
    assert held.next_step_at is not None
    # Monday 09:00 in Berlin is 07:00 UTC after the change (it was 08:00 UTC before it).
    assert held.next_step_at == datetime(2027, 3, 29, 7, 0, tzinfo=UTC)
    assert (await engine.tick(held.next_step_at)).sent.sent == 1


async def test_send_time_optimisation_waits_for_the_contact_most_engaged_hour(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    campaign = await new_campaign(world.a.manager, send_time_optimization=True)
    await email_step(world.a.manager, campaign["id"], delay_value=0, delay_unit="minutes")
    person = await contact(world.a.admin, first_name="Oz", email="oz@x.example", timezone="UTC")
    # Three opens on Tuesdays at 10:xx UTC in the past weeks.
    start = (NOW - timedelta(days=30)).replace(hour=10, minute=15)
    tuesday = start + timedelta(days=(1 - start.weekday()) % 7)
    for week in range(3):
        session.add(
            CampaignActivity(
                company_id=world.a.id,
                contact_id=uuid.UUID(person["id"]),
                activity_type="email_opened",
                occurred_at=tuesday + timedelta(weeks=week),
            )
        )
    await session.commit()
    await _enroll(world.a.manager, campaign["id"], [person["id"]])
    await _start(world.a.manager, campaign["id"])
    result = await engine.tick(NOW)
    held = await _enrollment(session, person["id"])
    if result.sent.sent == 0:
        assert held.next_step_at is not None
        assert held.next_step_at.weekday() == 1
        assert held.next_step_at.hour == 10
        assert held.next_step_at - NOW <= timedelta(days=7)
        assert (await engine.tick(held.next_step_at)).sent.sent == 1
    else:  # the test ran inside that very hour
        assert NOW.weekday() == 1
        assert NOW.hour == 10


def test_variants_are_chosen_by_weight_and_always_the_same_way() -> None:
    variants = [{"name": "A", "weight": 3}, {"name": "B", "weight": 1}]
    ids = [uuid.UUID(int=n) for n in range(4000)]
    picks = [choose_variant(i, 1, variants) for i in ids]
    share_a = sum(1 for p in picks if p and p["name"] == "A") / len(picks)
    assert 0.71 < share_a < 0.79
    assert picks == [choose_variant(i, 1, variants) for i in ids]
    assert choose_variant(ids[0], 1, []) is None
    only_b = [{"name": "A", "weight": 0}, {"name": "B", "weight": 1}]
    assert {choose_variant(i, 2, only_b)["name"] for i in ids[:50]} == {"B"}  # type: ignore[index]


async def test_the_chosen_variant_is_sent_and_recorded(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(
        world.a.manager,
        campaign["id"],
        delay_value=0,
        delay_unit="minutes",
        variants=[
            {"name": "short", "weight": 1, "subject": "Short", "body": "S"},
            {"name": "long", "weight": 1, "subject": "Long", "body": "L"},
        ],
    )
    people = [await contact(world.a.admin, email=f"v{n}@x.example") for n in range(12)]
    await _enroll(world.a.manager, campaign["id"], [p["id"] for p in people])
    await _start(world.a.manager, campaign["id"])
    await engine.tick(NOW)
    rows = (
        await session.execute(
            text(
                "SELECT d.variant, dc.subject, a.variant, cc.variant_assignments ->> '1'"
                " FROM deliveries d JOIN delivery_contents dc ON dc.delivery_id = d.id"
                " JOIN campaign_activities a"
                "   ON a.metadata ->> 'delivery_id' = d.id::text AND a.activity_type = 'email_sent'"
                " JOIN campaign_contacts cc ON cc.id = d.enrollment_id"
            )
        )
    ).all()
    assert len(rows) == 12
    for variant, subject, activity_variant, assigned in rows:
        assert subject == variant.title()
        assert activity_variant == assigned == variant
    assert {row[0] for row in rows} == {"short", "long"}


async def test_a_queued_message_is_cancelled_when_its_contact_opts_out_before_it_leaves(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    _, ids = await _two_step_campaign(world)
    assert (await engine.schedule(NOW)).queued == 2
    await session.execute(
        update(Contact).where(Contact.id == uuid.UUID(ids[0])).values(opt_in_status="opted_out")
    )
    await session.commit()
    unenrolled = await world.a.manager.post(
        f"{CAMPAIGNS}/{(await _enrollment(session, ids[1])).campaign_id}/unenroll",
        json={"contact_ids": [ids[1]]},
    )
    assert unenrolled.status_code == 200, unenrolled.text
    sent = await engine.send(NOW)
    assert sent.sent == 0
    assert await _outbox(session, world.a.id) == []
    session.expire_all()
    reasons = sorted(
        (d.status, d.last_error or "") for d in (await session.scalars(select(Delivery))).all()
    )
    assert reasons == [
        ("cancelled", "cancelled: the contact opted out"),
        ("cancelled", "cancelled: the enrollment ended (unenrolled)"),
    ]


async def test_a_sender_whose_lease_was_taken_over_records_nothing(
    world: World, engine: Engine, session: AsyncSession, database: Database
) -> None:
    await _two_step_campaign(world)
    await engine.schedule(NOW)
    async with database.unit_of_work() as s:
        stale = await repo.lease_queued(s, NOW, NOW + timedelta(minutes=5), "slow-worker", 10)
    assert len(stale) == 2
    # The slow worker's lease runs out; the engine takes the deliveries over and sends them.
    result = await engine.tick(NOW + timedelta(minutes=10))
    assert (result.leases_released, result.sent.sent) == (2, 2)
    sent = [
        {
            "id": r.id,
            "attempts": r.attempts,
            "sent_at": NOW,
            "contact_id": r.contact_id,
            "provider": "console",
            "provider_message_id": "late",
        }
        for r in stale
    ]
    retry = [
        {"id": r.id, "attempts": r.attempts, "not_before": NOW, "error": "late"} for r in stale
    ]
    async with database.unit_of_work() as s:
        assert await repo.record_sent(s, sent, "slow-worker") == set()
        assert await repo.record_retry(s, retry, "slow-worker") == set()
        assert (
            await repo.record_failed(s, [{**r, "failed_at": NOW} for r in retry], "slow-worker")
            == set()
        )
    session.expire_all()
    rows = (await session.scalars(select(Delivery))).all()
    assert [(d.status, d.provider_message_id != "late") for d in rows] == [("sent", True)] * 2
    assert len(await _outbox(session, world.a.id)) == 2


async def test_a_company_whose_provider_cannot_be_built_does_not_hold_up_the_others(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    # Company A's SMTP password was stored under another app secret: it cannot be decrypted.
    session.add(
        ChannelSetting(
            company_id=world.a.id,
            channel="email",
            settings={
                "provider": "smtp",
                "host": "127.0.0.1",
                "port": 2525,
                "security": "none",
                "username": "u",
                "from_email": "a@company-a.example",
            },
            secret_ciphertext=b"\x01" + b"\x00" * 40,
        )
    )
    await session.commit()
    await _two_step_campaign(world)
    campaign = await new_campaign(world.b.manager)
    await email_step(world.b.manager, campaign["id"], delay_value=0, delay_unit="minutes")
    person = await contact(world.b.admin, first_name="Bea", email="bea@x.example")
    await _enroll(world.b.manager, campaign["id"], [person["id"]])
    await _start(world.b.manager, campaign["id"])
    result = await engine.tick(NOW)
    assert result.sent.sent == 1
    assert [m.to_address for m in await _outbox(session, world.b.id)] == ["bea@x.example"]
    session.expire_all()
    company_a = (
        await session.scalars(select(Delivery).where(Delivery.company_id == world.a.id))
    ).all()
    assert {d.status for d in company_a} == {"failed"}
    assert all("password" in (d.last_error or "") for d in company_a)


async def test_a_queued_message_to_an_address_suppressed_meanwhile_is_cancelled(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    await _two_step_campaign(world)
    await engine.schedule(NOW)
    session.add(
        Suppression(
            company_id=world.a.id, channel="email", address="bo@x.example", reason="hard_bounce"
        )
    )
    await session.commit()
    assert (await engine.send(NOW)).sent == 1
    cancelled = await session.scalar(select(Delivery).where(Delivery.status == "cancelled"))
    assert cancelled is not None
    assert cancelled.to_address == "bo@x.example"
    assert cancelled.last_error == "cancelled: the address is suppressed"


async def test_the_sent_record_is_one_statement_fenced_by_the_lease(
    world: World, engine: Engine, session: AsyncSession, database: Database
) -> None:
    # What the sender's group commit runs on a bare autocommit connection: the delivery, the
    # contact and the `email_sent` activity (with the id the sender chose), committed when it
    # returns; nothing at all for a worker that no longer holds the lease.
    _, ids = await _two_step_campaign(world)
    await engine.schedule(NOW)
    async with database.unit_of_work() as s:
        leased = await repo.lease_queued(s, NOW, NOW + timedelta(minutes=5), "worker-1", 10)
    activity_ids = {row.id: uuid.uuid4() for row in leased}
    rows = [
        {
            "id": row.id,
            "attempts": row.attempts,
            "sent_at": NOW,
            "contact_id": row.contact_id,
            "provider": "smtp",
            "provider_message_id": row.message_id_header,
            "activity_id": activity_ids[row.id],
        }
        for row in leased
    ]
    pool = await database.bare_pool()
    async with pool.connection() as connection:
        assert await repo.record_sent_alone(connection, rows, "worker-2") == set()
        assert await repo.record_sent_alone(connection, rows, "worker-1") == set(activity_ids)
    session.expire_all()
    sent = (await session.scalars(select(Delivery))).all()
    assert {(d.status, d.sent_at, d.lease_expires_at) for d in sent} == {("sent", NOW, None)}
    logged = (
        await session.scalars(
            select(CampaignActivity).where(CampaignActivity.activity_type == "email_sent")
        )
    ).all()
    assert {(a.id, a.details["delivery_id"], a.details["step"]) for a in logged} == {
        (activity_ids[row.id], str(row.id), 1) for row in leased
    }
    for contact_id in ids:
        person = await session.get(Contact, uuid.UUID(contact_id))
        assert person is not None
        assert person.last_contacted_at == NOW


async def test_a_step_queued_twice_keeps_its_first_content(
    world: World, engine: Engine, session: AsyncSession, database: Database
) -> None:
    await _two_step_campaign(world)
    await engine.schedule(NOW)
    first = (
        await session.execute(
            text(
                "SELECT d.id, d.company_id, d.campaign_id, d.enrollment_id, d.contact_id,"
                " d.message_id, d.dedupe_key, d.to_address, c.subject"
                " FROM deliveries AS d JOIN delivery_contents AS c ON c.delivery_id = d.id"
                " ORDER BY d.to_address LIMIT 1"
            )
        )
    ).one()
    again = {
        **{key: value for key, value in first._asdict().items() if key != "subject"},
        "id": uuid.uuid4(),  # a second scheduler's own id for the same step
        "lead_id": None,
        "step_order": 1,
        "channel": "email",
        "variant": None,
        "subject": "Another rendering",
        "body_text": "Another body",
        "body_html": None,
        "details": {},
        "not_before": NOW,
        "message_id_header": None,
    }
    async with database.unit_of_work() as s:
        assert await repo.insert_deliveries(s, [again]) == set()
    stored = (
        await session.execute(
            text(
                "SELECT c.delivery_id, c.subject FROM delivery_contents AS c"
                " JOIN deliveries AS d ON d.id = c.delivery_id WHERE d.dedupe_key = :key"
            ),
            {"key": first.dedupe_key},
        )
    ).all()
    assert stored == [(first.id, first.subject)]


async def test_a_completed_enrollment_is_an_event_only_for_a_company_that_listens(
    world: World, engine: Engine, session: AsyncSession
) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"], delay_value=0, delay_unit="minutes")
    person = await contact(world.a.admin, first_name="Cy", email="cy@x.example")
    await _enroll(world.a.manager, campaign["id"], [person["id"]])
    await _start(world.a.manager, campaign["id"])
    result = await engine.tick(NOW)
    assert (result.scheduled.completed, result.sent.sent) == (1, 1)
    # No webhook endpoint or automation rule of company A wants `enrollment.completed`.
    assert await session.scalar(text("SELECT count(*) FROM events")) == 0
